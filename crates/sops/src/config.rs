//! `.sops.yaml`: creation rules (recipients, key groups, selection rule per path), destination
//! rules (where `publish` sends a file, and the recreation rule it is re-encrypted with) and
//! store settings, found the way sops finds it.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::error::{ConfigError, Error, Result};
use crate::file::EncryptOptions;
use crate::format::Format;
use crate::metadata::SelectionRule;
use crate::tree::{Map, Value};

/// The parsed configuration.
#[derive(Debug, Default)]
pub struct Config {
    /// The `creation_rules`, in file order: the first whose regex matches applies.
    pub creation_rules: Vec<CreationRule>,
    /// The `destination_rules`, in file order: the first whose regex matches applies.
    pub destination_rules: Vec<DestinationRule>,
    /// `stores.yaml.indent`.
    pub yaml_indent: Option<usize>,
    /// `stores.json.indent`.
    pub json_indent: Option<usize>,
}

/// One creation rule.
#[derive(Debug, Clone)]
pub struct CreationRule {
    /// The `path_regex` the file's path must match; `None` matches every file.
    pub path_regex: Option<String>,
    /// The recipients, key groups, threshold and selection rule the rule gives a new file.
    pub options: EncryptOptions,
    /// The first key listed under the other kind's field (an age recipient under `pgp:`, a
    /// fingerprint under `age:`): choosing the rule fails, as encrypting with it fails in sops,
    /// instead of using the key as the kind it looks like.
    misplaced: Option<Misplaced>,
}

/// A key under the wrong field of a creation rule.
#[derive(Debug, Clone)]
struct Misplaced {
    field: String,
    key: String,
    under_pgp: bool,
}

/// One destination rule: where `publish` sends the files its `path_regex` matches.
#[derive(Debug, Clone)]
pub struct DestinationRule {
    /// The rule's index in `destination_rules`, from 0 (for messages).
    pub index: usize,
    /// The `path_regex` the path must match (unanchored, against the path as given, as sops
    /// matches it); `None` matches every file.
    pub path_regex: Option<String>,
    /// Every destination the rule names; sops allows one, and says so only when the rule is
    /// used ([`DestinationRule::destination`]).
    pub destinations: Vec<Destination>,
    /// The `recreation_rule`: the keys (and settings) the published copy is re-encrypted for.
    /// No key at all publishes the file as it is.
    pub recreation: EncryptOptions,
    /// `omit_extensions`: the published name loses the file's extension.
    pub omit_extensions: bool,
}

/// Where a destination rule sends a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `s3_bucket` and `s3_prefix`.
    S3 {
        /// The bucket.
        bucket: String,
        /// Put before the file's name, as it is (`dir/` for a folder).
        prefix: String,
    },
    /// `gcs_bucket` and `gcs_prefix`.
    Gcs {
        /// The bucket.
        bucket: String,
        /// Put before the file's name, as it is.
        prefix: String,
    },
    /// `vault_path`, `vault_address`, `vault_kv_mount_name` and `vault_kv_version`, with
    /// sops's defaults applied (mount `secret/`, version 2, both paths ending in `/`).
    Vault {
        /// The server's address; empty for the client's default (`VAULT_ADDR`).
        address: String,
        /// The path below the mount, ending in `/`.
        path: String,
        /// The key/value engine's mount, ending in `/`.
        kv_mount_name: String,
        /// The key/value engine's version: 1 or 2.
        kv_version: i64,
    },
    /// `local_path`, this implementation's own: a folder on this machine (relative to the
    /// folder of the `.sops.yaml` unless absolute).
    Local {
        /// The folder, as written.
        path: String,
    },
}

impl Destination {
    /// The kind of destination, as `.sops.yaml` names it (`s3`, `gcs`, `vault`, `local`).
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::S3 { .. } => "s3",
            Destination::Gcs { .. } => "gcs",
            Destination::Vault { .. } => "vault",
            Destination::Local { .. } => "local",
        }
    }

    /// Where the file published as `name` goes, as sops shows it (`s3://bucket/prefixname`,
    /// `gcs://…`, `ADDRESS/v1/MOUNT[data/]PATHname`); for a local folder, its path joined
    /// with `name`.
    pub fn location(&self, name: &str) -> String {
        match self {
            Destination::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}{name}"),
            Destination::Gcs { bucket, prefix } => format!("gcs://{bucket}/{prefix}{name}"),
            Destination::Vault { address, path, kv_mount_name, kv_version } => {
                let address = if address.is_empty() { "$VAULT_ADDR" } else { address };
                let data = if *kv_version == 1 { "" } else { "data/" };
                format!("{address}/v1/{kv_mount_name}{data}{path}{name}")
            }
            Destination::Local { path } => Path::new(path).join(name).to_string_lossy().into_owned(),
        }
    }
}

impl DestinationRule {
    /// The rule's one destination; `None` when it names none, an error when it names several
    /// (sops refuses such a rule when a file matches it, not before).
    pub fn destination(&self) -> Result<Option<&Destination>> {
        match self.destinations.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => Err(ConfigError::SeveralDestinations { index: self.index }.into()),
        }
    }
}

/// Looks for `.sops.yaml` in `start` and its parents, up to 100 levels, as sops does (it starts
/// from the working directory, not the file's).
pub fn find(start: &Path) -> Option<PathBuf> {
    let mut dir = Some(start);
    for _ in 0..100 {
        let here = dir?;
        let candidate = here.join(".sops.yaml");
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = here.parent();
    }
    None
}

impl Config {
    /// Parses `.sops.yaml` text.
    pub fn parse(input: &[u8]) -> Result<Config> {
        let doc = crate::stores::store(Format::Yaml).parse_plain(input).map_err(|e| ConfigError::Parse(Box::new(e)))?;
        let Some(root) = doc.branches.first() else { return Ok(Config::default()) };
        let mut config = Config::default();
        match root.get("creation_rules") {
            Some(Value::List(rules)) => {
                for (i, rule) in rules.iter().enumerate() {
                    let Value::Map(rule) = rule else {
                        return Err(ConfigError::RuleNotAMapping { index: i }.into());
                    };
                    config.creation_rules.push(parse_rule(rule, i)?);
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(ConfigError::RulesNotAList.into()),
        }
        match root.get("destination_rules") {
            Some(Value::List(rules)) => {
                for (i, rule) in rules.iter().enumerate() {
                    let Value::Map(rule) = rule else {
                        return Err(ConfigError::DestinationRuleNotAMapping { index: i }.into());
                    };
                    config.destination_rules.push(parse_destination_rule(rule, i)?);
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(ConfigError::DestinationRulesNotAList.into()),
        }
        if let Some(Value::Map(stores)) = root.get("stores") {
            config.yaml_indent = indent_of(stores, "yaml");
            config.json_indent = indent_of(stores, "json");
        }
        Ok(config)
    }

    /// The first rule whose `path_regex` matches `file` relative to the config's folder (or that
    /// has no `path_regex`).
    pub fn rule_for(&self, file: &Path, config_dir: &Path) -> Result<Option<&CreationRule>> {
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let dir = std::path::absolute(config_dir).unwrap_or_else(|_| config_dir.to_path_buf());
        let relative = absolute.strip_prefix(&dir).unwrap_or(&absolute).to_string_lossy().into_owned();
        for rule in &self.creation_rules {
            if path_matches(rule.path_regex.as_deref(), &relative)? {
                return rule.checked().map(Some);
            }
        }
        Ok(None)
    }
}

impl Config {
    /// The first destination rule whose `path_regex` matches `file`, the path as given on the
    /// command line (sops matches it so, unanchored, not relative to the configuration's
    /// folder), or that has no `path_regex`.
    pub fn destination_for(&self, file: &str) -> Result<Option<&DestinationRule>> {
        for rule in &self.destination_rules {
            if path_matches(rule.path_regex.as_deref(), file)? {
                return Ok(Some(rule));
            }
        }
        Ok(None)
    }
}

impl CreationRule {
    /// The rule, or the error of its first misplaced key.
    fn checked(&self) -> Result<&CreationRule> {
        match &self.misplaced {
            None => Ok(self),
            Some(Misplaced { field, key, under_pgp: true }) => {
                Err(ConfigError::NotAPgpFingerprint { field: field.clone(), key: key.clone() }.into())
            }
            Some(Misplaced { field, key, under_pgp: false }) => {
                Err(ConfigError::FingerprintUnderAge { field: field.clone(), key: key.clone() }.into())
            }
        }
    }
}

fn indent_of(stores: &Map, name: &str) -> Option<usize> {
    match stores.get(name)? {
        Value::Map(m) => match m.get("indent")? {
            Value::Int(n) => usize::try_from(*n).ok(),
            _ => None,
        },
        _ => None,
    }
}

fn recipient_list(value: &Value, what: &str) -> Result<Vec<String>> {
    let split = |s: &str| s.split(',').map(str::trim).filter(|r| !r.is_empty()).map(String::from).collect::<Vec<_>>();
    match value {
        Value::Str(s) => Ok(split(s)),
        Value::List(items) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::Str(s) => out.extend(split(s)),
                    Value::Comment(_) => {}
                    _ => return Err(ConfigError::FieldType { field: what.to_string(), expected: "strings" }.into()),
                }
            }
            Ok(out)
        }
        Value::Null => Ok(Vec::new()),
        _ => Err(ConfigError::FieldType { field: what.to_string(), expected: "a string or a list" }.into()),
    }
}

/// The keys of one group (or of a rule's flat fields): its `age` recipients, then its `pgp`
/// fingerprints with spaces removed, as sops reads them. The kind of a key is the field it is
/// listed under: a whole fingerprint under `age:` or anything else under `pgp:` is noted in
/// `misplaced` (the first one only), never moved to the other kind.
fn group_keys(group: &Map, what: &dyn Fn(&str) -> String, misplaced: &mut Option<Misplaced>) -> Result<Vec<String>> {
    let mut keys = group.get("age").map(|v| recipient_list(v, &what("age"))).transpose()?.unwrap_or_default();
    let pgp = group.get("pgp").map(|v| recipient_list(v, &what("pgp"))).transpose()?.unwrap_or_default();
    if misplaced.is_none() {
        *misplaced = keys
            .iter()
            .find(|key| crate::keys::is_pgp_fingerprint(key))
            .map(|key| Misplaced { field: what("age"), key: key.clone(), under_pgp: false })
            .or_else(|| {
                pgp.iter().find(|key| !crate::keys::is_pgp_fingerprint(key)).map(|key| Misplaced {
                    field: what("pgp"),
                    key: key.clone(),
                    under_pgp: true,
                })
            });
    }
    keys.extend(pgp.iter().map(|fp| crate::keys::normalize_pgp_fingerprint(fp)));
    Ok(keys)
}

/// Whether a rule's `path_regex` matches `path` (unanchored, as sops matches it); a rule
/// without one matches every path.
fn path_matches(path_regex: Option<&str>, path: &str) -> Result<bool> {
    let Some(regex) = path_regex else {
        return Ok(true);
    };
    let compiled = Regex::new(regex).map_err(|source| Error::Regex { regex: regex.to_string(), source })?;
    Ok(compiled.is_match(path))
}

/// A string field of a rule (`None` when absent or null).
fn string_field(rule: &Map, field: &str, what: &dyn Fn(&str) -> String) -> Result<Option<String>> {
    match rule.get(field) {
        Some(Value::Str(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) => Ok(None),
        Some(_) => Err(ConfigError::FieldType { field: what(field), expected: "a string" }.into()),
    }
}

fn parse_destination_rule(rule: &Map, index: usize) -> Result<DestinationRule> {
    let what = |field: &str| format!("destination_rules[{index}].{field}");
    let text = |field: &str| -> Result<String> { Ok(string_field(rule, field, &what)?.unwrap_or_default()) };
    let mut destinations = Vec::new();
    let bucket = text("s3_bucket")?;
    if !bucket.is_empty() {
        destinations.push(Destination::S3 { bucket, prefix: text("s3_prefix")? });
    }
    let bucket = text("gcs_bucket")?;
    if !bucket.is_empty() {
        destinations.push(Destination::Gcs { bucket, prefix: text("gcs_prefix")? });
    }
    let path = text("vault_path")?;
    if !path.is_empty() {
        // sops's defaults: both paths end in `/`, the mount is `secret/`, the version 2.
        let slash = |s: String| if s.ends_with('/') { s } else { s + "/" };
        let mount = text("vault_kv_mount_name")?;
        let kv_version = match rule.get("vault_kv_version") {
            Some(Value::Int(n @ (1 | 2))) => *n,
            None | Some(Value::Null | Value::Int(_)) => 2,
            Some(_) => return Err(ConfigError::FieldType { field: what("vault_kv_version"), expected: "a number" }.into()),
        };
        destinations.push(Destination::Vault {
            address: text("vault_address")?,
            path: slash(path),
            kv_mount_name: if mount.is_empty() { "secret/".to_string() } else { slash(mount) },
            kv_version,
        });
    }
    let path = text("local_path")?;
    if !path.is_empty() {
        destinations.push(Destination::Local { path });
    }
    let recreation = match rule.get("recreation_rule") {
        Some(Value::Map(recreation)) => parse_rule_at(recreation, &what("recreation_rule"))?.options,
        None | Some(Value::Null) => EncryptOptions::default(),
        Some(_) => return Err(ConfigError::FieldType { field: what("recreation_rule"), expected: "a mapping" }.into()),
    };
    let omit_extensions = match rule.get("omit_extensions") {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => false,
        Some(_) => return Err(ConfigError::FieldType { field: what("omit_extensions"), expected: "true or false" }.into()),
    };
    Ok(DestinationRule { index, path_regex: string_field(rule, "path_regex", &what)?, destinations, recreation, omit_extensions })
}

fn parse_rule(rule: &Map, index: usize) -> Result<CreationRule> {
    parse_rule_at(rule, &format!("creation_rules[{index}]"))
}

/// A creation rule (or a destination rule's `recreation_rule`), `at` naming it in messages.
fn parse_rule_at(rule: &Map, at: &str) -> Result<CreationRule> {
    let what = |field: &str| format!("{at}.{field}");
    let path_regex = string_field(rule, "path_regex", &what)?;
    let mut options = EncryptOptions::default();
    let mut misplaced = None;
    if let Some(Value::List(groups)) = rule.get("key_groups") {
        for (number, group) in groups.iter().enumerate() {
            if let Value::Map(group) = group {
                options.key_groups.push(group_keys(group, &|field| what(&format!("key_groups[{number}].{field}")), &mut misplaced)?);
            }
        }
    } else if rule.get("age").is_some() || rule.get("pgp").is_some() {
        options.key_groups.push(group_keys(rule, &what, &mut misplaced)?);
    }
    if let Some(Value::Int(n)) = rule.get("shamir_threshold") {
        options.shamir_threshold = usize::try_from(*n).unwrap_or(0);
    }
    for field in SelectionRule::FIELDS {
        if let Some(Value::Str(s)) = rule.get(field) {
            if options.selection.is_some() {
                return Err(ConfigError::SeveralSelectionRules { rule: at.to_string() }.into());
            }
            options.selection = SelectionRule::from_field(field, s.clone());
        }
    }
    options.mac_only_encrypted = matches!(rule.get("mac_only_encrypted"), Some(Value::Bool(true)));
    Ok(CreationRule { path_regex, options, misplaced })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r"
keys:
  - &alice age1alice
creation_rules:
  - path_regex: ^plain/shamir-2of3\.(yaml|json)$
    shamir_threshold: 2
    key_groups:
      - age: [age1a]
      - age:
          - age1b
  - path_regex: secret$
    age: age1a, age1b,age1c
    encrypted_regex: ^(data|stringData)$
  - path_regex: pgp$
    key_groups:
      - pgp: [FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4]
        age: [age1a]
      - pgp: D722 9043 384B CC60 326C  6FB9 D872 0D95 7C3D 3074
  - age: *alice
stores:
  yaml:
    indent: 2
";

    #[test]
    fn parses_rules_and_picks_the_first_match() {
        let config = Config::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(config.creation_rules.len(), 4);
        assert_eq!(config.yaml_indent, Some(2));
        let dir = Path::new("/repo");
        let rule = config.rule_for(Path::new("/repo/plain/shamir-2of3.yaml"), dir).unwrap().unwrap();
        assert_eq!(rule.options.key_groups, vec![vec!["age1a".to_string()], vec!["age1b".to_string()]]);
        assert_eq!(rule.options.shamir_threshold, 2);
        let rule = config.rule_for(Path::new("/repo/x/secret"), dir).unwrap().unwrap();
        assert_eq!(rule.options.key_groups, vec![vec!["age1a".to_string(), "age1b".into(), "age1c".into()]]);
        assert_eq!(rule.options.selection, Some(SelectionRule::EncryptedRegex("^(data|stringData)$".into())));
        let rule = config.rule_for(Path::new("/repo/x.pgp"), dir).unwrap().unwrap();
        let pgp = |fp: &str| fp.to_string();
        assert_eq!(
            rule.options.key_groups,
            vec![
                vec!["age1a".to_string(), pgp("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4")],
                vec![pgp("D7229043384BCC60326C6FB9D8720D957C3D3074")]
            ]
        );
        let rule = config.rule_for(Path::new("/repo/other.yaml"), dir).unwrap().unwrap();
        assert_eq!(rule.options.key_groups, vec![vec!["age1alice".to_string()]]);
    }

    #[test]
    fn reads_the_vectors_config() {
        let text = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/.sops.yaml")).unwrap();
        let config = Config::parse(&text).unwrap();
        assert!(!config.creation_rules.is_empty());
    }

    #[test]
    fn malformed_configs_name_the_field_and_keep_the_parse_error() {
        let message = |text: &str| Config::parse(text.as_bytes()).unwrap_err().to_string();
        assert_eq!(message("creation_rules: 3\n"), ".sops.yaml: creation_rules is not a list");
        assert_eq!(message("creation_rules:\n  - 3\n"), ".sops.yaml: creation_rules[0] is not a mapping");
        assert_eq!(message("creation_rules:\n  - path_regex: [a]\n"), ".sops.yaml: creation_rules[0].path_regex must be a string");
        assert_eq!(message("creation_rules:\n  - age: {a: b}\n"), ".sops.yaml: creation_rules[0].age must be a string or a list");
        assert_eq!(message("creation_rules:\n  - age: [[a]]\n"), ".sops.yaml: creation_rules[0].age must be strings");
        assert_eq!(
            message("creation_rules:\n  - encrypted_regex: a\n    unencrypted_suffix: b\n"),
            format!(".sops.yaml: creation_rules[0] sets more than one of {}", SelectionRule::FIELDS.join(", "))
        );
        let error = Config::parse(b"creation_rules: [\n").unwrap_err();
        assert!(error.to_string().starts_with(".sops.yaml: cannot parse the input as yaml"), "{error}");
        assert!(std::error::Error::source(&error).and_then(std::error::Error::source).is_some(), "the YAML error is kept as the source");
        let Error::Config { problem: ConfigError::Parse(inner) } = error else { panic!("{error:?}") };
        assert!(matches!(*inner, Error::Parse { .. }), "{inner:?}");
    }

    const DESTINATIONS: &str = r"
destination_rules:
  - path_regex: ^s3/
    s3_bucket: bucket
    s3_prefix: pre/
    recreation_rule:
      age: age1a
      encrypted_regex: ^data$
  - path_regex: vault/
    vault_path: kv/app
    vault_kv_version: 1
    omit_extensions: true
  - path_regex: \.yaml$
    local_path: ../published
    recreation_rule:
      key_groups:
        - age: [age1b]
  - path_regex: both
    gcs_bucket: g
    local_path: out
  - path_regex: none
";

    #[test]
    fn destination_rules_match_the_path_as_given_and_name_one_destination() {
        let config = Config::parse(DESTINATIONS.as_bytes()).unwrap();
        assert_eq!(config.destination_rules.len(), 5);
        let s3 = config.destination_for("s3/app.yaml").unwrap().unwrap();
        assert_eq!(s3.destination().unwrap(), Some(&Destination::S3 { bucket: "bucket".into(), prefix: "pre/".into() }));
        assert_eq!(s3.recreation.key_groups, [["age1a"]]);
        assert!(s3.recreation.selection.is_some());
        assert_eq!(s3.destination().unwrap().unwrap().location("app.yaml"), "s3://bucket/pre/app.yaml");
        // Unanchored, against the path as given: `./s3/…` is not `^s3/`, and falls to the local rule.
        let local = config.destination_for("./s3/app.yaml").unwrap().unwrap();
        assert_eq!(local.destination().unwrap(), Some(&Destination::Local { path: "../published".into() }));
        assert_eq!(local.recreation.key_groups, [["age1b"]]);
        let vault = config.destination_for("x/vault/a.json").unwrap().unwrap();
        assert!(vault.omit_extensions);
        assert_eq!(vault.destination().unwrap().unwrap().location("a"), "$VAULT_ADDR/v1/secret/kv/app/a");
        assert!(vault.recreation.key_groups.is_empty());
        // Several destinations are refused when the rule is used; none is `None`.
        let both = config.destination_for("both.json").unwrap().unwrap();
        let error = both.destination().unwrap_err();
        assert!(matches!(error, Error::Config { problem: ConfigError::SeveralDestinations { index: 3 } }), "{error:?}");
        assert_eq!(config.destination_for("none.json").unwrap().unwrap().destination().unwrap(), None);
        assert!(config.destination_for("other.json").unwrap().is_none());
    }

    #[test]
    fn malformed_destination_rules_are_named() {
        let error = Config::parse(b"destination_rules: {}\n").unwrap_err();
        assert!(matches!(error, Error::Config { problem: ConfigError::DestinationRulesNotAList }), "{error:?}");
        let error = Config::parse(b"destination_rules:\n  - s3_bucket: [a]\n").unwrap_err();
        assert_eq!(error.to_string(), ".sops.yaml: destination_rules[0].s3_bucket must be a string");
        let error =
            Config::parse(b"destination_rules:\n  - recreation_rule:\n      encrypted_regex: a\n      unencrypted_regex: b\n").unwrap_err();
        assert!(error.to_string().starts_with(".sops.yaml: destination_rules[0].recreation_rule sets more than one of"), "{error}");
    }

    #[test]
    fn a_key_under_the_other_kind_fails_when_its_rule_is_chosen() {
        const AGE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
        const FP: &str = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";
        let text = format!(
            "creation_rules:\n  - path_regex: a$\n    pgp: {AGE}\n  - path_regex: b$\n    age: [{AGE}, {FP}]\n  - path_regex: c$\n    key_groups:\n      - age: [{AGE}]\n      - pgp: [{FP}, 3D16CEE4A27381B4]\n  - path_regex: d$\n    key_groups:\n      - pgp: ['{FP}']\n        age: ['{FP}']\n  - pgp: '{FP}'\n    age: {AGE}\n"
        );
        // The file parses: only choosing a rule with a misplaced key fails (decrypting with the
        // same .sops.yaml does not look at its rules).
        let config = Config::parse(text.as_bytes()).unwrap();
        let dir = Path::new("/repo");
        let message = |name: &str| config.rule_for(&dir.join(name), dir).unwrap_err().to_string();
        assert_eq!(
            message("x.a"),
            format!(
                ".sops.yaml: creation_rules[0].pgp: {AGE} is not a PGP fingerprint (40 or 64 hex digits); age recipients go under age:"
            )
        );
        assert_eq!(
            message("x.b"),
            format!(".sops.yaml: creation_rules[1].age: {FP} is a PGP fingerprint, not an age recipient; PGP keys go under pgp:")
        );
        assert!(
            message("x.c").contains("creation_rules[2].key_groups[1].pgp: 3D16CEE4A27381B4 is not a PGP fingerprint"),
            "{}",
            message("x.c")
        );
        assert!(message("x.d").contains("creation_rules[3].key_groups[0].age: "), "{}", message("x.d"));
        let rule = config.rule_for(&dir.join("x.e"), dir).unwrap().unwrap();
        assert_eq!(rule.options.key_groups, vec![vec![AGE.to_string(), FP.to_string()]]);
    }
}
