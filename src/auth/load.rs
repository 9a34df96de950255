//! The thin file shell around [`super::keys::parse`]: reads the file, names every bad line
//! as `FILE:LINE: message`, and warns when the secrets are readable by everyone.

use super::keys::{parse, Key};
use super::KeyRing;
use crate::fileio;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A keys file read from disk: its keys and the diagnostics to log (warnings; the daemon
/// and ntpdate go on with the good keys, as classic does).
#[derive(Debug)]
pub struct Loaded {
    pub keys: Vec<Key>,
    pub diagnostics: Vec<String>,
}

/// Reads `path` (a regular file of at most [`fileio::KEYS_LIMIT`] bytes). An unreadable
/// file is an error; bad lines and a world-readable mode are diagnostics.
pub fn load(path: &Path) -> io::Result<Loaded> {
    let bytes = fileio::read_bounded(path, fileio::KEYS_LIMIT)?;
    let mode = fs::metadata(path)?.permissions().mode();
    let parsed = parse(&bytes);
    let shown = path.display();
    let mut diagnostics: Vec<String> = parsed
        .errors
        .iter()
        .map(|e| format!("{shown}:{}: {}", e.line, e.message))
        .collect();
    if let Some(warning) = mode_warning(&shown.to_string(), mode) {
        diagnostics.push(warning);
    }
    Ok(Loaded {
        keys: parsed.keys,
        diagnostics,
    })
}

/// What the daemon authenticates with: the keys file (`keys` or -k), its trusted keys
/// (`trustedkey` and -t), and the checks worth a log line at start. Like classic, an
/// unreadable file is logged and the daemon runs on without keys.
pub fn key_ring(path: Option<&Path>, trusted: &[u32], control_key: Option<u32>) -> KeyRing {
    let keys = match path.map(|p| (p, load(p))) {
        None => Vec::new(),
        Some((p, Err(err))) => {
            log::error!(
                "keys file {}: {}; running without keys",
                p.display(),
                fileio::reason(&err)
            );
            Vec::new()
        }
        Some((_, Ok(loaded))) => {
            for d in &loaded.diagnostics {
                log::warn!("{d}");
            }
            loaded.keys
        }
    };
    let mut ring = KeyRing::new(keys);
    for id in trusted {
        ring.trust(*id);
    }
    for id in ring.trusted_without_key() {
        log::warn!("trustedkey {id} is not in the keys file");
    }
    if let Some(id) = control_key.filter(|id| !ring.is_trusted(*id)) {
        log::warn!("controlkey {id} is not a trusted key; ntpq writes will be refused");
    }
    ring
}

/// The warning for a keys file others can read (`chmod 600` is the classic advice).
pub fn mode_warning(path: &str, mode: u32) -> Option<String> {
    (mode & 0o004 != 0).then(|| {
        format!(
            "{path}: keys file is world-readable (mode {:03o}); its keys are secrets: chmod 600 {path}",
            mode & 0o777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_readable_is_named() {
        assert_eq!(mode_warning("/etc/ntp/keys", 0o100600), None);
        assert_eq!(mode_warning("/etc/ntp/keys", 0o640), None);
        assert_eq!(
            mode_warning("/etc/ntp/keys", 0o100644).as_deref(),
            Some("/etc/ntp/keys: keys file is world-readable (mode 644); its keys are secrets: chmod 600 /etc/ntp/keys")
        );
    }

    #[test]
    fn loads_with_line_diagnostics() {
        let dir = std::env::temp_dir().join(format!("ntp6-keys-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keys");
        fs::write(&path, "1 M good\n2 XX bad\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.keys.len(), 1);
        assert_eq!(
            loaded.diagnostics,
            [format!("{}:2: unknown key type 'XX'", path.display())]
        );
        assert!(load(&dir.join("missing")).is_err());
        let refused = load(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "a character device, not a regular file"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
