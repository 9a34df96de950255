//! Links the daemon so that its idle memory holds only what it uses (docs/benchmark.md,
//! "Memory"):
//! - its hot text first (ld/ntpd-hot-text.ld): the functions an idle or serving daemon runs
//!   are gathered into one run of pages, so the kernel never pages in the rest of the text;
//! - the unwinder linked statically instead of loading libgcc_s.so: with `panic = "abort"`
//!   only a backtrace ever unwinds, so its code stays on disk instead of libgcc_s's pages
//!   being mapped (100 kB of RSS) at every start.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/ld/ntpd-hot-text.ld");
    println!("cargo:rerun-if-changed=ld/ntpd-hot-text.ld");
    println!("cargo:rustc-link-arg-bin=ntpd=-Wl,-T,{script}");
    if let Some(dir) = static_unwinder() {
        println!("cargo:rustc-link-arg-bin=ntpd=-L{}", dir.display());
    }
}

/// A directory whose `libgcc_s.a` is the C compiler's static unwinder (libgcc_eh.a), for
/// the `-lgcc_s` that Rust's standard library asks for: searched first, it is what the
/// linker takes. None (the shared library is used) when the compiler has no libgcc_eh.a.
fn static_unwinder() -> Option<PathBuf> {
    if std::env::var("CARGO_CFG_TARGET_ENV").ok()? != "gnu" {
        return None;
    }
    let out = Command::new("cc")
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let eh = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    if !eh.is_absolute() || !eh.exists() {
        return None;
    }
    let dir = PathBuf::from(std::env::var_os("OUT_DIR")?).join("static-unwinder");
    std::fs::create_dir_all(&dir).ok()?;
    let lib = dir.join("libgcc_s.a");
    let _ = std::fs::remove_file(&lib);
    std::fs::copy(&eh, &lib).ok()?;
    Some(dir)
}
