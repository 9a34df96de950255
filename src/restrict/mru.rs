//! The monitor: a bounded most-recently-used table of clients, and the `limited` rate
//! limiter that lives in it (classic ntp_monitor.c `ntp_monitor()`).
//!
//! Rate limiting is a leaky bucket per source address, in whole seconds of monotonic time
//! (classic counts `current_time`, a 1 Hz tick):
//! - the bucket drains 1 per second of idle time (never below 0);
//! - a packet is *not* limited if at least `2^minimum` s passed since the previous one
//!   (with a 1 s grace) and the bucket plus the increment `2^average` s stays under the
//!   limit `8 * 2^average` s; the bucket then grows by the increment minus a 2 s grace;
//! - otherwise the packet is limited. If the bucket was under the limit it is set to
//!   limit + increment and a KoD may be sent; while it is above the limit further packets
//!   are limited without KoD. So a flooding client gets at most one KoD per ~2^average + 1
//!   seconds, whatever its packet rate.
//!
//! The first packet of a new address is never limited. Defaults (`discard average 3
//! minimum 1`, log2 s in 4.2.6p5): increment 8 s, limit 64 s, minimum spacing 2 s.
//!
//! Memory is fixed at construction: a slab of `capacity` entries linked in MRU order by
//! index, plus a hash index reserved at twice the capacity, so [`Monitor::observe`] is O(1)
//! and allocates nothing. When full, the least recently seen entry is recycled. (Classic
//! recycled it only with a probability growing with its age and never if it had seen one
//! packet; a flood of one-packet sources could then freeze the table and exempt every new
//! client from `limited`. We always recycle the oldest.)

use super::flags::{RestrictFlag, RestrictFlags};
use super::list::canonical;
use crate::wire::ntp::Mode;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Classic MRU size limit (MAXMONMEM).
pub const DEFAULT_CAPACITY: usize = 600;

/// Grace, in seconds, subtracted from each increment (classic: "2-s grace for the headway
/// increment").
const HEADWAY_GRACE: i64 = 2;

/// Bucket limit in increments (classic NTP_SHIFT).
const LIMIT_INCREMENTS: i64 = 8;

/// `discard average A minimum M`: both log2 seconds in 4.2.6p5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Increment per packet, log2 s (default 3 = 8 s). Also the floor for the poll field
    /// of server replies and KoDs.
    pub average_log2: u8,
    /// Minimum packet spacing, log2 s (default 1 = 2 s).
    pub minimum_log2: u8,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            average_log2: 3,
            minimum_log2: 1,
        }
    }
}

impl RateLimits {
    fn increment(self) -> i64 {
        1i64 << self.average_log2.min(30)
    }

    fn minimum(self) -> i64 {
        1i64 << self.minimum_log2.min(30)
    }
}

/// What the monitor needs to know about a received packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub src: SocketAddr,
    /// The local address it arrived on, if known (shown by monlist/mrulist).
    pub local: Option<IpAddr>,
    pub mode: Mode,
    pub version: u8,
}

/// One client as the monitor last saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonEntry {
    pub addr: IpAddr,
    /// Source port of the latest packet.
    pub port: u16,
    pub local: Option<IpAddr>,
    pub count: u64,
    pub first_seen: Duration,
    pub last_seen: Duration,
    pub mode: Mode,
    pub version: u8,
    /// Restrict flags of the latest packet, with `limited` and `kod` left only if they
    /// took effect (classic stores them this way, and monlist prints them).
    pub flags: RestrictFlags,
    /// Leaky-bucket level in seconds.
    leak: i64,
}

impl MonEntry {
    /// Classic monlist `avgint`: seconds since first seen divided by the packet count.
    pub fn average_interval(&self, now: Duration) -> Duration {
        let span = now.saturating_sub(self.first_seen).as_secs();
        Duration::from_secs(span / self.count.max(1))
    }

    /// Classic monlist `lstint`: seconds since the latest packet.
    pub fn last_interval(&self, now: Duration) -> Duration {
        Duration::from_secs(now.saturating_sub(self.last_seen).as_secs())
    }
}

/// The rate limiter's verdict for one packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// The packet is over the rate and the source's entry has `limited`.
    pub limited: bool,
    /// A RATE kiss-o'-death may be sent (the entry has `kod` and the KoD rate allows it).
    pub kod_allowed: bool,
}

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot {
    entry: MonEntry,
    /// Towards the most recent.
    prev: u32,
    /// Towards the oldest.
    next: u32,
}

/// The MRU table. Runs while `enable monitor` is on (the default) or any restrict entry
/// has `limited`; otherwise it is empty and limits nothing.
#[derive(Debug)]
pub struct Monitor {
    slots: Vec<Slot>,
    index: HashMap<Key, u32>,
    head: u32,
    tail: u32,
    capacity: usize,
    limits: RateLimits,
    enabled: bool,
    limited_in_use: bool,
}

/// A clone keeps the whole reservation (a derived one would reserve only the entries in
/// use, and the table would then grow by doubling, allocating while it serves).
impl Clone for Monitor {
    fn clone(&self) -> Monitor {
        let mut slots = Vec::with_capacity(self.capacity);
        slots.extend_from_slice(&self.slots);
        Monitor {
            slots,
            index: self.index.clone(),
            head: self.head,
            tail: self.tail,
            capacity: self.capacity,
            limits: self.limits,
            enabled: self.enabled,
            limited_in_use: self.limited_in_use,
        }
    }
}

impl Monitor {
    /// A monitor for up to `capacity` addresses (at most `u32::MAX - 1`), enabled, with
    /// default limits. All memory is allocated here.
    pub fn new(capacity: usize) -> Monitor {
        let capacity = capacity.min(NIL as usize - 1);
        Monitor {
            slots: Vec::with_capacity(capacity),
            // Twice the entries keeps hashbrown rehashing in place (never growing) when
            // removals leave tombstones.
            index: HashMap::with_capacity(capacity.saturating_mul(2)),
            head: NIL,
            tail: NIL,
            capacity,
            limits: RateLimits::default(),
            enabled: true,
            limited_in_use: false,
        }
    }

    pub fn set_limits(&mut self, limits: RateLimits) {
        self.limits = limits;
    }

    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    /// `enable monitor` / `disable monitor`.
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        self.drop_if_idle();
    }

    /// Whether some restrict entry has `limited` ([`super::RestrictList::uses_limited`]):
    /// classic keeps monitoring for it even with `disable monitor`.
    pub fn set_limited_in_use(&mut self, in_use: bool) {
        self.limited_in_use = in_use;
        self.drop_if_idle();
    }

    pub fn is_active(&self) -> bool {
        self.enabled || self.limited_in_use
    }

    fn drop_if_idle(&mut self) {
        if !self.is_active() {
            self.clear();
        }
    }

    /// Forgets every entry (memory is kept).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.index.clear();
        self.head = NIL;
        self.tail = NIL;
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries from the most recently seen to the oldest.
    pub fn iter(&self) -> impl Iterator<Item = &MonEntry> + '_ {
        let mut at = self.head;
        std::iter::from_fn(move || {
            let slot = self.slots.get(at as usize)?;
            at = slot.next;
            Some(&slot.entry)
        })
    }

    /// Records a packet and decides whether `limited`/`kod` apply to it. `flags` are the
    /// restrict flags of its source; `now` is monotonic time.
    pub fn observe(
        &mut self,
        now: Duration,
        arrival: &Arrival,
        flags: RestrictFlags,
    ) -> Observation {
        if !self.is_active() || self.capacity == 0 {
            return Observation::default();
        }
        let addr = canonical(arrival.src.ip());
        match self.index.get(&Key::of(addr)) {
            Some(&i) => self.update(i, now, arrival, flags),
            None => {
                self.insert(addr, now, arrival, flags);
                Observation::default()
            }
        }
    }

    fn update(
        &mut self,
        i: u32,
        now: Duration,
        arrival: &Arrival,
        flags: RestrictFlags,
    ) -> Observation {
        self.unlink(i);
        self.push_front(i);
        let limits = self.limits;
        let e = &mut self.slots[i as usize].entry;
        let interval = secs(now).saturating_sub(secs(e.last_seen));
        e.last_seen = now;
        e.count += 1;
        e.port = arrival.src.port();
        e.local = arrival.local;
        e.mode = arrival.mode;
        e.version = arrival.version;

        e.leak = (e.leak - interval).max(0);
        let increment = limits.increment();
        let filled = e.leak + increment;
        let limit = LIMIT_INCREMENTS * increment;
        let (limited, kod) = if interval + 1 >= limits.minimum() && filled < limit {
            e.leak = filled - HEADWAY_GRACE;
            (false, false)
        } else if e.leak < limit {
            e.leak = limit + increment;
            (true, true)
        } else {
            (true, false)
        };
        e.flags = without(flags, limited, kod);
        Observation {
            limited: e.flags.contains(RestrictFlag::Limited),
            kod_allowed: e.flags.contains(RestrictFlag::Limited)
                && e.flags.contains(RestrictFlag::Kod),
        }
    }

    fn insert(&mut self, addr: IpAddr, now: Duration, arrival: &Arrival, flags: RestrictFlags) {
        let entry = MonEntry {
            addr,
            port: arrival.src.port(),
            local: arrival.local,
            count: 1,
            first_seen: now,
            last_seen: now,
            mode: arrival.mode,
            version: arrival.version,
            flags: without(flags, false, true),
            leak: 0,
        };
        let i = if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                entry,
                prev: NIL,
                next: NIL,
            });
            (self.slots.len() - 1) as u32
        } else {
            let oldest = self.tail;
            self.unlink(oldest);
            let slot = &mut self.slots[oldest as usize];
            self.index.remove(&Key::of(slot.entry.addr));
            slot.entry = entry;
            oldest
        };
        self.index.insert(Key::of(addr), i);
        self.push_front(i);
    }

    fn unlink(&mut self, i: u32) {
        let Slot { prev, next, .. } = self.slots[i as usize];
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old_head = self.head;
        let slot = &mut self.slots[i as usize];
        slot.prev = NIL;
        slot.next = old_head;
        match old_head {
            NIL => self.tail = i,
            h => self.slots[h as usize].prev = i,
        }
        self.head = i;
    }
}

fn secs(t: Duration) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

/// The stored flags: `limited` only if the packet was over the rate, `kod` only if a kiss
/// may go out for it.
fn without(flags: RestrictFlags, limited: bool, kod: bool) -> RestrictFlags {
    let mut kept = flags;
    if !limited {
        kept = kept.without(RestrictFlag::Limited);
    }
    if !(limited && kod) {
        kept = kept.without(RestrictFlag::Kod);
    }
    kept
}

/// An address as the index's key: its 128 bits, an IPv4 address in its IPv4-mapped IPv6
/// form (no IPv6 key has that form: [`canonical`] turned those into IPv4), hashed in one
/// SipHash write instead of the several `IpAddr`'s own `Hash` makes (a third of the
/// monitor's cost per packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key(u128);

impl Key {
    fn of(addr: IpAddr) -> Key {
        Key(match addr {
            IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
            IpAddr::V6(a) => u128::from(a),
        })
    }
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited_kod() -> RestrictFlags {
        RestrictFlags::NONE
            .with(RestrictFlag::Limited)
            .with(RestrictFlag::Kod)
    }

    fn client(addr: &str) -> Arrival {
        Arrival {
            src: SocketAddr::new(addr.parse().unwrap(), 40000),
            local: None,
            mode: Mode::Client,
            version: 4,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_packet_and_polite_clients_are_served() {
        let mut mon = Monitor::new(DEFAULT_CAPACITY);
        let c = client("192.0.2.1");
        // A client polling every 64 s, or a burst 2 s apart for 8 packets (iburst).
        for k in 0..8 {
            let seen = mon.observe(Duration::from_secs(2 * k), &c, limited_kod());
            assert_eq!(seen, Observation::default(), "iburst packet {k}");
        }
        for k in 1..50 {
            let seen = mon.observe(Duration::from_secs(16 + 64 * k), &c, limited_kod());
            assert!(!seen.limited);
        }
    }

    #[test]
    fn flood_is_limited_with_bounded_kods_and_others_unaffected() {
        let mut mon = Monitor::new(DEFAULT_CAPACITY);
        let flooder = client("192.0.2.66");
        let polite = client("192.0.2.7");
        let (mut served, mut kods, mut polite_served) = (0, 0, 0);
        // 1000 packets in 10 s; the polite client sends one every 8 s... twice.
        for k in 0..1000u64 {
            let seen = mon.observe(ms(10 * k), &flooder, limited_kod());
            served += u32::from(!seen.limited);
            kods += u32::from(seen.kod_allowed);
            assert!(!seen.kod_allowed || seen.limited);
            if k % 800 == 0 {
                let p = mon.observe(ms(10 * k), &polite, limited_kod());
                polite_served += u32::from(!p.limited);
            }
        }
        assert!(served <= 2, "flooder served {served} times");
        // One KoD per increment-plus-a-second at most: here 2 in 10 s.
        assert!((1..=2).contains(&kods), "{kods} KoDs");
        assert_eq!(polite_served, 2);
        let flooder_entry = mon.iter().find(|e| e.addr == flooder.src.ip()).unwrap();
        assert_eq!(flooder_entry.count, 1000);
    }

    #[test]
    fn kods_stay_bounded_over_a_long_flood() {
        let mut mon = Monitor::new(8);
        let flooder = client("2001:db8::66");
        let mut kods = 0;
        // 10 packets a second for 1000 s.
        for k in 0..10_000u64 {
            kods += u32::from(
                mon.observe(ms(100 * k), &flooder, limited_kod())
                    .kod_allowed,
            );
        }
        // At most one per (8 s increment + 1 s) = 9 s.
        assert!(kods <= 1000 / 9 + 1, "{kods} KoDs");
        assert!(kods >= 1000 / 12, "{kods} KoDs");
    }

    #[test]
    fn without_limited_nothing_is_limited_but_everything_is_recorded() {
        let mut mon = Monitor::new(4);
        let c = client("192.0.2.1");
        for k in 0..100 {
            let seen = mon.observe(ms(k), &c, RestrictFlags::NONE.with(RestrictFlag::Kod));
            assert_eq!(seen, Observation::default());
        }
        let e = mon.iter().next().unwrap();
        assert_eq!(e.count, 100);
        assert!(!e.flags.contains(RestrictFlag::Kod));
    }

    #[test]
    fn limited_without_kod_never_kisses() {
        let mut mon = Monitor::new(4);
        let c = client("192.0.2.1");
        let only_limited = RestrictFlags::NONE.with(RestrictFlag::Limited);
        let seen: Vec<Observation> = (0..50)
            .map(|k| mon.observe(ms(k), &c, only_limited))
            .collect();
        assert!(seen.iter().skip(1).all(|o| o.limited && !o.kod_allowed));
    }

    #[test]
    fn discard_minimum_and_average_are_log2_seconds() {
        let mut mon = Monitor::new(4);
        mon.set_limits(RateLimits {
            average_log2: 0,
            minimum_log2: 0,
        });
        let c = client("192.0.2.1");
        // Increment 1 s, limit 8 s, minimum 1 s: one packet a second is fine forever.
        for k in 0..100 {
            assert!(
                !mon.observe(Duration::from_secs(k), &c, limited_kod())
                    .limited
            );
        }
        mon.set_limits(RateLimits {
            average_log2: 3,
            minimum_log2: 2,
        });
        // Now 4 s spacing is required (with a 1 s grace: 3 s passes, 2 s does not).
        assert!(
            !mon.observe(Duration::from_secs(103), &c, limited_kod())
                .limited
        );
        assert!(
            mon.observe(Duration::from_secs(105), &c, limited_kod())
                .limited
        );
    }

    #[test]
    fn table_is_bounded_and_evicts_the_oldest() {
        let cap = 50;
        let mut mon = Monitor::new(cap);
        let index_capacity = mon.index.capacity();
        let slab_capacity = mon.slots.capacity();
        for k in 0..(10 * cap as u32) {
            let mut a = client("10.0.0.0");
            a.src
                .set_ip(IpAddr::from(std::net::Ipv4Addr::from((10u32 << 24) + k)));
            mon.observe(Duration::from_secs(u64::from(k)), &a, RestrictFlags::NONE);
            assert!(mon.len() <= cap);
        }
        assert_eq!(mon.len(), cap);
        // No growth: the memory is what `new` reserved (the hash index may report less
        // capacity while it holds tombstones, and rehashes in place).
        assert!(mon.index.capacity() <= index_capacity);
        assert_eq!(mon.slots.capacity(), slab_capacity);
        // The survivors are the newest `cap`, most recent first.
        let seen: Vec<IpAddr> = mon.iter().map(|e| e.addr).collect();
        let want: Vec<IpAddr> = (0..cap as u32)
            .map(|j| {
                IpAddr::from(std::net::Ipv4Addr::from(
                    (10u32 << 24) + 10 * cap as u32 - 1 - j,
                ))
            })
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn recent_traffic_moves_an_entry_to_the_front_and_saves_it() {
        let mut mon = Monitor::new(3);
        let (a, b, c, d) = (
            client("192.0.2.1"),
            client("192.0.2.2"),
            client("192.0.2.3"),
            client("192.0.2.4"),
        );
        for (t, who) in [(0, &a), (1, &b), (2, &c), (3, &a), (4, &d)] {
            mon.observe(Duration::from_secs(t), who, RestrictFlags::NONE);
        }
        let order: Vec<String> = mon.iter().map(|e| e.addr.to_string()).collect();
        assert_eq!(order, ["192.0.2.4", "192.0.2.1", "192.0.2.3"]);
        let a_entry = mon.iter().nth(1).unwrap();
        assert_eq!((a_entry.count, a_entry.first_seen), (2, Duration::ZERO));
        assert_eq!(
            a_entry.average_interval(Duration::from_secs(10)),
            Duration::from_secs(5)
        );
        assert_eq!(
            a_entry.last_interval(Duration::from_secs(10)),
            Duration::from_secs(7)
        );
    }

    #[test]
    fn records_port_mode_version_and_local_address() {
        let mut mon = Monitor::new(3);
        let arrival = Arrival {
            src: "[::ffff:192.0.2.9]:123".parse().unwrap(),
            local: Some("192.0.2.1".parse().unwrap()),
            mode: Mode::SymmetricActive,
            version: 3,
        };
        mon.observe(Duration::from_secs(5), &arrival, RestrictFlags::NONE);
        let e = mon.iter().next().unwrap();
        assert_eq!(e.addr, "192.0.2.9".parse::<IpAddr>().unwrap());
        assert_eq!((e.port, e.mode, e.version), (123, Mode::SymmetricActive, 3));
        assert_eq!(e.local, arrival.local);
    }

    #[test]
    fn disabled_monitor_records_nothing_unless_limited_is_in_use() {
        let mut mon = Monitor::new(3);
        mon.observe(Duration::ZERO, &client("192.0.2.1"), RestrictFlags::NONE);
        mon.set_enabled(false);
        assert!(mon.is_empty());
        mon.observe(Duration::ZERO, &client("192.0.2.1"), RestrictFlags::NONE);
        assert!(mon.is_empty());
        mon.set_limited_in_use(true);
        let c = client("192.0.2.1");
        mon.observe(Duration::ZERO, &c, limited_kod());
        assert!(mon.observe(Duration::ZERO, &c, limited_kod()).limited);
        assert_eq!(mon.len(), 1);
    }

    #[test]
    fn zero_capacity_limits_nothing() {
        let mut mon = Monitor::new(0);
        let c = client("192.0.2.1");
        for _ in 0..3 {
            assert!(!mon.observe(Duration::ZERO, &c, limited_kod()).limited);
        }
    }

    proptest::proptest! {
        /// The slab + links + index behave like a plain recency-ordered list.
        #[test]
        fn mru_order_matches_a_simple_model(
            cap in 1usize..6,
            seq in proptest::collection::vec(0u8..10, 0..200),
        ) {
            let mut mon = Monitor::new(cap);
            let mut model: Vec<(IpAddr, u64)> = Vec::new();
            for (t, host) in seq.into_iter().enumerate() {
                let addr = IpAddr::from(std::net::Ipv4Addr::new(192, 0, 2, host));
                let mut a = client("192.0.2.0");
                a.src.set_ip(addr);
                mon.observe(Duration::from_secs(t as u64), &a, RestrictFlags::NONE);
                let count = match model.iter().position(|(x, _)| *x == addr) {
                    Some(i) => model.remove(i).1 + 1,
                    None => 1,
                };
                model.insert(0, (addr, count));
                model.truncate(cap);
                let seen: Vec<(IpAddr, u64)> = mon.iter().map(|e| (e.addr, e.count)).collect();
                proptest::prop_assert_eq!(&seen, &model);
            }
        }
    }
}
