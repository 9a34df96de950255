//! ntpd: the NTP daemon. All the work is in the library (`ntp6::daemon`).

fn main() {
    std::process::exit(ntp6::daemon::run::main(std::env::args().skip(1).collect()));
}
