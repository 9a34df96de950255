//! Text a peer sent, made fit for a terminal or a log line.

/// Text from a server made printable as classic ntpq's `atoascii`/`makeascii` do, in
/// the notation of `cat -v`: a control octet becomes `^` and a character (`^[` ESC, `^G`
/// BEL, `^@` NUL, `^M^J` CR LF), DEL becomes `^?`, and an octet with the high bit set
/// becomes `M-` and the same for its low seven bits. Printable ASCII stays as it is.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b & 0x80 != 0 {
            out.push_str("M-");
        }
        match b & 0x7f {
            c @ 0..=0x1f => {
                out.push('^');
                out.push(char::from(c + b'@'));
            }
            0x7f => out.push_str("^?"),
            c => out.push(char::from(c)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_high_octets_use_cat_v_notation() {
        assert_eq!(printable(b"LOCL x=1"), "LOCL x=1");
        assert_eq!(printable(b"\x1b[2J\x07\0\r\n\t\x7f"), "^[[2J^G^@^M^J^I^?");
        assert_eq!(printable(&[0xc3, 0xbc, 0x80, 0xff]), "M-CM-<M-^@M-^?");
    }
}
