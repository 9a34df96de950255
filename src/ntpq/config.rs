//! Remote configuration: `:config LINE`, `config-from-file FILE` and `saveconfig FILE`.
//! ntpd answers them only to requests signed with its controlkey; otherwise ntpq shows
//! the server's refusal like any other error. Replies are printed as classic prints them.

use super::commands::{Failure, Ntpq, Out};
use crate::wire::control::opcode;
use crate::wire::printable::printable;

/// Configuration lines longer than this are cut (classic MAXLINE).
const MAX_LINE: usize = 512;

/// Response text without its line end (and padding), made printable: a server cannot
/// put a line or a control character of its own into ntpq's output.
fn reply_text(data: &[u8]) -> String {
    let end = data
        .iter()
        .rposition(|b| !matches!(b, b'\r' | b'\n' | 0))
        .map_or(0, |i| i + 1);
    printable(&data[..end])
}

/// `column N syntax error`: the column to mark under the command.
fn error_column(reply: &str, command: &str) -> Option<usize> {
    let col: usize = reply
        .strip_prefix("column ")?
        .split_once(" syntax error")?
        .0
        .parse()
        .ok()?;
    (col <= command.len() + 1).then_some(col)
}

/// A configuration line as sent: comment and trailing blanks removed.
fn config_line(line: &str) -> &str {
    let line = line.split('#').next().unwrap_or("");
    let mut end = line.len().min(MAX_LINE);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].trim_end()
}

impl Ntpq<'_> {
    /// `:config LINE`: ntpd's verdict, with a caret under a syntax error's column.
    pub(super) fn config(&mut self, line: &str, o: &mut Out<'_>) -> Result<(), Failure> {
        let r = self.query(opcode::CONFIGURE, 0, line.as_bytes())?;
        let reply = reply_text(&r.data);
        if let Some(col) = error_column(&reply, line) {
            writeln!(o.out, "{line}")?;
            writeln!(o.out, "{}^", "_".repeat(col))?;
        }
        Ok(writeln!(o.out, "{reply}")?)
    }

    /// `config-from-file FILE`: each non-empty line in turn, with ntpd's verdict.
    pub(super) fn config_from_file(
        &mut self,
        path: Option<&str>,
        o: &mut Out<'_>,
    ) -> Result<(), Failure> {
        let path = path.unwrap_or("");
        let Ok(text) = (self.read_file)(path) else {
            return Ok(writeln!(o.out, "ERROR!! Couldn't open file: {path}")?);
        };
        writeln!(o.out, "Sending configuration file, one line at a time.")?;
        for (i, raw) in text.lines().enumerate() {
            let line = config_line(raw);
            if line.is_empty() {
                continue;
            }
            // Classic tries each line three times before giving up.
            let mut result = self.query(opcode::CONFIGURE, 0, line.as_bytes());
            for _ in 0..2 {
                if result.is_ok() {
                    break;
                }
                result = self.query(opcode::CONFIGURE, 0, line.as_bytes());
            }
            let Ok(r) = result else {
                writeln!(
                    o.out,
                    "Line No: {} query failed: {line}\nSubsequent lines not sent.",
                    i + 1
                )?;
                return Ok(());
            };
            let reply = reply_text(&r.data);
            writeln!(o.out, "Line No: {} {}: {line}", i + 1, reply.trim_end())?;
        }
        Ok(writeln!(o.out, "Done sending file")?)
    }

    /// `saveconfig FILE`: ntpd's reply, one line.
    pub(super) fn saveconfig(
        &mut self,
        file: Option<&str>,
        o: &mut Out<'_>,
    ) -> Result<(), Failure> {
        let Some(file) = file else { return Ok(()) };
        let r = self.query(opcode::SAVECONFIG, 0, file.as_bytes())?;
        if r.data.is_empty() {
            return Ok(write!(o.out, "(no response message, curiously)")?);
        }
        Ok(writeln!(o.out, "{}", reply_text(&r.data))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_columns_and_lines() {
        assert_eq!(
            error_column("column 8 syntax error, unexpected T_String", "server x y"),
            Some(8)
        );
        assert_eq!(error_column("Config Succeeded", "server x"), None);
        assert_eq!(config_line("server a iburst   # main\n"), "server a iburst");
        assert_eq!(config_line("# only a comment"), "");
    }
}
