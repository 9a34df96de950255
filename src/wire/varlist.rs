//! The mode 6 variable list text: `name=value, name="string"` items.
//!
//! The server side ([`VarWriter`]) reproduces classic ntpd's layout byte for byte: items
//! joined by `", "`, a `",\r\n"` instead when the next item would reach column 72, a final
//! `"\r\n"`, and fragment boundaries placed between items (an item never straddles two
//! fragments; the separator stays with the earlier one). The client side
//! ([`parse_varlist`]) and the server's request parser ([`RequestItems`]) read the same
//! syntax with nom.

use std::fmt::Write as _;
use std::net::IpAddr;

use nom::bytes::complete::{tag, take_till, take_while};
use nom::combinator::opt;
use nom::sequence::{delimited, preceded};
use nom::IResult;

use super::control::MAX_DATA;
use super::ntp::RefId;
use super::printable::printable;
use crate::time::NtpTimestamp;

/// Classic folds text lines before they reach this many columns.
const MAX_LINE: usize = 72;
/// Room kept free in a fragment for the separator and the closing CR LF.
const TEXT_OVERHEAD: usize = 3;

/// Builds the data of a text response and where to cut it into fragments.
#[derive(Debug, Default)]
pub struct VarWriter {
    buf: Vec<u8>,
    line_len: usize,
    frag_start: usize,
    breaks: Vec<usize>,
}

impl VarWriter {
    pub fn new() -> VarWriter {
        VarWriter::default()
    }

    /// True when no item was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Octets written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Appends one raw item (`name=value`, already formatted).
    pub fn item(&mut self, text: &str) {
        let len = text.len();
        if !self.buf.is_empty() {
            self.buf.push(b',');
            self.line_len += 1;
            if len + self.line_len + 1 >= MAX_LINE {
                self.buf.extend_from_slice(b"\r\n");
                self.line_len = 0;
            } else {
                self.buf.push(b' ');
                self.line_len += 1;
            }
        }
        if self.buf.len() - self.frag_start + len + TEXT_OVERHEAD > MAX_DATA
            && self.buf.len() > self.frag_start
        {
            self.breaks.push(self.buf.len());
            self.frag_start = self.buf.len();
        }
        self.buf.extend_from_slice(text.as_bytes());
        self.line_len += len;
    }

    pub fn uint(&mut self, name: &str, v: u64) {
        self.item(&format!("{name}={v}"));
    }

    pub fn int(&mut self, name: &str, v: i64) {
        self.item(&format!("{name}={v}"));
    }

    /// A number with three decimals (milliseconds or ppm, as classic `ctl_putdbl`).
    pub fn dbl(&mut self, name: &str, v: f64) {
        self.item(&format!("{name}={v:.3}"));
    }

    pub fn hex(&mut self, name: &str, v: u64) {
        self.item(&format!("{name}={v:#x}"));
    }

    /// A quoted string; an empty one is written as the bare name, as classic does.
    pub fn string(&mut self, name: &str, v: &str) {
        if v.is_empty() {
            self.item(name);
        } else {
            self.item(&format!("{name}=\"{v}\""));
        }
    }

    pub fn timestamp(&mut self, name: &str, t: NtpTimestamp) {
        self.item(&format!(
            "{name}=0x{:08x}.{:08x}",
            t.seconds(),
            t.fraction()
        ));
    }

    pub fn addr(&mut self, name: &str, a: IpAddr) {
        self.item(&format!("{name}={a}"));
    }

    /// A refid as text (up to the first NUL), as classic `ctl_putrefid`.
    pub fn refid_text(&mut self, name: &str, id: RefId) {
        let text: String =
            id.0.iter()
                .take_while(|b| **b != 0)
                .map(|b| {
                    if b.is_ascii_graphic() {
                        *b as char
                    } else {
                        '.'
                    }
                })
                .collect();
        self.item(&format!("{name}={text}"));
    }

    /// A refid as a dotted quad.
    pub fn refid_addr(&mut self, name: &str, id: RefId) {
        let [a, b, c, d] = id.0;
        self.item(&format!("{name}={a}.{b}.{c}.{d}"));
    }

    /// `name= v1 v2 ...` with two decimals each (the clock filter arrays).
    pub fn array(&mut self, name: &str, values: &[f64]) {
        let mut text = format!("{name}=");
        for v in values {
            let _ = write!(text, " {v:.2}");
        }
        self.item(&text);
    }

    /// The response data (closed by CR LF when non-empty) and the fragment break offsets.
    pub fn finish(mut self) -> (Vec<u8>, Vec<usize>) {
        if !self.buf.is_empty() {
            self.buf.extend_from_slice(b"\r\n");
        }
        (self.buf, self.breaks)
    }
}

/// One `name[=value]` item; `value` keeps the quotes of a quoted string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    pub name: &'a [u8],
    pub value: Option<&'a [u8]>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0)
}

fn quoted(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let (rest, inner) = delimited(tag("\""), take_till(|b| b == b'"'), tag("\""))(input)?;
    Ok((rest, &input[..inner.len() + 2]))
}

fn value(input: &[u8]) -> IResult<&[u8], &[u8]> {
    let (unquoted, _) = take_while(is_space)(input)?;
    if let Ok((rest, q)) = quoted(unquoted) {
        let (rest, _) = take_till(|b| b == b',')(rest)?;
        return Ok((rest, q));
    }
    // Leading blanks are part of the value (`filtdelay= 0.00 ...` prints that way raw).
    let (rest, v) = take_till(|b| b == b',')(input)?;
    Ok((rest, trim_end(v)))
}

fn item(input: &[u8]) -> IResult<&[u8], Item<'_>> {
    let (input, _) = take_while(|b| is_space(b) || b == b',')(input)?;
    let (input, name) = take_till(|b| b == b'=' || b == b',')(input)?;
    let (input, value) = opt(preceded(tag("="), value))(input)?;
    Ok((
        input,
        Item {
            name: trim(name),
            value,
        },
    ))
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_space(*first) {
            break;
        }
        s = rest;
    }
    trim_end(s)
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., last] = s {
        if !is_space(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Iterates over the items of a variable list without allocating (the server's request
/// parser). Empty names (stray commas, trailing padding) are skipped.
pub struct RequestItems<'a> {
    rest: &'a [u8],
}

impl<'a> RequestItems<'a> {
    pub fn new(data: &'a [u8]) -> RequestItems<'a> {
        RequestItems { rest: data }
    }
}

impl<'a> Iterator for RequestItems<'a> {
    type Item = Item<'a>;

    fn next(&mut self) -> Option<Item<'a>> {
        loop {
            let trimmed = trim(self.rest);
            if trimmed.iter().all(|b| *b == b',' || is_space(*b)) {
                return None;
            }
            let (rest, it) = item(self.rest).ok()?;
            // Progress is guaranteed: `item` consumes at least the name or a separator.
            self.rest = rest;
            let name = trim_nul(it.name);
            if !name.is_empty() {
                return Some(Item { name, ..it });
            }
            if let Some(r) = self.rest.get(1..) {
                self.rest = r;
            }
        }
    }
}

fn trim_nul(s: &[u8]) -> &[u8] {
    let end = s.iter().position(|b| *b == 0).unwrap_or(s.len());
    &s[..end]
}

/// A variable from a response: name and value text (quotes kept, empty when absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Var {
    pub name: String,
    pub value: String,
}

/// Parses response text into variables in server order, names and values made
/// [`printable`]: whatever ntpq shows of them can hold no control character and no line
/// break of the server's making.
pub fn parse_varlist(data: &[u8]) -> Vec<Var> {
    RequestItems::new(data)
        .map(|it| Var {
            name: printable(it.name),
            value: printable(it.value.unwrap_or_default()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_lines_like_classic_rv0() {
        let mut w = VarWriter::new();
        w.string("version", "ntpd 4.2.6p5 Sat Nov 21 02:20:07 UTC 2026 (3)");
        w.string("processor", "x86_64");
        w.string("system", "Linux/6.18.44-fc-v657");
        w.uint("leap", 3);
        w.uint("stratum", 11);
        w.int("precision", -22);
        let (data, breaks) = w.finish();
        assert_eq!(
            String::from_utf8(data).unwrap(),
            "version=\"ntpd 4.2.6p5 Sat Nov 21 02:20:07 UTC 2026 (3)\",\r\n\
             processor=\"x86_64\", system=\"Linux/6.18.44-fc-v657\", leap=3, stratum=11,\r\n\
             precision=-22\r\n"
        );
        assert!(breaks.is_empty());
    }

    #[test]
    fn empty_string_is_a_bare_name() {
        let mut w = VarWriter::new();
        w.string("device", "Undisciplined local clock");
        w.string("timecode", "");
        w.uint("poll", 2);
        let (data, _) = w.finish();
        assert_eq!(
            &data[..],
            b"device=\"Undisciplined local clock\", timecode, poll=2\r\n"
        );
    }

    #[test]
    fn breaks_fragments_between_items() {
        let mut w = VarWriter::new();
        for i in 0..100 {
            w.uint("abcdefgh", i);
        }
        let (data, breaks) = w.finish();
        let mut start = 0;
        for b in breaks.iter().copied().chain([data.len()]) {
            assert!(b - start <= MAX_DATA);
            start = b;
        }
        assert!(breaks
            .iter()
            .all(|b| data[b - 1] == b' ' || data[b - 1] == b'\n'));
    }

    #[test]
    fn values_are_made_printable() {
        let vars = parse_varlist(b"version=\"evil\r\nleap=0\x1b[31m\", x\x07=1\r\n");
        assert_eq!(vars[0].value, "\"evil^M^Jleap=0^[[31m\"");
        assert_eq!(vars[1].name, "x^G");
    }

    #[test]
    fn parses_quoted_bare_and_folded_items() {
        let text = b"version=\"a, b\", timecode,\r\nleap=3, refid=LOCL,\r\nflags=0\r\n\0\0";
        let vars = parse_varlist(text);
        let pairs: Vec<(&str, &str)> = vars
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("version", "\"a, b\""),
                ("timecode", ""),
                ("leap", "3"),
                ("refid", "LOCL"),
                ("flags", "0")
            ]
        );
    }

    #[test]
    fn request_items_skip_stray_commas() {
        let names: Vec<&[u8]> = RequestItems::new(b" stratum, ,offset ,refid=x,")
            .map(|i| i.name)
            .collect();
        assert_eq!(names, vec![&b"stratum"[..], b"offset", b"refid"]);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            let _ = parse_varlist(&bytes);
        }
    }
}
