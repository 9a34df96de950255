//! Server cost as the kernel accounts it: CPU ticks from `/proc/PID/stat`, RSS from
//! `/proc/PID/status`, unique memory from `/proc/PID/smaps_rollup`. Both cover every thread of the process, so a daemon that moves work
//! to helper threads is charged for it.

use std::fs;

/// User and system CPU time of a process, in seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTime {
    pub user: f64,
    pub system: f64,
}

impl CpuTime {
    pub fn total(self) -> f64 {
        self.user + self.system
    }

    /// CPU spent between `earlier` and `self`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// Reads utime and stime (fields 14 and 15) of `/proc/PID/stat`.
pub fn cpu_time(pid: u32) -> Result<CpuTime, String> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // The command name (field 2) may hold spaces and parentheses: parse after the last ')'.
    let rest = text
        .rfind(')')
        .map(|at| &text[at + 1..])
        .ok_or_else(|| format!("{path}: no ')' in {text:?}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field N is at index N - 3.
    let field = |n: usize| -> Result<f64, String> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|ticks| ticks as f64 / ticks_per_second())
            .ok_or_else(|| format!("{path}: bad field {n}"))
    };
    Ok(CpuTime {
        user: field(14)?,
        system: field(15)?,
    })
}

/// Resident set size (`VmRSS`) in KiB.
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    kib_fields(&format!("/proc/{pid}/status"), &["VmRSS:"])
}

/// Memory only this process holds (`Private_Clean` + `Private_Dirty`), in KiB: RSS less
/// the pages of shared libraries and of the binary that other processes map too.
pub fn private_kib(pid: u32) -> Result<u64, String> {
    kib_fields(
        &format!("/proc/{pid}/smaps_rollup"),
        &["Private_Clean:", "Private_Dirty:"],
    )
}

/// The sum of the `NAME: N kB` lines of `path` named in `names`.
fn kib_fields(path: &str, names: &[&str]) -> Result<u64, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    names
        .iter()
        .map(|name| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|value| {
                    value
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .ok_or_else(|| format!("{path}: no {name} line"))
        })
        .sum()
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        hz as f64
    } else {
        100.0
    }
}

/// The UDP counters of this network namespace (`/proc/net/snmp`), by name.
pub fn udp_counters() -> Vec<(String, u64)> {
    let text = fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = text.lines().filter(|line| line.starts_with("Udp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Vec::new();
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .skip(1)
        .filter_map(|(name, value)| Some((name.to_string(), value.parse().ok()?)))
        .collect()
}

/// Counters that grew between `before` and `after`, other than the plain datagram counts.
pub fn udp_errors(before: &[(String, u64)], after: &[(String, u64)]) -> Vec<String> {
    after
        .iter()
        .filter(|(name, _)| !name.ends_with("Datagrams"))
        .filter_map(|(name, value)| {
            let old = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, v)| *v);
            (*value > old).then(|| format!("{name} +{}", value - old))
        })
        .collect()
}
