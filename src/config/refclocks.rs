//! The reference clock driver types of classic 4.2.6p5 (127.127.T.U), by the short names
//! its ntpq shows (`GPS_NMEA(0)`), so messages can name the driver a line asks for.

/// Names of types 1..=44; `NOT_USED` where classic's table has a hole.
const NAMES: [&str; 44] = [
    "LOCAL",
    "GPS_TRAK",
    "WWV_PST",
    "SPECTRACOM",
    "TRUETIME",
    "IRIG_AUDIO",
    "CHU_AUDIO",
    "GENERIC",
    "GPS_MX4200",
    "GPS_AS2201",
    "GPS_ARBITER",
    "IRIG_TPRO",
    "ATOM_LEITCH",
    "MSF_EES",
    "NOT_USED",
    "GPS_BANC",
    "GPS_DATUM",
    "ACTS_MODEM",
    "WWV_HEATH",
    "GPS_NMEA",
    "GPS_VME",
    "PPS",
    "NOT_USED",
    "NOT_USED",
    "NOT_USED",
    "GPS_HP",
    "MSF_ARCRON",
    "SHM",
    "GPS_PALISADE",
    "GPS_ONCORE",
    "GPS_JUPITER",
    "CHRONOLOG",
    "DUMBCLOCK",
    "ULINK_M320",
    "PCF",
    "WWV_AUDIO",
    "GPS_FG",
    "HOPF_S",
    "HOPF_P",
    "JJY",
    "TT_IRIG",
    "GPS_ZYFER",
    "GPS_RIPENCC",
    "NEOCLK4X",
];

/// The driver name of type `t`, if classic 4.2.6p5 has that type.
pub fn clock_type_name(t: u8) -> Option<&'static str> {
    NAMES.get(usize::from(t).checked_sub(1)?).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_corpus_types() {
        let named: Vec<_> = [1, 4, 6, 8, 11, 18, 20, 22, 28, 44]
            .map(clock_type_name)
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(
            named,
            [
                "LOCAL",
                "SPECTRACOM",
                "IRIG_AUDIO",
                "GENERIC",
                "GPS_ARBITER",
                "ACTS_MODEM",
                "GPS_NMEA",
                "PPS",
                "SHM",
                "NEOCLK4X"
            ]
        );
        assert_eq!(clock_type_name(0), None);
        assert_eq!(clock_type_name(45), None);
        assert_eq!(
            NAMES.len(),
            usize::from(*super::super::REFCLOCK_TYPES.end())
        );
    }
}
