//! The resolver programs use to find a credential: an environment variable
//! `<SERVICE>_<PURPOSE>`, then a plain file `<dir>/<service>/<purpose>`, then the secret
//! `<service>.<purpose>` of the repository. The first source that has it wins.

use std::fmt;
use std::path::PathBuf;

use secrets_sops::keys::Identities;
use zeroize::Zeroizing;

use crate::names::Kind;
use crate::ops;
use crate::repo::Repo;

/// Where to look.
pub struct Resolver<'a> {
    /// Reads an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The folder of plain credential files, if any.
    pub dir: Option<PathBuf>,
    /// The repository and the identities to decrypt with, if any.
    pub store: Option<(&'a Repo, &'a Identities)>,
}

/// A found credential: its fields (`credential` alone for a value that is not a JSON object).
pub struct Resolved {
    /// Where it was found: the variable, the file or the secret, for messages.
    pub source: String,
    /// The fields and their values.
    pub fields: Vec<(String, Zeroizing<String>)>,
}

impl Resolved {
    /// The value of one field, if present.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for Resolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.fields.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Resolved").field("source", &self.source).field("fields", &names).finish()
    }
}

/// Nothing had the credential: each source tried and what it said.
#[derive(Debug, thiserror::Error)]
#[error("no credential for {service}/{purpose}; tried:\n{}", tried.iter().map(|(s, o)| format!("  - {s}: {o}")).collect::<Vec<_>>().join("\n"))]
pub struct NotResolved {
    /// The service asked for.
    pub service: String,
    /// The purpose asked for.
    pub purpose: String,
    /// Each source tried, and why it did not have the credential.
    pub tried: Vec<(String, String)>,
}

/// `<SERVICE>_<PURPOSE>`, upper-cased, with `-` and `:` as `_`.
pub fn env_var_name(service: &str, purpose: &str) -> String {
    format!("{service}_{purpose}").to_uppercase().replace(['-', ':'], "_")
}

impl Resolver<'_> {
    /// Looks for the credential of `service` and `purpose`: the variable
    /// [`env_var_name`], then the file `<dir>/<service>/<purpose>`, then the repository's secret
    /// `<service>.<purpose>`; the first found wins.
    pub fn resolve(&self, service: &str, purpose: &str) -> Result<Resolved, NotResolved> {
        let mut tried = Vec::new();
        let var = env_var_name(service, purpose);
        match (self.env)(&var).filter(|v| !v.is_empty()) {
            Some(value) => return Ok(parse(format!("environment variable {var}"), Zeroizing::new(value.into_bytes()))),
            None => tried.push((format!("environment variable {var}"), "not set".to_string())),
        }
        match &self.dir {
            Some(dir) => {
                let path = dir.join(service).join(purpose);
                match std::fs::read(&path) {
                    Ok(bytes) => return Ok(parse(format!("file {}", path.display()), Zeroizing::new(bytes))),
                    Err(e) => tried.push((format!("file {}", path.display()), e.to_string())),
                }
            }
            None => tried.push(("credentials folder".to_string(), "none configured (SECRETS_CREDENTIALS_DIR)".to_string())),
        }
        let secret = format!("{service}.{purpose}");
        match self.store {
            Some((repo, identities)) if repo.exists(Kind::Secret, &secret) => match ops::get_secret(repo, identities, &secret) {
                Ok(bytes) => return Ok(parse(format!("secret {secret}"), bytes)),
                Err(e) => tried.push((format!("secret {secret}"), e.to_string())),
            },
            Some(_) => tried.push((format!("secret {secret}"), "not in the repository".to_string())),
            None => tried.push(("repository".to_string(), "none found".to_string())),
        }
        Err(NotResolved { service: service.to_string(), purpose: purpose.to_string(), tried })
    }
}

/// A JSON object gives its fields; anything else is one `credential` field (a single trailing
/// newline, as files usually end, is dropped).
fn parse(source: String, bytes: Zeroizing<Vec<u8>>) -> Resolved {
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        let fields =
            object.into_iter().map(|(k, v)| (k, Zeroizing::new(v.as_str().map_or_else(|| v.to_string(), str::to_string)))).collect();
        return Resolved { source, fields };
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Resolved { source, fields: vec![("credential".to_string(), Zeroizing::new(text))] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_variable_like_the_spec() {
        assert_eq!(env_var_name("my-db", "read:only"), "MY_DB_READ_ONLY");
    }

    #[test]
    fn environment_then_file_and_json_fields() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("db")).unwrap();
        std::fs::write(dir.path().join("db/admin"), "{\"user\": \"root\", \"port\": 5432}").unwrap();
        std::fs::create_dir_all(dir.path().join("api")).unwrap();
        std::fs::write(dir.path().join("api/token"), "plain-token\n").unwrap();
        let env = |name: &str| (name == "DB_ADMIN").then(|| "from-env".to_string());
        let resolver = Resolver { env: &env, dir: Some(dir.path().to_path_buf()), store: None };
        let found = resolver.resolve("db", "admin").unwrap();
        assert_eq!(found.field("credential"), Some("from-env"));
        let no_env = |_: &str| None;
        let resolver = Resolver { env: &no_env, dir: Some(dir.path().to_path_buf()), store: None };
        let found = resolver.resolve("db", "admin").unwrap();
        assert_eq!(found.field("user"), Some("root"));
        assert_eq!(found.field("port"), Some("5432"));
        assert_eq!(resolver.resolve("api", "token").unwrap().field("credential"), Some("plain-token"));
        let err = resolver.resolve("nope", "x").unwrap_err().to_string();
        assert!(err.contains("NOPE_X") && err.contains("nope/x") && err.contains("repository"), "{err}");
    }
}
