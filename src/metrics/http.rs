//! The little HTTP/1.x the metrics endpoint speaks, as pure code: is a request head
//! complete, and what is the answer to it. One request per connection, then close; only
//! `GET` and `HEAD` of `/metrics`. The daemon shell moves the bytes.

use super::text::CONTENT_TYPE;
use std::time::Duration;

/// A request head may be this long at most; a longer one gets 431.
pub const MAX_REQUEST: usize = 4096;

const PLAIN: &str = "text/plain; charset=utf-8";

/// Connections accepted per second on average, and in a burst: far above what scrapers
/// need (Prometheus asks every 15 s), far below what would cost time service anything.
pub const ACCEPT_RATE: u32 = 100;
pub const ACCEPT_BURST: u32 = 50;

/// A token bucket over monotonic time, counted in time earned (one connection costs
/// 1/[`ACCEPT_RATE`] s), so it is exact. The endpoint accepts a connection only when it
/// can pay, so a flood costs the daemon at most [`ACCEPT_RATE`] scrapes a second; the rest
/// wait in the kernel's listen queue, at no cost to the daemon, until credit comes.
#[derive(Clone, Debug)]
pub struct AcceptBudget {
    credit: Duration,
    at: Duration,
}

const COST: Duration = Duration::from_nanos(1_000_000_000 / ACCEPT_RATE as u64);
const FULL: Duration = Duration::from_nanos(COST.as_nanos() as u64 * ACCEPT_BURST as u64);

impl AcceptBudget {
    /// A full bucket at monotonic time `now`.
    pub fn new(now: Duration) -> AcceptBudget {
        AcceptBudget {
            credit: FULL,
            at: now,
        }
    }

    /// Whether a connection may be accepted at `now`.
    pub fn available(&mut self, now: Duration) -> bool {
        self.credit = (self.credit + now.saturating_sub(self.at)).min(FULL);
        self.at = self.at.max(now);
        self.credit >= COST
    }

    /// One connection was accepted.
    pub fn spend(&mut self) {
        self.credit = self.credit.saturating_sub(COST);
    }

    /// When the next connection may be accepted.
    pub fn next_token(&self) -> Duration {
        self.at + COST.saturating_sub(self.credit)
    }
}

/// Whether `buf` holds a whole request head (ended by an empty line).
pub fn head_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

/// One response.
struct Response<'a> {
    code: u16,
    reason: &'a str,
    content_type: &'a str,
    extra_header: &'a str,
    body: &'a str,
    with_body: bool,
}

impl Response<'_> {
    fn error<'a>(code: u16, reason: &'a str, body: &'a str) -> Response<'a> {
        Response {
            code,
            reason,
            content_type: PLAIN,
            extra_header: "",
            body,
            with_body: true,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
            self.code,
            self.reason,
            self.content_type,
            self.body.len(),
            self.extra_header,
        )
        .into_bytes();
        if self.with_body {
            out.extend_from_slice(self.body.as_bytes());
        }
        out
    }
}

/// The response to the request head `head`; `page` renders the metrics page when asked.
pub fn respond(head: &[u8], page: &mut dyn FnMut() -> String) -> Vec<u8> {
    if head.len() > MAX_REQUEST {
        return Response::error(
            431,
            "Request Header Fields Too Large",
            "request too large\n",
        )
        .bytes();
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_ascii_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Response::error(400, "Bad Request", "bad request\n").bytes();
    };
    if !version.starts_with("HTTP/1.") {
        return Response::error(400, "Bad Request", "bad request\n").bytes();
    }
    if target.split('?').next() != Some("/metrics") {
        return Response::error(404, "Not Found", "the metrics are at /metrics\n").bytes();
    }
    if method != "GET" && method != "HEAD" {
        return Response {
            extra_header: "Allow: GET, HEAD\r\n",
            ..Response::error(405, "Method Not Allowed", "only GET and HEAD\n")
        }
        .bytes();
    }
    let body = page();
    Response {
        code: 200,
        reason: "OK",
        content_type: CONTENT_TYPE,
        extra_header: "",
        body: &body,
        with_body: method == "GET",
    }
    .bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(head: &str) -> String {
        let mut rendered = 0;
        let r = respond(head.as_bytes(), &mut || {
            rendered += 1;
            "ntp_stratum 11\n".into()
        });
        let r = String::from_utf8(r).unwrap();
        assert_eq!(rendered, usize::from(r.contains(" 200 OK")));
        r
    }

    #[test]
    fn get_and_head_of_metrics() {
        let head = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9975\r\nAccept: text/plain\r\n\r\n";
        assert!(head_complete(head.as_bytes()));
        assert!(!head_complete(&head.as_bytes()[..head.len() - 2]));
        assert_eq!(
            ask(head),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: 15\r\nConnection: close\r\n\r\nntp_stratum 11\n"
        );
        let r = ask("HEAD /metrics?x=1 HTTP/1.0\n\n");
        assert!(
            r.starts_with("HTTP/1.1 200 OK\r\n")
                && r.ends_with("Content-Length: 15\r\nConnection: close\r\n\r\n")
        );
    }

    #[test]
    fn accepts_a_burst_then_the_rate() {
        let t0 = Duration::from_secs(100);
        let mut b = AcceptBudget::new(t0);
        let mut accepted = 0;
        while b.available(t0) {
            b.spend();
            accepted += 1;
        }
        assert_eq!(accepted, ACCEPT_BURST as usize);
        assert_eq!(b.next_token(), t0 + Duration::from_millis(10));
        assert!(!b.available(t0 + Duration::from_millis(9)));
        assert!(b.available(t0 + Duration::from_millis(10)));
        // A second of flood gets the rate, no more.
        let mut in_a_second = 0;
        for ms in 10..1010 {
            while b.available(t0 + Duration::from_millis(ms)) {
                b.spend();
                in_a_second += 1;
            }
        }
        assert_eq!(in_a_second, ACCEPT_RATE as usize);
        // A quiet spell refills the burst, not more.
        assert!(b.available(t0 + Duration::from_secs(60)));
        assert_eq!(b.next_token(), t0 + Duration::from_secs(60));
    }

    proptest::proptest! {
        /// Whatever a client sends, the answer is one well-formed HTTP response.
        #[test]
        fn any_bytes_get_a_response(head in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let r = respond(&head, &mut || String::new());
            proptest::prop_assert!(r.starts_with(b"HTTP/1.1 "));
            proptest::prop_assert!(r.windows(4).any(|w| w == b"\r\n\r\n"));
            let _ = head_complete(&head);
        }
    }

    #[test]
    fn everything_else_is_refused() {
        assert!(ask("GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 Not Found"));
        let r = ask("POST /metrics HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 405 ") && r.contains("\r\nAllow: GET, HEAD\r\n"));
        assert!(ask("GET /metrics\r\n\r\n").starts_with("HTTP/1.1 400 "));
        assert!(ask("\u{0}\u{ff}\r\n\r\n").starts_with("HTTP/1.1 400 "));
        assert!(ask("GET /metrics SPDY/3\r\n\r\n").starts_with("HTTP/1.1 400 "));
        let long = format!(
            "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_REQUEST)
        );
        assert!(ask(&long).starts_with("HTTP/1.1 431 "));
    }
}
