//! Links the daemon with its hot text first (see ld/ntpd-hot-text.ld and docs/benchmark.md,
//! "Memory"): the functions an idle or serving daemon runs are gathered into one run of
//! pages, so the kernel never pages in the start-up-free rest of the text.

fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/ld/ntpd-hot-text.ld");
    println!("cargo:rerun-if-changed=ld/ntpd-hot-text.ld");
    println!("cargo:rustc-link-arg-bin=ntpd=-Wl,-T,{script}");
}
