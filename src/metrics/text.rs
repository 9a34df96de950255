//! The Prometheus text exposition format (version 0.0.4), written by hand: `# HELP` and
//! `# TYPE` once per family, then its samples, label values escaped. Small enough that a
//! crate would add more than it saves.

use std::fmt::Write;

/// The `Content-Type` of a page written in this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
}

/// A sample value: counters are exact integers, gauges may be fractions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
}

/// A page being written.
#[derive(Debug, Default)]
pub struct Page {
    out: String,
}

impl Page {
    pub fn new() -> Page {
        Page::default()
    }

    /// Starts family `name`: its help text (one line) and type.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample of the family last started.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        match value {
            Value::Int(n) => {
                let _ = write!(self.out, "{n}");
            }
            Value::Float(f) => push_float(&mut self.out, f),
        }
        self.out.push('\n');
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: Value) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// Go's float syntax, which Prometheus parses: Rust's shortest round-trip digits, with
/// the special values spelled `+Inf`, `-Inf` and `NaN`.
fn push_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{f}");
    }
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Help text escapes backslash and line feed.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaping() {
        let mut p = Page::new();
        p.family("ntp_x", Kind::Gauge, "An x\\y.");
        p.sample(
            "ntp_x",
            &[("source", "a\"b"), ("reason", "c\\d\ne")],
            Value::Float(0.25),
        );
        p.sample("ntp_x", &[], Value::Float(f64::INFINITY));
        p.single("ntp_n_total", Kind::Counter, "N.", Value::Int(u64::MAX));
        assert_eq!(
            p.finish(),
            "# HELP ntp_x An x\\\\y.\n# TYPE ntp_x gauge\n\
             ntp_x{source=\"a\\\"b\",reason=\"c\\\\d\\ne\"} 0.25\nntp_x +Inf\n\
             # HELP ntp_n_total N.\n# TYPE ntp_n_total counter\n\
             ntp_n_total 18446744073709551615\n"
        );
    }

    #[test]
    fn floats_round_trip_without_exponent_surprises() {
        for (f, text) in [
            (1.5e-5, "0.000015"),
            (-0.001, "-0.001"),
            (11.0, "11"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            let mut s = String::new();
            push_float(&mut s, f);
            assert_eq!(s, text);
            if f.is_finite() {
                assert_eq!(s.parse::<f64>().unwrap(), f);
            }
        }
    }
}
