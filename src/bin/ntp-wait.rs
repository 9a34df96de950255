//! `ntp-wait`: see [`ntp6::ntpwait`]. Asks ntpd on localhost (127.0.0.1, as the script's
//! ntpq does by default).

use ntp6::net::query::UdpTransport;
use ntp6::ntpq::session::Session;
use ntp6::ntpwait::{self, Leap};
use std::net::SocketAddr;

fn main() {
    let opts = match ntpwait::parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}\n{}", ntpwait::USAGE);
            std::process::exit(1);
        }
    };
    let server = SocketAddr::from(([127, 0, 0, 1], 123));
    let mut session = Session::default();
    let mut ask = || match UdpTransport::connect(server) {
        Ok(mut t) => ntpwait::query(&mut session, &mut t),
        Err(_) => Leap::NotYet,
    };
    let code = ntpwait::wait(
        &opts,
        &mut ask,
        &mut std::thread::sleep,
        &mut std::io::stdout(),
    );
    std::process::exit(code);
}
