//! What classic's command-line tools (ntpdate, ntptime) share in reading option values.

/// Classic's `atoi`: leading blanks, optional sign, digits; anything else stops (or gives 0).
pub fn atoi(text: &str) -> i64 {
    let t = text.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let value = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |acc, d| {
            acc.saturating_mul(10).saturating_add(i64::from(d - b'0'))
        });
    if neg {
        -value
    } else {
        value
    }
}
