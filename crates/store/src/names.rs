//! Name rules for users, groups, machines and secrets: clan's rules, plus what clan forgot
//! (`.`, `..` and leading dots, which would escape or hide in `sops/` and cannot be Nix store
//! names).
//!
//! clan itself accepts any secret name matching `^[a-zA-Z0-9._-]+$`, so a repository it wrote
//! may hold secrets named `.hidden` (`clan secrets rename x .hidden`), which clan lists, reads
//! and re-keys like any other. Such a secret must never be skipped here either, or removing a
//! member would leave it readable by them: [`validate_existing`] accepts those names for secrets
//! that exist, while [`validate`] still refuses to create them.

use std::borrow::Cow;

use crate::error::StoreError;

/// A name (or a path, or a line of text holding names) from the repository, as it may be
/// printed. A committer can create a file named with line breaks or terminal escape sequences
/// that would forge lines in a CI log or rewrite the terminal; such text is shown in double
/// quotes with Rust's `escape_debug` escapes (`"evil\n\u{1b}[2K"`), the way git quotes unusual
/// paths. Text without control or invisible formatting characters, which includes every name
/// clan accepts, is shown byte for byte.
pub fn shown(text: &str) -> Cow<'_, str> {
    let unusual = |c: char| c.is_control() || (c.escape_debug().nth(1).is_some() && !matches!(c, '"' | '\'' | '\\'));
    if !text.chars().any(unusual) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!("\"{}\"", text.escape_debug()))
}

/// A repository path as it may be printed: [`shown`] of its text.
pub fn shown_path(path: &std::path::Path) -> Cow<'_, str> {
    match path.to_string_lossy() {
        Cow::Borrowed(text) => shown(text),
        Cow::Owned(text) => Cow::Owned(shown(&text).into_owned()),
    }
}

/// What a name names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A person, with a key in `sops/users/<name>/key.json`.
    User,
    /// A host, with a key in `sops/machines/<name>/key.json`.
    Machine,
    /// A named set of users and machines, `sops/groups/<name>/`.
    Group,
    /// A secret, `sops/secrets/<name>/secret`.
    Secret,
}

impl Kind {
    /// The folder of this kind under `sops/`, which is also the folder of its links.
    pub fn folder(self) -> &'static str {
        match self {
            Kind::User => "users",
            Kind::Machine => "machines",
            Kind::Group => "groups",
            Kind::Secret => "secrets",
        }
    }

    /// The word for one of this kind, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Machine => "machine",
            Kind::Group => "group",
            Kind::Secret => "secret",
        }
    }
}

/// Which rule of names a name breaks (clan's wording, which a port's messages must match).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameRule {
    /// A secret name holds a character outside `a-zA-Z0-9._-`, or is empty.
    #[error("Invalid character in secret name. Allowed characters are a-z, A-Z, 0-9, ., -, and _")]
    SecretCharacters,
    /// A secret name starts with a dot (we never create one; `.` and `..` would escape).
    #[error("a secret name must not start with a dot (`.` and `..` would escape sops/secrets)")]
    SecretLeadingDot,
    /// A user or group name holds a character outside `a-z0-9_-` or starts with a digit or dash.
    #[error("Invalid character in {} name. Allowed characters are a-z, 0-9, -, and _. Must start with a letter or _", kind.noun())]
    MemberCharacters {
        /// User or group.
        kind: Kind,
    },
    /// A user or group name longer than 32 bytes.
    #[error("{} name must be less than 32 characters long", if *kind == Kind::User { "User" } else { "Group" })]
    MemberLength {
        /// User or group.
        kind: Kind,
    },
    /// A machine name holds a character outside `a-zA-Z0-9-`, is empty, or starts or ends with a dash.
    #[error("Invalid character in machine name. Allowed characters are a-z, 0-9, and -. Must not start or end with a dash")]
    MachineCharacters,
    /// A machine name longer than 63 bytes.
    #[error("Machine name must be less than 63 characters long")]
    MachineLength,
}

/// Checks a name against its kind's rule.
pub fn validate(kind: Kind, name: &str) -> Result<(), StoreError> {
    rule_broken(kind, name).map_or(Ok(()), |rule| Err(StoreError::InvalidName { kind, name: name.to_string(), rule }))
}

/// The rule of its kind that `name` breaks, if any.
fn rule_broken(kind: Kind, name: &str) -> Option<NameRule> {
    match kind {
        Kind::Secret => {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
                return Some(NameRule::SecretCharacters);
            }
            if name.starts_with('.') {
                return Some(NameRule::SecretLeadingDot);
            }
        }
        Kind::User | Kind::Group => {
            let bytes = name.as_bytes();
            let first_ok = matches!(bytes.first(), Some(b'a'..=b'z' | b'_'));
            let rest_ok = bytes.iter().skip(1).all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
            if !first_ok || !rest_ok {
                return Some(NameRule::MemberCharacters { kind });
            }
            if bytes.len() > 32 {
                return Some(NameRule::MemberLength { kind });
            }
        }
        Kind::Machine => {
            let bytes = name.as_bytes();
            let ok = !bytes.is_empty()
                && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                && bytes.first() != Some(&b'-')
                && bytes.last() != Some(&b'-');
            if !ok {
                return Some(NameRule::MachineCharacters);
            }
            if bytes.len() > 63 {
                return Some(NameRule::MachineLength);
            }
        }
    }
    None
}

/// Whether `name` is a secret name clan accepts but [`validate`] refuses: a leading dot, not
/// `.` or `..`. Names that look like leftovers (`.secrets-x`, `.db.removing-7`) are included:
/// clan accepts them, and a folder with a `secret` file is a secret whatever its name
/// ([`is_leftover_entry`]).
pub fn is_hidden_secret(name: &str) -> bool {
    name.starts_with('.')
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Checks the name of something that already exists: as [`validate`], except that a secret may
/// also have a name clan accepts and we would not create ([`is_hidden_secret`]).
pub fn validate_existing(kind: Kind, name: &str) -> Result<(), StoreError> {
    match validate(kind, name) {
        Err(_) if kind == Kind::Secret && is_hidden_secret(name) => Ok(()),
        other => other,
    }
}

/// Names of files and folders an interrupted command leaves (`.secrets-XXXX` temporary files,
/// `.<name>.removing-<pid>` folders). A name alone does not make a leftover: clan accepts such
/// secret names, see [`is_leftover_entry`].
pub fn is_leftover(name: &str) -> bool {
    name.starts_with(".secrets-") || (name.starts_with('.') && name.contains(".removing-"))
}

/// Whether the entry `path` is the leftover of an interrupted command: a leftover name, and not
/// a folder holding a `secret` entry. A folder with a `secret` is a secret (clan lists and
/// re-keys it), so it is never skipped, removed or left readable by a revoked member.
pub fn is_leftover_entry(path: &std::path::Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    if !is_leftover(name) {
        return false;
    }
    let is_dir = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    !(is_dir && std::fs::symlink_metadata(path.join("secret")).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_names_are_shown_escaped_and_ordinary_ones_as_they_are() {
        for plain in ["db-password", ".hidden", "a b", "é", "quote\"s", "back\\slash", "sops/secrets/db"] {
            assert_eq!(shown(plain), plain);
        }
        assert_eq!(shown("evil\n::error::x\r\u{1b}[2K"), "\"evil\\n::error::x\\r\\u{1b}[2K\"");
        assert_eq!(shown("a\u{202e}b"), "\"a\\u{202e}b\"", "bidirectional overrides are escaped");
        assert_eq!(shown_path(std::path::Path::new("sops/secrets/a\tb")), "\"sops/secrets/a\\tb\"");
    }

    #[test]
    fn secret_names() {
        for ok in ["a", "db-password", "A.b_c-9", "machine-age.key"] {
            validate(Kind::Secret, ok).unwrap();
        }
        for bad in ["", ".", "..", ".hidden", "a/b", "../x", "a b", "é"] {
            assert!(validate(Kind::Secret, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hidden_secret_names_exist_but_are_not_created() {
        for hidden in [".hidden", ".a.b", "._x-1", ".secrets-x", ".db.removing-7"] {
            assert!(is_hidden_secret(hidden), "{hidden:?}");
            assert!(validate(Kind::Secret, hidden).is_err(), "{hidden:?}");
            validate_existing(Kind::Secret, hidden).unwrap();
        }
        for never in [".", "..", "./x", "../x", ".a b"] {
            assert!(validate_existing(Kind::Secret, never).is_err(), "{never:?}");
        }
        assert!(validate_existing(Kind::User, ".hidden").is_err());
        assert!(validate_existing(Kind::Machine, ".hidden").is_err());
    }

    #[test]
    fn a_folder_with_a_secret_is_never_a_leftover() {
        let dir = tempfile::tempdir().unwrap();
        for name in [".secrets-x", ".db.removing-7"] {
            let folder = dir.path().join(name);
            std::fs::create_dir(&folder).unwrap();
            assert!(is_leftover_entry(&folder), "{name}: empty, a leftover");
            std::fs::write(folder.join("secret"), "{}").unwrap();
            assert!(!is_leftover_entry(&folder), "{name}: a secret");
        }
        std::fs::write(dir.path().join(".secrets-tmp"), "x").unwrap();
        assert!(is_leftover_entry(&dir.path().join(".secrets-tmp")));
        std::fs::create_dir(dir.path().join("db")).unwrap();
        assert!(!is_leftover_entry(&dir.path().join("db")));
    }

    #[test]
    fn user_and_group_names() {
        for ok in ["alice", "_x", "a-b_c9", &"a".repeat(32)] {
            validate(Kind::User, ok).unwrap();
        }
        for bad in ["Alice", "1abc", "-a", "", "a.b", "../x", &"a".repeat(33)] {
            assert!(validate(Kind::Group, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn machine_names() {
        for ok in ["m1", "M3", "web-01", &"a".repeat(63)] {
            validate(Kind::Machine, ok).unwrap();
        }
        for bad in ["-a", "a-", "a_b", "", "..", "a.b", &"a".repeat(64)] {
            assert!(validate(Kind::Machine, bad).is_err(), "{bad:?}");
        }
    }
}
