//! The JSON that `ntpq --json` prints: a value type and its compact text. Hand-written
//! rather than a serde dependency: ntpq only ever writes JSON (objects of numbers,
//! strings and arrays), and what matters, escaping of strings that came off the network,
//! fits in a few lines that are tested below.

use std::fmt;

/// A JSON value. Object members keep their insertion order (the documented order).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// Written as `null` when not finite (JSON has no NaN or infinity).
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Object),
}

/// An object under construction: `obj.put("offset_ms", 0.25)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Object(Vec<(String, Json)>);

impl Object {
    pub fn new() -> Object {
        Object::default()
    }

    /// Adds (or replaces) member `key`.
    pub fn put(&mut self, key: &str, value: impl Into<Json>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// [`Object::put`], chained.
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Object {
        self.put(key, value);
        self
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl From<Object> for Json {
    fn from(o: Object) -> Json {
        Json::Obj(o)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Json {
        Json::Int(n)
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Json {
        i64::try_from(n).map_or(Json::Num(n as f64), Json::Int)
    }
}

impl From<u16> for Json {
    fn from(n: u16) -> Json {
        Json::Int(i64::from(n))
    }
}

impl From<usize> for Json {
    fn from(n: usize) -> Json {
        Json::from(n as u64)
    }
}

impl From<f64> for Json {
    fn from(x: f64) -> Json {
        Json::Num(x)
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Json {
        v.map_or(Json::Null, Into::into)
    }
}

impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(v: Vec<T>) -> Json {
        Json::Arr(v.into_iter().map(Into::into).collect())
    }
}

/// Writes `s` as a JSON string: quotes, backslashes and control characters escaped
/// (server text can hold anything).
fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            // Controls, DEL, and the two separators JavaScript does not allow in strings.
            c if c < ' ' || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                write!(f, "\\u{:04x}", u32::from(c))?
            }
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Int(n) => write!(f, "{n}"),
            // Whole numbers keep a decimal point, so a float stays a float for parsers
            // that type numbers (Python: 0.0, not 0).
            Json::Num(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 => {
                write!(f, "{x:.1}")
            }
            Json::Num(x) if x.is_finite() => write!(f, "{x}"),
            Json::Num(_) => f.write_str("null"),
            Json::Str(s) => write_str(f, s),
            Json::Arr(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Json::Obj(o) => write!(f, "{o}"),
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write_str(f, key)?;
            write!(f, ":{value}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_text_with_escapes() {
        let doc = Object::new()
            .with("command", "peers")
            .with("offset_ms", -0.125)
            .with("stratum", 10i64)
            .with("when_s", None::<i64>)
            .with("nan", f64::NAN)
            .with("ok", true)
            .with("list", vec![1.5, 2.0])
            .with("text", "a\"b\\c\n\u{1}\u{7f}é");
        assert_eq!(
            doc.to_string(),
            r#"{"command":"peers","offset_ms":-0.125,"stratum":10,"when_s":null,"nan":null,"ok":true,"list":[1.5,2.0],"text":"a\"b\\c\n\u0001\u007fé"}"#
        );
    }

    #[test]
    fn numbers_never_use_exponents() {
        assert_eq!(Json::Num(1e-7).to_string(), "0.0000001");
        assert_eq!(Json::Num(1e21).to_string(), "1000000000000000000000");
        assert_eq!(Json::Num(-3.0).to_string(), "-3.0");
        assert_eq!(Json::from(u64::MAX).to_string(), "18446744073709552000");
    }

    #[test]
    fn put_replaces_a_member() {
        let mut o = Object::new().with("a", 1i64);
        o.put("a", 2i64);
        assert_eq!(o.to_string(), r#"{"a":2}"#);
    }
}
