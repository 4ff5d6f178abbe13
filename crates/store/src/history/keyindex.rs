//! Who a recipient is: the users and machines whose `key.json` holds a public key, so that
//! reports can say `alice (user)` instead of `age1…`.

use std::collections::BTreeMap;

use crate::keyfile::{self, PublicKey};
use crate::names::Kind;
use crate::repo::Repo;

/// A user or machine.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Owner {
    /// Whether it is a user or a machine.
    pub kind: Kind,
    /// Its name in `sops/users/` or `sops/machines/`.
    pub name: String,
}

impl Owner {
    /// `alice (user)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.kind.noun())
    }
}

/// Public keys to their owners.
#[derive(Clone, Debug, Default)]
pub struct KeyIndex {
    owners: BTreeMap<String, Vec<Owner>>,
}

/// The comparable form of a recipient: trimmed, and an ssh key without its comment.
pub fn normalize(recipient: &str) -> String {
    let trimmed = recipient.trim();
    if trimmed.starts_with("ssh-") {
        trimmed.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    } else {
        trimmed.to_string()
    }
}

impl KeyIndex {
    /// Records that the member `name` has the public key `key`.
    pub fn insert(&mut self, kind: Kind, name: &str, key: &str) {
        let owners = self.owners.entry(normalize(key)).or_default();
        let owner = Owner { kind, name: name.to_string() };
        if !owners.contains(&owner) {
            owners.push(owner);
            owners.sort();
        }
    }

    /// Records every key of one member.
    pub fn insert_keys(&mut self, kind: Kind, name: &str, keys: &[PublicKey]) {
        for key in keys {
            self.insert(kind, name, &key.key);
        }
    }

    /// The keys of every user and machine of the work tree (unreadable `key.json` files are
    /// skipped: `secrets check` reports them).
    pub fn from_repo(repo: &Repo) -> KeyIndex {
        let mut index = KeyIndex::default();
        for kind in [Kind::User, Kind::Machine] {
            for name in repo.list(kind).unwrap_or_default() {
                if let Ok(keys) = repo.read_keys(kind, &name) {
                    index.insert_keys(kind, &name, &keys);
                }
            }
        }
        index
    }

    /// Adds the entries of `text` (a `key.json`), ignoring it when it does not parse.
    pub fn insert_key_file(&mut self, kind: Kind, name: &str, text: &[u8]) {
        let Ok(text) = std::str::from_utf8(text) else { return };
        if let Ok(keys) = keyfile::parse(text, std::path::Path::new("key.json")) {
            self.insert_keys(kind, name, &keys);
        }
    }

    /// Adds what `other` knows about keys this index does not know.
    pub fn fill_from(&mut self, other: &KeyIndex) {
        for (key, owners) in &other.owners {
            self.owners.entry(key.clone()).or_insert_with(|| owners.clone());
        }
    }

    /// Who has this recipient key (several members may share one); empty when nobody does.
    pub fn owners(&self, recipient: &str) -> &[Owner] {
        self.owners.get(&normalize(recipient)).map_or(&[], Vec::as_slice)
    }

    /// `alice (user)`, `alice (user), ci (machine)` when a key is shared, or the key itself
    /// (shortened) when nobody has it.
    pub fn describe(&self, recipient: &str) -> String {
        match self.owners(recipient) {
            [] => format!("{} (unknown key)", short_key(recipient)),
            owners => owners.iter().map(Owner::label).collect::<Vec<_>>().join(", "),
        }
    }

    /// Whether no key was recorded.
    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }
}

/// A recipient shortened for one-line reports: `age1qy3z…k4xa`, `ssh-ed25519 AAAAC3…k4xa`.
pub fn short_key(key: &str) -> String {
    let key = normalize(key);
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 24 {
        return key;
    }
    let head: String = chars[..12].iter().collect();
    let tail: String = chars[chars.len() - 6..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_and_shortens_unknown_ones() {
        let mut index = KeyIndex::default();
        index.insert(Kind::User, "alice", "age1aaaa");
        index.insert(Kind::Machine, "web1", "ssh-ed25519 AAAAkey web1@host");
        assert_eq!(index.describe("age1aaaa"), "alice (user)");
        assert_eq!(index.describe(" ssh-ed25519 AAAAkey other-comment"), "web1 (machine)");
        assert_eq!(index.describe("age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg"), "age1e9xplsq0…mxepjg (unknown key)");
        index.insert(Kind::User, "bob", "age1aaaa");
        assert_eq!(index.describe("age1aaaa"), "alice (user), bob (user)");
    }
}
