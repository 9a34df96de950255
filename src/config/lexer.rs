//! Splits one ntp.conf line into words: blanks and tabs separate, `#` starts a comment that
//! runs to the end of the line, and `"..."` quotes a word (a path with blanks or a `#`).

use nom::{
    branch::alt,
    bytes::complete::{take_till, take_till1},
    character::complete::{char, space0},
    combinator::{all_consuming, map, opt, rest},
    multi::many0,
    sequence::{delimited, preceded, terminated},
    IResult,
};

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\r' || c == '\x0b' || c == '\x0c'
}

fn blanks(i: &str) -> IResult<&str, &str> {
    // nom's space0 covers only ' ' and '\t'; classic's scanner also skips CR, VT and FF.
    alt((take_till1(|c| !is_blank(c)), space0))(i)
}

fn quoted(i: &str) -> IResult<&str, &str> {
    delimited(char('"'), take_till(|c| c == '"'), char('"'))(i)
}

fn bare(i: &str) -> IResult<&str, &str> {
    take_till1(|c: char| is_blank(c) || c == '#' || c == '"')(i)
}

fn comment(i: &str) -> IResult<&str, &str> {
    preceded(char('#'), rest)(i)
}

fn words(i: &str) -> IResult<&str, Vec<&str>> {
    all_consuming(terminated(
        many0(preceded(blanks, alt((quoted, bare)))),
        preceded(blanks, map(opt(comment), |_| ())),
    ))(i)
}

/// The bytes of a line before its comment: the first `#` outside a quoted word. Works on
/// bytes so a comment in any encoding is cut off before the line has to be UTF-8 (`#` and
/// `"` never occur inside a UTF-8, Latin-1 or GBK multi-byte character).
pub fn before_comment(line: &[u8]) -> &[u8] {
    let mut quoted = false;
    for (i, &b) in line.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'#' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The words of one line (without its newline). Fails only on an unterminated quote.
pub fn split_words(line: &str) -> Result<Vec<&str>, String> {
    match words(line) {
        Ok((_, w)) => Ok(w),
        Err(_) => Err("unterminated quoted string".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_tabs_and_comments() {
        assert_eq!(
            split_words("server  127.127.1.0 \t# local clock").unwrap(),
            vec!["server", "127.127.1.0"]
        );
        assert_eq!(
            split_words("   # only a comment").unwrap(),
            Vec::<&str>::new()
        );
        assert_eq!(split_words("").unwrap(), Vec::<&str>::new());
        assert_eq!(
            split_words("driftfile /x#y").unwrap(),
            vec!["driftfile", "/x"]
        );
    }

    #[test]
    fn quoted_words_keep_blanks_and_hashes() {
        assert_eq!(
            split_words("statsdir \"/var/log/my stats#1/\" # c").unwrap(),
            vec!["statsdir", "/var/log/my stats#1/"]
        );
        assert_eq!(
            split_words("setvar a = \"\"").unwrap(),
            vec!["setvar", "a", "=", ""]
        );
        assert!(split_words("keys \"/etc/ntp/keys").is_err());
    }

    #[test]
    fn comments_are_cut_off_as_bytes() {
        assert_eq!(before_comment(b"server x # caf\xe9"), b"server x ");
        assert_eq!(
            before_comment(b"statsdir \"/a#b\" # c"),
            b"statsdir \"/a#b\" "
        );
        assert_eq!(before_comment(b"keys \"/k#"), b"keys \"/k#");
        assert_eq!(before_comment(b"# \xd6\xd0\xce\xc4"), b"");
    }
}
