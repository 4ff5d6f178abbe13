//! The three-way merge of a sops file that git asks a merge driver for: decrypt the common
//! ancestor, ours and theirs; merge the values (by key in structured stores; the single value of
//! the binary store conflicts only when both sides changed it); re-encrypt for the recipients
//! the merge calls for. Conflicts name paths of keys, never values.

use std::collections::BTreeSet;

use secrets_sops::keys::Identities;
use secrets_sops::{DecryptOptions, Document, EncryptedFile, Format, Map, MapItem, PlainFile, Value};
use zeroize::Zeroizing;

/// The three versions of a file.
pub struct Sides<'a> {
    /// The common ancestor; empty when the file did not exist there.
    pub base: &'a [u8],
    /// The version of the branch being merged into.
    pub ours: &'a [u8],
    /// The version of the branch being merged.
    pub theirs: &'a [u8],
}

/// The recipients of the merged file.
#[derive(Clone, Debug)]
pub enum Wanted {
    /// Exactly these (one key group), e.g. what the merged membership links call for.
    Exactly(Vec<String>),
    /// The three-way merge of each side's recipients: kept where both sides keep them, added
    /// where either side added them, removed where either side removed them.
    MergeOfSides,
}

/// What the merge gave.
#[derive(Debug)]
pub enum Merged {
    /// The merged file's bytes.
    Clean(Vec<u8>),
    /// What could not be merged, one line each (key paths, never values).
    Conflict(Vec<String>),
}

/// Why a three-way merge of a secret could not even be attempted.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// One side is not a readable sops file, or the merged file cannot be encrypted.
    #[error("{side}: {source}")]
    Sops {
        /// Which version: `base`, `ours`, `theirs` or the merged file.
        side: &'static str,
        /// What the format library reported.
        source: secrets_sops::Error,
    },
}

fn sops(side: &'static str) -> impl Fn(secrets_sops::Error) -> MergeError {
    move |source| MergeError::Sops { side, source }
}

/// Set-wise three-way merge: an element is kept where both sides have it, and where one side
/// has it and the ancestor did not (an addition); a removal on either side wins over an
/// unchanged other side.
pub fn merge_sets<T: Ord + Clone>(base: &[T], ours: &[T], theirs: &[T]) -> Vec<T> {
    let (o, a, b): (BTreeSet<&T>, BTreeSet<&T>, BTreeSet<&T>) = (base.iter().collect(), ours.iter().collect(), theirs.iter().collect());
    a.union(&b).filter(|x| (a.contains(*x) && b.contains(*x)) || !o.contains(*x)).map(|x| (*x).clone()).collect()
}

/// Merges the three versions of a sops file.
pub fn merge(format: Format, sides: &Sides<'_>, identities: &Identities, wanted: Wanted) -> Result<Merged, MergeError> {
    let base =
        if sides.base.is_empty() { None } else { Some(EncryptedFile::parse(sides.base, format).map_err(sops("the common ancestor"))?) };
    let ours = EncryptedFile::parse(sides.ours, format).map_err(sops("ours"))?;
    let theirs = EncryptedFile::parse(sides.theirs, format).map_err(sops("theirs"))?;

    let wanted = match wanted {
        Wanted::Exactly(recipients) => vec![recipients],
        Wanted::MergeOfSides => merged_groups(base.as_ref(), &ours, &theirs),
    };
    if wanted.iter().all(Vec::is_empty) {
        return Ok(Merged::Conflict(vec!["the merge leaves the file with no recipients".into()]));
    }

    // Without decrypting: when one side left the ciphertext as it was, the other side's value
    // wins; if that side is already encrypted for the right recipients, it is the result.
    let unchanged = |side: &EncryptedFile| base.as_ref().is_some_and(|b| b.data == side.data);
    let value_side = if ours.data == theirs.data || unchanged(&theirs) {
        Some((&ours, sides.ours))
    } else if unchanged(&ours) {
        Some((&theirs, sides.theirs))
    } else {
        None
    };
    if let Some((side, bytes)) = value_side {
        if same_recipients(&side.metadata.recipients(), &wanted) {
            return Ok(Merged::Clean(bytes.to_vec()));
        }
    }

    let options = DecryptOptions::default();
    let ours_plain = ours.decrypt(identities, options).map_err(sops("ours"))?;
    let theirs_plain = theirs.decrypt(identities, options).map_err(sops("theirs"))?;
    let base_plain = base.as_ref().map(|b| b.decrypt(identities, options)).transpose().map_err(sops("the common ancestor"))?;

    let (merged, conflicts) = merge_documents(base_plain.as_ref().map(|p| &p.data), &ours_plain.data, &theirs_plain.data);
    let merged = Zeroizing::new(merged);
    if !conflicts.is_empty() {
        let lines = if format == Format::Binary { vec!["both sides changed the value".to_string()] } else { conflicts };
        return Ok(Merged::Conflict(lines));
    }

    let (side, side_bytes, mut plain, data_changed) = if *merged == ours_plain.data {
        (&ours, sides.ours, ours_plain, false)
    } else if *merged == theirs_plain.data {
        (&theirs, sides.theirs, theirs_plain, false)
    } else {
        let mut plain = ours_plain;
        plain.data = (*merged).clone();
        (&ours, sides.ours, plain, true)
    };
    let current = side.metadata.recipients();
    if !data_changed && same_recipients(&current, &wanted) {
        return Ok(Merged::Clean(side_bytes.to_vec()));
    }
    let file = reencrypt(&mut plain, side, &current, &wanted, data_changed).map_err(sops("the merged file"))?;
    file.to_bytes().map(Merged::Clean).map_err(sops("the merged file"))
}

fn reencrypt(
    plain: &mut PlainFile,
    side: &EncryptedFile,
    current: &[Vec<String>],
    wanted: &[Vec<String>],
    data_changed: bool,
) -> secrets_sops::Result<EncryptedFile> {
    let current_all: BTreeSet<&String> = current.iter().flatten().collect();
    let wanted_all: BTreeSet<&String> = wanted.iter().flatten().collect();
    if current_all.difference(&wanted_all).next().is_some() {
        // Someone who held this data key loses access: a new data key, as a revocation does.
        return plain.rotate(Some(wanted), 0);
    }
    let mut file = if data_changed { plain.encrypt()? } else { side.clone() };
    if !same_recipients(current, wanted) {
        file.rewrap(plain.data_key(), wanted, 0, &secrets_sops::keys::GnuPg::from_env())?;
    }
    Ok(file)
}

fn same_recipients(current: &[Vec<String>], wanted: &[Vec<String>]) -> bool {
    current.len() == wanted.len()
        && current.iter().zip(wanted).all(|(a, b)| a.iter().collect::<BTreeSet<_>>() == b.iter().collect::<BTreeSet<_>>())
}

/// The three-way merge of each key group's recipients; a file whose key groups differ in number
/// between the sides keeps ours's groups merged with theirs's first group.
fn merged_groups(base: Option<&EncryptedFile>, ours: &EncryptedFile, theirs: &EncryptedFile) -> Vec<Vec<String>> {
    let o = base.map(|b| b.metadata.recipients()).unwrap_or_default();
    let a = ours.metadata.recipients();
    let b = theirs.metadata.recipients();
    let n = a.len().max(b.len()).max(1);
    (0..n)
        .map(|i| {
            let pick = |g: &Vec<Vec<String>>| g.get(i).cloned().unwrap_or_default();
            merge_sets(&pick(&o), &pick(&a), &pick(&b))
        })
        .filter(|g| !g.is_empty())
        .collect()
}

/// Merges documents branch by branch; returns the merged document and the conflicting paths.
pub fn merge_documents(base: Option<&Document>, ours: &Document, theirs: &Document) -> (Document, Vec<String>) {
    let mut conflicts = Vec::new();
    if ours.branches.len() != theirs.branches.len() || base.is_some_and(|b| b.branches.len() != ours.branches.len()) {
        conflicts.push("the sides have different numbers of documents".to_string());
        return (ours.clone(), conflicts);
    }
    let branches = ours
        .branches
        .iter()
        .zip(&theirs.branches)
        .enumerate()
        .map(|(i, (a, b))| merge_map(base.and_then(|d| d.branches.get(i)), a, b, &mut String::new(), &mut conflicts))
        .collect();
    (Document { branches }, conflicts)
}

fn merge_map(base: Option<&Map>, ours: &Map, theirs: &Map, path: &mut String, conflicts: &mut Vec<String>) -> Map {
    let base_get = |k: &str| base.and_then(|m| m.get(k));
    let mut out = Map::new();
    for item in &ours.0 {
        let MapItem::Entry(key, a) = item else {
            out.0.push(item.clone());
            continue;
        };
        let len = path.len();
        path.push_str(&format!("[{}]", serde_json::to_string(key).unwrap_or_default()));
        let o = base_get(key);
        match theirs.get(key) {
            Some(b) => out.push(key.clone(), merge_value(o, a, b, path, conflicts)),
            None if o.is_none() => out.push(key.clone(), a.clone()),
            // Theirs removed it: the removal stands if ours left it alone.
            None if o == Some(a) => {}
            None => {
                conflicts.push(format!("{path}: changed on one side, removed on the other"));
                out.push(key.clone(), a.clone());
            }
        }
        path.truncate(len);
    }
    for (key, b) in theirs.entries() {
        if ours.get(key).is_some() {
            continue;
        }
        let o = base_get(key);
        match o {
            None => out.push(key, b.clone()),
            // Ours removed it and theirs left it alone.
            Some(o) if o == b => {}
            Some(_) => {
                conflicts
                    .push(format!("{path}[{}]: changed on one side, removed on the other", serde_json::to_string(key).unwrap_or_default()));
            }
        }
    }
    out
}

fn merge_value(base: Option<&Value>, ours: &Value, theirs: &Value, path: &mut String, conflicts: &mut Vec<String>) -> Value {
    if ours == theirs || base == Some(theirs) {
        return ours.clone();
    }
    if base == Some(ours) {
        return theirs.clone();
    }
    if let (Value::Map(a), Value::Map(b)) = (ours, theirs) {
        let o = match base {
            Some(Value::Map(m)) => Some(m),
            _ => None,
        };
        return Value::Map(merge_map(o, a, b, path, conflicts));
    }
    conflicts.push(format!("{path}: changed on both sides"));
    ours.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrets_sops::EncryptOptions;

    const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
    const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";

    fn alice() -> Identities {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/keys.txt")).unwrap();
        let mut ids = Identities::empty();
        ids.add_age_key_text(&text, "keys.txt").unwrap();
        ids
    }

    fn binary(value: &[u8], recipients: &[&str]) -> EncryptedFile {
        let doc = secrets_sops::parse_plain(value, Format::Binary).unwrap();
        let options =
            EncryptOptions { key_groups: vec![recipients.iter().map(ToString::to_string).collect()], ..EncryptOptions::default() };
        secrets_sops::encrypt(doc, Format::Binary, &options).unwrap()
    }

    fn value_of(bytes: &[u8]) -> (Vec<u8>, Vec<String>) {
        let file = EncryptedFile::parse(bytes, Format::Binary).unwrap();
        let plain = file.decrypt(&alice(), DecryptOptions::default()).unwrap();
        let mut recipients: Vec<String> = file.metadata.recipients().concat();
        recipients.sort();
        (plain.to_plain_bytes(Format::Binary).unwrap(), recipients)
    }

    fn map(entries: &[(&str, Value)]) -> Map {
        Map(entries.iter().map(|(k, v)| MapItem::Entry(k.to_string(), v.clone())).collect())
    }

    #[test]
    fn sets_merge_three_ways() {
        assert_eq!(merge_sets(&[1, 2, 3], &[1, 2, 3, 4], &[1, 3, 5]), vec![1, 3, 4, 5]);
        assert_eq!(merge_sets::<i32>(&[], &[1], &[2]), vec![1, 2]);
    }

    #[test]
    fn documents_merge_by_key() {
        let s = |x: &str| Value::str(x);
        let base = Document { branches: vec![map(&[("a", s("1")), ("b", s("1")), ("gone", s("x"))])] };
        let ours = Document { branches: vec![map(&[("a", s("2")), ("b", s("1")), ("gone", s("x")), ("new", s("n"))])] };
        let theirs = Document { branches: vec![map(&[("a", s("1")), ("b", s("3"))])] };
        let (merged, conflicts) = merge_documents(Some(&base), &ours, &theirs);
        assert!(conflicts.is_empty(), "{conflicts:?}");
        assert_eq!(merged.branches[0], map(&[("a", s("2")), ("b", s("3")), ("new", s("n"))]));

        let theirs = Document { branches: vec![map(&[("a", s("9")), ("b", s("1")), ("gone", s("y"))])] };
        let (_, conflicts) = merge_documents(Some(&base), &ours, &theirs);
        assert_eq!(conflicts, ["[\"a\"]: changed on both sides"]);
    }

    #[test]
    fn a_new_value_on_one_side_and_a_new_reader_on_the_other() {
        let ids = alice();
        let base = binary(b"v1", &[ALICE]);
        let mut ours = base.clone();
        let key = ours.data_key(&ids).unwrap();
        ours.rewrap(&key, &[vec![ALICE.to_string(), BOB.to_string()]], 0, &secrets_sops::keys::GnuPg::default()).unwrap();
        let theirs = binary(b"v2", &[ALICE]);
        let (b, o, t) = (base.to_bytes().unwrap(), ours.to_bytes().unwrap(), theirs.to_bytes().unwrap());
        let sides = Sides { base: &b, ours: &o, theirs: &t };
        let Merged::Clean(bytes) = merge(Format::Binary, &sides, &ids, Wanted::MergeOfSides).unwrap() else { panic!("conflict") };
        let mut want = vec![ALICE.to_string(), BOB.to_string()];
        want.sort();
        assert_eq!(value_of(&bytes), (b"v2".to_vec(), want));
    }

    #[test]
    fn both_sides_changing_the_value_conflict() {
        let ids = alice();
        let (b, o, t) = (binary(b"v1", &[ALICE]), binary(b"v2", &[ALICE]), binary(b"v3", &[ALICE]));
        let (b, o, t) = (b.to_bytes().unwrap(), o.to_bytes().unwrap(), t.to_bytes().unwrap());
        let result = merge(Format::Binary, &Sides { base: &b, ours: &o, theirs: &t }, &ids, Wanted::MergeOfSides).unwrap();
        assert!(matches!(result, Merged::Conflict(ref c) if c == &["both sides changed the value"]), "{result:?}");
    }

    #[test]
    fn removing_a_reader_rotates_the_data_key() {
        let ids = alice();
        let base = binary(b"v1", &[ALICE, BOB]);
        let theirs = binary(b"v2", &[ALICE, BOB]);
        let (b, t) = (base.to_bytes().unwrap(), theirs.to_bytes().unwrap());
        let sides = Sides { base: &b, ours: &b, theirs: &t };
        let Merged::Clean(bytes) = merge(Format::Binary, &sides, &ids, Wanted::Exactly(vec![ALICE.to_string()])).unwrap() else { panic!() };
        assert_eq!(value_of(&bytes), (b"v2".to_vec(), vec![ALICE.to_string()]));
        let merged = EncryptedFile::parse(&bytes, Format::Binary).unwrap();
        assert_ne!(merged.data, theirs.data, "a new data key encrypts the value anew");
    }

    #[test]
    fn recipients_only_merge_needs_no_decryption_when_one_side_is_the_answer() {
        let base = binary(b"v1", &[ALICE]);
        let theirs = binary(b"v2", &[ALICE, BOB]);
        let (b, t) = (base.to_bytes().unwrap(), theirs.to_bytes().unwrap());
        let sides = Sides { base: &b, ours: &b, theirs: &t };
        let result = merge(Format::Binary, &sides, &Identities::empty(), Wanted::MergeOfSides).unwrap();
        assert!(matches!(result, Merged::Clean(ref bytes) if bytes == &t));
    }
}
