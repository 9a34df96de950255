#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ntp6_fuzz::targets::mode7(data));
