//! ntp.conf parsing (nom lexer, typed directives), include resolution and `--check`.
//!
//! [`parse_bytes`] turns a file's bytes into located [`Statement`]s; [`load`] follows `includefile`
//! through an injected reader and folds everything into a [`Config`]; [`check`] adds the
//! file-existence and "not supported yet" findings for `ntpd --check`.

mod access;
mod assoc;
mod check;
mod diagnostic;
mod explain;
mod explain_access;
mod lexer;
mod lint;
mod load;
mod misc;
mod model;
mod parse;
mod refclocks;

pub use assoc::REFCLOCK_TYPES;
pub use check::{check, check_file, explain_file, unsupported, Support};
pub use diagnostic::{Diagnostic, Location, Severity};
pub use explain::{explain, Explained};
pub use lint::lint;
pub use load::{load, load_file, MAX_INCLUDE_DEPTH};
pub use model::*;
pub use parse::{parse_bytes, Directive, Statement};
pub use refclocks::clock_type_name;
