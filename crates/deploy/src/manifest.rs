//! The two manifests an install accepts.
//!
//! - **sops-nix's own** (`{"secrets": [ … ], "templates": [ … ], "secretsMountPoint": …}`), the
//!   JSON its NixOS module writes for `sops-install-secrets` (schema of
//!   `Mic92/sops-nix:pkgs/sops-install-secrets/main.go`), so that this installer can stand in
//!   for it.
//! - **Overrides** for a machine's secrets from a repository (`{"secrets": {"<name>": { … }}}`):
//!   per secret `name`, `mode`, `owner`, `group`, `uid`, `gid`, `path`, `restartUnits`,
//!   `reloadUnits` (sops-nix's field names).
//!
//! They are told apart by `secrets` being a list or an object.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secrets_sops::Format;
use serde::Deserialize;

use crate::accounts::Account;
use crate::error::{DeployError, ManifestProblem, Result};
use crate::keys::KeySources;
use crate::plan::{parse_mode, Attrs, Plan, PlannedFile, PlannedTemplate};

/// A manifest file, either kind.
#[derive(Clone, Debug)]
pub enum Manifest {
    /// sops-nix's manifest: the whole install described.
    SopsNix(Box<SopsNixManifest>),
    /// Settings for a machine's secrets from a repository.
    Overrides(Overrides),
}

impl Manifest {
    /// Reads and parses the manifest file `path`.
    pub fn load(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(|e| DeployError::io(path, e))?;
        Manifest::parse(&bytes, path)
    }

    /// Parses a manifest's bytes (`path` only names it in errors).
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let bad = |problem| DeployError::Manifest { path: path.to_path_buf(), problem };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(ManifestProblem::Json(e)))?;
        let parsed = match value.get("secrets") {
            Some(serde_json::Value::Object(_)) => serde_json::from_value(value).map(Manifest::Overrides),
            _ => serde_json::from_value(value).map(|m: SopsNixManifest| Manifest::SopsNix(Box::new(m.with_path(path)))),
        };
        parsed.map_err(|e| bad(ManifestProblem::Shape(e)))
    }
}

/// `null` reads as the type's default, as Go's decoder leaves a zero value.
fn nullable<'de, D, T>(de: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// What sops-nix says of every file it installs, secret or template: who owns it, its mode,
/// where it is also reachable and which units it concerns (the fields its Go `secret` and
/// `template` structs share).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileAttributes {
    /// Where the file is also reachable (a symlink); empty (or its default place, `<symlinkPath>/<name>` or
    /// `<symlinkPath>/rendered/<name>`) for none.
    #[serde(deserialize_with = "nullable")]
    pub path: String,
    /// Permission bits in octal text (`"0400"`).
    #[serde(deserialize_with = "nullable")]
    pub mode: String,
    /// The owner by name; `uid` when absent.
    pub owner: Option<String>,
    /// The owner by uid, when `owner` is absent (0: root).
    #[serde(deserialize_with = "nullable")]
    pub uid: u32,
    /// The group by name; `gid` when absent.
    pub group: Option<String>,
    /// The group by gid, when `group` is absent (0: root).
    #[serde(deserialize_with = "nullable")]
    pub gid: u32,
    /// systemd units to restart when the file is added or changes.
    #[serde(deserialize_with = "nullable")]
    pub restart_units: Vec<String>,
    /// systemd units to reload when the file is added or changes.
    #[serde(deserialize_with = "nullable")]
    pub reload_units: Vec<String>,
}

/// One secret of a sops-nix manifest.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SopsNixSecret {
    /// The file name inside the generation (may contain `/`).
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// The value to take from the sops file, nested keys joined with `/`; empty for the whole file.
    #[serde(deserialize_with = "nullable")]
    pub key: String,
    /// The encrypted sops file holding the value.
    #[serde(deserialize_with = "nullable")]
    pub sops_file: String,
    /// Its format (`yaml`, `json`, `binary`, `dotenv`, `ini`); empty for YAML.
    #[serde(deserialize_with = "nullable")]
    pub format: String,
    /// Its owner, mode, link and units.
    #[serde(flatten)]
    pub attributes: FileAttributes,
}

/// One template of a sops-nix manifest: `content` (or the file `file`) with placeholders.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SopsNixTemplate {
    /// The file name under `rendered/` (may contain `/`).
    #[serde(deserialize_with = "nullable")]
    pub name: String,
    /// The text with placeholders; when empty, `file` is read instead.
    #[serde(deserialize_with = "nullable")]
    pub content: String,
    /// A file holding the text, read when `content` is empty.
    #[serde(deserialize_with = "nullable")]
    pub file: String,
    /// Its owner, mode, link and units.
    #[serde(flatten)]
    pub attributes: FileAttributes,
}

/// sops-nix's `logging` settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Logging {
    /// Say which ssh host key was imported as which age key.
    pub key_import: bool,
    /// Say which secrets were added, changed and removed.
    pub secret_changes: bool,
}

/// The manifest sops-nix writes for `sops-install-secrets`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SopsNixManifest {
    /// The secret files to install.
    #[serde(deserialize_with = "nullable")]
    pub secrets: Vec<SopsNixSecret>,
    /// The templates to render under `rendered/`.
    #[serde(deserialize_with = "nullable")]
    pub templates: Vec<SopsNixTemplate>,
    /// The placeholder text of each secret, replaced by its value in templates.
    #[serde(deserialize_with = "nullable")]
    pub placeholder_by_secret_name: BTreeMap<String, String>,
    /// Where generations live (`/run/secrets.d`).
    #[serde(deserialize_with = "nullable")]
    pub secrets_mount_point: String,
    /// The symlink to the current generation (`/run/secrets`).
    #[serde(deserialize_with = "nullable")]
    pub symlink_path: String,
    /// Generations kept, the current one included; 0 keeps all.
    #[serde(deserialize_with = "nullable")]
    pub keep_generations: usize,
    /// RSA host keys imported as PGP keys; age-only here, so they are ignored.
    #[serde(deserialize_with = "nullable")]
    pub ssh_key_paths: Vec<String>,
    /// A GnuPG home for PGP keys; read, not used (age keys only).
    pub gnupg_home: Option<String>,
    /// The machine's age key file.
    pub age_key_file: Option<String>,
    /// ssh-ed25519 private keys used as age identities.
    #[serde(deserialize_with = "nullable")]
    pub age_ssh_key_paths: Vec<String>,
    /// A tmpfs at `secretsMountPoint` instead of a ramfs (which never reaches swap).
    pub use_tmpfs: bool,
    /// home-manager's user mode: no owner changes, and `%r` in paths is `$XDG_RUNTIME_DIR`.
    pub user_mode: bool,
    /// What sops-nix logs.
    pub logging: Logging,
    #[serde(skip)]
    path: PathBuf,
}

impl SopsNixManifest {
    fn with_path(mut self, path: &Path) -> SopsNixManifest {
        self.path = path.to_path_buf();
        self
    }

    fn error(&self, problem: ManifestProblem) -> DeployError {
        DeployError::Manifest { path: self.path.clone(), problem }
    }

    /// The keys it names (none means: none configured).
    pub fn key_sources(&self) -> KeySources {
        let rundir = std::env::var("XDG_RUNTIME_DIR").unwrap_or_default();
        let runtime = |p: &str| PathBuf::from(self.runtime(p, &rundir));
        KeySources {
            age_key_files: self.age_key_file.iter().filter(|p| !p.is_empty()).map(|p| runtime(p)).collect(),
            ssh_keys: self.age_ssh_key_paths.iter().map(|p| runtime(p)).collect(),
        }
    }

    /// `%r` is the runtime folder in user mode (home-manager), `%%` a percent sign.
    fn runtime(&self, path: &str, rundir: &str) -> String {
        if !self.user_mode {
            return path.to_string();
        }
        path.split("%%").map(|part| part.replace("%r", rundir)).collect::<Vec<_>>().join("%")
    }

    /// The install it describes. `target` replaces `symlinkPath` (generations then go to
    /// `<target>.d`), and secret paths under the old `symlinkPath` move along with it.
    ///
    /// In user mode the runtime folder is `$XDG_RUNTIME_DIR`; without it the install is
    /// refused ([`ManifestProblem::NoRuntimeDir`]) rather than made at the root of the file
    /// system, as sops-install-secrets refuses it.
    pub fn plan(&self, target: Option<&Path>) -> Result<Plan> {
        let rundir = match std::env::var("XDG_RUNTIME_DIR") {
            Ok(dir) if !dir.is_empty() => dir,
            _ if self.user_mode => return Err(self.error(ManifestProblem::NoRuntimeDir)),
            _ => String::new(),
        };
        self.plan_in(target, &rundir)
    }

    /// The plan for a check (`-check-mode`), which installs nothing: in user mode `%r` stands
    /// for `$XDG_RUNTIME_DIR` when set and for nothing otherwise, as a build sandbox has none.
    pub fn plan_for_check(&self, target: Option<&Path>) -> Result<Plan> {
        self.plan_in(target, &std::env::var("XDG_RUNTIME_DIR").unwrap_or_default())
    }

    fn plan_in(&self, target: Option<&Path>, rundir: &str) -> Result<Plan> {
        let symlink_path = PathBuf::from(self.runtime(&self.symlink_path, rundir));
        let mut plan = if let Some(t) = target {
            Plan::new(t)
        } else {
            if self.symlink_path.is_empty() || self.secrets_mount_point.is_empty() {
                return Err(self.error(ManifestProblem::NoTarget));
            }
            let mut plan = Plan::new(&symlink_path);
            plan.generations = PathBuf::from(self.runtime(&self.secrets_mount_point, rundir));
            plan
        };
        plan.keep = self.keep_generations;
        plan.user_mode = self.user_mode;
        let relocate = |path: &str| -> Option<PathBuf> {
            if path.is_empty() {
                return None;
            }
            let path = PathBuf::from(self.runtime(path, rundir));
            match (target, path.strip_prefix(&symlink_path)) {
                (Some(t), Ok(rest)) if !self.symlink_path.is_empty() => Some(t.join(rest)),
                _ => Some(path),
            }
        };
        for s in &self.secrets {
            let format = match s.format.as_str() {
                "" => Format::Yaml,
                name => Format::from_name(name)
                    .ok_or_else(|| self.error(ManifestProblem::UnsupportedFormat { format: name.to_string(), secret: s.name.clone() }))?,
            };
            let placeholder = if self.templates.is_empty() {
                None
            } else {
                let p = self
                    .placeholder_by_secret_name
                    .get(&s.name)
                    .ok_or_else(|| self.error(ManifestProblem::NoPlaceholder { secret: s.name.clone() }))?;
                Some(p.clone())
            };
            let attrs = self.attrs(&s.name, &s.attributes, relocate(&s.attributes.path))?;
            plan.files.push(PlannedFile {
                name: s.name.clone(),
                source: PathBuf::from(&s.sops_file),
                format,
                key: s.key.clone(),
                attrs,
                placeholder,
            });
        }
        for t in &self.templates {
            let content = if !t.content.is_empty() {
                t.content.clone()
            } else if !t.file.is_empty() {
                std::fs::read_to_string(&t.file)
                    .map_err(|source| self.error(ManifestProblem::TemplateUnreadable { file: t.file.clone(), source }))?
            } else {
                return Err(self.error(ManifestProblem::EmptyTemplate { template: t.name.clone() }));
            };
            let attrs = self.attrs(&t.name, &t.attributes, relocate(&t.attributes.path))?;
            plan.templates.push(PlannedTemplate { name: t.name.clone(), content, attrs });
        }
        // The default path of a secret is `<symlinkPath>/<name>`: no extra link for it.
        for file in &mut plan.files {
            if file.attrs.path.as_deref() == Some(plan.target.join(&file.name).as_path()) {
                file.attrs.path = None;
            }
        }
        let rendered = plan.target.join(crate::plan::RENDERED_DIR);
        for template in &mut plan.templates {
            if template.attrs.path.as_deref() == Some(rendered.join(&template.name).as_path()) {
                template.attrs.path = None;
            }
        }
        plan.validate()?;
        Ok(plan)
    }

    /// The install attributes of the file `name`, its link at `path` (already relocated).
    fn attrs(&self, name: &str, given: &FileAttributes, path: Option<PathBuf>) -> Result<Attrs> {
        let mode = parse_mode(&given.mode)
            .ok_or_else(|| self.error(ManifestProblem::InvalidMode { mode: given.mode.clone(), secret: name.to_string() }))?;
        // sops-nix sets owner and group on every file, root's by default.
        let owner = given.owner.as_ref().map_or(Account::Id(given.uid), |o| Account::Name(o.clone()));
        let group = given.group.as_ref().map_or(Account::Id(given.gid), |g| Account::Name(g.clone()));
        Ok(Attrs { mode, owner, group, path, restart_units: given.restart_units.clone(), reload_units: given.reload_units.clone() })
    }
}

/// Per-secret settings for a machine's secrets from a repository.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// The settings of each secret, by secret name.
    pub secrets: BTreeMap<String, Override>,
}

/// Settings of one secret; anything left out keeps its default (mode 0400, owned by whoever
/// installs, at `<target>/<secret name>`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Override {
    /// The file name inside the target folder.
    pub name: Option<String>,
    /// Permission bits in octal text (`"0440"`).
    pub mode: Option<String>,
    /// A user name or uid.
    pub owner: Option<String>,
    /// The owner by uid, when `owner` is absent.
    pub uid: Option<u32>,
    /// A group name or gid (default: the owner's primary group).
    pub group: Option<String>,
    /// The group by gid, when `group` is absent.
    pub gid: Option<u32>,
    /// Where the file is also reachable (a symlink through the target).
    pub path: Option<PathBuf>,
    /// systemd units to restart when the file is added or changes.
    pub restart_units: Vec<String>,
    /// systemd units to reload when the file is added or changes.
    pub reload_units: Vec<String>,
}

impl Overrides {
    /// Applies the settings to a machine's plan. Naming a secret the machine does not get is an
    /// error, so that a typo does not silently leave a service without its file.
    pub fn apply(&self, plan: &mut Plan, manifest: &Path) -> Result<()> {
        let bad = |problem| DeployError::Manifest { path: manifest.to_path_buf(), problem };
        for (name, o) in &self.secrets {
            let file = plan
                .files
                .iter_mut()
                .find(|f| &f.name == name)
                .ok_or_else(|| bad(ManifestProblem::UnknownSecret { name: name.clone() }))?;
            if let Some(mode) = &o.mode {
                file.attrs.mode =
                    parse_mode(mode).ok_or_else(|| bad(ManifestProblem::InvalidOverrideMode { name: name.clone(), mode: mode.clone() }))?;
            }
            file.attrs.owner = match (&o.owner, o.uid) {
                (Some(owner), _) => Account::parse(owner),
                (None, Some(uid)) => Account::Id(uid),
                (None, None) => Account::Unchanged,
            };
            file.attrs.group = match (&o.group, o.gid) {
                (Some(group), _) => Account::parse(group),
                (None, Some(gid)) => Account::Id(gid),
                (None, None) => Account::Unchanged,
            };
            file.attrs.path.clone_from(&o.path);
            file.attrs.restart_units.clone_from(&o.restart_units);
            file.attrs.reload_units.clone_from(&o.reload_units);
            if let Some(new_name) = &o.name {
                file.name.clone_from(new_name);
            }
        }
        plan.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOPS_NIX: &str = r#"{
      "secrets": [
        {"name": "db/password", "key": "db/password", "path": "/run/secrets/db/password", "owner": null, "uid": 0,
         "group": null, "gid": 0, "sopsFile": "/nix/store/x-secrets.yaml", "format": "yaml", "mode": "0400",
         "restartUnits": ["app.service"], "reloadUnits": [], "neededForUsers": false, "sopsFileHash": "abc"},
        {"name": "blob", "key": "", "path": "/etc/blob", "owner": "postgres", "uid": 0, "group": null, "gid": 0,
         "sopsFile": "/nix/store/y-blob", "format": "binary", "mode": "0440", "restartUnits": [], "reloadUnits": []}
      ],
      "templates": [
        {"name": "app.env", "content": "PW=<SOPS:1:PLACEHOLDER>\n", "path": "/run/secrets/rendered/app.env",
         "mode": "0400", "owner": null, "uid": 0, "group": null, "gid": 0, "file": "/nix/store/z", "restartUnits": [], "reloadUnits": []}
      ],
      "placeholderBySecretName": {"db/password": "<SOPS:1:PLACEHOLDER>", "blob": "<SOPS:2:PLACEHOLDER>"},
      "secretsMountPoint": "/run/secrets.d", "symlinkPath": "/run/secrets", "keepGenerations": 1,
      "gnupgHome": null, "sshKeyPaths": ["/etc/ssh/ssh_host_rsa_key"], "ageKeyFile": "/var/lib/sops-nix/key.txt",
      "ageSshKeyPaths": ["/etc/ssh/ssh_host_ed25519_key"], "useTmpfs": false, "userMode": false,
      "logging": {"keyImport": true, "secretChanges": true}
    }"#;

    #[test]
    fn a_manifest_that_is_not_json_keeps_the_parser_error() {
        let err = Manifest::parse(b"{\"secrets\": [", Path::new("m.json")).unwrap_err();
        assert!(err.to_string().starts_with("manifest m.json: not valid JSON: "), "{err}");
        let DeployError::Manifest { problem: ManifestProblem::Json(source), .. } = &err else { panic!("{err:?}") };
        assert!(source.is_eof(), "{source}");
        let err = Manifest::parse(b"{\"secrets\": 3}", Path::new("m.json")).unwrap_err();
        assert!(matches!(err, DeployError::Manifest { problem: ManifestProblem::Shape(_), .. }), "{err:?}");
    }

    #[test]
    fn reads_what_the_sops_nix_module_writes() {
        let Manifest::SopsNix(m) = Manifest::parse(SOPS_NIX.as_bytes(), Path::new("m.json")).unwrap() else { panic!("kind") };
        let keys = m.key_sources();
        assert_eq!(keys.age_key_files, [PathBuf::from("/var/lib/sops-nix/key.txt")]);
        assert_eq!(keys.ssh_keys, [PathBuf::from("/etc/ssh/ssh_host_ed25519_key")]);

        let plan = m.plan(None).unwrap();
        assert_eq!(plan.target, Path::new("/run/secrets"));
        assert_eq!(plan.generations, Path::new("/run/secrets.d"));
        assert_eq!(plan.files[0].format, Format::Yaml);
        assert_eq!(plan.files[0].key, "db/password");
        assert_eq!(plan.files[0].attrs.path, None, "the default path needs no link");
        assert_eq!(plan.files[0].attrs.owner, Account::Id(0));
        assert_eq!(plan.files[0].placeholder.as_deref(), Some("<SOPS:1:PLACEHOLDER>"));
        assert_eq!(plan.files[1].attrs.owner, Account::Name("postgres".into()));
        assert_eq!(plan.files[1].attrs.mode, 0o440);
        assert_eq!(plan.files[1].attrs.path.as_deref(), Some(Path::new("/etc/blob")));
        assert_eq!(plan.templates[0].attrs.path, None);

        let moved = m.plan(Some(Path::new("/tmp/t"))).unwrap();
        assert_eq!(moved.generations, Path::new("/tmp/t.d"));
        assert_eq!(moved.files[0].attrs.path, None, "paths under symlinkPath follow the target");
        assert_eq!(moved.files[1].attrs.path.as_deref(), Some(Path::new("/etc/blob")));
    }

    #[test]
    fn manifest_errors_name_the_problem() {
        let broken = SOPS_NIX.replace("\"mode\": \"0440\"", "\"mode\": \"rw\"");
        let Manifest::SopsNix(m) = Manifest::parse(broken.as_bytes(), Path::new("m.json")).unwrap() else { panic!() };
        assert!(m.plan(None).unwrap_err().to_string().contains("invalid number in mode"));
        let broken = SOPS_NIX.replace("\"format\": \"binary\"", "\"format\": \"toml\"");
        let Manifest::SopsNix(m) = Manifest::parse(broken.as_bytes(), Path::new("m.json")).unwrap() else { panic!() };
        assert!(m.plan(None).unwrap_err().to_string().contains("unsupported format toml"));
        assert!(Manifest::parse(b"{", Path::new("m.json")).is_err());
    }

    #[test]
    fn overrides_apply_to_known_secrets_only() {
        let text = r#"{"secrets": {"a": {"mode": "0440", "owner": "postgres", "path": "/etc/a", "restartUnits": ["x.service"]}}}"#;
        let Manifest::Overrides(o) = Manifest::parse(text.as_bytes(), Path::new("o.json")).unwrap() else { panic!() };
        let mut plan = Plan::new("/t");
        plan.files.push(PlannedFile {
            name: "a".into(),
            source: "/s".into(),
            format: Format::Binary,
            key: String::new(),
            attrs: Attrs::default(),
            placeholder: None,
        });
        o.apply(&mut plan, Path::new("o.json")).unwrap();
        let attrs = &plan.files[0].attrs;
        assert_eq!((attrs.mode, &attrs.owner, &attrs.group), (0o440, &Account::Name("postgres".into()), &Account::Unchanged));
        assert_eq!(attrs.restart_units, ["x.service"]);
        let typo = r#"{"secrets": {"b": {}}}"#;
        let Manifest::Overrides(o) = Manifest::parse(typo.as_bytes(), Path::new("o.json")).unwrap() else { panic!() };
        assert!(o.apply(&mut plan, Path::new("o.json")).is_err());
        assert!(Manifest::parse(br#"{"secrets": {"a": {"moed": "0400"}}}"#, Path::new("o.json")).is_err(), "unknown fields are refused");
    }

    /// The attributes a secret and a template share read the same way for both, `null` as
    /// Go's zero value and absent fields as defaults.
    #[test]
    fn secrets_and_templates_share_their_file_attributes() {
        let text = r#"{"symlinkPath": "/run/secrets", "secretsMountPoint": "/run/secrets.d",
          "secrets": [{"name": "a", "sopsFile": "/s", "format": "binary", "mode": "0440", "uid": null, "gid": 7,
                       "owner": null, "restartUnits": null, "reloadUnits": ["r.service"]}],
          "templates": [{"name": "t", "content": "x", "mode": "0400", "owner": "nginx", "path": "/etc/t"}],
          "placeholderBySecretName": {"a": "<A>"}}"#;
        let Manifest::SopsNix(m) = Manifest::parse(text.as_bytes(), Path::new("m.json")).unwrap() else { panic!() };
        let plan = m.plan(None).unwrap();
        let file = &plan.files[0].attrs;
        assert_eq!((file.mode, &file.owner, &file.group), (0o440, &Account::Id(0), &Account::Id(7)));
        assert!(file.restart_units.is_empty());
        assert_eq!(file.reload_units, ["r.service"]);
        let template = &plan.templates[0].attrs;
        assert_eq!((template.mode, &template.owner, &template.group), (0o400, &Account::Name("nginx".into()), &Account::Id(0)));
        assert_eq!(template.path.as_deref(), Some(Path::new("/etc/t")));
    }
}
