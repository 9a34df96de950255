//! Files the daemon reads, as a careless admin or an attacker leaves them (issue 16).

use std::fmt::Write as _;
use std::time::Instant;

mod common;

use common::TempDir;

/// 200,000 key lines (IDs cycle through 1..65534, so later lines replace earlier ones).
fn big_keys_file() -> String {
    let mut text = String::from("# generated\n");
    for n in 0..200_000u32 {
        let id = n % 65_534 + 1;
        if n % 2 == 0 {
            writeln!(
                text,
                "{id} SHA1 {:040x}",
                u128::from(n) * 0x9e37_79b9_7f4a_7c15
            )
            .unwrap();
        } else {
            writeln!(text, "{id} M pw{n:08}").unwrap();
        }
    }
    text
}

#[test]
fn two_hundred_thousand_keys_load_in_linear_time() {
    let tmp = TempDir::new();
    let text = big_keys_file();
    let path = tmp.write("keys", &text);
    let start = Instant::now();
    let loaded = ntp6::auth::load::load(std::path::Path::new(&path)).expect("keys load");
    let took = start.elapsed();
    eprintln!(
        "200000 key lines ({} bytes): {} keys in {took:?}",
        text.len(),
        loaded.keys.len()
    );
    assert_eq!(loaded.keys.len(), 65_534);
}
