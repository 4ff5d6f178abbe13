//! What an install writes: every file with its source, format, key, mode, owner and extra
//! path, plus templates, the target symlink and its generations folder. Built from a machine's
//! secrets in a repository or from a sops-nix manifest; checked, then installed.

use std::path::{Component, Path, PathBuf};

use secrets_sops::Format;

use crate::accounts::Account;
use crate::error::{DeployError, Result, SecretProblem};
use crate::source::{MachineSecret, Source};

/// sops-nix's default mode for secret files.
pub const DEFAULT_MODE: u32 = 0o400;
/// sops-nix's default number of generations kept (the current one only).
pub const DEFAULT_KEEP: usize = 1;
/// The folder of a generation that templates are rendered into.
pub const RENDERED_DIR: &str = "rendered";

/// How an installed file looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attrs {
    /// Permission bits of the file (default 0400).
    pub mode: u32,
    /// Its owner.
    pub owner: Account,
    /// `Unchanged` with a named owner means the owner's primary group.
    pub group: Account,
    /// Also reachable at this path (a symlink through the target).
    pub path: Option<PathBuf>,
    /// systemd units to restart when the file is added or changes.
    pub restart_units: Vec<String>,
    /// systemd units to reload when the file is added or changes.
    pub reload_units: Vec<String>,
}

impl Default for Attrs {
    fn default() -> Attrs {
        Attrs {
            mode: DEFAULT_MODE,
            owner: Account::Unchanged,
            group: Account::Unchanged,
            path: None,
            restart_units: Vec::new(),
            reload_units: Vec::new(),
        }
    }
}

/// One secret file of the install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFile {
    /// Its path inside a generation (may contain `/`).
    pub name: String,
    /// The encrypted sops file.
    pub source: PathBuf,
    /// The sops store the source is read with.
    pub format: Format,
    /// The value to take, nested keys joined with `/`; empty for the whole file.
    pub key: String,
    /// Its mode, owner, extra path and units.
    pub attrs: Attrs,
    /// The string templates use for this secret's value.
    pub placeholder: Option<String>,
}

/// A file rendered from secrets (sops-nix templates), written to `rendered/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedTemplate {
    /// Its path under `rendered/` (may contain `/`).
    pub name: String,
    /// The text, with the placeholders of secrets replaced by their values when rendered.
    pub content: String,
    /// Its mode, owner, extra path and units.
    pub attrs: Attrs,
}

/// A whole install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The symlink to the current generation (`/run/secrets`).
    pub target: PathBuf,
    /// Where generations live (`/run/secrets.d`).
    pub generations: PathBuf,
    /// Generations kept, the current one included; 0 keeps all.
    pub keep: usize,
    /// The secret files.
    pub files: Vec<PlannedFile>,
    /// The rendered templates.
    pub templates: Vec<PlannedTemplate>,
    /// Never change owners (sops-nix's user mode).
    pub user_mode: bool,
}

impl Plan {
    /// An empty plan installing into `target`, with generations in `<target>.d`.
    pub fn new(target: impl Into<PathBuf>) -> Plan {
        let target = target.into();
        let mut generations = target.clone().into_os_string();
        generations.push(".d");
        Plan {
            target,
            generations: PathBuf::from(generations),
            keep: DEFAULT_KEEP,
            files: Vec::new(),
            templates: Vec::new(),
            user_mode: false,
        }
    }

    /// Every secret of `machine`, whole files in the binary format, with default attributes.
    /// The machine must be one of the repository's ([`Source::check_machine`]); one without
    /// secrets gives an empty plan.
    pub fn for_machine(source: &Source, machine: &str, target: impl Into<PathBuf>) -> Result<Plan> {
        source.check_machine(machine)?;
        let mut plan = Plan::new(target);
        plan.files = source.machine_secrets(machine)?.into_iter().map(PlannedFile::from).collect();
        Ok(plan)
    }

    /// Checks what can be checked without files or keys (sops-install-secrets'
    /// `-check-mode=manifest`): names stay inside a generation and are unique, extra paths are
    /// absolute, and secrets of one encrypted file agree on its format.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        let mut formats: std::collections::BTreeMap<&Path, (&str, Format)> = std::collections::BTreeMap::new();
        for file in &self.files {
            let (first, earlier) = *formats.entry(&file.source).or_insert((&file.name, file.format));
            if earlier != file.format {
                return Err(DeployError::secret(
                    &file.name,
                    SecretProblem::FormatClash { file: file.source.clone(), format: file.format, first: first.to_string(), earlier },
                ));
            }
            check_name(&file.name)?;
            if !seen.insert(file.name.as_str()) {
                return Err(DeployError::secret(&file.name, SecretProblem::ListedTwice));
            }
            check_attrs(&file.name, &file.attrs)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for template in &self.templates {
            check_name(&template.name)?;
            if !seen.insert(template.name.as_str()) {
                return Err(DeployError::secret(&template.name, SecretProblem::TemplateListedTwice));
            }
            check_attrs(&template.name, &template.attrs)?;
        }
        Ok(())
    }
}

impl From<MachineSecret> for PlannedFile {
    fn from(secret: MachineSecret) -> PlannedFile {
        PlannedFile {
            name: secret.name,
            source: secret.file,
            format: Format::Binary,
            key: String::new(),
            attrs: Attrs::default(),
            placeholder: None,
        }
    }
}

/// A mode in octal (`0400`, `440`), as sops-nix reads it.
pub fn parse_mode(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    u32::from_str_radix(digits, 8).ok().filter(|m| *m <= 0o7777 && !digits.is_empty())
}

/// A name must be a relative path going down only.
fn check_name(name: &str) -> Result<()> {
    let path = Path::new(name);
    let downward = !name.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if !downward || name.ends_with('/') {
        return Err(DeployError::secret(name, SecretProblem::NameNotDownward));
    }
    Ok(())
}

fn check_attrs(name: &str, attrs: &Attrs) -> Result<()> {
    if let Some(path) = &attrs.path {
        if !path.is_absolute() {
            return Err(DeployError::secret(name, SecretProblem::PathNotAbsolute { path: path.clone() }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0400"), Some(0o400));
        assert_eq!(parse_mode("440"), Some(0o440));
        assert_eq!(parse_mode("0o600"), Some(0o600));
        assert_eq!(parse_mode("0800"), None);
        assert_eq!(parse_mode(""), None);
        assert_eq!(parse_mode("17777"), None);
    }

    #[test]
    fn generations_sit_beside_the_target() {
        assert_eq!(Plan::new("/run/secrets").generations, Path::new("/run/secrets.d"));
    }

    #[test]
    fn names_stay_inside() {
        let mut plan = Plan::new("/t");
        let file = |name: &str| PlannedFile {
            name: name.into(),
            source: "/s".into(),
            format: Format::Binary,
            key: String::new(),
            attrs: Attrs::default(),
            placeholder: None,
        };
        plan.files = vec![file("a"), file("vars/x/y")];
        plan.validate().unwrap();
        for bad in ["../a", "/abs", "a/../../b", "", "a/"] {
            plan.files = vec![file(bad)];
            assert!(plan.validate().is_err(), "{bad}");
        }
        plan.files = vec![file("a"), file("a")];
        assert!(plan.validate().is_err());
        let mut yaml = file("b");
        yaml.format = Format::Yaml;
        plan.files = vec![file("a"), yaml];
        let err = plan.validate().unwrap_err().to_string();
        assert!(err.contains("but a gave binary before"), "one file, two formats: {err}");
    }
}
