#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ntp6_fuzz::targets::leap_file(data));
