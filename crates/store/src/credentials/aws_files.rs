//! Reading a profile from the AWS CLI's own files (`~/.aws/credentials` and `~/.aws/config`,
//! or the files `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE` name).
//!
//! The files are read the way the AWS CLI reads them: botocore hands them to Python's
//! `configparser` with its defaults (`RawConfigParser`), then takes `[profile NAME]` and
//! `[default]` sections of the config file as profiles. `AwsCliIni` mirrors that reading.
//!
//! It is deliberately not the sops INI store's reader (`secrets_sops::stores::ini`), which
//! mirrors Go's go-ini because go-ini's quirks decide which bytes become a sops value. The two
//! disagree exactly where credentials live:
//! - go-ini ends a value at an inline `#` or `;` and strips surrounding quotes; configparser keeps
//!   both, so `aws_secret_access_key = a#b` is `a#b` to the AWS CLI;
//! - configparser continues a value on lines indented deeper than its key, which is how nested
//!   settings are written (`s3 =` then `  max_concurrent_requests = 20`); go-ini reads each
//!   indented line as a key of the section (a nested `region` would become the profile's
//!   region) and continues values with a trailing `\` instead;
//! - configparser lowercases key names, refuses a section or key given twice and a key before
//!   any section, and lets `[DEFAULT]` fill in every section; go-ini keeps the last duplicate
//!   and files keys before the first header under `DEFAULT`.
//!
//! Both files hold keys and are read like key files (the AWS CLI reads whatever it is given):
//! once, without blocking, only when regular and at most
//! [`MAX_KEY_FILE`](secrets_sops::keys::identities::MAX_KEY_FILE) bytes, so a FIFO or
//! `/dev/zero` named by `AWS_SHARED_CREDENTIALS_FILE` is refused instead of hanging the command
//! or filling memory.

use std::path::{Path, PathBuf};

use secrets_sops::keys::identities::read_key_file;
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};

/// The files to read, as the AWS CLI picks them.
pub fn files(env: &dyn Fn(&str) -> Option<String>) -> Option<(PathBuf, PathBuf)> {
    let home = env("HOME").map(PathBuf::from);
    let credentials =
        env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws/credentials")))?;
    let config = env("AWS_CONFIG_FILE").map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws/config")))?;
    Some((credentials, config))
}

/// The fields of `profile`: keys from the credentials file (section `[NAME]`), the region from
/// there or else from the config file (section `[profile NAME]`, or `[default]`). A config file
/// that cannot be read is skipped, as the AWS CLI skips a missing one.
pub fn read_profile(credentials: &Path, config: &Path, profile: &str) -> Result<Vec<(String, String)>> {
    let text = read_text(credentials)?.ok_or_else(|| StoreError::io(credentials, std::io::Error::from(std::io::ErrorKind::NotFound)))?;
    let file = AwsCliIni::parse(&text).map_err(|source| StoreError::AwsFile { path: credentials.to_path_buf(), source })?;
    let section = file
        .sections
        .iter()
        .position(|s| s.name == profile)
        .ok_or_else(|| super::CredentialError::NoProfile { path: credentials.to_path_buf(), profile: profile.to_string() })?;
    let mut fields = Vec::new();
    for (aws, ours) in [
        ("aws_access_key_id", "access_key_id"),
        ("aws_secret_access_key", "secret_access_key"),
        ("aws_session_token", "session_token"),
        ("region", "region"),
    ] {
        if let Some(value) = file.get(section, aws) {
            fields.push((ours.to_string(), value.to_string()));
        }
    }
    if !fields.iter().any(|(k, _)| k == "region") {
        if let Ok(Some(text)) = read_text(config) {
            let file = AwsCliIni::parse(&text).map_err(|source| StoreError::AwsFile { path: config.to_path_buf(), source })?;
            // Like botocore, a later section for the same profile replaces an earlier one.
            let section = file.sections.iter().rposition(|s| config_profile_name(&s.name).as_deref() == Some(profile));
            if let Some(region) = section.and_then(|s| file.get(s, "region")) {
                fields.push(("region".to_string(), region.to_string()));
            }
        }
    }
    Ok(fields)
}

/// The text of an AWS CLI file, read by the key file reader; `None` when it does not exist.
fn read_text(path: &Path) -> Result<Option<Zeroizing<String>>> {
    let Some(bytes) = read_key_file(path)? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&bytes).map_err(|e| StoreError::io(path, std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    Ok(Some(Zeroizing::new(text.to_string())))
}

/// The profile a config file section defines: `[default]` and `[profile NAME]` (botocore splits
/// the header like a shell, so the name may be quoted); other sections define none.
fn config_profile_name(section: &str) -> Option<String> {
    if section == "default" {
        return Some(section.to_string());
    }
    let rest = section.strip_prefix("profile")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim();
    for quote in ['"', '\''] {
        if let Some(name) = rest.strip_prefix(quote).and_then(|r| r.strip_suffix(quote)) {
            return (!name.contains(quote)).then(|| name.to_string());
        }
    }
    (!rest.is_empty() && !rest.contains(char::is_whitespace) && !rest.contains(['"', '\''])).then(|| rest.to_string())
}

/// Why an AWS CLI file cannot be read. Only line numbers and names are given, never a value.
#[derive(Debug, thiserror::Error)]
pub enum AwsIniError {
    /// A `name = value` line before any `[section]` header.
    #[error("line {line}: a setting comes before the first [section] header")]
    NoSection {
        /// The line, counting from 1.
        line: usize,
    },
    /// A line that is neither a header, a setting, a comment nor blank.
    #[error("line {line}: the line is neither a [section] header, a `name = value` setting nor a comment")]
    NotASetting {
        /// The line, counting from 1.
        line: usize,
    },
    /// A `[section]` header given twice in one file.
    #[error("line {line}: the section [{section}] is given a second time")]
    DuplicateSection {
        /// The line, counting from 1.
        line: usize,
        /// The section's name.
        section: String,
    },
    /// A setting given twice in one section.
    #[error("line {line}: `{key}` is given a second time in [{section}]")]
    DuplicateKey {
        /// The line, counting from 1.
        line: usize,
        /// The section's name.
        section: String,
        /// The setting's name.
        key: String,
    },
}

/// An AWS CLI credentials or config file as Python's `configparser` reads it with its defaults:
/// whole-line `#`/`;` comments, `=` or `:` after a key name, key names lowercased, a value
/// continued on the lines indented deeper than its key (joined with newlines), `[DEFAULT]`
/// filling in every other section, and a duplicate section or key refused.
struct AwsCliIni {
    sections: Vec<AwsSection>,
    defaults: Vec<(String, String)>,
}

struct AwsSection {
    name: String,
    keys: Vec<(String, String)>,
}

/// Where the settings of the current line go.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Defaults,
    Section(usize),
}

impl AwsCliIni {
    fn parse(text: &str) -> Result<AwsCliIni, AwsIniError> {
        let mut file = AwsCliIni { sections: Vec::new(), defaults: Vec::new() };
        let mut target: Option<Target> = None;
        // The key the following lines may continue, and the indentation of the last header or
        // key line: only a line indented deeper continues the value.
        let mut open_key: Option<usize> = None;
        let mut indent = 0;
        for (index, raw) in text.lines().enumerate() {
            let line_number = index + 1;
            let line = raw.trim();
            if line.starts_with(['#', ';']) {
                continue;
            }
            if line.is_empty() {
                // Blank lines belong to a value that goes on below them.
                if let Some(value) = open_key.and_then(|k| file.keys_mut(target)?.get_mut(k)) {
                    value.1.push('\n');
                }
                continue;
            }
            let line_indent = raw.len() - raw.trim_start().len();
            if line_indent > indent {
                if let Some(value) = open_key.and_then(|k| file.keys_mut(target)?.get_mut(k)) {
                    value.1.push('\n');
                    value.1.push_str(line);
                    continue;
                }
            }
            indent = line_indent;
            if let Some(name) = header(line) {
                if name == "DEFAULT" {
                    target = Some(Target::Defaults);
                } else if file.sections.iter().any(|s| s.name == name) {
                    return Err(AwsIniError::DuplicateSection { line: line_number, section: name.to_string() });
                } else {
                    file.sections.push(AwsSection { name: name.to_string(), keys: Vec::new() });
                    target = Some(Target::Section(file.sections.len() - 1));
                }
                open_key = None;
                continue;
            }
            let (name, value) = setting(line).ok_or(AwsIniError::NotASetting { line: line_number })?;
            let section_name = match target {
                Some(Target::Section(i)) => file.sections.get(i).map_or("", |s| s.name.as_str()).to_string(),
                Some(Target::Defaults) => "DEFAULT".to_string(),
                None => return Err(AwsIniError::NoSection { line: line_number }),
            };
            let Some(keys) = file.keys_mut(target) else { return Err(AwsIniError::NoSection { line: line_number }) };
            if keys.iter().any(|(k, _)| *k == name) {
                return Err(AwsIniError::DuplicateKey { line: line_number, section: section_name, key: name });
            }
            keys.push((name, value.to_string()));
            open_key = Some(keys.len() - 1);
        }
        // configparser drops the blank lines that end a value.
        for keys in file.sections.iter_mut().map(|s| &mut s.keys).chain([&mut file.defaults]) {
            for (_, value) in keys.iter_mut() {
                value.truncate(value.trim_end().len());
            }
        }
        Ok(file)
    }

    fn keys_mut(&mut self, target: Option<Target>) -> Option<&mut Vec<(String, String)>> {
        match target? {
            Target::Section(i) => self.sections.get_mut(i).map(|s| &mut s.keys),
            Target::Defaults => Some(&mut self.defaults),
        }
    }

    /// A plain value of a section, or of `[DEFAULT]` when the section has none. A nested value
    /// (an empty first line followed by indented settings) is not a plain value.
    fn get(&self, section: usize, key: &str) -> Option<&str> {
        let own = self.sections.get(section)?.keys.iter().find(|(k, _)| k == key);
        let (_, value) = own.or_else(|| self.defaults.iter().find(|(k, _)| k == key))?;
        (!value.starts_with('\n')).then_some(value.as_str())
    }
}

/// The name inside a `[…]` header: everything up to the last `]` (text after it is ignored).
fn header(line: &str) -> Option<&str> {
    let inner = line.strip_prefix('[')?;
    let close = inner.rfind(']')?;
    let name = &inner[..close];
    (!name.is_empty()).then_some(name)
}

/// A `name = value` or `name: value` line (the first `=` or `:` separates): the name trimmed and
/// lowercased, the value trimmed. `None` when there is no separator or no name.
fn setting(line: &str) -> Option<(String, &str)> {
    let at = line.find(['=', ':'])?;
    let name = line[..at].trim_end();
    if name.is_empty() {
        return None;
    }
    Some((name.to_lowercase(), line[at + 1..].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
        fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn reads_keys_and_region_of_a_profile() {
        let dir = tempfile::tempdir().unwrap();
        let creds = write(
            dir.path(),
            "credentials",
            "[default]\naws_access_key_id = AKIADEFAULT000000000\naws_secret_access_key = d\n\n[prod]\naws_access_key_id=AKIAPROD000000000000\naws_secret_access_key=p/s+k\naws_session_token = tok\n",
        );
        let config = write(dir.path(), "config", "[default]\nregion = eu-west-1\n[profile prod]\nregion = us-east-2\noutput = json\n");
        let prod = read_profile(&creds, &config, "prod").unwrap();
        assert_eq!(field(&prod, "secret_access_key"), Some("p/s+k"));
        assert_eq!(field(&prod, "region"), Some("us-east-2"));
        assert_eq!(field(&prod, "session_token"), Some("tok"));
        let default = read_profile(&creds, &config, "default").unwrap();
        assert_eq!(field(&default, "region"), Some("eu-west-1"));
        assert!(read_profile(&creds, &config, "missing").is_err());
    }

    /// Each expectation is what Python's `configparser.RawConfigParser` (the AWS CLI's reader)
    /// gives for the same text.
    #[test]
    fn reads_as_the_aws_cli_does() {
        let text = "# comment\n; comment\n[prod]\n  ; indented comment\nAWS_Access_Key_ID = AKIA # not a comment\n\
                    aws_secret_access_key: \"quoted;kept\"\nregion = eu-west-1\n\
                    s3 =\n  max_concurrent_requests = 20\n  region = nested\n\nmulti = first\n\n  second\n\n\
                    [profile   dev]\nregion=us-west-2\n[DEFAULT]\noutput = json\n";
        let file = AwsCliIni::parse(text).unwrap();
        let names: Vec<&str> = file.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["prod", "profile   dev"]);
        assert_eq!(file.get(0, "aws_access_key_id"), Some("AKIA # not a comment"));
        assert_eq!(file.get(0, "aws_secret_access_key"), Some("\"quoted;kept\""));
        assert_eq!(file.get(0, "region"), Some("eu-west-1"), "the nested region stays inside s3");
        assert_eq!(file.get(0, "s3"), None, "a nested value is not a plain value");
        assert_eq!(file.sections[0].keys.iter().find(|(k, _)| k == "s3").unwrap().1, "\nmax_concurrent_requests = 20\nregion = nested");
        assert_eq!(file.get(0, "max_concurrent_requests"), None);
        assert_eq!(file.get(0, "multi"), Some("first\n\nsecond"));
        assert_eq!(file.get(1, "output"), Some("json"), "[DEFAULT] fills in every section");
        assert_eq!(config_profile_name(&file.sections[1].name).as_deref(), Some("dev"));
    }

    #[test]
    fn headers_and_continuations_as_the_aws_cli_reads_them() {
        let file = AwsCliIni::parse("[a] trailing\nk=1\n  [b]\n[DEFAULT]\nx=1\n[]]\n[DEFAULT]\ny=2\n").unwrap();
        let names: Vec<&str> = file.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "]"]);
        assert_eq!(file.get(0, "k"), Some("1\n[b]"), "an indented header continues the value");
        assert_eq!((file.get(1, "x"), file.get(1, "y")), (Some("1"), Some("2")), "[DEFAULT] may come back");
    }

    #[test]
    fn profile_sections_of_the_config_file() {
        assert_eq!(config_profile_name("default").as_deref(), Some("default"));
        assert_eq!(config_profile_name("profile default").as_deref(), Some("default"));
        assert_eq!(config_profile_name("profile \"my prod\"").as_deref(), Some("my prod"));
        for none in ["prod", "profile", "profileprod", "profile a b", "sso-session x", "services s"] {
            assert_eq!(config_profile_name(none), None, "{none}");
        }
    }

    fn mkfifo(path: &Path) {
        rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0).unwrap();
    }

    /// A FIFO or a device is refused (credentials) or skipped (config) without blocking on it.
    #[test]
    fn a_fifo_or_device_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("credentials");
        mkfifo(&fifo);
        let err = read_profile(&fifo, &dir.path().join("none"), "prod").unwrap_err().to_string();
        assert!(err.contains("FIFO") && err.contains("credentials"), "{err}");
        let err = read_profile(Path::new("/dev/zero"), &dir.path().join("none"), "prod").unwrap_err().to_string();
        assert!(err.contains("/dev/zero"), "{err}");
        let creds = write(dir.path(), "creds", "[prod]\naws_access_key_id = AKIAPROD\n");
        let config = dir.path().join("config");
        mkfifo(&config);
        assert_eq!(field(&read_profile(&creds, &config, "prod").unwrap(), "region"), None);
        let missing = read_profile(&dir.path().join("none"), &config, "prod").unwrap_err();
        assert!(missing.io_error().is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound), "{missing}");
    }

    #[test]
    fn a_nested_region_is_not_the_profile_region() {
        let dir = tempfile::tempdir().unwrap();
        let creds = write(dir.path(), "credentials", "[prod]\naws_access_key_id = AKIAPROD\naws_secret_access_key = s\n");
        let config = write(dir.path(), "config", "[profile prod]\ns3 =\n  region = nested\n[prod]\nregion = bare\n");
        let prod = read_profile(&creds, &config, "prod").unwrap();
        assert_eq!(field(&prod, "region"), None);
        let config = write(dir.path(), "config", "[profile prod]\nregion = first\n[default]\n[profile prod ]\nregion = second\n");
        assert_eq!(field(&read_profile(&creds, &config, "prod").unwrap(), "region"), Some("second"));
    }

    #[test]
    fn files_the_aws_cli_refuses_are_refused_without_their_values() {
        type Expected = fn(&AwsIniError) -> bool;
        let cases: [(&str, Expected); 5] = [
            ("key = secretvalue\n[a]\n", |e| matches!(e, AwsIniError::NoSection { line: 1 })),
            ("[a]\nsecretvalue\n", |e| matches!(e, AwsIniError::NotASetting { line: 2 })),
            ("[a]\n= secretvalue\n", |e| matches!(e, AwsIniError::NotASetting { line: 2 })),
            ("[a]\nk = 1\n[b]\n[a]\n", |e| matches!(e, AwsIniError::DuplicateSection { line: 4, .. })),
            ("[a]\nK = secretvalue\nk = 2\n", |e| matches!(e, AwsIniError::DuplicateKey { line: 3, .. })),
        ];
        for (text, expected) in cases {
            let Err(err) = AwsCliIni::parse(text) else { panic!("{text:?} was accepted") };
            assert!(expected(&err), "{text:?}: {err:?}");
            assert!(!err.to_string().contains("secretvalue"), "{err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let creds = write(dir.path(), "credentials", "[prod]\naws_secret_access_key = s\naws_secret_access_key = t\n");
        let err = read_profile(&creds, &dir.path().join("none"), "prod").unwrap_err().to_string();
        assert!(err.contains("credentials") && err.contains("line 3"), "{err}");
    }
}
