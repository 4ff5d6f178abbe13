//! Reading a profile from the AWS CLI's own files (`~/.aws/credentials` and `~/.aws/config`,
//! or the files `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE` name).

use std::path::{Path, PathBuf};

use crate::error::{Result, StoreError};

/// The files to read, as the AWS CLI picks them.
pub fn files(env: &dyn Fn(&str) -> Option<String>) -> Option<(PathBuf, PathBuf)> {
    let home = env("HOME").map(PathBuf::from);
    let credentials =
        env("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws/credentials")))?;
    let config = env("AWS_CONFIG_FILE").map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws/config")))?;
    Some((credentials, config))
}

/// The fields of `profile`: keys from the credentials file, the region from the config file
/// (section `[profile NAME]`, or `[default]`).
pub fn read_profile(credentials: &Path, config: &Path, profile: &str) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(credentials).map_err(|e| StoreError::io(credentials, e))?;
    let keys = section(&text, profile).ok_or_else(|| StoreError::Other(format!("{}: no profile `{profile}`", credentials.display())))?;
    let mut fields = Vec::new();
    for (aws, ours) in [
        ("aws_access_key_id", "access_key_id"),
        ("aws_secret_access_key", "secret_access_key"),
        ("aws_session_token", "session_token"),
        ("region", "region"),
    ] {
        if let Some(value) = keys.iter().find(|(k, _)| k == aws).map(|(_, v)| v.clone()) {
            fields.push((ours.to_string(), value));
        }
    }
    if !fields.iter().any(|(k, _)| k == "region") {
        if let Ok(text) = std::fs::read_to_string(config) {
            let name = if profile == "default" { "default".to_string() } else { format!("profile {profile}") };
            let region = section(&text, &name).or_else(|| section(&text, profile)).and_then(|s| s.into_iter().find(|(k, _)| k == "region"));
            if let Some((_, region)) = region {
                fields.push(("region".to_string(), region));
            }
        }
    }
    Ok(fields)
}

/// The `key = value` pairs of one `[name]` section of an INI-style AWS file.
fn section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let mut current: Option<String> = None;
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(header.trim().to_string());
            if current.as_deref() == Some(name) {
                found.get_or_insert_with(Vec::new);
            }
            continue;
        }
        if current.as_deref() == Some(name) {
            if let Some((k, v)) = line.split_once('=') {
                found.get_or_insert_with(Vec::new).push((k.trim().to_string(), v.trim().to_string()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_and_region_of_a_profile() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("credentials");
        let config = dir.path().join("config");
        std::fs::write(
            &creds,
            "[default]\naws_access_key_id = AKIADEFAULT000000000\naws_secret_access_key = d\n\n[prod]\naws_access_key_id=AKIAPROD000000000000\naws_secret_access_key=p/s+k\naws_session_token = tok\n",
        )
        .unwrap();
        std::fs::write(&config, "[default]\nregion = eu-west-1\n[profile prod]\nregion = us-east-2\noutput = json\n").unwrap();
        let prod = read_profile(&creds, &config, "prod").unwrap();
        assert_eq!(prod.iter().find(|(k, _)| k == "secret_access_key").unwrap().1, "p/s+k");
        assert_eq!(prod.iter().find(|(k, _)| k == "region").unwrap().1, "us-east-2");
        assert_eq!(prod.iter().find(|(k, _)| k == "session_token").unwrap().1, "tok");
        let default = read_profile(&creds, &config, "default").unwrap();
        assert_eq!(default.iter().find(|(k, _)| k == "region").unwrap().1, "eu-west-1");
        assert!(read_profile(&creds, &config, "missing").is_err());
    }
}
