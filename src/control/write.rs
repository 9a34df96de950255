//! WRITEVAR (ntpq `writevar`/`writelist`): the only mode 6 write classic 4.2.6p5 answers.
//!
//! Like classic, a write needs a request MAC by the `controlkey` (checked by the caller,
//! reported in [`QueryAccess::authenticated`]) and a source without `nomodify`; otherwise
//! the answer is the permission error ntpq shows as "Server disallowed request
//! (authentication?)". Past that gate classic's own checks apply: peer variables are
//! read-only, unknown names are UNKNOWNVAR, and of the system variables only `leap` is
//! writable, with a 0..3 integer value, which classic then refuses as "unspecified"
//! (its write handler keeps nothing). An empty list is a successful, empty write.

use super::{vars, Answer, QueryAccess};
use crate::wire::control::cerr;
use crate::wire::varlist::{Item, RequestItems};

/// The answer to a WRITEVAR with `data` for association `assoc`.
pub(super) fn write_vars(
    data: &[u8],
    assoc: u16,
    access: QueryAccess,
    status: u16,
) -> Result<Answer, u8> {
    if !access.authenticated || access.nomodify || assoc != 0 {
        return Err(cerr::PERMISSION);
    }
    // Every item classic could meet here ends the request with an error, so the first
    // decides.
    match RequestItems::new(data).next() {
        None => Ok(Answer {
            status,
            data: Vec::new(),
            breaks: Vec::new(),
        }),
        Some(item) => Err(refusal(item)),
    }
}

/// Classic's verdict on one `name=value`.
fn refusal(item: Item<'_>) -> u8 {
    if !vars::SYS_TABLE.iter().any(|n| n.as_bytes() == item.name) {
        return cerr::UNKNOWNVAR;
    }
    if item.name != b"leap" {
        return cerr::PERMISSION;
    }
    let value = item
        .value
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    match value {
        None => cerr::BADFMT,
        Some(v) if v > 3 => cerr::BADVALUE,
        Some(_) => cerr::UNSPEC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTHED: QueryAccess = QueryAccess {
        nomodify: false,
        notrap: false,
        authenticated: true,
    };

    fn code(data: &str, assoc: u16, access: QueryAccess) -> Result<usize, u8> {
        write_vars(data.as_bytes(), assoc, access, 0x0615).map(|a| a.data.len())
    }

    #[test]
    fn gate_then_classic_checks() {
        assert_eq!(code("", 0, QueryAccess::default()), Err(cerr::PERMISSION));
        let nomodify = QueryAccess {
            nomodify: true,
            ..AUTHED
        };
        assert_eq!(code("", 0, nomodify), Err(cerr::PERMISSION));
        assert_eq!(code("", 0, AUTHED), Ok(0));
        assert_eq!(code("leap=1", 3495, AUTHED), Err(cerr::PERMISSION));
        assert_eq!(code("nosuchvar=1", 0, AUTHED), Err(cerr::UNKNOWNVAR));
        assert_eq!(code("stratum=3", 0, AUTHED), Err(cerr::PERMISSION));
        assert_eq!(code("leap=x", 0, AUTHED), Err(cerr::BADFMT));
        assert_eq!(code("leap=9", 0, AUTHED), Err(cerr::BADVALUE));
        assert_eq!(code("leap=0", 0, AUTHED), Err(cerr::UNSPEC));
    }
}
