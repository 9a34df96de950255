//! The lines of a file read as bytes, and the one encoding rule every file parser applies:
//! a comment may hold any bytes (admins write Latin-1 and GBK comments; classic reads
//! bytes and skips them), the directive part of a line must be UTF-8, and a byte that is
//! not is an error naming the line, never a reason to drop the whole file.

/// The lines of `bytes`, numbered from 1: split at LF, a CR before it dropped, no empty
/// line after a final LF (as `str::lines`).
pub fn numbered(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    // An empty file has no line; "\n" has one empty line.
    let count = if bytes.is_empty() { 0 } else { usize::MAX };
    body.split(|&b| b == b'\n')
        .take(count)
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .enumerate()
        .map(|(i, line)| (i + 1, line))
}

/// `part` (a line without its comment) as text, or why not: the first byte that is not
/// UTF-8 and its 1-based column, for a `FILE:LINE: ...` message.
pub fn utf8(part: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(part).map_err(|e| {
        let at = e.valid_up_to();
        format!(
            "byte 0x{:02X} at column {} is not UTF-8 (only comments may use another encoding)",
            part[at],
            at + 1
        )
    })
}

/// The bytes of `line` before its first `#` (the whole line if it has none).
pub fn before_comment(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&b| b == b'#').unwrap_or(line.len());
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(bytes: &[u8]) -> Vec<(usize, &[u8])> {
        numbered(bytes).collect()
    }

    #[test]
    fn split_like_str_lines() {
        for text in ["", "\n", "a", "a\n", "a\r\nb", "a\n\nb\n", "\n\n", "x\r\n"] {
            let ours: Vec<&[u8]> = numbered(text.as_bytes()).map(|(_, l)| l).collect();
            let std: Vec<&[u8]> = text.lines().map(str::as_bytes).collect();
            assert_eq!(ours, std, "{text:?}");
        }
        assert_eq!(lines(b"a\n\xe9\n"), [(1, &b"a"[..]), (2, &b"\xe9"[..])]);
    }

    #[test]
    fn non_utf8_is_located() {
        assert_eq!(utf8(b"server a"), Ok("server a"));
        assert_eq!(utf8("grüße".as_bytes()), Ok("grüße"));
        assert_eq!(
            utf8(b"server caf\xe9").unwrap_err(),
            "byte 0xE9 at column 11 is not UTF-8 (only comments may use another encoding)"
        );
        assert_eq!(before_comment(b"1 M k # \xe9"), b"1 M k ");
        assert_eq!(before_comment(b"no comment"), b"no comment");
    }
}
