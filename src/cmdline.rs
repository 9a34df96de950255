//! What classic's command-line tools share in reading their arguments: getopt's short
//! options (ntpq, ntpdc) and `atoi` for option values (ntpdate, ntptime).

/// One item of a command line as classic's getopt reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// `-x`, alone or as one letter of `-xyz`.
    Flag(char),
    /// `-x VALUE` or `-xVALUE`, for a letter that takes a value.
    Value(char, String),
    /// A letter that takes a value, with nothing after it.
    Missing(char),
    /// A word that is no option (a host); `-` alone is one.
    Operand(String),
    /// A `--name` word, left to the caller.
    Long(String),
}

/// Splits `args` into options; the letters in `with_value` take a value.
pub fn short_options(args: impl IntoIterator<Item = String>, with_value: &str) -> Vec<Arg> {
    let mut out = Vec::new();
    let mut it = args.into_iter();
    while let Some(word) = it.next() {
        if word.starts_with("--") && word.len() > 2 {
            out.push(Arg::Long(word));
            continue;
        }
        let Some(flags) = word.strip_prefix('-').filter(|f| !f.is_empty()) else {
            out.push(Arg::Operand(word));
            continue;
        };
        for (at, letter) in flags.char_indices() {
            if !with_value.contains(letter) {
                out.push(Arg::Flag(letter));
                continue;
            }
            let rest = &flags[at + letter.len_utf8()..];
            let value = if rest.is_empty() {
                it.next()
            } else {
                Some(rest.to_string())
            };
            out.push(match value {
                Some(v) => Arg::Value(letter, v),
                None => Arg::Missing(letter),
            });
            break;
        }
    }
    out
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn split(args: &[&str]) -> Vec<Arg> {
        short_options(args.iter().map(|s| s.to_string()), "c")
    }

    #[test]
    fn letters_values_operands_and_long_words() {
        assert_eq!(
            split(&["-np", "-crv", "-c", "peers", "host", "-", "--json", "-c"]),
            [
                Arg::Flag('n'),
                Arg::Flag('p'),
                Arg::Value('c', "rv".into()),
                Arg::Value('c', "peers".into()),
                Arg::Operand("host".into()),
                Arg::Operand("-".into()),
                Arg::Long("--json".into()),
                Arg::Missing('c'),
            ]
        );
    }

    #[test]
    fn atoi_as_classic() {
        assert_eq!(atoi("  -12x"), -12);
        assert_eq!(atoi("+7"), 7);
        assert_eq!(atoi("x"), 0);
    }
}
