//! `key.json`: the public keys of a user or machine, read leniently in every form clan has
//! written and written exactly as clan writes it (sorted, de-duplicated, 2-space JSON, no final
//! newline).

use std::fmt;
use std::path::Path;

use serde_json::Value as Json;

use crate::error::StoreError;

/// The type of a public key, as stored in `key.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyType {
    /// An age recipient, native or SSH.
    Age,
    /// A PGP fingerprint, as clan writes it in `key.json`; secrets are encrypted to it through gpg.
    Pgp,
}

impl KeyType {
    /// The `type` value of `key.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Age => "age",
            KeyType::Pgp => "pgp",
        }
    }
}

/// A public key: an age recipient (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`) or a PGP fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey {
    /// The key as written in `key.json`.
    pub key: String,
    /// What kind of key it is.
    pub kind: KeyType,
}

impl PublicKey {
    /// An age public key (not checked).
    pub fn age(key: impl Into<String>) -> PublicKey {
        PublicKey { key: key.into(), kind: KeyType::Age }
    }

    /// Whether this is an SSH public key used as an age recipient (which sops-nix cannot
    /// decrypt for on machines).
    pub fn is_ssh(&self) -> bool {
        self.kind == KeyType::Age && (self.key.starts_with("ssh-ed25519 ") || self.key.starts_with("ssh-rsa "))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// Parses the text of a `key.json`: an array of `{publickey, type}` objects, or one such object
/// (the form clan wrote until 2025).
pub fn parse(text: &str, path: &Path) -> Result<Vec<PublicKey>, StoreError> {
    parse_keys(text).map_err(|problem| StoreError::KeyFile { path: path.to_path_buf(), problem })
}

/// What is wrong with the text of a `key.json`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileProblem {
    /// It is not JSON.
    #[error("invalid JSON ({0})")]
    Json(#[source] serde_json::Error),
    /// It is not UTF-8 text.
    #[error("not UTF-8")]
    NotText(#[source] std::string::FromUtf8Error),
    /// The top level is neither an object nor an array.
    #[error("expected an object or an array, found {found}")]
    NotObjectOrArray {
        /// What it is (`a string`, `null`, …).
        found: &'static str,
    },
    /// An element of the array is not an object.
    #[error("expected objects in the array, found {found}")]
    NotAnObject {
        /// What it is.
        found: &'static str,
    },
    /// An entry without a non-empty `publickey` string.
    #[error("an entry does not contain a public key")]
    NoPublicKey,
    /// An entry whose `type` is neither `age` nor `pgp` (as written; `None` when absent).
    #[error("{}", match found {
        Some(found) => format!("invalid key type `{found}` (expected age or pgp)"),
        None => "an entry has no key type (expected age or pgp)".to_string(),
    })]
    KeyType {
        /// The type as written.
        found: Option<String>,
    },
}

fn parse_keys(text: &str) -> Result<Vec<PublicKey>, KeyFileProblem> {
    let json: Json = serde_json::from_str(text).map_err(KeyFileProblem::Json)?;
    let entries = match json {
        Json::Array(items) => items,
        object @ Json::Object(_) => vec![object],
        other => return Err(KeyFileProblem::NotObjectOrArray { found: json_kind(&other) }),
    };
    let mut keys = Vec::with_capacity(entries.len());
    for entry in entries {
        let Json::Object(fields) = &entry else {
            return Err(KeyFileProblem::NotAnObject { found: json_kind(&entry) });
        };
        let key = match fields.get("publickey") {
            Some(Json::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err(KeyFileProblem::NoPublicKey),
        };
        let given = fields.get("type").and_then(Json::as_str);
        let kind = match given.map(str::to_ascii_lowercase).as_deref() {
            Some("age") => KeyType::Age,
            Some("pgp") => KeyType::Pgp,
            // The text as written (never a debug form of it), so that masking sees it as it is.
            _ => return Err(KeyFileProblem::KeyType { found: given.map(str::to_string) }),
        };
        keys.push(PublicKey { key, kind });
    }
    Ok(keys)
}

fn json_kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// The text clan writes: sorted by (public key, type), de-duplicated, `json.dump(indent=2)`.
pub fn render(keys: &[PublicKey]) -> String {
    let mut sorted: Vec<&PublicKey> = keys.iter().collect();
    sorted.sort_by(|a, b| (a.key.as_str(), a.kind.as_str()).cmp(&(b.key.as_str(), b.kind.as_str())));
    sorted.dedup();
    let objects: Vec<Vec<(&str, &str)>> = sorted.iter().map(|k| vec![("publickey", k.key.as_str()), ("type", k.kind.as_str())]).collect();
    python_json_objects(&objects)
}

/// An array of flat string objects as Python's `json.dumps(indent=2)` writes it (fields in the
/// order given, no final newline): the layout clan uses for `key.json` and its JSON outputs.
pub fn python_json_objects(objects: &[Vec<(&str, &str)>]) -> String {
    if objects.is_empty() {
        return "[]".to_string();
    }
    let mut out = String::from("[\n");
    for (i, fields) in objects.iter().enumerate() {
        out.push_str("  {\n");
        for (j, (name, value)) in fields.iter().enumerate() {
            out.push_str("    ");
            out.push_str(&python_json_string(name));
            out.push_str(": ");
            out.push_str(&python_json_string(value));
            out.push_str(if j + 1 < fields.len() { ",\n" } else { "\n" });
        }
        out.push_str(if i + 1 < objects.len() { "  },\n" } else { "  }\n" });
    }
    out.push(']');
    out
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`: non-ASCII as `\uXXXX`).
fn python_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_clan() {
        let keys = vec![PublicKey::age("age1b"), PublicKey::age("age1a"), PublicKey::age("age1b")];
        assert_eq!(
            render(&keys),
            "[\n  {\n    \"publickey\": \"age1a\",\n    \"type\": \"age\"\n  },\n  {\n    \"publickey\": \"age1b\",\n    \"type\": \"age\"\n  }\n]"
        );
    }

    #[test]
    fn reads_legacy_object_and_case_insensitive_types() {
        let p = Path::new("key.json");
        assert_eq!(parse(r#"{"publickey": "age1x", "type": "AGE"}"#, p).unwrap(), vec![PublicKey::age("age1x")]);
        let both = parse(r#"[{"publickey":"FP","type":"pgp"},{"publickey":"age1y","type":"age"}]"#, p).unwrap();
        assert_eq!(both[0].kind, KeyType::Pgp);
        assert!(parse(r#"[{"publickey":"","type":"age"}]"#, p).is_err());
        assert!(parse(r#"[{"publickey":"x","type":"rsa"}]"#, p).is_err());
        assert!(parse(r#""x""#, p).is_err());
        assert!(parse("{", p).is_err());
    }

    #[test]
    fn render_then_parse_round_trips() {
        let keys = vec![PublicKey::age("ssh-ed25519 AAAA"), PublicKey { key: "FP".into(), kind: KeyType::Pgp }];
        let mut parsed = parse(&render(&keys), Path::new("k")).unwrap();
        parsed.sort();
        let mut expected = keys;
        expected.sort();
        assert_eq!(parsed, expected);
    }
}

/// Whether a "public key" of a `key.json` is really a private key committed by mistake: an age
/// private key, a plugin identity, or an armored private key. `check` reports it (masked) and
/// `users get` refuses to print it.
pub fn looks_private(key: &str) -> bool {
    let upper = key.trim().to_ascii_uppercase();
    upper.starts_with("AGE-SECRET-KEY-") || upper.starts_with("AGE-PLUGIN-") || upper.contains("PRIVATE KEY")
}

#[cfg(test)]
mod private_key_tests {
    use super::looks_private;

    #[test]
    fn private_keys_are_recognised() {
        assert!(looks_private("AGE-SECRET-KEY-1QQQQ"));
        assert!(looks_private(" age-plugin-yubikey-1QQQ"));
        assert!(looks_private("-----BEGIN OPENSSH PRIVATE KEY-----\nabc"));
        assert!(!looks_private("age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg"));
        assert!(!looks_private("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI"));
    }
}
