//! ntpq's request authentication: the `keyid`, `keytype`, `passwd` and `authenticate`
//! commands, with classic 4.2.6p5's messages, and the prompts for what is missing when a
//! request must be signed (writes always; everything after `authenticate yes`).

use crate::auth::keys::decode_secret;
use crate::auth::{Key, KeyType, MAX_KEY_ID};
use crate::wire::control::opcode;
use std::io::{self, Write};

/// Asks the user (on the terminal) for a line; `secret` turns echo off. None without a
/// terminal or at end of input.
pub trait Prompter {
    fn ask(&mut self, prompt: &str, secret: bool) -> Option<String>;
}

/// How requests are signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestAuth {
    /// 0: none chosen yet.
    pub key_id: u32,
    pub key_type: KeyType,
    pub secret: Option<Vec<u8>>,
    /// `authenticate yes`: sign every request, not only writes.
    pub always: bool,
}

impl Default for RequestAuth {
    fn default() -> RequestAuth {
        RequestAuth {
            key_id: 0,
            key_type: KeyType::Md5,
            secret: None,
            always: false,
        }
    }
}

impl RequestAuth {
    /// The key to sign with, once ID and password are known.
    pub fn key(&self) -> Option<Key> {
        let secret = self.secret.clone()?;
        (1..=MAX_KEY_ID).contains(&self.key_id).then_some(Key {
            id: self.key_id,
            kind: self.key_type,
            secret,
        })
    }

    /// Whether a request with opcode `op` is signed (classic signs writes and, after
    /// `authenticate yes`, everything).
    pub fn needed(&self, op: u8) -> bool {
        self.always
            || matches!(
                op,
                opcode::WRITEVAR | opcode::WRITECLOCK | opcode::CONFIGURE | opcode::SAVECONFIG
            )
    }
}

/// Where the commands print (stdout, stderr) and how they ask.
pub struct Io<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub prompter: Option<&'a mut dyn Prompter>,
}

impl Io<'_> {
    fn ask(&mut self, prompt: &str, secret: bool) -> String {
        self.prompter
            .as_deref_mut()
            .and_then(|p| p.ask(prompt, secret))
            .unwrap_or_default()
    }
}

/// Runs `keyid`, `keytype`, `passwd` or `authenticate` with `args`.
pub fn command(
    auth: &mut RequestAuth,
    name: &str,
    args: &[&str],
    io: &mut Io<'_>,
) -> io::Result<()> {
    match name {
        "keyid" => keyid(auth, args, io),
        "keytype" => keytype(auth, args, io),
        "passwd" => passwd(auth, args, io),
        "authenticate" => authenticate(auth, args, io),
        _ => Ok(()),
    }
}

fn keyid(auth: &mut RequestAuth, args: &[&str], io: &mut Io<'_>) -> io::Result<()> {
    let Some(arg) = args.first() else {
        return match auth.key_id {
            0 => writeln!(io.out, "no keyid defined"),
            id => writeln!(io.out, "keyid is {id}"),
        };
    };
    match arg.parse::<u32>() {
        Ok(id) if id <= MAX_KEY_ID => {
            if id != auth.key_id {
                auth.secret = None;
            }
            auth.key_id = id;
            Ok(())
        }
        _ => writeln!(io.out, "Invalid key identifier"),
    }
}

fn keytype(auth: &mut RequestAuth, args: &[&str], io: &mut Io<'_>) -> io::Result<()> {
    let Some(arg) = args.first() else {
        return writeln!(
            io.out,
            "keytype is {} with {} octet digests",
            auth.key_type.name(),
            auth.key_type.digest_len()
        );
    };
    match KeyType::from_name(arg) {
        Some(kind) => {
            auth.key_type = kind;
            Ok(())
        }
        None => writeln!(
            io.out,
            "keytype must be 'md5' or a digest type provided by OpenSSL"
        ),
    }
}

/// The password as a key: up to 20 characters as they are, longer ones as hex (as in the
/// keys file, so a pasted 40-digit SHA1 key works).
fn secret_of(password: &str) -> Vec<u8> {
    decode_secret(password).unwrap_or_else(|_| password.as_bytes().to_vec())
}

fn passwd(auth: &mut RequestAuth, args: &[&str], io: &mut Io<'_>) -> io::Result<()> {
    if auth.key_id == 0 {
        auth.key_id = ask_keyid(io).unwrap_or(0);
        if auth.key_id == 0 {
            return writeln!(io.out, "Keyid must be defined");
        }
    }
    // Classic 4.2.6p5 takes no argument here: whatever follows `passwd` is ignored and
    // the password is read from the terminal, so none ever sits in a script or `ps`.
    let _ = args;
    let password = io.ask(&password_prompt(auth.key_type), true);
    if password.is_empty() {
        return writeln!(io.out, "Password unchanged");
    }
    auth.secret = Some(secret_of(&password));
    Ok(())
}

fn authenticate(auth: &mut RequestAuth, args: &[&str], io: &mut Io<'_>) -> io::Result<()> {
    match args.first() {
        None if auth.always => writeln!(io.out, "authenticated requests being sent"),
        None => writeln!(io.out, "unauthenticated requests being sent"),
        Some(&"yes") => {
            auth.always = true;
            Ok(())
        }
        Some(&"no") => {
            auth.always = false;
            Ok(())
        }
        Some(_) => writeln!(io.err, "What?"),
    }
}

fn password_prompt(kind: KeyType) -> String {
    format!("{} Password: ", kind.name())
}

fn ask_keyid(io: &mut Io<'_>) -> Option<u32> {
    io.ask("Keyid: ", false).trim().parse().ok()
}

/// Before a signed request: asks for the key ID and password if they are missing.
/// Returns the key, or classic's complaint (the request is then not sent).
pub fn ready(auth: &mut RequestAuth, io: &mut Io<'_>) -> Result<Key, &'static str> {
    if auth.key_id == 0 {
        match ask_keyid(io) {
            Some(id) if (1..=MAX_KEY_ID).contains(&id) => auth.key_id = id,
            _ => return Err("Invalid key identifier"),
        }
    }
    if auth.secret.is_none() {
        let p = io.ask(&password_prompt(auth.key_type), true);
        if p.is_empty() {
            return Err("Invalid password");
        }
        auth.secret = Some(secret_of(&p));
    }
    auth.key().ok_or("Invalid key identifier")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers prompts from a script and records them.
    struct Script(Vec<&'static str>, Vec<String>);

    impl Prompter for Script {
        fn ask(&mut self, prompt: &str, _secret: bool) -> Option<String> {
            self.1.push(prompt.to_string());
            (!self.0.is_empty()).then(|| self.0.remove(0).to_string())
        }
    }

    fn run(auth: &mut RequestAuth, line: &str, script: &mut Script) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            prompter: Some(script),
        };
        command(auth, words[0], &words[1..], &mut io).unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn commands_print_as_classic() {
        let mut a = RequestAuth::default();
        let mut s = Script(vec![], vec![]);
        assert_eq!(run(&mut a, "keyid", &mut s).0, "no keyid defined\n");
        assert_eq!(
            run(&mut a, "keyid 70000", &mut s).0,
            "Invalid key identifier\n"
        );
        run(&mut a, "keyid 8", &mut s);
        assert_eq!(run(&mut a, "keyid", &mut s).0, "keyid is 8\n");
        assert_eq!(
            run(&mut a, "keytype", &mut s).0,
            "keytype is MD5 with 16 octet digests\n"
        );
        run(&mut a, "keytype sha1", &mut s);
        assert_eq!(
            run(&mut a, "keytype", &mut s).0,
            "keytype is SHA1 with 20 octet digests\n"
        );
        assert_eq!(
            run(&mut a, "authenticate", &mut s).0,
            "unauthenticated requests being sent\n"
        );
        run(&mut a, "authenticate yes", &mut s);
        assert!(a.needed(crate::wire::control::opcode::READVAR));
        assert_eq!(run(&mut a, "authenticate maybe", &mut s).1, "What?\n");
        assert!(s.1.is_empty());
        let mut s = Script(vec!["hello"], vec![]);
        run(&mut a, "passwd", &mut s);
        let key = a.key().unwrap();
        assert_eq!(
            (key.id, key.kind, &key.secret[..]),
            (8, KeyType::Sha1, &b"hello"[..])
        );
        assert_eq!(s.1, ["SHA1 Password: "]);
    }

    /// `passwd ARG` ignores ARG and asks, as classic; with nothing to ask (no terminal)
    /// no password is set, so no signed request can follow.
    #[test]
    fn passwd_ignores_its_argument_and_asks() {
        let mut a = RequestAuth {
            key_id: 3,
            ..RequestAuth::default()
        };
        let mut s = Script(vec!["typed"], vec![]);
        run(&mut a, "passwd on-the-command-line", &mut s);
        assert_eq!(s.1, ["MD5 Password: "]);
        assert_eq!(a.key().unwrap().secret, b"typed");

        let mut b = RequestAuth {
            key_id: 3,
            ..RequestAuth::default()
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            prompter: None,
        };
        command(&mut b, "passwd", &["secret"], &mut io).unwrap();
        assert_eq!(b.key(), None);
        assert_eq!(String::from_utf8(out).unwrap(), "Password unchanged\n");
    }

    #[test]
    fn passwd_and_ready_prompt_for_what_is_missing() {
        let mut a = RequestAuth::default();
        let mut s = Script(vec!["5", "secret"], vec![]);
        run(&mut a, "passwd", &mut s);
        assert_eq!(s.1, ["Keyid: ", "MD5 Password: "]);
        assert_eq!(a.key().unwrap().secret, b"secret");

        let mut b = RequestAuth::default();
        let mut s = Script(vec!["9", "pw"], vec![]);
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            prompter: Some(&mut s),
        };
        assert_eq!(ready(&mut b, &mut io).unwrap().id, 9);
        let mut c = RequestAuth::default();
        let mut io = Io {
            out: &mut out,
            err: &mut err,
            prompter: None,
        };
        assert_eq!(ready(&mut c, &mut io).err(), Some("Invalid key identifier"));
        c.key_id = 4;
        assert_eq!(ready(&mut c, &mut io).err(), Some("Invalid password"));
    }
}
