//! The end of a run: filter every server, select, decide, and render the lines classic
//! prints (`-q` summary lines, the `-d` dump, the step/adjust message).

use super::filter::{Filtered, Sample};
use super::options::Adjust;
use super::select::{check, decide, select, Candidate, Decision, Dropped};
use super::session::ServerState;
use crate::time::civil::{fixed, pretty_date};
use crate::wire::printable::printable;
use std::fmt::Write as _;

/// The conclusion of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Per server, in command-line order.
    pub filtered: Vec<Filtered>,
    /// Servers dropped by the sanity checks, in order (for `-d`).
    pub dropped: Vec<(usize, Dropped)>,
    /// The chosen server and what to do, or None: "no server suitable".
    pub chosen: Option<(usize, Decision)>,
}

/// Filters, checks, selects and decides.
pub fn conclude(servers: &[ServerState], adjust: Adjust) -> Outcome {
    let filtered: Vec<Filtered> = servers.iter().map(|s| s.filter.evaluate()).collect();
    let mut dropped = Vec::new();
    let mut candidates = Vec::new();
    for (index, (server, f)) in servers.iter().zip(&filtered).enumerate() {
        match check(server, f) {
            Ok(()) => candidates.push(Candidate {
                index,
                stratum: server.peer.stratum,
                precision: server.peer.precision,
                filtered: *f,
            }),
            Err(why) => dropped.push((index, why)),
        }
    }
    let chosen = select(&candidates).map(|i| (i, decide(filtered[i].offset, adjust)));
    Outcome {
        filtered,
        dropped,
        chosen,
    }
}

/// `server 172.25.0.13, stratum 10, offset 0.000017, delay 0.02568`
pub fn query_line(server: &ServerState, f: &Filtered) -> String {
    format!(
        "server {}, stratum {}, offset {}, delay {}",
        server.addr.ip(),
        server.peer.stratum,
        fixed(f.offset, 6),
        fixed(f.delay, 5)
    )
}

/// `step time server 172.25.0.11 offset -0.691491 sec` (or `adjust time server ...`).
pub fn adjust_message(server: &ServerState, decision: &Decision) -> String {
    format!(
        "{} time server {} offset {} sec",
        if decision.step { "step" } else { "adjust" },
        server.addr.ip(),
        fixed(decision.offset, 6)
    )
}

/// `172.25.0.11: Server dropped: Leap not in sync`
pub fn dropped_line(server: &ServerState, why: Dropped) -> String {
    format!("{}: Server dropped: {}", server.addr.ip(), why.reason())
}

/// Classic prints its eight filter registers (NTP_SHIFT) whatever -p asked for.
const SHOWN_REGISTERS: usize = 8;

/// Filter values as classic's `-d` prints them: ` %-8.8s` each, four to a line, the
/// second line indented under the first.
fn registers_text(values: impl Iterator<Item = String>) -> String {
    let mut text = String::new();
    for (i, v) in values.enumerate() {
        if i == SHOWN_REGISTERS / 2 {
            text.push_str("\n        ");
        }
        let _ = write!(text, " {v:<8.8}");
    }
    text
}

/// Classic's `-d` block for one server (ending with an empty line), plus our own last line
/// with the true round trip of the chosen sample, which classic never shows.
pub fn debug_dump(server: &ServerState, f: &Filtered, utc_offset: i64) -> String {
    let refid = if server.peer.stratum == 1 {
        let text = &server.peer.refid.0;
        printable(&text[..text.iter().position(|b| *b == 0).unwrap_or(text.len())])
    } else {
        server.addr.ip().to_string()
    };
    let leap = server.peer.leap.to_bits();
    let mut out = String::new();
    let mut regs = server.filter.registers();
    regs.resize(regs.len().max(SHOWN_REGISTERS), Sample::EMPTY);
    let delays = registers_text(regs.iter().map(|s| fixed(s.delay, 5)));
    let offsets = registers_text(regs.iter().map(|s| fixed(s.offset, 6)));
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "server {}, port {}\n\
         stratum {}, precision {}, leap {}{}, trust {:03o}\n\
         refid [{}], delay {}, dispersion {}\n\
         transmitted {}, in filter {}\n\
         reference time:    {}\n\
         originate timestamp: {}\n\
         transmit timestamp:  {}\n\
         filter delay: {}\n\
         filter offset:{}\n\
         delay {}, dispersion {}\n\
         offset {}\n\
         round trip (without classic's allowance) {}\n\n",
        server.addr.ip(),
        server.addr.port(),
        server.peer.stratum,
        server.peer.precision,
        leap >> 1,
        leap & 1,
        server.trust,
        refid,
        fixed(f.delay, 5),
        fixed(f.dispersion, 5),
        server.transmitted,
        server.filter.len(),
        pretty_date(server.peer.reference_time, utc_offset),
        pretty_date(server.last_server_time, utc_offset),
        pretty_date(server.last_request_time, utc_offset),
        delays,
        offsets,
        fixed(f.delay, 5),
        fixed(f.dispersion, 5),
        fixed(f.offset, 6),
        fixed(f.raw_delay, 6),
    );
    out
}
