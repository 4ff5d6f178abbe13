//! Helpers the unit tests share: the fixture folders, reading their files, comparing shapes.

use crate::tree::{Map, MapItem, Value};

/// The golden vectors written by the real sops.
pub(crate) const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors");

/// The identities of the vectors' `keys.txt` (alice's age key).
pub(crate) fn vector_identities() -> crate::keys::Identities {
    let text = String::from_utf8(read(&format!("{VECTORS}/keys.txt"))).unwrap();
    crate::keys::Identities::from_age_key_text(&text, "keys.txt").unwrap()
}

/// What the whole-tree path prints for an encrypted file of `format`: parsed, decrypted,
/// emitted by the format's store. The streaming paths are checked against it.
pub(crate) fn decrypted_whole(
    input: &[u8],
    format: crate::Format,
    ids: &crate::keys::Identities,
    options: crate::DecryptOptions,
) -> crate::Result<Vec<u8>> {
    let plain = crate::EncryptedFile::parse(input, format)?.into_decrypted(ids, options)?;
    crate::stores::store(format).emit_plain(&plain.data)
}

/// A fixture file's bytes.
pub(crate) fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The names of the files in `dir` ending in `suffix`, sorted.
pub(crate) fn files_in(dir: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

/// Both trees have the same sections, keys and comment positions, and the same empty values.
pub(crate) fn same_shape(plain: &Map, encrypted: &Map) -> Result<(), String> {
    if plain.0.len() != encrypted.0.len() {
        return Err(format!("{} items against {}", plain.0.len(), encrypted.0.len()));
    }
    for (p, e) in plain.0.iter().zip(&encrypted.0) {
        match (p, e) {
            (MapItem::Comment(_), MapItem::Comment(_)) => {}
            (MapItem::Entry(pk, Value::Map(pm)), MapItem::Entry(ek, Value::Map(em))) if pk == ek => {
                same_shape(pm, em).map_err(|err| format!("in `{pk}`: {err}"))?;
            }
            (MapItem::Entry(pk, pv), MapItem::Entry(ek, ev)) if pk == ek => {
                if (pv == &Value::str("")) != (ev == &Value::str("")) {
                    return Err(format!("emptiness of `{pk}` differs"));
                }
            }
            _ => return Err(format!("{p:?} against {e:?}")),
        }
    }
    Ok(())
}
