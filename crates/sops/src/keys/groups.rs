//! The data key across key groups: one group wraps the whole key for each recipient; several
//! groups each wrap one Shamir share (spec 4.5).

use zeroize::Zeroizing;

use super::age_header::AgeFile;
use super::age_wrap::{self, Unwrapped};
use super::armor;
use super::identities::Tier;
use super::pgp;
use super::{shamir, DataKey, DecryptFailure, Identities};
use crate::error::{Error, Result, ShamirProblem};
use crate::metadata::{AgeKey, KeyGroup, Metadata};
use crate::tree::Value;

/// A whole data key, or a 32-byte share plus its x coordinate.
const KEY_LEN: usize = 32;
const SHARE_LEN: usize = KEY_LEN + 1;

pub(super) fn wrap(key: &DataKey, groups: &[Vec<String>], threshold: usize, gnupg: &pgp::GnuPg) -> Result<Vec<KeyGroup>> {
    if groups.is_empty() {
        return Err(Error::NoRecipients);
    }
    if let Some(empty) = groups.iter().position(std::vec::Vec::is_empty) {
        return Err(Error::EmptyKeyGroup { group: empty + 1 });
    }

    let payloads: Vec<Zeroizing<Vec<u8>>> = if groups.len() == 1 {
        vec![Zeroizing::new(key.as_bytes().to_vec())]
    } else {
        let threshold = if threshold == 0 { groups.len() } else { threshold };
        if !(2..=255).contains(&threshold) || threshold > groups.len() {
            return Err(Error::InvalidThreshold { threshold, groups: groups.len() });
        }
        shamir::split(key.as_bytes(), groups.len(), threshold)?
    };

    // One creation time for every PGP entry written now, as sops takes it once per key.
    let created_at = crate::timefmt::now_last_modified();
    groups
        .iter()
        .zip(payloads.iter())
        .map(|(recipients, payload)| {
            let age = recipients
                .iter()
                .filter(|r| !pgp::is_fingerprint(r))
                .map(|recipient| Ok(AgeKey { recipient: recipient.trim().to_string(), enc: age_wrap::wrap(recipient, payload)? }))
                .collect::<Result<Vec<AgeKey>>>()?;
            let pgp = recipients
                .iter()
                .filter(|r| pgp::is_fingerprint(r))
                .map(|fingerprint| pgp::encrypt(fingerprint, payload, gnupg, &created_at))
                .collect::<Result<Vec<Value>>>()?;
            let other = if pgp.is_empty() { Vec::new() } else { vec![("pgp".to_string(), Value::List(pgp))] };
            Ok(KeyGroup { age, other })
        })
        .collect()
}

pub(super) fn unwrap(metadata: &Metadata, identities: &Identities) -> Result<DataKey> {
    let groups = &metadata.key_groups;
    if groups.is_empty() {
        return Err(Error::Metadata("the file has no key groups".to_string()));
    }
    let several = groups.len() > 1;
    let expected_len = if several { SHARE_LEN } else { KEY_LEN };
    // sops combines whatever opened when the file names no threshold; two is the least
    // that can combine.
    let required = match (several, metadata.shamir_threshold) {
        (false, _) => 1,
        (true, 0) => 2,
        (true, t) => t,
    };

    let mut problems = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        for (name, value) in &group.other {
            // Older layouts write empty lists or nulls for unused key types; PGP keys are
            // tried through GnuPG below.
            if name == "pgp" || matches!(value, Value::Null) || matches!(value, Value::List(l) if l.is_empty()) {
                continue;
            }
            problems.push(format!("group {}: {name} keys cannot be used by this tool", index + 1));
        }
    }

    // Decode every armor and parse every age header once, whatever the number of identities
    // and tiers; a malformed one is a problem of that key only.
    let binaries: Vec<Vec<Option<Vec<u8>>>> = groups
        .iter()
        .enumerate()
        .map(|(index, group)| {
            group
                .age
                .iter()
                .map(|key| match armor::dearmor(&key.enc) {
                    Ok(binary) => Some(binary),
                    Err(e) => {
                        problems.push(format!("group {}, {}: {e}", index + 1, key.recipient));
                        None
                    }
                })
                .collect()
        })
        .collect();
    let files: Vec<Vec<Option<AgeFile<'_>>>> = binaries
        .iter()
        .zip(groups)
        .enumerate()
        .map(|(index, (binaries, group))| {
            binaries
                .iter()
                .zip(&group.age)
                .map(|(binary, key)| match AgeFile::parse(binary.as_deref()?) {
                    Ok(file) => Some(file),
                    Err(e) => {
                        problems.push(format!("group {}, {}: {e}", index + 1, key.recipient));
                        None
                    }
                })
                .collect()
        })
        .collect();

    let mut progress =
        Progress { parts: vec![None; groups.len()], problems, several, threshold: metadata.shamir_threshold, required, expected_len };
    // Age keys first and PGP keys last, as sops's default decryption order has them, unless
    // the order asks for PGP keys first.
    if identities.pgp_first() {
        try_pgp(groups, identities, &mut progress);
        try_age(groups, &files, identities, &mut progress);
    } else {
        try_age(groups, &files, identities, &mut progress);
        try_pgp(groups, identities, &mut progress);
    }
    let Progress { parts, problems, .. } = progress;

    let opened: Vec<&[u8]> = parts.iter().flatten().map(|p| &p[..]).collect();
    if opened.len() < required {
        return Err(Error::NoKey(Box::new(DecryptFailure {
            groups: groups.iter().map(|g| g.age.iter().map(|k| k.recipient.clone()).collect()).collect(),
            threshold: required,
            opened: opened.len(),
            sources: identities.reports(),
            group_opened: parts.iter().map(Option::is_some).collect(),
            problems,
        })));
    }

    let key = if several { shamir::combine(&opened)? } else { Zeroizing::new(opened[0].to_vec()) };
    let bytes: [u8; KEY_LEN] = key.as_slice().try_into().map_err(|_| Error::Shamir(ShamirProblem::KeyLength(key.len())))?;
    Ok(DataKey::from_bytes(bytes))
}

/// What opening the groups has gathered so far.
struct Progress {
    parts: Vec<Option<Zeroizing<Vec<u8>>>>,
    problems: Vec<String>,
    several: bool,
    threshold: usize,
    required: usize,
    expected_len: usize,
}

impl Progress {
    /// Enough groups are open to stop trying keys that cost a prompt or a process.
    fn enough(&self) -> bool {
        let opened = self.parts.iter().filter(|p| p.is_some()).count();
        if self.several && self.threshold == 0 {
            opened == self.parts.len()
        } else {
            opened >= self.required
        }
    }
}

/// Tries the age keys of every group still closed: plain keys first for every group; plugins
/// and passphrase prompts only for groups still missing, and only until enough groups are open.
fn try_age(groups: &[KeyGroup], files: &[Vec<Option<AgeFile<'_>>>], identities: &Identities, progress: &mut Progress) {
    let expected_len = progress.expected_len;
    for tier in [Tier::Local, Tier::Interactive] {
        for (index, group) in groups.iter().enumerate() {
            if tier == Tier::Interactive && progress.enough() {
                break;
            }
            if progress.parts[index].is_some() {
                continue;
            }
            // The recipient strings are only hints, but trying first the stanzas meant for a
            // key we hold saves a Diffie-Hellman per other recipient.
            let mut order: Vec<usize> = (0..group.age.len()).collect();
            order.sort_by_key(|&i| !identities.public_keys().contains(&group.age[i].recipient));
            for (key, file) in order.iter().map(|&i| (&group.age[i], &files[index][i])) {
                let Some(file) = file else { continue };
                match age_wrap::unwrap_file(file, identities, tier) {
                    Unwrapped::Opened(payload) if payload.len() == expected_len => {
                        progress.parts[index] = Some(payload);
                        break;
                    }
                    Unwrapped::Opened(payload) => progress.problems.push(format!(
                        "group {}, {}: opened, but holds {} bytes instead of {expected_len}",
                        index + 1,
                        key.recipient,
                        payload.len()
                    )),
                    Unwrapped::Failed(reason) => progress.problems.push(format!("group {}, {}: {reason}", index + 1, key.recipient)),
                    Unwrapped::NoIdentity => {}
                }
            }
        }
    }
}

/// Tries the PGP keys of every group still closed, until enough groups are open: each try runs
/// GnuPG, so the tries are bounded per group and per file.
fn try_pgp(groups: &[KeyGroup], identities: &Identities, progress: &mut Progress) {
    let expected_len = progress.expected_len;
    let mut pgp_tries = 0usize;
    for (index, group) in groups.iter().enumerate() {
        if progress.enough() {
            break;
        }
        if progress.parts[index].is_some() {
            continue;
        }
        for key in pgp::keys_of(group).iter().take(pgp::MAX_TRIED) {
            if pgp_tries == pgp::MAX_TRIED_PER_FILE {
                progress.problems.push(format!("no more PGP keys tried: {} is the most for one file", pgp::MAX_TRIED_PER_FILE));
                break;
            }
            pgp_tries += 1;
            match pgp::decrypt(key, identities.gnupg()) {
                Ok(payload) if payload.len() == expected_len => {
                    progress.parts[index] = Some(payload);
                    break;
                }
                Ok(payload) => progress.problems.push(format!(
                    "group {}, pgp {}: opened, but holds {} bytes instead of {expected_len}",
                    index + 1,
                    pgp::shown(key.fingerprint),
                    payload.len()
                )),
                Err(reason) => progress.problems.push(format!("group {}, pgp {}: {reason}", index + 1, pgp::shown(key.fingerprint))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    use crate::test_support::VECTORS;
    const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
    const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";
    const CAROL: &str = "age1xzzypxvu5n8fvvakra4m8nwszzgzumwpfu03l2wsynhvlvygj9kq5793e2";

    fn read(path: &str) -> String {
        std::fs::read_to_string(format!("{VECTORS}/{path}")).unwrap()
    }

    fn ids(files: &[&str]) -> Identities {
        let mut ids = Identities::empty();
        for file in files {
            ids.add_age_key_text(&read(file), file).unwrap();
        }
        ids
    }

    fn data_key(file: &str) -> Vec<u8> {
        let manifest: serde_json::Value = serde_json::from_str(&read("manifest.json")).unwrap();
        let entry = manifest["vectors"].as_array().unwrap().iter().find(|v| v["file"] == file).unwrap();
        hex::decode(entry["data_key_hex"].as_str().unwrap()).unwrap()
    }

    fn metadata(key_groups: Vec<KeyGroup>, shamir_threshold: usize) -> Metadata {
        Metadata {
            key_groups,
            shamir_threshold,
            last_modified: String::new(),
            mac: None,
            selection: None,
            mac_only_encrypted: false,
            version: "3.11.0".to_string(),
        }
    }

    fn age_keys(list: &serde_json::Value) -> Vec<AgeKey> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|k| AgeKey { recipient: k["recipient"].as_str().unwrap().to_string(), enc: k["enc"].as_str().unwrap().to_string() })
            .collect()
    }

    /// The flat layout (`sops.age`) of a JSON-shaped file.
    fn flat_metadata(file: &str) -> Metadata {
        let json: serde_json::Value = serde_json::from_str(&read(file)).unwrap();
        metadata(vec![KeyGroup { age: age_keys(&json["sops"]["age"]), other: Vec::new() }], 0)
    }

    fn shamir_metadata() -> Metadata {
        let json: serde_json::Value = serde_json::from_str(&read("enc/shamir-2of3.json")).unwrap();
        let groups = json["sops"]["key_groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| KeyGroup { age: age_keys(&g["age"]), other: Vec::new() })
            .collect();
        metadata(groups, usize::try_from(json["sops"]["shamir_threshold"].as_u64().unwrap()).unwrap())
    }

    /// The one age key of a YAML file, by simple text extraction of the `enc: |` block.
    fn yaml_age_key(file: &str) -> AgeKey {
        let text = read(file);
        let mut lines = text.lines();
        let recipient = lines.by_ref().find_map(|l| l.trim_start().strip_prefix("- recipient: ")).unwrap().to_string();
        assert_eq!(lines.next().unwrap().trim(), "enc: |");
        let mut enc = String::new();
        for line in lines.take_while(|l| l.starts_with("            ")) {
            enc.push_str(&line[12..]);
            enc.push('\n');
        }
        AgeKey { recipient, enc }
    }

    fn failure(result: Result<DataKey>) -> DecryptFailure {
        match result {
            Err(Error::NoKey(failure)) => *failure,
            Err(other) => panic!("expected NoKey, got {other}"),
            Ok(_) => panic!("expected NoKey, got a key"),
        }
    }

    #[test]
    fn each_of_three_recipients_opens_the_clan_style_secret() {
        let meta = flat_metadata("enc/secret");
        let expected = data_key("enc/secret");
        for file in ["keys.txt", "keys-b.txt", "keys-c.txt"] {
            let key = unwrap(&meta, &ids(&[file])).unwrap();
            assert_eq!(key.as_bytes().as_slice(), expected.as_slice(), "{file}");
        }
        let all = unwrap(&meta, &ids(&["keys-c.txt", "keys.txt"])).unwrap();
        assert_eq!(all.as_bytes().as_slice(), expected.as_slice());
    }

    #[test]
    fn recipient_strings_do_not_choose_identities() {
        let meta = flat_metadata("edge/wrong-recipient-string.json");
        assert_eq!(meta.key_groups[0].age[0].recipient, BOB);
        let key = unwrap(&meta, &ids(&["keys.txt"])).unwrap();
        assert_eq!(key.as_bytes().as_slice(), data_key("edge/wrong-recipient-string.json").as_slice());
        failure(unwrap(&meta, &ids(&["keys-b.txt"])));
    }

    #[test]
    fn any_two_of_three_groups_open_the_shamir_file() {
        let meta = shamir_metadata();
        let expected = data_key("enc/shamir-2of3.json");
        for pair in [["keys.txt", "keys-b.txt"], ["keys.txt", "keys-c.txt"], ["keys-b.txt", "keys-c.txt"]] {
            let key = unwrap(&meta, &ids(&pair)).unwrap();
            assert_eq!(key.as_bytes().as_slice(), expected.as_slice(), "{pair:?}");
        }
        let key = unwrap(&meta, &ids(&["keys.txt", "keys-b.txt", "keys-c.txt"])).unwrap();
        assert_eq!(key.as_bytes().as_slice(), expected.as_slice());
    }

    #[test]
    fn one_shamir_group_alone_fails_with_a_report() {
        let meta = shamir_metadata();
        let failure = failure(unwrap(&meta, &ids(&["keys-c.txt"])));
        assert_eq!(failure.groups, vec![vec![ALICE.to_string()], vec![BOB.to_string()], vec![CAROL.to_string()]]);
        assert_eq!(failure.group_opened, vec![false, false, true]);
        assert_eq!((failure.opened, failure.threshold), (1, 2));
        let text = failure.to_string();
        assert!(text.contains("1 of 3 key groups opened, 2 needed"), "{text}");
        assert!(text.contains(&format!("group 3 (opened): {CAROL}")), "{text}");
        assert!(text.contains(&format!("group 1 (not opened): {ALICE}")), "{text}");
        assert!(text.contains("keys-c.txt: 1 age identity: age1xzz"), "{text}");
        assert!(text.contains("SOPS_AGE_KEY_FILE"), "{text}");
        assert!(!text.contains("AGE-SECRET-KEY"), "{text}");
    }

    #[test]
    fn shamir_without_threshold_combines_what_opened() {
        let mut meta = shamir_metadata();
        meta.shamir_threshold = 0;
        let key = unwrap(&meta, &ids(&["keys.txt", "keys-c.txt"])).unwrap();
        assert_eq!(key.as_bytes().as_slice(), data_key("enc/shamir-2of3.json").as_slice());
        failure(unwrap(&meta, &ids(&["keys.txt"])));
    }

    #[test]
    fn ssh_recipient_file_opens_with_the_ssh_key_only() {
        let key = yaml_age_key("enc/ssh-ed25519.yaml");
        assert!(key.recipient.ends_with(" vectors@example"));
        let meta = metadata(vec![KeyGroup { age: vec![key], other: Vec::new() }], 0);
        let mut ssh = Identities::empty();
        ssh.add_ssh_private_key_file(Path::new(&format!("{VECTORS}/ssh/id_ed25519"))).unwrap();
        let opened = unwrap(&meta, &ssh).unwrap();
        assert_eq!(opened.as_bytes().as_slice(), data_key("enc/ssh-ed25519.yaml").as_slice());

        let text = failure(unwrap(&meta, &ids(&["keys.txt"]))).to_string();
        assert!(text.contains("SOPS_AGE_SSH_PRIVATE_KEY_FILE"), "{text}");
        assert!(text.contains("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKATGViP6gZwpqGZkjDHxAFDfBctKZXfiRsaHgmM5cep vectors@example"));
    }

    #[test]
    fn wrap_then_unwrap_one_group() {
        let key = DataKey::generate();
        let groups = wrap(&key, &[vec![ALICE.to_string(), format!(" {BOB} ")]], 0, &pgp::GnuPg::default()).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].age[1].recipient, BOB);
        let meta = metadata(groups, 0);
        for file in ["keys.txt", "keys-b.txt"] {
            assert_eq!(unwrap(&meta, &ids(&[file])).unwrap().as_bytes(), key.as_bytes());
        }
        failure(unwrap(&meta, &ids(&["keys-c.txt"])));
    }

    #[test]
    fn wrap_then_unwrap_shamir_groups() {
        let key = DataKey::generate();
        let recipients = vec![vec![ALICE.to_string()], vec![BOB.to_string()], vec![CAROL.to_string()]];
        let groups = wrap(&key, &recipients, 2, &pgp::GnuPg::default()).unwrap();
        // Each group wraps a 33-byte share whose last byte is the group's x = index + 1.
        for (index, group) in groups.iter().enumerate() {
            let file = ["keys.txt", "keys-b.txt", "keys-c.txt"][index];
            match age_wrap::unwrap(&group.age[0].enc, &ids(&[file])) {
                Unwrapped::Opened(share) => {
                    assert_eq!(share.len(), 33);
                    assert_eq!(share[32] as usize, index + 1);
                }
                other => panic!("{other:?}"),
            }
        }
        let meta = metadata(groups, 2);
        let opened = unwrap(&meta, &ids(&["keys-b.txt", "keys-c.txt"])).unwrap();
        assert_eq!(opened.as_bytes(), key.as_bytes());
        failure(unwrap(&meta, &ids(&["keys-b.txt"])));

        // Threshold 0 means all groups.
        let meta = metadata(wrap(&key, &recipients, 0, &pgp::GnuPg::default()).unwrap(), 3);
        failure(unwrap(&meta, &ids(&["keys.txt", "keys-b.txt"])));
        let all = unwrap(&meta, &ids(&["keys.txt", "keys-b.txt", "keys-c.txt"])).unwrap();
        assert_eq!(all.as_bytes(), key.as_bytes());
    }

    #[test]
    fn wrap_rejects_bad_group_settings() {
        let key = DataKey::generate();
        let one = vec![ALICE.to_string()];
        assert!(matches!(wrap(&key, &[], 0, &pgp::GnuPg::default()), Err(Error::NoRecipients)));
        assert!(matches!(wrap(&key, &[one.clone(), vec![]], 0, &pgp::GnuPg::default()), Err(Error::EmptyKeyGroup { group: 2 })));
        assert!(matches!(
            wrap(&key, &[one.clone(), one.clone()], 1, &pgp::GnuPg::default()),
            Err(Error::InvalidThreshold { threshold: 1, groups: 2 })
        ));
        assert!(matches!(
            wrap(&key, &[one.clone(), one.clone()], 3, &pgp::GnuPg::default()),
            Err(Error::InvalidThreshold { threshold: 3, groups: 2 })
        ));
        assert!(matches!(wrap(&key, &[vec!["bogus".to_string()]], 0, &pgp::GnuPg::default()), Err(Error::Recipient { .. })));
        // A threshold with a single group is ignored, as sops does.
        assert!(wrap(&key, &[one], 2, &pgp::GnuPg::default()).is_ok());
    }

    #[test]
    fn malformed_and_foreign_keys_are_reported_not_fatal() {
        let good = flat_metadata("enc/secret").key_groups[0].age[1].clone();
        let broken = AgeKey { recipient: ALICE.to_string(), enc: "-----BEGIN AGE ENCRYPTED FILE-----\n!!\n".to_string() };
        let meta = metadata(
            vec![KeyGroup {
                age: vec![broken, good],
                other: vec![
                    ("gcp_kms".to_string(), Value::List(vec![Value::Str("resource".to_string())])),
                    ("kms".to_string(), Value::List(Vec::new())),
                    ("hc_vault".to_string(), Value::Null),
                ],
            }],
            0,
        );
        assert_eq!(unwrap(&meta, &ids(&["keys-b.txt"])).unwrap().as_bytes().as_slice(), data_key("enc/secret").as_slice());
        let failure = failure(unwrap(&meta, &ids(&["keys.txt"])));
        assert_eq!(failure.problems.len(), 2, "{:?}", failure.problems);
        let text = failure.to_string();
        assert!(text.contains("invalid age armor"), "{text}");
        assert!(text.contains("gcp_kms keys cannot be used"), "{text}");
    }

    #[test]
    fn wrong_payload_size_is_not_a_key() {
        let enc = age_wrap::wrap(ALICE, &[1u8; 16]).unwrap();
        let meta = metadata(vec![KeyGroup { age: vec![AgeKey { recipient: ALICE.to_string(), enc }], other: Vec::new() }], 0);
        let failure = failure(unwrap(&meta, &ids(&["keys.txt"])));
        assert!(failure.problems[0].contains("holds 16 bytes instead of 32"), "{:?}", failure.problems);
    }

    fn age_list(keys: &[AgeKey]) -> serde_json::Value {
        keys.iter().map(|k| serde_json::json!({ "recipient": k.recipient, "enc": k.enc })).collect()
    }

    /// Runs the real `sops decrypt` on `path` with only `key_file` as identity source.
    fn sops_decrypt(path: &Path, key_file: &Path, config: &Path) -> Option<std::process::Output> {
        let output = std::process::Command::new("sops")
            .arg("decrypt")
            .arg(path)
            .env("SOPS_AGE_KEY_FILE", key_file)
            .env("XDG_CONFIG_HOME", config)
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_CMD")
            .env_remove("SOPS_AGE_SSH_PRIVATE_KEY_FILE")
            .output();
        if let Ok(output) = output {
            Some(output)
        } else {
            eprintln!("note: `sops` is not on PATH; skipping the interop check");
            None
        }
    }

    #[test]
    fn keys_we_wrap_open_with_the_real_sops() {
        let dir = tempfile::tempdir().unwrap();
        let key = DataKey::from_bytes(data_key("enc/secret").try_into().unwrap());
        let mut json: serde_json::Value = serde_json::from_str(&read("enc/secret")).unwrap();
        let groups = wrap(&key, &[vec![ALICE.to_string(), BOB.to_string()]], 0, &pgp::GnuPg::default()).unwrap();
        json["sops"]["age"] = age_list(&groups[0].age);
        let path = dir.path().join("secret");
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        let Some(out) = sops_decrypt(&path, Path::new(&format!("{VECTORS}/keys-b.txt")), dir.path()) else {
            return;
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, std::fs::read(format!("{VECTORS}/dec/secret")).unwrap());

        // Shamir shares we make recombine in sops.
        let key = DataKey::from_bytes(data_key("enc/shamir-2of3.json").try_into().unwrap());
        let mut json: serde_json::Value = serde_json::from_str(&read("enc/shamir-2of3.json")).unwrap();
        let recipients = [ALICE, BOB, CAROL].map(|r| vec![r.to_string()]);
        let groups = wrap(&key, &recipients, 2, &pgp::GnuPg::default()).unwrap();
        for (index, group) in groups.iter().enumerate() {
            json["sops"]["key_groups"][index]["age"] = age_list(&group.age);
        }
        let path = dir.path().join("shamir.json");
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        let bc = dir.path().join("bc.txt");
        std::fs::write(&bc, read("keys-b.txt") + &read("keys-c.txt")).unwrap();
        let out = sops_decrypt(&path, &bc, dir.path()).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, std::fs::read(format!("{VECTORS}/dec/shamir-2of3.json")).unwrap());
        let out = sops_decrypt(&path, Path::new(&format!("{VECTORS}/keys-c.txt")), dir.path()).unwrap();
        assert_eq!(out.status.code(), Some(128));
    }
}
