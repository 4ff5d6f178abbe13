//! The `sops` metadata block: its logical fields, how they are read leniently from every layout
//! sops 3.7–3.13 writes, and how they are written in the 3.11 layout.

use crate::error::{Error, Result};
use crate::format::Format;
use crate::tree::{Map, Value};

/// The version string written into new files. sops-nix and older sops read it as semver.
pub const WRITER_VERSION: &str = "3.11.0";

/// One age recipient's copy of the data key (or of its group's Shamir share).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeKey {
    /// The recipient string exactly as given (advisory: identities are not chosen by it).
    pub recipient: String,
    /// The armored age file holding the wrapped key, with its final newline.
    pub enc: String,
}

/// A key group. Non-age master keys (pgp, kms, …) are kept verbatim so that rewriting a file
/// does not drop them, even though this library cannot use them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeyGroup {
    /// The age recipients of the group, each with the data key (or its share) wrapped for it.
    pub age: Vec<AgeKey>,
    /// Other master key lists by their metadata name (`pgp`, `kms`, `gcp_kms`, `azure_kv`,
    /// `hc_vault`, `hckms`), as parsed.
    pub other: Vec<(String, Value)>,
}

/// Which values are encrypted (sops' six mutually exclusive options).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectionRule {
    /// Values whose key ends with this suffix stay plain; all others are encrypted.
    UnencryptedSuffix(String),
    /// Only values whose key ends with this suffix are encrypted.
    EncryptedSuffix(String),
    /// Values whose key matches this regex stay plain.
    UnencryptedRegex(String),
    /// Only values whose key matches this regex are encrypted.
    EncryptedRegex(String),
    /// Values under a comment matching this regex stay plain.
    UnencryptedCommentRegex(String),
    /// Only values under a comment matching this regex are encrypted.
    EncryptedCommentRegex(String),
}

impl SelectionRule {
    /// The metadata field names of the six rules, in the order sops checks them.
    pub const FIELDS: [&'static str; 6] = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ];

    /// The metadata field this rule is written as.
    pub fn field(&self) -> &'static str {
        match self {
            SelectionRule::UnencryptedSuffix(_) => "unencrypted_suffix",
            SelectionRule::EncryptedSuffix(_) => "encrypted_suffix",
            SelectionRule::UnencryptedRegex(_) => "unencrypted_regex",
            SelectionRule::EncryptedRegex(_) => "encrypted_regex",
            SelectionRule::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            SelectionRule::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        }
    }

    /// The suffix or regex the rule holds.
    pub fn value(&self) -> &str {
        match self {
            SelectionRule::UnencryptedSuffix(s)
            | SelectionRule::EncryptedSuffix(s)
            | SelectionRule::UnencryptedRegex(s)
            | SelectionRule::EncryptedRegex(s)
            | SelectionRule::UnencryptedCommentRegex(s)
            | SelectionRule::EncryptedCommentRegex(s) => s,
        }
    }

    /// The rule a metadata field names; `None` when `field` is not one of [`Self::FIELDS`].
    pub fn from_field(field: &str, value: String) -> Option<SelectionRule> {
        Some(match field {
            "unencrypted_suffix" => SelectionRule::UnencryptedSuffix(value),
            "encrypted_suffix" => SelectionRule::EncryptedSuffix(value),
            "unencrypted_regex" => SelectionRule::UnencryptedRegex(value),
            "encrypted_regex" => SelectionRule::EncryptedRegex(value),
            "unencrypted_comment_regex" => SelectionRule::UnencryptedCommentRegex(value),
            "encrypted_comment_regex" => SelectionRule::EncryptedCommentRegex(value),
            _ => return None,
        })
    }

    /// The rule sops applies when a file names none.
    pub fn default_rule() -> SelectionRule {
        SelectionRule::UnencryptedSuffix("_unencrypted".to_string())
    }
}

/// The logical metadata of a sops file.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// The key groups; with more than one, each holds a Shamir share of the data key.
    pub key_groups: Vec<KeyGroup>,
    /// 0 when unset.
    pub shamir_threshold: usize,
    /// `lastmodified` as written in the file.
    pub last_modified: String,
    /// The encrypted MAC (`ENC[…]`), if present.
    pub mac: Option<String>,
    /// The rule written in the file; `None` means none was written (sops then assumes
    /// `unencrypted_suffix: _unencrypted`).
    pub selection: Option<SelectionRule>,
    /// Whether the MAC covers only the encrypted values (`mac_only_encrypted: true`).
    pub mac_only_encrypted: bool,
    /// The sops version that wrote the file (we write the one we are compatible with).
    pub version: String,
}

/// Master key list names other than `age`, in the order sops writes them in the flat layout.
const OTHER_KEY_LISTS: [&str; 6] = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp"];

impl Metadata {
    /// Reads the metadata tree of any layout sops 3.7–3.13 writes: fields in any order, unknown
    /// fields ignored, empty or null key lists, flattened scalars given as strings.
    pub fn from_tree(tree: &Map) -> Result<Metadata> {
        refuse_duplicate_keys(tree, "sops")?;
        let flat_group = parse_group(tree)?;
        let key_groups = if flat_group.is_empty() {
            match tree.get("key_groups") {
                Some(Value::List(groups)) => groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| match g {
                        Value::Map(m) => parse_group(m),
                        _ => Err(Error::metadata(format!("key_groups[{i}] is not a mapping"))),
                    })
                    .collect::<Result<Vec<_>>>()?,
                None | Some(Value::Null) => Vec::new(),
                Some(_) => return Err(Error::metadata("key_groups is not a list")),
            }
        } else {
            // sops: when the flat keys are present, `key_groups` is ignored.
            vec![flat_group]
        };
        // sops refuses metadata with neither flat keys nor a key group ("No keys found in
        // file"); reading it as zero groups would let a written file read back differently.
        if key_groups.is_empty() {
            return Err(Error::metadata("No keys found in file"));
        }

        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a whole float in 0..256 is exact")]
        let shamir_threshold = match tree.get("shamir_threshold") {
            None | Some(Value::Null) => 0,
            Some(Value::Int(n)) if *n >= 0 => usize::try_from(*n).unwrap_or(usize::MAX),
            Some(Value::Float(f)) if f.fract() == 0.0 && *f >= 0.0 && *f < 256.0 => *f as usize,
            Some(_) => return Err(Error::metadata("shamir_threshold is not a whole number")),
        };

        let last_modified = match tree.get("lastmodified") {
            Some(Value::Str(s) | Value::Time(s)) => s.clone(),
            None => return Err(Error::metadata("lastmodified is missing")),
            Some(_) => return Err(Error::metadata("lastmodified is not a string")),
        };
        if crate::timefmt::mac_aad(&last_modified).is_none() {
            return Err(Error::metadata("lastmodified is not an RFC 3339 time"));
        }

        let mac = match tree.get("mac") {
            Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
            None | Some(Value::Null | Value::Str(_)) => None,
            Some(_) => return Err(Error::metadata("mac is not a string")),
        };

        let mut selection = None;
        for field in SelectionRule::FIELDS {
            match tree.get(field) {
                Some(Value::Str(s)) if !s.is_empty() => {
                    if let Some(previous) = &selection {
                        let previous: &SelectionRule = previous;
                        return Err(Error::metadata(format!(
                            "the file sets both {} and {field}; sops allows only one encryption selection rule",
                            previous.field()
                        )));
                    }
                    selection = SelectionRule::from_field(field, s.clone());
                }
                None | Some(Value::Null | Value::Str(_)) => {}
                Some(_) => return Err(Error::metadata(format!("{field} is not a string"))),
            }
        }

        let mac_only_encrypted = match tree.get("mac_only_encrypted") {
            Some(Value::Bool(b)) => *b,
            Some(Value::Str(s)) => s == "true",
            None | Some(Value::Null) => false,
            Some(_) => return Err(Error::metadata("mac_only_encrypted is not a boolean")),
        };

        let version = match tree.get("version") {
            Some(Value::Str(s)) if !s.is_empty() => s.clone(),
            None | Some(Value::Null | Value::Str(_)) => {
                return Err(Error::metadata("the version string is empty; the file was not written by sops"))
            }
            Some(_) => {
                return Err(Error::metadata(
                    "version is a number: the file was written by an ancient sops; re-encrypt it with a current one",
                ))
            }
        };
        check_version(&version)?;

        Ok(Metadata { key_groups, shamir_threshold, last_modified, mac, selection, mac_only_encrypted, version })
    }

    /// The metadata tree in sops 3.11's field order and omit-if-empty rules. `format` decides how
    /// an always-written empty key list of a key group looks: `[]` in YAML, `null` elsewhere
    /// (dropped by the flattening of dotenv and INI).
    pub fn to_tree(&self, format: Format) -> Map {
        let mut out = Map::new();
        if self.shamir_threshold > 0 {
            out.push("shamir_threshold", Value::Int(i64::try_from(self.shamir_threshold).unwrap_or(i64::MAX)));
        }
        let flat = self.key_groups.len() < 2;
        if !flat {
            let groups = self.key_groups.iter().map(|g| Value::Map(group_tree(g, format))).collect();
            out.push("key_groups", Value::List(groups));
        }
        let empty = KeyGroup::default();
        let flat_group = if flat { self.key_groups.first().unwrap_or(&empty) } else { &empty };
        for name in ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"] {
            push_other(&mut out, flat_group, name);
        }
        if !flat_group.age.is_empty() {
            out.push("age", age_list(&flat_group.age));
        }
        out.push("lastmodified", Value::str(&self.last_modified));
        out.push("mac", Value::str(self.mac.clone().unwrap_or_default()));
        push_other(&mut out, flat_group, "pgp");
        if let Some(rule) = &self.selection {
            out.push(rule.field(), Value::str(rule.value()));
        }
        if self.mac_only_encrypted {
            out.push("mac_only_encrypted", Value::Bool(true));
        }
        out.push("version", Value::str(&self.version));
        out
    }

    /// The recipients of each key group, as written in the file: the age recipients, then the
    /// fingerprints of the PGP keys.
    pub fn recipients(&self) -> Vec<Vec<String>> {
        self.key_groups.iter().map(KeyGroup::recipients).collect()
    }

    /// Checks every `pgp` entry the way an `age` entry is checked on read: a mapping with an
    /// `enc` string and an `fp` that is a whole fingerprint
    /// ([`crate::keys::is_pgp_fingerprint`]). Reading stays lenient, as sops is (it passes an
    /// empty fingerprint on and opens the message with `gpg -d`); this is for checks of files
    /// that only sops or this library should have written. The error names the entry, not its
    /// contents.
    pub fn check_pgp_entries(&self) -> Result<()> {
        let several = self.key_groups.len() > 1;
        for (g, group) in self.key_groups.iter().enumerate() {
            let Some((_, list)) = group.other.iter().find(|(name, _)| name == "pgp") else { continue };
            let Value::List(entries) = list else { continue };
            let place = |i: usize| if several { format!("key_groups[{g}].pgp[{i}]") } else { format!("pgp[{i}]") };
            for (i, entry) in entries.iter().enumerate() {
                let Value::Map(entry) = entry else {
                    return Err(Error::metadata(format!("{} is not a mapping", place(i))));
                };
                if !matches!(entry.get("enc"), Some(Value::Str(_))) {
                    return Err(Error::metadata(format!("{}.enc is missing or not a string", place(i))));
                }
                match entry.get("fp") {
                    Some(Value::Str(fp)) if crate::keys::is_pgp_fingerprint(fp) => {}
                    Some(Value::Str(_)) => {
                        return Err(Error::metadata(format!("{}.fp is not a whole PGP fingerprint (40 or 64 hex digits)", place(i))))
                    }
                    _ => return Err(Error::metadata(format!("{}.fp is missing or not a string", place(i)))),
                }
            }
        }
        Ok(())
    }
}

impl KeyGroup {
    /// Whether the group names no master key at all (sops writes such a lone group as no keys,
    /// which neither sops nor this library reads back).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.age.is_empty() && self.other.is_empty()
    }

    /// The group's age recipients, then its PGP fingerprints, as written.
    #[must_use]
    pub fn recipients(&self) -> Vec<String> {
        let age = self.age.iter().map(|k| k.recipient.clone());
        age.chain(crate::keys::pgp_fingerprints(self)).collect()
    }
}

fn parse_group(tree: &Map) -> Result<KeyGroup> {
    let mut group = KeyGroup::default();
    match tree.get("age") {
        Some(Value::List(entries)) => {
            for (i, entry) in entries.iter().enumerate() {
                let Value::Map(entry) = entry else {
                    return Err(Error::metadata(format!("age[{i}] is not a mapping")));
                };
                let field = |name: &str| match entry.get(name) {
                    Some(Value::Str(s)) => Ok(s.clone()),
                    _ => Err(Error::metadata(format!("age[{i}].{name} is missing or not a string"))),
                };
                group.age.push(AgeKey { recipient: field("recipient")?.trim().to_string(), enc: field("enc")? });
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(Error::metadata("age is not a list")),
    }
    for name in OTHER_KEY_LISTS {
        match tree.get(name) {
            Some(Value::List(items)) if !items.is_empty() => group.other.push((name.to_string(), Value::List(items.clone()))),
            _ => {}
        }
    }
    Ok(group)
}

fn group_tree(group: &KeyGroup, format: Format) -> Map {
    let mut out = Map::new();
    for name in ["pgp", "kms", "gcp_kms", "hckms", "azure_kv"] {
        push_other(&mut out, group, name);
    }
    let empty = || if format == Format::Yaml { Value::List(Vec::new()) } else { Value::Null };
    let hc_vault = group.other.iter().find(|(n, _)| n == "hc_vault").map(|(_, v)| v.clone());
    out.push("hc_vault", hc_vault.unwrap_or_else(empty));
    out.push("age", if group.age.is_empty() { empty() } else { age_list(&group.age) });
    out
}

fn push_other(out: &mut Map, group: &KeyGroup, name: &str) {
    if let Some((_, v)) = group.other.iter().find(|(n, _)| n == name) {
        out.push(name, v.clone());
    }
}

fn age_list(keys: &[AgeKey]) -> Value {
    Value::List(
        keys.iter()
            .map(|k| {
                let mut entry = Map::new();
                entry.push("recipient", Value::str(&k.recipient));
                entry.push("enc", Value::str(&k.enc));
                Value::Map(entry)
            })
            .collect(),
    )
}

/// Refuses a mapping anywhere in the metadata that gives one key twice. sops 3.11 decodes its
/// YAML metadata with go-yaml's duplicate check and fails (exit code 1); a reader that silently
/// takes the first or the last value could be shown a different recipient list, MAC or
/// selection rule than another tool reading the same file. JSON metadata is refused the same
/// way, where sops would take the last value.
fn refuse_duplicate_keys(map: &Map, path: &str) -> Result<()> {
    // Depth first, in document order, from a stack of open containers rather than by recursion:
    // a hostile file's metadata may be nested as deeply as its reader allows.
    let mut stack = vec![Checking::of_map(map, path.to_owned())];
    while let Some(top) = stack.last_mut() {
        let next = match top {
            Checking::Map { items, seen, path } => match items.next() {
                Some((key, value)) => {
                    let child = format!("{path}.{key}");
                    if !seen.insert(key) {
                        return Err(Error::DuplicateMetadataKey { path: child });
                    }
                    Some((value, child))
                }
                None => None,
            },
            Checking::List { items, path } => items.next().map(|(i, item)| (item, format!("{path}[{i}]"))),
        };
        match next {
            Some((Value::Map(map), path)) => stack.push(Checking::of_map(map, path)),
            Some((Value::List(items), path)) => stack.push(Checking::List { items: items.iter().enumerate(), path }),
            Some(_) => {}
            None => {
                stack.pop();
            }
        }
    }
    Ok(())
}

/// A container of the metadata whose keys are being checked, with its path.
enum Checking<'a> {
    Map { items: Box<dyn Iterator<Item = (&'a str, &'a Value)> + 'a>, seen: std::collections::HashSet<&'a str>, path: String },
    List { items: std::iter::Enumerate<std::slice::Iter<'a, Value>>, path: String },
}

impl<'a> Checking<'a> {
    fn of_map(map: &'a Map, path: String) -> Self {
        Checking::Map { items: Box::new(map.entries()), seen: std::collections::HashSet::new(), path }
    }
}

/// sops parses `version` as semver (a leading `v` allowed) and accepts anything starting `1.`.
fn check_version(version: &str) -> Result<()> {
    if version.starts_with("1.") {
        return Ok(());
    }
    let core = version.strip_prefix('v').unwrap_or(version);
    let core = core.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if parts.len() == 3 && parts.iter().all(numeric) {
        Ok(())
    } else {
        Err(Error::metadata(format!("version `{version}` is not a semantic version (X.Y.Z)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::MapItem;

    fn sample(groups: usize) -> Metadata {
        let group = |i: usize| KeyGroup {
            age: vec![AgeKey {
                recipient: format!("age1r{i}"),
                enc: "-----BEGIN AGE ENCRYPTED FILE-----\nx\n-----END AGE ENCRYPTED FILE-----\n".into(),
            }],
            other: vec![],
        };
        Metadata {
            key_groups: (0..groups).map(group).collect(),
            shamir_threshold: if groups > 1 { 2 } else { 0 },
            last_modified: "2026-11-23T03:25:06Z".into(),
            mac: Some("ENC[x]".into()),
            selection: Some(SelectionRule::default_rule()),
            mac_only_encrypted: false,
            version: WRITER_VERSION.into(),
        }
    }

    fn keys(map: &Map) -> Vec<&str> {
        map.entries().map(|(k, _)| k).collect()
    }

    #[test]
    fn metadata_without_keys_is_refused_like_sops() {
        let mut tree = sample(1).to_tree(Format::Json);
        tree.remove("age");
        assert!(Metadata::from_tree(&tree).unwrap_err().to_string().contains("No keys found in file"));
        // A lone group naming no key type we know reads as one empty group, and is written as
        // no keys at all (as sops does): it does not read back, in sops or here.
        tree.push("key_groups", Value::List(vec![Value::Map(Map::new())]));
        let metadata = Metadata::from_tree(&tree).unwrap();
        assert!(matches!(metadata.key_groups.as_slice(), [group] if group.is_empty()));
        assert!(Metadata::from_tree(&metadata.to_tree(Format::Json)).is_err());
    }

    #[test]
    fn flat_layout_field_order() {
        let tree = sample(1).to_tree(Format::Yaml);
        assert_eq!(keys(&tree), ["age", "lastmodified", "mac", "unencrypted_suffix", "version"]);
        assert_eq!(Metadata::from_tree(&tree).unwrap(), sample(1));
    }

    #[test]
    fn key_groups_layout_writes_hc_vault_per_store() {
        let yaml = sample(3).to_tree(Format::Yaml);
        assert_eq!(keys(&yaml), ["shamir_threshold", "key_groups", "lastmodified", "mac", "unencrypted_suffix", "version"]);
        let Some(Value::List(groups)) = yaml.get("key_groups") else { panic!() };
        let Value::Map(first) = &groups[0] else { panic!() };
        assert_eq!(keys(first), ["hc_vault", "age"]);
        assert_eq!(first.get("hc_vault"), Some(&Value::List(vec![])));
        let json = sample(3).to_tree(Format::Json);
        let Some(Value::List(groups)) = json.get("key_groups") else { panic!() };
        let Value::Map(first) = &groups[0] else { panic!() };
        assert_eq!(first.get("hc_vault"), Some(&Value::Null));
        assert_eq!(Metadata::from_tree(&yaml).unwrap(), sample(3));
    }

    #[test]
    fn lenient_reading() {
        let mut tree = sample(1).to_tree(Format::Json);
        tree.push("kms", Value::List(vec![]));
        tree.push("pgp", Value::Null);
        tree.push("something_new", Value::str("x"));
        assert_eq!(Metadata::from_tree(&tree).unwrap(), sample(1));
    }

    #[test]
    fn refuses_duplicate_keys_anywhere_in_the_metadata() {
        fn first(tree: &mut Map) -> &mut Map {
            let Some(Value::List(groups)) = tree.get_mut("key_groups") else { panic!() };
            let Value::Map(group) = &mut groups[0] else { panic!() };
            group
        }
        let duplicated = |edit: &dyn Fn(&mut Map)| {
            let mut tree = sample(3).to_tree(Format::Yaml);
            edit(&mut tree);
            match Metadata::from_tree(&tree) {
                Err(Error::DuplicateMetadataKey { path }) => path,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(duplicated(&|t| t.0.push(MapItem::Entry("version".into(), Value::str("3.11.0")))), "sops.version");
        assert_eq!(duplicated(&|t| t.0.insert(0, MapItem::Entry("mac".into(), Value::str("ENC[y]")))), "sops.mac");
        assert_eq!(duplicated(&|t| first(t).0.push(MapItem::Entry("age".into(), Value::List(vec![])))), "sops.key_groups[0].age");
        let path = duplicated(&|t| {
            let Some(Value::List(entries)) = first(t).get_mut("age") else { panic!() };
            let Value::Map(entry) = &mut entries[0] else { panic!() };
            entry.0.insert(0, MapItem::Entry("recipient".into(), Value::str("age1attacker")));
        });
        assert_eq!(path, "sops.key_groups[0].age[0].recipient");
        let err = Error::DuplicateMetadataKey { path };
        assert_eq!(err.sops_exit_code(), 1);
        assert!(err.to_string().contains("sops.key_groups[0].age[0].recipient"), "{err}");
    }

    #[test]
    fn rejects_what_sops_rejects() {
        let mut two_rules = sample(1).to_tree(Format::Yaml);
        two_rules.push("encrypted_regex", Value::str("^data$"));
        assert!(Metadata::from_tree(&two_rules).is_err());
        let mut no_version = sample(1).to_tree(Format::Yaml);
        no_version.remove("version");
        assert!(Metadata::from_tree(&no_version).is_err());
        let mut short_version = sample(1).to_tree(Format::Yaml);
        short_version.insert("version", Value::str("3.11"));
        assert!(Metadata::from_tree(&short_version).is_err());
        let mut number_version = sample(1).to_tree(Format::Yaml);
        number_version.insert("version", Value::Float(3.11));
        assert!(Metadata::from_tree(&number_version).is_err());
        let mut bad_time = sample(1).to_tree(Format::Yaml);
        bad_time.insert("lastmodified", Value::str("yesterday"));
        assert!(Metadata::from_tree(&bad_time).is_err());
        let mut v = sample(1).to_tree(Format::Yaml);
        v.insert("version", Value::str("v3.7.3"));
        assert!(Metadata::from_tree(&v).is_ok());
    }
}
