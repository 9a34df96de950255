//! One ntpdc request and its response, sans-IO over the ntpq [`Transport`]: the request
//! leaves once (classic ntpdc does not retransmit), the packets of the answer are
//! collected by sequence number until the one without the "more" bit, all before one
//! deadline, so a server trickling packets cannot hold us past the timeout.

use crate::ntpq::session::Transport;
use crate::wire::mode7::{self, Header, InfoError};
use std::io;
use std::time::Duration;

/// Why a request produced no items.
#[derive(Debug)]
pub enum Failure {
    /// Nothing came back in time.
    Timeout,
    /// Some packets came, not all.
    Incomplete,
    /// The server's error code (INFO_ERR_*; unknown codes kept as numbers).
    Server(u8),
    Io(io::Error),
}

impl Failure {
    /// Classic ntpdc's words for it (printed to standard error).
    pub fn message(&self, host: &str) -> String {
        match self {
            Failure::Timeout => {
                format!("{host}: timed out, nothing received\n***Request timed out\n")
            }
            Failure::Incomplete => format!(
                "{host}: timed out with incomplete data\n***Response from server was incomplete\n"
            ),
            Failure::Server(code) => match InfoError::from_code(*code) {
                Some(InfoError::Impl) => {
                    "***Server implementation incompatable with our own\n".into()
                }
                Some(InfoError::Req) => "***Server doesn't implement this request\n".into(),
                Some(InfoError::Fmt) => {
                    "***Server reports a format error in the received packet (shouldn't happen)\n"
                        .into()
                }
                Some(InfoError::NoData) => "***Server reports data not found\n".into(),
                Some(InfoError::Auth) => "***Permission denied\n".into(),
                None => format!("***Server returns unknown error code {code}\n"),
            },
            Failure::Io(e) => {
                let text = e.to_string();
                let text = text.split(" (os error").next().unwrap_or_default();
                format!("ntpdc: read: {text}\n")
            }
        }
    }
}

/// The items of an answer and their size.
#[derive(Debug, Default)]
pub struct Answer {
    pub item_size: usize,
    pub items: Vec<Vec<u8>>,
}

/// Sends `request` (with `items` of `item_size` in its data area) and collects the answer.
pub fn query(
    t: &mut dyn Transport,
    implementation: u8,
    request: u8,
    item_size: u16,
    items: &[Vec<u8>],
    timeout: Duration,
) -> Result<Answer, Failure> {
    let bytes = mode7::request(implementation, request, item_size, items);
    t.send(&bytes).map_err(Failure::Io)?;
    let deadline = t.mono() + timeout;
    let mut packets: Vec<Option<Vec<Vec<u8>>>> = Vec::new();
    let mut last: Option<usize> = None;
    let mut answer = Answer::default();
    loop {
        if last.is_some_and(|n| packets.len() > n && packets[..=n].iter().all(Option::is_some)) {
            break;
        }
        let now = t.mono();
        if now >= deadline {
            return Err(if packets.iter().any(Option::is_some) {
                Failure::Incomplete
            } else {
                Failure::Timeout
            });
        }
        let Some(d) = t.recv(deadline - now).map_err(Failure::Io)? else {
            continue;
        };
        let Some(h) = Header::decode(&d) else {
            continue;
        };
        if !h.response || h.request != request || h.implementation != implementation {
            continue;
        }
        if h.error != 0 {
            return Err(Failure::Server(h.error));
        }
        let size = usize::from(h.item_size);
        let Some(data) = d.get(mode7::HEADER_LEN..mode7::HEADER_LEN + size * usize::from(h.nitems))
        else {
            continue;
        };
        answer.item_size = size;
        let seq = usize::from(h.sequence);
        if packets.len() <= seq {
            packets.resize(seq + 1, None);
        }
        if packets[seq].is_none() {
            packets[seq] = Some(data.chunks(size.max(1)).map(<[u8]>::to_vec).collect());
        }
        if !h.more {
            last = Some(seq);
        }
    }
    answer.items = packets.into_iter().flatten().flatten().collect();
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::mode7::{code, IMPL_XNTPD};
    use std::collections::VecDeque;

    struct Scripted {
        replies: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
        clock: Duration,
    }

    impl Transport for Scripted {
        fn send(&mut self, d: &[u8]) -> io::Result<()> {
            self.sent.push(d.to_vec());
            Ok(())
        }
        fn recv(&mut self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
            match self.replies.pop_front() {
                Some(r) => Ok(Some(r)),
                None => {
                    self.clock += timeout;
                    Ok(None)
                }
            }
        }
        fn mono(&self) -> Duration {
            self.clock
        }
    }

    fn packet(seq: u8, more: bool, items: &[&[u8]]) -> Vec<u8> {
        let h = Header {
            response: true,
            more,
            version: 2,
            sequence: seq,
            implementation: IMPL_XNTPD,
            request: code::PEER_LIST,
            nitems: items.len() as u16,
            item_size: items.first().map_or(0, |i| i.len() as u16),
            ..Header::default()
        };
        let mut out = h.encode().to_vec();
        for i in items {
            out.extend_from_slice(i);
        }
        out
    }

    fn run(replies: Vec<Vec<u8>>) -> Result<Answer, Failure> {
        let mut t = Scripted {
            replies: replies.into(),
            sent: Vec::new(),
            clock: Duration::ZERO,
        };
        let r = query(
            &mut t,
            IMPL_XNTPD,
            code::PEER_LIST,
            0,
            &[],
            Duration::from_secs(5),
        );
        assert_eq!(t.sent[0].len(), mode7::REQ_LEN_NOMAC);
        r
    }

    #[test]
    fn reassembles_out_of_order_and_ignores_duplicates() {
        let a = run(vec![
            packet(1, false, &[&[3, 3]]),
            packet(0, true, &[&[1, 1], &[2, 2]]),
            packet(0, true, &[&[9, 9]]),
        ])
        .unwrap();
        assert_eq!(a.items, vec![vec![1, 1], vec![2, 2], vec![3, 3]]);
    }

    #[test]
    fn errors_timeouts_and_garbage() {
        let mut err = packet(0, false, &[]);
        err[4] = 0x40;
        assert!(matches!(run(vec![err]), Err(Failure::Server(4))));
        assert!(matches!(run(vec![]), Err(Failure::Timeout)));
        assert!(matches!(
            run(vec![vec![0xff; 3], packet(1, false, &[&[1]])]),
            Err(Failure::Incomplete)
        ));
        let mut short = packet(0, false, &[&[1, 2, 3, 4]]);
        short.truncate(10);
        assert!(matches!(run(vec![short]), Err(Failure::Timeout)));
    }
}
