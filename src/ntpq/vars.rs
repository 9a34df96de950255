//! The variable list classic keeps between commands: `addvars`, `rmvars`, `clearvars`
//! and `showvars` edit it, `readlist`, `mreadlist`, `clocklist` and `writelist` send it.

use super::commands::{Failure, Ntpq, Out};

/// The items of `name[=value][,...]` arguments.
fn items<'a>(args: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
    args.iter()
        .flat_map(|a| a.split(','))
        .map(str::trim)
        .filter(|i| !i.is_empty())
}

fn name_of(item: &str) -> &str {
    item.split('=').next().unwrap_or(item).trim()
}

impl Ntpq<'_> {
    /// `addvars`: new names join the end, a name already there gets the new value.
    pub(super) fn add_vars(&mut self, args: &[&str]) {
        for item in items(args) {
            match self.vars.iter_mut().find(|v| name_of(v) == name_of(item)) {
                Some(v) => *v = item.to_string(),
                None => self.vars.push(item.to_string()),
            }
        }
    }

    /// `rmvars`: each name leaves the list; one not on it is said on stderr.
    pub(super) fn remove_vars(&mut self, args: &[&str], o: &mut Out<'_>) -> Result<(), Failure> {
        for item in items(args) {
            let name = name_of(item);
            match self.vars.iter().position(|v| name_of(v) == name) {
                Some(i) => {
                    self.vars.remove(i);
                }
                None => writeln!(o.err, "Variable `{name}' not found")?,
            }
        }
        Ok(())
    }

    pub(super) fn clear_vars(&mut self) {
        self.vars.clear();
    }

    /// `showvars`: one item a line.
    pub(super) fn show_vars(&self, o: &mut Out<'_>) -> Result<(), Failure> {
        if self.vars.is_empty() {
            writeln!(o.out, "No variables on list")?;
        }
        for v in &self.vars {
            writeln!(o.out, "{v}")?;
        }
        Ok(())
    }

    /// The list as a request sends it (empty: every variable).
    pub(super) fn var_list(&self) -> String {
        self.vars.join(",")
    }

    /// The variables read command `name` asks for: `named` on its command line, or the
    /// variable list for the `*list` forms (`readlist`, `clocklist`, `mreadlist`).
    pub(super) fn list_for(&self, name: &str, named: String) -> String {
        let listed = matches!(
            name,
            "readlist" | "rl" | "clocklist" | "cl" | "mreadlist" | "mrl"
        );
        if listed {
            self.var_list()
        } else {
            named
        }
    }
}
