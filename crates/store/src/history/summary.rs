//! What can be said about a sops file without its key, for diffs and history: who it is
//! encrypted for, when its values were last encrypted, and a fingerprint of each encrypted
//! value. Equal fingerprints mean the same value under the same data key; a new fingerprint
//! means the value changed *or* the data key did (a revocation rotates it, `set` always makes a
//! new one). With a key, [`keyed_fingerprints`] tells values apart for sure without showing them.

use hmac::{Hmac, Mac};
use secrets_sops::{Document, EncryptedFile, Format, Map, MapItem, Value};
use sha2::{Digest, Sha256};

/// One value of a sops file, as the diff shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueView {
    /// An encrypted value: a fingerprint of its ciphertext.
    Encrypted(String),
    /// An empty value (sops does not encrypt empty strings).
    Empty,
    /// A value the file keeps in clear text (its selection rule leaves it unencrypted).
    Clear(String),
}

/// The keyless view of a sops file.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The store the file is in.
    pub format: Format,
    /// The sops version that wrote it.
    pub version: String,
    /// Its `lastmodified` time, as written.
    pub last_modified: String,
    /// Recipients per key group, in file order: age recipients, then PGP fingerprints.
    pub recipients: Vec<Vec<String>>,
    /// Master keys of other types in the file (`pgp`, `kms`, …), by type.
    pub other_keys: Vec<String>,
    /// Whether the file has a MAC.
    pub has_mac: bool,
    /// Every leaf by its path (`["db"]["password"]`; `data` for the binary store).
    pub values: Vec<(String, ValueView)>,
}

impl Summary {
    /// Reads what can be seen of `file` without a key.
    pub fn of(file: &EncryptedFile) -> Summary {
        let mut values = Vec::new();
        for (i, branch) in file.data.branches.iter().enumerate() {
            let prefix = if file.data.branches.len() > 1 { format!("document {}: ", i + 1) } else { String::new() };
            walk_map(branch, &mut String::new(), &mut |path, value| {
                let view = match value {
                    Value::Str(s) if s.is_empty() => ValueView::Empty,
                    Value::Str(s) if s.starts_with("ENC[") => ValueView::Encrypted(fingerprint(s.as_bytes())),
                    other => ValueView::Clear(clear_text(other)),
                };
                values.push((format!("{prefix}{}", display_path(path, file.format)), view));
            });
        }
        let mut other_keys: Vec<String> =
            file.metadata.key_groups.iter().flat_map(|g| g.other.iter().map(|(name, _)| name.clone())).collect();
        other_keys.sort();
        other_keys.dedup();
        Summary {
            format: file.format,
            version: file.metadata.version.clone(),
            last_modified: file.metadata.last_modified.clone(),
            recipients: file.metadata.recipients(),
            other_keys,
            has_mac: file.metadata.mac.is_some(),
            values,
        }
    }

    /// Every recipient, sorted and de-duplicated.
    pub fn all_recipients(&self) -> Vec<String> {
        let mut all: Vec<String> = self.recipients.iter().flatten().cloned().collect();
        all.sort();
        all.dedup();
        all
    }
}

/// A short hex fingerprint (48 bits of SHA-256): enough to see a change, too short to matter.
pub fn fingerprint(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..6])
}

/// Fingerprints of decrypted values, keyed with `salt` (a secret that never leaves this
/// machine), so equal values give equal fingerprints across versions and data keys while a
/// log reader without the salt cannot test guesses against them.
pub fn keyed_fingerprints(salt: &[u8], plain: &Document, format: Format) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, branch) in plain.branches.iter().enumerate() {
        let prefix = if plain.branches.len() > 1 { format!("document {}: ", i + 1) } else { String::new() };
        walk_map(branch, &mut String::new(), &mut |path, value| {
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(salt) else { return };
            mac.update(path.as_bytes());
            mac.update(&[0]);
            value_bytes(value, &mut |b| mac.update(b));
            let tag = mac.finalize().into_bytes();
            out.push((format!("{prefix}{}", display_path(path, format)), hex::encode(&tag[..6])));
        });
    }
    out
}

/// A leaf's bytes with its type, for hashing.
fn value_bytes(value: &Value, sink: &mut dyn FnMut(&[u8])) {
    match value {
        Value::Str(s) => {
            sink(b"s");
            sink(s.as_bytes());
        }
        Value::Bytes(b) => {
            sink(b"s");
            sink(b);
        }
        other => {
            sink(b"o");
            sink(clear_text(other).as_bytes());
        }
    }
}

fn clear_text(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) | Value::Time(s) | Value::Comment(s) => s.clone(),
        Value::Bytes(b) => format!("<{} bytes>", b.len()),
        Value::Map(_) | Value::List(_) => String::new(),
    }
}

fn display_path(path: &str, format: Format) -> String {
    if format == Format::Binary && path == "[\"data\"]" {
        "value".to_string()
    } else {
        path.to_string()
    }
}

/// Calls `visit` for every leaf (comments excluded) with its sops-style path.
fn walk_map(map: &Map, path: &mut String, visit: &mut dyn FnMut(&str, &Value)) {
    for item in &map.0 {
        if let MapItem::Entry(key, value) = item {
            let len = path.len();
            path.push_str(&format!("[{}]", serde_json::to_string(key).unwrap_or_default()));
            walk_value(value, path, visit);
            path.truncate(len);
        }
    }
}

fn walk_value(value: &Value, path: &mut String, visit: &mut dyn FnMut(&str, &Value)) {
    match value {
        Value::Map(map) => walk_map(map, path, visit),
        Value::List(items) => {
            let values = items.iter().filter(|item| !matches!(item, Value::Comment(_)));
            for (i, item) in values.enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk_value(item, path, visit);
                path.truncate(len);
            }
        }
        Value::Comment(_) => {}
        leaf => visit(path, leaf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(entries: Vec<(&str, Value)>) -> Document {
        Document { branches: vec![Map(entries.into_iter().map(|(k, v)| MapItem::Entry(k.into(), v)).collect())] }
    }

    #[test]
    fn keyed_fingerprints_follow_values_not_keys_or_salts() {
        let a = doc(vec![("data", Value::str("hunter2"))]);
        let b = doc(vec![("data", Value::str("hunter3"))]);
        let fa = keyed_fingerprints(b"salt", &a, Format::Binary);
        assert_eq!(fa[0].0, "value");
        assert_eq!(fa, keyed_fingerprints(b"salt", &a.clone(), Format::Binary));
        assert_ne!(fa, keyed_fingerprints(b"salt", &b, Format::Binary));
        assert_ne!(fa, keyed_fingerprints(b"other", &a, Format::Binary));
        assert!(!fa[0].1.contains("hunter"));
    }

    #[test]
    fn paths_of_nested_values() {
        let nested = Value::Map(Map(vec![MapItem::Entry("password".into(), Value::str("x")), MapItem::Comment("c".into())]));
        let d = doc(vec![("db", nested), ("list", Value::List(vec![Value::Int(1), Value::Comment("#".into()), Value::Int(2)]))]);
        let paths: Vec<String> = keyed_fingerprints(b"s", &d, Format::Yaml).into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["[\"db\"][\"password\"]", "[\"list\"][0]", "[\"list\"][1]"]);
    }
}
