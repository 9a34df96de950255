//! The `restrict` flags of classic ntpd, as a small copyable bit set.
//!
//! Kept as a hand-written newtype (not a bitflags crate) because the set is fixed by
//! ntp.conf(5) and the names double as the config keywords and the ntpq/saveconfig text.

use std::fmt;

/// One `restrict` flag. The discriminant is its bit in [`RestrictFlags`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RestrictFlag {
    Ignore,
    Kod,
    Limited,
    LowPrioTrap,
    NoModify,
    NoQuery,
    NoPeer,
    NoServe,
    NoTrap,
    NoTrust,
    NtpPort,
    Version,
}

impl RestrictFlag {
    /// Every flag, in the order classic ntpd prints them in `saveconfig`.
    pub const ALL: [RestrictFlag; 12] = [
        RestrictFlag::Ignore,
        RestrictFlag::Kod,
        RestrictFlag::Limited,
        RestrictFlag::LowPrioTrap,
        RestrictFlag::NoModify,
        RestrictFlag::NoQuery,
        RestrictFlag::NoPeer,
        RestrictFlag::NoServe,
        RestrictFlag::NoTrap,
        RestrictFlag::NoTrust,
        RestrictFlag::NtpPort,
        RestrictFlag::Version,
    ];

    /// The ntp.conf keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            RestrictFlag::Ignore => "ignore",
            RestrictFlag::Kod => "kod",
            RestrictFlag::Limited => "limited",
            RestrictFlag::LowPrioTrap => "lowpriotrap",
            RestrictFlag::NoModify => "nomodify",
            RestrictFlag::NoQuery => "noquery",
            RestrictFlag::NoPeer => "nopeer",
            RestrictFlag::NoServe => "noserve",
            RestrictFlag::NoTrap => "notrap",
            RestrictFlag::NoTrust => "notrust",
            RestrictFlag::NtpPort => "ntpport",
            RestrictFlag::Version => "version",
        }
    }

    /// Parses an ntp.conf keyword; `None` for anything else.
    pub fn from_keyword(word: &str) -> Option<RestrictFlag> {
        RestrictFlag::ALL.into_iter().find(|f| f.keyword() == word)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`RestrictFlag`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RestrictFlags(u16);

impl RestrictFlags {
    pub const NONE: RestrictFlags = RestrictFlags(0);

    pub fn contains(self, flag: RestrictFlag) -> bool {
        self.0 & flag.bit() != 0
    }

    pub fn insert(&mut self, flag: RestrictFlag) {
        self.0 |= flag.bit();
    }

    pub fn with(mut self, flag: RestrictFlag) -> RestrictFlags {
        self.insert(flag);
        self
    }

    /// This set less `flag` (a mask, cheap enough for the per-packet path).
    pub fn without(self, flag: RestrictFlag) -> RestrictFlags {
        RestrictFlags(self.0 & !flag.bit())
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = RestrictFlag> {
        RestrictFlag::ALL
            .into_iter()
            .filter(move |f| self.contains(*f))
    }
}

impl FromIterator<RestrictFlag> for RestrictFlags {
    fn from_iter<I: IntoIterator<Item = RestrictFlag>>(iter: I) -> Self {
        let mut flags = RestrictFlags::NONE;
        for f in iter {
            flags.insert(f);
        }
        flags
    }
}

/// Space-separated keywords, as in ntp.conf.
impl fmt::Display for RestrictFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for flag in self.iter() {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(flag.keyword())?;
            first = false;
        }
        Ok(())
    }
}

impl fmt::Debug for RestrictFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RestrictFlags({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_round_trip() {
        for flag in RestrictFlag::ALL {
            assert_eq!(RestrictFlag::from_keyword(flag.keyword()), Some(flag));
        }
        assert_eq!(RestrictFlag::from_keyword("nomodifiy"), None);
    }

    #[test]
    fn display_lists_flags_in_classic_order() {
        let flags: RestrictFlags = [
            RestrictFlag::NoQuery,
            RestrictFlag::Kod,
            RestrictFlag::NoModify,
        ]
        .into_iter()
        .collect();
        assert_eq!(flags.to_string(), "kod nomodify noquery");
    }
}
