//! The classic keys file (`/etc/ntp/keys`): one `KEYID TYPE KEY` per line, `#` comments.
//!
//! Classic 4.2.6p5 rules, kept so existing files mean the same thing: a key of up to 20
//! characters is used as ASCII octets; a longer one is hex (at most 40 digits, 20 octets).
//! Types are `M`/`MD5`, `SHA1`, `SHA256` (4.2.6p5 with OpenSSL) and 4.2.8's `AES128CMAC`.
//! Like classic, a bad line is reported and skipped; the good keys are still used.

use std::collections::HashMap;
use std::fmt;

/// Lowest and highest key ID a keys file may define (0 is "no key"; 65535 is reserved).
pub const MIN_KEY_ID: u32 = 1;
pub const MAX_KEY_ID: u32 = 65534;

/// Longest key text used as ASCII; longer text is hex.
const MAX_ASCII_KEY: usize = 20;
/// Longest hex key (20 octets).
const MAX_HEX_KEY: usize = 40;

/// The MAC algorithm a key is used with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyType {
    Md5,
    Sha1,
    Sha256,
    /// AES-128-CMAC (ntp 4.2.8p11's `AES128CMAC`, NTPsec's `AES`).
    Aes128Cmac,
}

impl KeyType {
    /// Parses the type column (case-insensitive; `M` is classic's short form of MD5).
    pub fn from_name(name: &str) -> Option<KeyType> {
        match name.to_ascii_uppercase().as_str() {
            "M" | "MD5" => Some(KeyType::Md5),
            "SHA1" | "SHA-1" | "SHA" => Some(KeyType::Sha1),
            "SHA256" | "SHA-256" => Some(KeyType::Sha256),
            "AES128CMAC" | "AES" | "AES128" | "AES-128" | "AES-128-CMAC" => {
                Some(KeyType::Aes128Cmac)
            }
            _ => None,
        }
    }

    /// The name classic's tools print (`keytype is MD5 with 16 octet digests`).
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Md5 => "MD5",
            KeyType::Sha1 => "SHA1",
            KeyType::Sha256 => "SHA256",
            KeyType::Aes128Cmac => "AES128CMAC",
        }
    }

    /// Digest octets on the wire. SHA256 is cut to 20 octets, as ntp 4.2.8 and NTPsec do:
    /// RFC 5905 packets carry at most a 20-octet digest.
    pub fn digest_len(self) -> usize {
        match self {
            KeyType::Md5 | KeyType::Aes128Cmac => 16,
            KeyType::Sha1 | KeyType::Sha256 => 20,
        }
    }
}

/// One symmetric key. The secret is kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    pub id: u32,
    pub kind: KeyType,
    pub secret: Vec<u8>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({} {} <secret>)", self.id, self.kind.name())
    }
}

/// A rejected line: its number (1-based) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// What a keys file holds: its good keys (a later line overrides an earlier one with the
/// same ID, as classic; the key keeps the place of the ID's first line) and its bad lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeysFile {
    pub keys: Vec<Key>,
    pub errors: Vec<LineError>,
}

/// Parses the bytes of a keys file, in one pass: a repeated ID replaces its earlier key
/// where it stands. A comment may hold any bytes; a key line must be UTF-8.
pub fn parse(input: &[u8]) -> KeysFile {
    let mut file = KeysFile::default();
    let mut at: HashMap<u32, usize> = HashMap::new();
    for (number, raw) in crate::lines::numbered(input) {
        let line = crate::lines::before_comment(raw);
        if line.trim_ascii().is_empty() {
            continue;
        }
        match crate::lines::utf8(line).and_then(parse_line) {
            Ok(key) => match at.get(&key.id) {
                Some(&i) => file.keys[i] = key,
                None => {
                    at.insert(key.id, file.keys.len());
                    file.keys.push(key);
                }
            },
            Err(message) => file.errors.push(LineError {
                line: number,
                message,
            }),
        }
    }
    file
}

fn parse_line(line: &str) -> Result<Key, String> {
    let mut words = line.split_whitespace();
    let (Some(id), Some(kind), Some(secret)) = (words.next(), words.next(), words.next()) else {
        return Err("expected KEYID TYPE KEY".to_string());
    };
    // 4.2.8 allows an IP list after the key; 4.2.6p5 ignores anything there too.
    let id = id
        .parse::<u32>()
        .ok()
        .filter(|n| (MIN_KEY_ID..=MAX_KEY_ID).contains(n))
        .ok_or_else(|| format!("key ID '{id}' is not in {MIN_KEY_ID}..{MAX_KEY_ID}"))?;
    let kind = KeyType::from_name(kind).ok_or_else(|| format!("unknown key type '{kind}'"))?;
    Ok(Key {
        id,
        kind,
        secret: decode_secret(secret)?,
    })
}

/// ASCII up to 20 characters, else an even number of hex digits, at most 40.
pub fn decode_secret(text: &str) -> Result<Vec<u8>, String> {
    if text.len() <= MAX_ASCII_KEY {
        return Ok(text.as_bytes().to_vec());
    }
    if text.len() > MAX_HEX_KEY || !text.len().is_multiple_of(2) {
        return Err(format!(
            "key of {} characters: use up to {MAX_ASCII_KEY} ASCII characters or an even number of hex digits up to {MAX_HEX_KEY}",
            text.len()
        ));
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| "key longer than 20 characters must be hex".to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_classic_example() {
        let f = parse(
            b"# ntp keys\n\
             1 M secret\n\
             2 MD5 Hello#comment\n\
             3 SHA1 0123456789abcdef0123456789ABCDEF01234567\n\
             \n   4 sha256 k  # trailing\n\
             5 AES128CMAC 000102030405060708090a0b0c0d0e0f\n",
        );
        assert_eq!(f.errors, []);
        let summary: Vec<_> = f
            .keys
            .iter()
            .map(|k| (k.id, k.kind, k.secret.len()))
            .collect();
        assert_eq!(
            summary,
            [
                (1, KeyType::Md5, 6),
                (2, KeyType::Md5, 5),
                (3, KeyType::Sha1, 20),
                (4, KeyType::Sha256, 1),
                (5, KeyType::Aes128Cmac, 16)
            ]
        );
        assert_eq!(f.keys[1].secret, b"Hello");
        assert_eq!(f.keys[2].secret[..2], [0x01, 0x23]);
    }

    #[test]
    fn bad_lines_are_named_and_skipped() {
        let f = parse(b"1 M ok\n0 M zero\n65535 M big\n7 DES x\n8 M\nx M y\n9 M 0123456789abcdef0123456789abcdefg\n10 SHA1 0123456789abcdef0123456789abcdef0123456789\n");
        assert_eq!(f.keys.len(), 1);
        let lines: Vec<_> = f.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(f.errors[0].message, "key ID '0' is not in 1..65534");
        assert_eq!(f.errors[2].message, "unknown key type 'DES'");
        assert_eq!(f.errors[3].message, "expected KEYID TYPE KEY");
    }

    #[test]
    fn later_definition_wins_and_debug_hides_the_secret() {
        let f = parse(b"5 M first\n5 SHA1 second\n");
        assert_eq!(f.keys.len(), 1);
        assert_eq!(f.keys[0].secret, b"second");
        assert_eq!(format!("{:?}", f.keys[0]), "Key(5 SHA1 <secret>)");
        let f = parse(b"1 M a\n2 M b\n1 M c\n");
        let ids: Vec<_> = f.keys.iter().map(|k| (k.id, k.secret.clone())).collect();
        assert_eq!(ids, [(1, b"c".to_vec()), (2, b"b".to_vec())]);
    }

    #[test]
    fn foreign_comments_are_skipped_and_foreign_keys_located() {
        let f = parse(
            b"# cl\xe9s du serveur (Latin-1)\n\
              1 M secret # \xc3\xdc\xd4\xbf (GBK)\n\
              2 M s\xe9same\n\
              3 M ok\n",
        );
        let ids: Vec<u32> = f.keys.iter().map(|k| k.id).collect();
        assert_eq!(ids, [1, 3]);
        assert_eq!(
            f.errors,
            [LineError {
                line: 3,
                message:
                    "byte 0xE9 at column 6 is not UTF-8 (only comments may use another encoding)"
                        .to_string()
            }]
        );
    }
}
