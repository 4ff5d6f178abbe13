//! Kubernetes export: chosen secrets as a `v1/Secret` manifest (values base64 under `data`),
//! in clear for `kubectl apply -f -`, or sops-encrypted (only `data`/`stringData`, as Flux and
//! ksops users write them) for a GitOps repository.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use secrets_sops::metadata::SelectionRule;
use secrets_sops::{Document, EncryptOptions, Format, Map, Value};
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};

/// The manifest as a document tree. Values are base64-encoded, so binary secrets are safe.
pub fn k8s_secret(name: &str, namespace: Option<&str>, entries: &[(String, Zeroizing<Vec<u8>>)]) -> Document {
    let mut metadata = Map::new();
    metadata.push("name", Value::str(name));
    if let Some(ns) = namespace {
        metadata.push("namespace", Value::str(ns));
    }
    let mut data = Map::new();
    for (key, value) in entries {
        data.push(key.clone(), Value::Str(B64.encode(value.as_slice())));
    }
    let mut root = Map::new();
    root.push("apiVersion", Value::str("v1"));
    root.push("kind", Value::str("Secret"));
    root.push("metadata", Value::Map(metadata));
    root.push("type", Value::str("Opaque"));
    root.push("data", Value::Map(data));
    Document { branches: vec![root] }
}

/// The manifest as YAML, in clear.
pub fn render_plain(doc: &Document) -> Result<Zeroizing<Vec<u8>>> {
    secrets_sops::stores::store(Format::Yaml)
        .emit_plain(doc)
        .map(Zeroizing::new)
        .map_err(|source| StoreError::Manifest { action: "write", source })
}

/// The manifest sops-encrypted for `recipients`, with only `data` and `stringData` encrypted.
pub fn render_encrypted(doc: Document, recipients: Vec<String>) -> Result<Vec<u8>> {
    let options = EncryptOptions {
        key_groups: vec![recipients],
        selection: Some(SelectionRule::EncryptedRegex("^(data|stringData)$".to_string())),
        ..EncryptOptions::default()
    };
    secrets_sops::encrypt(doc, Format::Yaml, &options)
        .and_then(|f| f.to_bytes())
        .map_err(|source| StoreError::Manifest { action: "encrypt", source })
}
