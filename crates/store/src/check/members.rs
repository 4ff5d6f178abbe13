//! Users, machines and groups: valid names, readable `key.json` files with valid, unique keys,
//! and group links. What is found is kept for the secrets' checks.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use crate::history::KeyIndex;
use crate::keyfile::{self, KeyType, PublicKey};
use crate::names::{self, Kind};
use crate::repo::Repo;
use crate::untrusted::{Folder, Limit, UntrustedError};

use super::links::{self, Env};
use super::{listing, Entry, GroupLink, Sink};

/// A group's members.
#[derive(Default)]
pub(crate) struct Group {
    pub users: Vec<String>,
    pub machines: Vec<String>,
}

/// The members found valid.
#[derive(Default)]
pub(crate) struct Members {
    pub keys: HashMap<(Kind, String), Vec<PublicKey>>,
    pub groups: HashMap<String, Group>,
    pub index: KeyIndex,
    /// Links of groups to members that do not exist (what clan's `machines remove` leaves).
    pub dangling: Vec<GroupLink>,
}

pub(crate) use crate::names::is_leftover;

pub(crate) fn check(repo: &Repo, env: &Env, sink: &mut Sink<'_>) -> Members {
    let mut members = Members::default();
    let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for kind in [Kind::User, Kind::Machine] {
        let Ok(Some(folder)) = Folder::open(repo.root(), &repo.sops_dir().join(kind.folder())) else {
            continue; // refused ones are reported once by `check`; nothing is read through them
        };
        for entry in listing(&folder, sink) {
            let (name, dir) = (entry.name.clone(), &entry.path);
            if is_leftover(&name) {
                super::leftover(sink, &entry);
                continue;
            }
            if let Err(e) = names::validate(kind, &name) {
                sink.error("invalid-name", dir, format!("{e}; clan ignores it"));
                continue;
            }
            let Some(member) = real_folder(&folder, &entry, sink) else {
                sink.error("unexpected-file", dir, format!("sops/{}/ holds one folder per {}", kind.folder(), kind.noun()));
                continue;
            };
            let path = dir.join("key.json");
            let text = match member.read_text("key.json", Limit::KeyFile) {
                Ok(text) => text,
                Err(e) if e.is_not_found() => {
                    sink.warn("missing-key-file", dir, format!("no key.json: not a {} (a leftover folder?)", kind.noun()));
                    continue;
                }
                Err(e) => {
                    sink.refused(&e, &path);
                    continue;
                }
            };
            let keys = match keyfile::parse(&text, &path) {
                Ok(keys) => keys,
                Err(crate::StoreError::KeyFile { problem, .. }) => {
                    sink.error("bad-key-file", &path, problem.to_string());
                    continue;
                }
                Err(e) => {
                    sink.error("bad-key-file", &path, e.to_string());
                    continue;
                }
            };
            if keys.is_empty() {
                sink.error("bad-key-file", &path, "no keys: nobody can decrypt for this member");
            }
            if keys.iter().any(|k| crate::keyfile::looks_private(&k.key)) {
                sink.error(
                    "private-key",
                    &path,
                    "holds an age private key where the public key belongs: it is public now to everyone who can read the repository; remove it from history, generate a new key (`secrets key generate`) and store its public key",
                );
                continue;
            }
            let mut seen: Vec<&PublicKey> = Vec::new();
            for key in &keys {
                if seen.contains(&key) {
                    sink.error("duplicate-key", &path, format!("{} is listed twice", key.key));
                    continue;
                }
                seen.push(key);
                if let Err(reason) = validate_key(key) {
                    sink.error("invalid-key", &path, format!("invalid key `{}`: {reason}", key.key));
                }
                if kind == Kind::Machine && key.is_ssh() {
                    sink.warn("ssh-recipient", &path, "a raw ssh key: sops-nix cannot decrypt for it on the machine; store the age form (`secrets machines add --force NAME --ssh-to-age`)");
                }
                owners.entry(keyfile_owner_key(key)).or_default().push(format!("{} `{name}`", kind.noun()));
            }
            if kind == Kind::Machine && keys.len() > 1 {
                sink.warn("machine-keys", &path, format!("{} keys: clan expects exactly one key per machine", keys.len()));
            }
            members.index.insert_keys(kind, &name, &keys);
            members.keys.insert((kind, name), keys);
        }
    }
    for (key, who) in owners {
        if who.len() > 1 {
            let path = repo.sops_dir();
            sink.warn(
                "shared-key",
                &path,
                format!(
                    "{} share the key {}: their access cannot be told apart",
                    who.join(" and "),
                    crate::history::keyindex::short_key(&key)
                ),
            );
        }
    }
    check_groups(repo, env, &mut members, sink);
    members
}

/// The folder `entry` of `parent`, opened through it without following a link: `None` when it
/// is not a real folder. A symlink is reported (as [`crate::untrusted`] refuses it); a file is not
/// reported here (the caller does).
fn real_folder(parent: &Folder, entry: &Entry, sink: &mut Sink<'_>) -> Option<Folder> {
    match parent.open_dir(&entry.name) {
        Ok(found) => found,
        Err(UntrustedError::NotAFolder { .. }) => None,
        Err(e) => {
            sink.refused(&e, &entry.path);
            None
        }
    }
}

fn keyfile_owner_key(key: &PublicKey) -> String {
    crate::history::keyindex::normalize(&key.key)
}

/// Whether a public key is one age can encrypt to.
fn validate_key(key: &PublicKey) -> Result<(), String> {
    if key.kind == KeyType::Pgp {
        return if secrets_sops::keys::is_pgp_fingerprint(&key.key) {
            Ok(())
        } else {
            Err("not a PGP fingerprint (hexadecimal, as `gpg --fingerprint` shows it)".into())
        };
    }
    let text = key.key.trim();
    if text.starts_with("ssh-") {
        return age::ssh::Recipient::from_str(text).map(|_| ()).map_err(|e| format!("{e:?}"));
    }
    if age::x25519::Recipient::from_str(text).is_ok() || age::plugin::Recipient::from_str(text).is_ok() {
        return Ok(());
    }
    Err("not an age recipient (age1…) or ssh public key".into())
}

fn check_groups(repo: &Repo, env: &Env, members: &mut Members, sink: &mut Sink<'_>) {
    let Ok(Some(folder)) = Folder::open(repo.root(), &repo.sops_dir().join(Kind::Group.folder())) else {
        return; // refused ones are reported once by `check`; nothing is read through them
    };
    for entry in listing(&folder, sink) {
        let (name, dir) = (entry.name.clone(), &entry.path);
        if is_leftover(&name) {
            super::leftover(sink, &entry);
            continue;
        }
        if let Err(e) = names::validate(Kind::Group, &name) {
            sink.error("invalid-name", dir, format!("{e}; clan ignores it"));
            continue;
        }
        let Some(group) = real_folder(&folder, &entry, sink) else {
            sink.error("unexpected-file", dir, "sops/groups/ holds one folder per group");
            continue;
        };
        for inner in listing(&group, sink) {
            if inner.name != "users" && inner.name != "machines" {
                sink.warn("unexpected-file", &inner.path, "a group folder holds only users/ and machines/ links");
            }
        }
        let users = links::inspect(env, members, &group, Kind::User, sink);
        let machines = links::inspect(env, members, &group, Kind::Machine, sink);
        if users.members.is_empty() && machines.members.is_empty() && users.dangling.is_empty() && machines.dangling.is_empty() {
            sink.warn("empty-group", dir, "a group without members");
        }
        for (kind, found) in [(Kind::User, &users.dangling), (Kind::Machine, &machines.dangling)] {
            members.dangling.extend(found.iter().map(|member| GroupLink { group: name.clone(), kind, member: member.clone() }));
        }
        members.groups.insert(name, super::members::Group { users: users.members, machines: machines.members });
    }
}
