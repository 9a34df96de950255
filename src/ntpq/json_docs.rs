//! `ntpq --json`: every read command prints one JSON document (one line) instead of its
//! classic text, from the same mode 6 answers. Numbers are numbers, with the unit in the
//! key (`offset_ms`, `poll_s`, `frequency_ppm`, `precision_log2_s`, `reftime_unix_s`);
//! the schema is docs/ntpq-json.md. Without `--json` none of this runs.

use super::commands::{status_kind, Failure, Ntpq, Out};
use super::display::{self, PeerStyle, StatusKind};
use super::json::{Json, Object};
use super::mrulist::{self, Collector, Sort};
use super::session::QueryError;
use super::stats;
use crate::assoc::flash::Flash;
use crate::time::NtpTimestamp;
use crate::wire::control::{cerr, opcode};
use crate::wire::varlist::{parse_varlist, Var};
use std::net::IpAddr;

/// Values in milliseconds, parts per million, seconds, log2 seconds and kilobytes, by
/// variable name: the JSON key gets the unit appended.
const MILLISECONDS: &[&str] = &[
    "rootdelay",
    "rootdisp",
    "offset",
    "delay",
    "dispersion",
    "jitter",
    "sys_jitter",
    "clk_jitter",
    "xleave",
    "bcastdelay",
    "authdelay",
    "fudgetime1",
    "fudgetime2",
    "koffset",
    "kmaxerr",
    "kesterr",
    "kprecis",
    "kppsjitter",
    "filtdelay",
    "filtoffset",
    "filtdisp",
];
const PPM: &[&str] = &[
    "frequency",
    "clk_wander",
    "clk_wander_threshold",
    "kfreq",
    "kfreqtol",
    "kppsfreq",
    "kppsstab",
];
const SECONDS: &[&str] = &[
    "ss_uptime",
    "ss_reset",
    "authreset",
    "iostats_reset",
    "timerstats_reset",
    "mru_maxage",
    "kppscalibdur",
];
const LOG2_SECONDS: &[&str] = &["precision", "tc", "mintc", "hpoll", "ppoll"];
const KILOBYTES: &[&str] = &["mru_mem", "mru_maxmem"];
const TIMESTAMPS: &[&str] = &["reftime", "clock", "rec", "org", "xmt"];
/// Always strings, even when they look like numbers.
const TEXT: &[&str] = &[
    "version",
    "processor",
    "system",
    "device",
    "timecode",
    "reason",
    "kstflags",
    "refid",
    "srcadr",
    "dstadr",
    "peeradr",
];

/// Whether `--json` has a document for command `name` (the table's full name).
pub(super) fn renders(name: &str) -> bool {
    canonical(name).is_some() || stats::summary(name).is_some()
}

/// The name a document gives its command (`rv` is `readvar`).
fn canonical(name: &str) -> Option<&'static str> {
    Some(match name {
        "peers" => "peers",
        "lpeers" => "lpeers",
        "opeers" => "opeers",
        "lopeers" => "lopeers",
        "associations" | "lassociations" | "passociations" | "lpassociations" => "associations",
        "readvar" | "rv" | "readlist" | "rl" => "readvar",
        "pstatus" => "pstatus",
        "clockvar" | "cv" | "clocklist" | "cl" => "clockvar",
        "mreadvar" | "mrv" | "mreadlist" | "mrl" => "mreadvar",
        "mrulist" => "mrulist",
        "ifstats" => "ifstats",
        "reasons" => "reasons",
        _ => return None,
    })
}

fn unquoted(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

/// A number as mode 6 writes them: decimal, or `0x` hex.
fn number(v: &str) -> Option<Json> {
    let v = v.trim();
    if let Some(hex) = v.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok().map(Json::from);
    }
    if let Ok(n) = v.parse::<i64>() {
        return Some(Json::Int(n));
    }
    v.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .map(Json::Num)
}

/// Unix seconds of a mode 6 timestamp; null for the zero timestamp ("never").
fn unix_seconds(v: &str) -> Json {
    match display::parse_ts(v).filter(|t| *t != 0) {
        Some(t) => {
            let (secs, nanos) = NtpTimestamp::from_bits(t).to_unix();
            Json::Num(secs as f64 + f64::from(nanos) / 1e9)
        }
        None => Json::Null,
    }
}

/// One variable as a JSON member: the key with its unit, the value as a number where it
/// is one.
pub(super) fn member(name: &str, value: &str) -> (String, Json) {
    let in_list = |list: &[&str]| list.contains(&name);
    let unit = if in_list(MILLISECONDS) {
        "_ms"
    } else if in_list(PPM) {
        "_ppm"
    } else if in_list(SECONDS) {
        "_s"
    } else if in_list(LOG2_SECONDS) {
        "_log2_s"
    } else if in_list(KILOBYTES) {
        "_kb"
    } else if in_list(TIMESTAMPS) {
        return (format!("{name}_unix_s"), unix_seconds(value));
    } else {
        ""
    };
    let key = format!("{name}{unit}");
    let text = unquoted(value);
    let json = if in_list(TEXT) {
        Json::from(text)
    } else if name.starts_with("filt") {
        Json::Arr(text.split_whitespace().filter_map(number).collect())
    } else {
        number(text).unwrap_or_else(|| Json::from(text))
    };
    (key, json)
}

/// The variables of a response as one object, in the server's order; `flash` also gets
/// its test names.
pub(super) fn variables(vars: &[Var]) -> Object {
    let mut obj = Object::new();
    for v in vars {
        let (key, value) = member(&v.name, &v.value);
        obj.put(&key, value);
        if v.name == "flash" {
            let bits = match number(&v.value) {
                Some(Json::Int(n)) => u16::try_from(n).unwrap_or(0),
                _ => 0,
            };
            let names = Flash(bits).names();
            obj.put("flash_tests", names);
        }
    }
    obj
}

fn event_count(st: u16) -> u16 {
    (st >> 4) & 0xf
}

/// A status word, decoded as `readvar` shows it.
pub(super) fn status(kind: StatusKind, st: u16) -> Object {
    let code = usize::from(st & 0xf);
    let obj = Object::new().with("word", st);
    match kind {
        StatusKind::System => obj
            .with("leap", display::LEAP[usize::from(st >> 14)])
            .with(
                "sync",
                *display::SYNC
                    .get(usize::from((st >> 8) & 0x3f))
                    .unwrap_or(&"sync_unspec"),
            )
            .with("event_count", event_count(st))
            .with("last_event", display::SYS_EVENTS[code]),
        StatusKind::Peer => {
            let select = usize::from((st >> 8) & 7);
            obj.with("configured", st & 0x8000 != 0)
                .with("auth_enabled", st & 0x4000 != 0)
                .with("authentic", st & 0x2000 != 0)
                .with("reachable", st & 0x1000 != 0)
                .with("broadcast", st & 0x0800 != 0)
                .with("select", display::SELECT[select])
                .with("tally", char::from(display::TALLY[select]).to_string())
                .with("event_count", event_count(st))
                .with("last_event", display::PEER_EVENTS[code])
        }
        StatusKind::Clock => obj.with("event_count", event_count(st)).with(
            "last_event",
            *display::CLOCK_EVENTS.get(code).unwrap_or(&"clk_unspec"),
        ),
    }
}

fn value<'v>(vars: &'v [Var], name: &str) -> Option<&'v str> {
    vars.iter()
        .find(|v| v.name == name)
        .map(|v| unquoted(&v.value))
}

fn float(vars: &[Var], name: &str) -> Json {
    value(vars, name)
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(Json::Null, Json::Num)
}

fn int(vars: &[Var], name: &str) -> Option<i64> {
    match value(vars, name).and_then(number) {
        Some(Json::Int(n)) => Some(n),
        _ => None,
    }
}

/// One association of the peer table, with the numbers the text columns round.
struct PeerRow<'v> {
    id: u16,
    status: u16,
    vars: &'v [Var],
    reason: Option<String>,
}

impl Ntpq<'_> {
    /// The start of every document: the command and the host asked.
    pub(super) fn document(&self, name: &str) -> Object {
        Object::new()
            .with("command", canonical(name).unwrap_or(name))
            .with("host", self.host.as_str())
    }

    /// Runs command `name` and prints its document.
    pub(super) fn json_command(
        &mut self,
        name: &str,
        args: &[&str],
        o: &mut Out<'_>,
    ) -> Result<(), Failure> {
        let mut doc = self.document(name);
        match canonical(name) {
            Some("peers" | "lpeers") => self.peers_json(&mut doc, PeerStyle::Refid, name)?,
            Some("opeers" | "lopeers") => self.peers_json(&mut doc, PeerStyle::Local, name)?,
            Some("associations") => {
                if !name.starts_with('p') && !name.starts_with("lp") {
                    self.read_assocs()?;
                }
                doc.put("associations", self.assocs_json());
            }
            Some("readvar") => {
                let (assoc, list) = self.read_targets(name, args)?;
                self.readvar_json(&mut doc, opcode::READVAR, assoc, &list)?;
            }
            Some("pstatus") => {
                let assoc = self.pstatus_assoc(args)?;
                self.readvar_json(&mut doc, opcode::READSTAT, assoc, "")?;
            }
            Some("clockvar") => {
                let (assoc, list) = self.read_targets(name, args)?;
                self.readvar_json(&mut doc, opcode::READCLOCK, assoc, &list)?;
            }
            Some("mreadvar") => self.mreadvar_json(&mut doc, name, args)?,
            Some("mrulist") => {
                let Some((c, sort)) = self.collect_mru(args, o)? else {
                    return Ok(());
                };
                doc.put("entries", self.mru_json(&c, sort));
            }
            Some("reasons") => doc.put("sources", self.reasons_json()?),
            Some(_) => doc.put("error", "no JSON form for this command"),
            None => self.summary_json(&mut doc, name)?,
        }
        Ok(writeln!(o.out, "{doc}")?)
    }

    fn assocs_json(&self) -> Vec<Json> {
        self.assocs
            .iter()
            .enumerate()
            .map(|(i, (id, st))| {
                Object::new()
                    .with("index", i + 1)
                    .with("assoc_id", *id)
                    .with("status", status(StatusKind::Peer, *st))
                    .into()
            })
            .collect()
    }

    /// READVAR/READSTAT/READCLOCK of `assoc` (0: the system) with `list`.
    fn readvar_json(
        &mut self,
        doc: &mut Object,
        op: u8,
        assoc: u16,
        list: &str,
    ) -> Result<(), Failure> {
        let r = self.query(op, assoc, list.as_bytes())?;
        doc.put("assoc_id", r.assoc_id);
        doc.put("status", status(status_kind(op, assoc), r.status));
        doc.put("variables", variables(&parse_varlist(&r.data)));
        Ok(())
    }

    /// The association and the variables a read command `name` asks for: those on its
    /// command line, or the variable list for the `*list` forms.
    fn read_targets(&mut self, name: &str, args: &[&str]) -> Result<(u16, String), Failure> {
        let (assoc, named) = self.assoc_and_list(args)?;
        Ok((assoc, self.list_for(name, named)))
    }

    fn mreadvar_json(
        &mut self,
        doc: &mut Object,
        name: &str,
        args: &[&str],
    ) -> Result<(), Failure> {
        let (wanted, named) = self.mread_targets(args)?;
        let list = self.list_for(name, named);
        let mut results = Vec::new();
        for id in wanted {
            let mut one = Object::new();
            self.readvar_json(&mut one, opcode::READVAR, id, &list)?;
            results.push(Json::from(one));
        }
        doc.put("results", results);
        Ok(())
    }

    /// `sysinfo`, `sysstats`, ...: the summary's variables (and status where the text
    /// starts with it).
    fn summary_json(&mut self, doc: &mut Object, name: &str) -> Result<(), Failure> {
        let Some((lines, with_status)) = stats::summary(name) else {
            return Ok(());
        };
        let r = self.query(opcode::READVAR, 0, stats::request(lines).as_bytes())?;
        if with_status {
            doc.put("status", status(StatusKind::System, r.status));
        }
        let vars = parse_varlist(&r.data);
        let listed: Vec<Var> = lines
            .iter()
            .filter_map(|(n, _, _)| vars.iter().find(|v| v.name == *n).cloned())
            .collect();
        doc.put("variables", variables(&listed));
        Ok(())
    }

    /// The reason of association `id`, if the server reports reasons (`asked` turns
    /// false at the first server that does not know the variable).
    pub(super) fn reason_of(
        &mut self,
        id: u16,
        asked: &mut bool,
    ) -> Result<Option<String>, Failure> {
        if !*asked {
            return Ok(None);
        }
        match self.query(opcode::READVAR, id, b"reason") {
            Ok(r) => Ok(value(&parse_varlist(&r.data), "reason").map(str::to_string)),
            Err(Failure::Query(QueryError::Server(cerr::UNKNOWNVAR), _)) => {
                *asked = false;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The peer table's associations, each with its reason where the server has one.
    fn peers_json(
        &mut self,
        doc: &mut Object,
        style: PeerStyle,
        name: &str,
    ) -> Result<(), Failure> {
        self.read_assocs()?;
        let all = name.starts_with('l');
        let mut rows = Vec::new();
        let mut asked = true;
        for (id, st) in self.assocs.clone() {
            if !all && st & (display::PST_CONFIG | display::PST_REACH) == 0 {
                continue;
            }
            let r = self.query(opcode::READVAR, id, &[])?;
            let vars = parse_varlist(&r.data);
            let reason = self.reason_of(id, &mut asked)?;
            let row = PeerRow {
                id,
                status: st,
                vars: &vars,
                reason,
            };
            rows.push(Json::from(self.peer_json(&row, style)));
        }
        doc.put("peers", rows);
        Ok(())
    }

    /// A peer row: the text columns' values, unrounded and untruncated.
    fn peer_json(&self, row: &PeerRow<'_>, style: PeerStyle) -> Object {
        let vars = row.vars;
        let select = usize::from((row.status >> 8) & 7);
        let addr = |n: &str| value(vars, n).and_then(|v| v.parse::<IpAddr>().ok());
        let remote = addr("srcadr").map(|a| display::host_text(a, self.resolver, self.names));
        let poll = int(vars, "hpoll")
            .unwrap_or(0)
            .min(int(vars, "ppoll").unwrap_or(0))
            .clamp(3, 17);
        let now = ((self.now)() >> 32) as i64;
        let when = ["rec", "reftime"]
            .iter()
            .filter_map(|n| value(vars, n).and_then(display::parse_ts))
            .find(|t| *t != 0)
            .map(|t| now - (t >> 32) as i64)
            .filter(|s| *s > 0);
        let mut obj = Object::new()
            .with("assoc_id", row.id)
            .with("tally", char::from(display::TALLY[select]).to_string())
            .with("select", display::SELECT[select])
            .with("remote", remote)
            .with("address", addr("srcadr").map(|a| a.to_string()));
        match style {
            PeerStyle::Refid => obj.put("refid", value(vars, "refid")),
            PeerStyle::Local => obj.put("local", addr("dstadr").map(|a| a.to_string())),
        }
        obj.put("stratum", int(vars, "stratum"));
        obj.put("type", display::addr_type(addr("dstadr")).to_string());
        obj.put("when_s", when);
        obj.put("poll_s", 1i64 << poll);
        obj.put("reach", int(vars, "reach"));
        obj.put("delay_ms", float(vars, "delay"));
        obj.put("offset_ms", float(vars, "offset"));
        match style {
            PeerStyle::Refid => obj.put("jitter_ms", float(vars, "jitter")),
            PeerStyle::Local => obj.put("dispersion_ms", float(vars, "dispersion")),
        }
        obj.put("reason", row.reason.clone());
        obj
    }

    /// The MRU entries in the order asked for.
    fn mru_json(&self, c: &Collector, sort: Sort) -> Vec<Json> {
        let now = c.server_now();
        mrulist::sorted(&c.rows, sort)
            .into_iter()
            .map(|r| {
                Object::new()
                    .with("address", r.addr.ip().to_string())
                    .with("port", r.addr.port())
                    .with(
                        "remote",
                        display::host_text(r.addr.ip(), self.resolver, self.names),
                    )
                    .with("lstint_s", mrulist::lstint(r, now))
                    .with("avgint_s", mrulist::avgint(r))
                    .with("restrict", u64::from(r.restrict))
                    .with("restrict_flag", mrulist::restrict_flag(r).to_string())
                    .with("mode", u64::from(r.mode))
                    .with("version", u64::from(r.version))
                    .with("count", u64::from(r.count))
                    .into()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_carry_units_and_numbers() {
        let cases = [
            ("offset", "-0.125", r#""offset_ms":-0.125"#),
            ("frequency", "12.5", r#""frequency_ppm":12.5"#),
            ("stratum", "11", r#""stratum":11"#),
            ("tc", "6", r#""tc_log2_s":6"#),
            ("reach", "0x3", r#""reach":3"#),
            ("refid", "127.127.1.0", r#""refid":"127.127.1.0""#),
            ("version", "\"ntpd 4.2.6p5\"", r#""version":"ntpd 4.2.6p5""#),
            ("ss_uptime", "3600", r#""ss_uptime_s":3600"#),
            ("mru_mem", "1", r#""mru_mem_kb":1"#),
            ("reftime", "0x00000000.00000000", r#""reftime_unix_s":null"#),
            ("filtdelay", " 0.00 1.25", r#""filtdelay_ms":[0.0,1.25]"#),
            ("bogus", "some text", r#""bogus":"some text""#),
        ];
        for (name, value, want) in cases {
            let (k, v) = member(name, value);
            assert_eq!(Object::new().with(&k, v).to_string(), format!("{{{want}}}"));
        }
        // Sat, Nov 21 2026  2:45:06.5 UTC, as `rv` prints it.
        let (_, clock) = member("clock", "0xeeab8432.80000000");
        assert_eq!(clock, Json::Num(1_795_229_106.5));
    }

    #[test]
    fn flash_gets_its_test_names() {
        let vars = parse_varlist(b"flash=0x1620\r\n");
        assert_eq!(
            variables(&vars).to_string(),
            r#"{"flash":5664,"flash_tests":["pkt_stratum","peer_stratum","peer_dist","peer_unreach"]}"#
        );
    }

    #[test]
    fn status_words_decode() {
        assert_eq!(
            status(StatusKind::System, 0xc511).to_string(),
            r#"{"word":50449,"leap":"leap_alarm","sync":"sync_local","event_count":1,"last_event":"freq_not_set"}"#
        );
        let peer = status(StatusKind::Peer, 0x963a);
        assert_eq!(peer.get("tally"), Some(&Json::from("*")));
        assert_eq!(peer.get("select"), Some(&Json::from("sys.peer")));
        assert_eq!(peer.get("configured"), Some(&Json::Bool(true)));
    }
}
