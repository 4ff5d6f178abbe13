//! Typed cloud credentials kept as ordinary secrets: one JSON object per secret named
//! `<provider>.<name>` (`aws.default`, `gcp.prod`), with the provider's fields checked, plus the
//! resolver programs use to find a credential and its masking rules.

pub mod aws_files;
pub mod mask;
pub mod providers;
pub mod resolve;

use std::fmt;

use zeroize::Zeroize;

use crate::error::Result;
use crate::names::{self, Kind};
use crate::repo::Repo;
pub use providers::{Exposure, Field, Provider};

/// Why a credential given, or read back, does not fit its provider (or names none).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// A credential name with a dot, which would make `<provider>.<name>` ambiguous.
    #[error("credential name `{name}` must not contain a dot")]
    DottedName {
        /// The name as given.
        name: String,
    },

    /// A field the provider does not have.
    #[error("{provider} has no field `{field}`; its fields are: {}", known.join(", "))]
    UnknownField {
        /// The provider.
        provider: Provider,
        /// The field as given.
        field: String,
        /// The provider's fields.
        known: Vec<&'static str>,
    },

    /// A required field missing or empty.
    #[error("{provider} credentials need `{field}`")]
    MissingField {
        /// The provider.
        provider: Provider,
        /// The field.
        field: &'static str,
    },

    /// A stored credential that is not a JSON object (its content is not shown).
    #[error("{secret}: the stored credential is not a JSON object")]
    NotAnObject {
        /// The secret's name, `<provider>.<name>`.
        secret: String,
        /// The JSON parser's error, when it is not JSON at all.
        #[source]
        source: Option<serde_json::Error>,
    },

    /// A provider name that is not known.
    #[error("unknown provider `{provider}`; use one of: {}", known.join(", "))]
    UnknownProvider {
        /// The name as given.
        provider: String,
        /// The known providers.
        known: Vec<&'static str>,
    },

    /// An AWS CLI credentials file without the profile asked for.
    #[error("{}: no profile `{profile}`", path.display())]
    NoProfile {
        /// The credentials file.
        path: std::path::PathBuf,
        /// The profile asked for.
        profile: String,
    },
}

/// The profile name used when none is given.
pub const DEFAULT_NAME: &str = "default";

/// One provider's credential: its fields in the provider's order. Zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// Whose credential it is (which fields it has).
    pub provider: Provider,
    /// The name it is stored under (`default` unless given), the part after the provider in the
    /// secret's name.
    pub name: String,
    fields: Vec<(String, String)>,
}

impl Drop for Credential {
    fn drop(&mut self) {
        for (_, value) in &mut self.fields {
            value.zeroize();
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("provider", &self.provider).field("name", &self.name).finish_non_exhaustive()
    }
}

impl Credential {
    /// Checks the fields against the provider: every required one present and non-empty, no
    /// unknown ones.
    pub fn new(provider: Provider, name: &str, given: Vec<(String, String)>) -> Result<Credential> {
        names::validate(Kind::Secret, &secret_name(provider, name))?;
        if name.contains('.') {
            return Err(CredentialError::DottedName { name: name.to_string() }.into());
        }
        for (field, _) in &given {
            if provider.field(field).is_none() {
                let known = provider.fields().iter().map(|f| f.name).collect();
                return Err(CredentialError::UnknownField { provider, field: field.clone(), known }.into());
            }
        }
        let mut fields = Vec::new();
        for field in provider.fields() {
            let value = given.iter().rev().find(|(n, _)| n == field.name).map(|(_, v)| v.clone());
            match value {
                Some(v) if !v.is_empty() => fields.push((field.name.to_string(), v)),
                _ if field.required => {
                    return Err(CredentialError::MissingField { provider, field: field.name }.into());
                }
                _ => {}
            }
        }
        Ok(Credential { provider, name: name.to_string(), fields })
    }

    /// The value of one field, if set.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == field).map(|(_, v)| v.as_str())
    }

    /// The set fields and their values, in the provider's order.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The secret's content: a JSON object of the fields.
    pub fn to_json(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let object: serde_json::Map<String, serde_json::Value> =
            self.fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        zeroize::Zeroizing::new(serde_json::to_vec_pretty(&object).unwrap_or_default())
    }

    /// Reads a stored credential back.
    pub fn from_json(provider: Provider, name: &str, bytes: &[u8]) -> Result<Credential> {
        let not_an_object = |source| CredentialError::NotAnObject { secret: secret_name(provider, name), source };
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| not_an_object(Some(e)))?;
        let serde_json::Value::Object(object) = value else {
            return Err(not_an_object(None).into());
        };
        let fields = object.into_iter().map(|(k, v)| (k, v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect();
        Credential::new(provider, name, fields)
    }
}

/// The secret holding a provider's named credential.
pub fn secret_name(provider: Provider, name: &str) -> String {
    format!("{}.{name}", provider.name())
}

/// Parses `aws` or `aws/prod`.
pub fn parse_ref(text: &str) -> Result<(Provider, String)> {
    let (provider, name) = text.split_once('/').unwrap_or((text, DEFAULT_NAME));
    let provider = Provider::from_name(provider).ok_or_else(|| {
        let known = Provider::ALL.iter().map(|p| p.name()).collect();
        CredentialError::UnknownProvider { provider: provider.to_string(), known }
    })?;
    Ok((provider, name.to_string()))
}

/// Every stored credential: (provider, name), sorted.
pub fn list(repo: &Repo) -> Result<Vec<(Provider, String)>> {
    Ok(repo
        .list(Kind::Secret)?
        .into_iter()
        .filter_map(|secret| {
            let (provider, name) = secret.split_once('.')?;
            Some((Provider::from_name(provider)?, name.to_string()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StoreError;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn required_fields_are_checked_and_unknown_ones_refused() {
        let ok = Credential::new(Provider::Cloudflare, "default", fields(&[("api_token", "t0k3n-value"), ("account_id", "acc")])).unwrap();
        assert_eq!(ok.get("api_token"), Some("t0k3n-value"));
        assert!(Credential::new(Provider::Cloudflare, "default", fields(&[("api_token", "t")])).is_err());
        let err = Credential::new(Provider::Aws, "default", fields(&[("nope", "x")])).unwrap_err().to_string();
        assert!(err.contains("no field `nope`"), "{err}");
        assert!(Credential::new(Provider::Aws, "../x", vec![]).is_err());
    }

    #[test]
    fn json_round_trip_in_provider_order() {
        let c = Credential::new(
            Provider::Azure,
            "prod",
            fields(&[("client_secret", "s"), ("tenant_id", "t"), ("client_id", "c"), ("subscription_id", "sub")]),
        )
        .unwrap();
        let json = c.to_json();
        let text = String::from_utf8(json.to_vec()).unwrap();
        assert!(text.find("subscription_id").unwrap() < text.find("client_secret").unwrap());
        assert_eq!(Credential::from_json(Provider::Azure, "prod", &json).unwrap(), c);
    }

    #[test]
    fn a_stored_credential_that_is_not_json_keeps_the_parser_error() {
        let err = Credential::from_json(Provider::Aws, "prod", b"{\"access_key_id\": ").unwrap_err();
        assert_eq!(err.to_string(), "aws.prod: the stored credential is not a JSON object");
        // The credential error is transparent: its source is the store error's.
        let source = std::error::Error::source(&err).expect("the parser's error");
        assert!(source.is::<serde_json::Error>(), "{err:?}");
        // JSON, but not an object: nothing underneath to keep.
        let err = Credential::from_json(Provider::Aws, "prod", b"[1]").unwrap_err();
        assert!(matches!(err, StoreError::Credential(CredentialError::NotAnObject { source: None, .. })), "{err:?}");
    }

    #[test]
    fn references() {
        assert_eq!(parse_ref("aws").unwrap(), (Provider::Aws, "default".to_string()));
        assert_eq!(parse_ref("gcp/prod").unwrap(), (Provider::Gcp, "prod".to_string()));
        let unknown = parse_ref("heroku").unwrap_err();
        assert!(matches!(&unknown, StoreError::Credential(CredentialError::UnknownProvider { provider, .. }) if provider == "heroku"));
        assert!(unknown.to_string().starts_with("unknown provider `heroku`; use one of: aws, "), "{unknown}");
        assert_eq!(secret_name(Provider::Kubernetes, "staging"), "kubernetes.staging");
    }
}
