//! Wrapping a payload for one age recipient as an armored age file, and unwrapping it.
//!
//! The payload is a 32-byte data key, or a 33-byte Shamir share. Each recipient gets its own age
//! file, as sops writes them.

use std::io::Write;

use zeroize::Zeroizing;

use super::age_header::{AgeFile, HeaderError};
use super::age_payload::{self, PayloadError};
use super::armor::{armor, dearmor, ArmorError};
use super::identities::{Identities, Tier};
use crate::error::{Error, Result};

/// The kinds of recipient strings sops accepts (spec 4.3), decided by their form.
enum RecipientKind {
    /// `age1pq1…`: hybrid post-quantum, which the Rust age crate cannot encrypt to.
    PostQuantum,
    /// `age1<name>1…`: handled by the `age-plugin-<name>` binary.
    Plugin,
    /// `age1…`.
    X25519,
    /// `ssh-ed25519 …` or `ssh-rsa …`.
    Ssh,
}

fn kind_of(recipient: &str) -> Option<RecipientKind> {
    if recipient.starts_with("age1pq1") {
        Some(RecipientKind::PostQuantum)
    } else if recipient.starts_with("age1") && recipient.matches('1').count() > 1 {
        Some(RecipientKind::Plugin)
    } else if recipient.starts_with("age1") {
        Some(RecipientKind::X25519)
    } else if recipient.starts_with("ssh-") {
        Some(RecipientKind::Ssh)
    } else {
        None
    }
}

fn recipient_error(recipient: &str, reason: impl Into<String>) -> Error {
    Error::Recipient { recipient: recipient.to_string(), reason: reason.into() }
}

/// Parses a recipient string (trimmed of surrounding spaces) into something age encrypts to.
/// Plugin recipients need their plugin binary on `PATH`.
pub fn parse_recipient(recipient: &str) -> Result<Box<dyn age::Recipient + Send>> {
    let trimmed = recipient.trim();
    let Some(kind) = kind_of(trimmed) else {
        return Err(recipient_error(trimmed, "unknown recipient type: expected age1…, ssh-ed25519 … or ssh-rsa …"));
    };
    match kind {
        RecipientKind::PostQuantum => Err(recipient_error(trimmed, "post-quantum hybrid recipients (age1pq1…) are not supported yet")),
        RecipientKind::X25519 => trimmed
            .parse::<age::x25519::Recipient>()
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|reason| recipient_error(trimmed, format!("not a valid age X25519 public key ({reason})"))),
        RecipientKind::Ssh => {
            use age::ssh::ParseRecipientKeyError as E;
            trimmed.parse::<age::ssh::Recipient>().map(|r| Box::new(r) as Box<dyn age::Recipient + Send>).map_err(|e| {
                let reason = match e {
                    E::RsaModulusTooLarge => "the ssh-rsa key is larger than 4096 bits".to_string(),
                    E::RsaModulusTooSmall => "the ssh-rsa key is smaller than 2048 bits".to_string(),
                    E::Unsupported(kind) => {
                        format!("ssh key type {kind} is not supported (only ssh-ed25519 and ssh-rsa)")
                    }
                    E::Ignore | E::Invalid(_) => "not a valid ssh-ed25519 or ssh-rsa public key".to_string(),
                    _ => "not a supported ssh public key".to_string(),
                };
                recipient_error(trimmed, reason)
            })
        }
        RecipientKind::Plugin => {
            let parsed: age::plugin::Recipient =
                trimmed.parse().map_err(|reason| recipient_error(trimmed, format!("not a valid age plugin recipient ({reason})")))?;
            let name = parsed.plugin().to_string();
            age::plugin::RecipientPluginV1::new(&name, &[parsed], &[], super::prompt::Callbacks::none())
                .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
                .map_err(|_| recipient_error(trimmed, format!("this is a plugin recipient and age-plugin-{name} was not found on PATH")))
        }
    }
}

/// Encrypts `payload` to one recipient and armors it exactly as Go age does (LF line ends,
/// final newline).
pub fn wrap(recipient: &str, payload: &[u8]) -> Result<String> {
    let parsed = parse_recipient(recipient)?;
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&*parsed as &dyn age::Recipient)).map_err(|e| Error::Wrap(e.to_string()))?;
    let mut binary = Vec::with_capacity(256 + payload.len());
    let mut writer = encryptor.wrap_output(&mut binary).map_err(|e| Error::Wrap(e.to_string()))?;
    writer.write_all(payload).map_err(|e| Error::Wrap(e.to_string()))?;
    writer.finish().map_err(|e| Error::Wrap(e.to_string()))?;
    Ok(armor(&binary))
}

/// What became of one armored age file.
pub enum Unwrapped {
    /// An identity opened it.
    Opened(Zeroizing<Vec<u8>>),
    /// It is well formed but no identity at hand opens it.
    NoIdentity,
    /// It is malformed, or an identity matched but failed; the reason holds no secret.
    Failed(UnwrapError),
}

/// Why an age file that reached an identity could not be opened. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnwrapError {
    /// The ASCII-armored data key is not valid armor.
    #[error(transparent)]
    Armor(#[from] ArmorError),
    /// The age header is malformed or too large.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// An identity's own failure (a malformed stanza of its type, a plugin error), as the age
    /// crate words it.
    #[error("age decryption failed: {0}")]
    Identity(String),
    /// A stanza opened, but the header's MAC does not match under the file key it gave.
    #[error("the age header MAC does not match: the file was tampered with")]
    HeaderMac,
    /// The header is sound but the encrypted payload (the data key) does not decrypt.
    #[error(transparent)]
    Payload(#[from] PayloadError),
}

impl std::fmt::Debug for Unwrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unwrapped::Opened(_) => f.write_str("Opened(<redacted>)"),
            Unwrapped::NoIdentity => f.write_str("NoIdentity"),
            Unwrapped::Failed(reason) => write!(f, "Failed({reason:?})"),
        }
    }
}

/// Decrypts an armored age file with every identity at hand (never chosen by recipient string).
pub fn unwrap(enc: &str, identities: &Identities) -> Unwrapped {
    match dearmor(enc) {
        Ok(binary) => unwrap_binary(&binary, identities),
        Err(e) => Unwrapped::Failed(e.into()),
    }
}

/// Decrypts a binary age file with every identity at hand: plain identities first, then
/// plugins and passphrase-protected ones.
pub fn unwrap_binary(binary: &[u8], identities: &Identities) -> Unwrapped {
    let file = match AgeFile::parse(binary) {
        Ok(file) => file,
        Err(e) => return Unwrapped::Failed(e.into()),
    };
    match unwrap_file(&file, identities, Tier::Local) {
        Unwrapped::NoIdentity => unwrap_file(&file, identities, Tier::Interactive),
        other => other,
    }
}

/// One tier of identities against a parsed age file. Each identity is tried on the stanzas
/// parsed once, on its own, so that one identity's error does not hide another identity's
/// success. As in age, the header MAC is checked with the file key an identity found, and only
/// then is the payload decrypted.
pub(crate) fn unwrap_file(file: &AgeFile<'_>, identities: &Identities, tier: Tier) -> Unwrapped {
    let mut failure: Option<UnwrapError> = None;
    let mut outcome = Unwrapped::NoIdentity;
    identities.for_each_identity(tier, &mut |identity| {
        let file_key = match identity.unwrap_stanzas(&file.stanzas) {
            None => return false,
            Some(Ok(file_key)) => file_key,
            Some(Err(e)) => {
                failure.get_or_insert(UnwrapError::Identity(e.to_string()));
                return false;
            }
        };
        if !file.mac_matches(&file_key) {
            failure = Some(UnwrapError::HeaderMac);
            return false;
        }
        match age_payload::decrypt(&file_key, file.payload) {
            Ok(payload) => {
                outcome = Unwrapped::Opened(payload);
                true
            }
            Err(e) => {
                failure = Some(e.into());
                true
            }
        }
    });
    match (outcome, failure) {
        (Unwrapped::Opened(payload), _) => Unwrapped::Opened(payload),
        (_, Some(reason)) => Unwrapped::Failed(reason),
        (other, None) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::VECTORS;

    fn read(path: &str) -> String {
        std::fs::read_to_string(format!("{VECTORS}/{path}")).unwrap()
    }

    fn json_enc(file: &str) -> String {
        let json: serde_json::Value = serde_json::from_str(&read(file)).unwrap();
        json["sops"]["age"][0]["enc"].as_str().unwrap().to_string()
    }

    fn data_key(file: &str) -> Vec<u8> {
        let manifest: serde_json::Value = serde_json::from_str(&read("manifest.json")).unwrap();
        let entry = manifest["vectors"].as_array().unwrap().iter().find(|v| v["file"] == file).unwrap();
        hex::decode(entry["data_key_hex"].as_str().unwrap()).unwrap()
    }

    fn alice() -> Identities {
        Identities::from_age_key_text(&read("keys.txt"), "keys.txt").unwrap()
    }

    fn bob() -> Identities {
        Identities::from_age_key_text(&read("keys-b.txt"), "keys-b.txt").unwrap()
    }

    fn opened(result: Unwrapped) -> Vec<u8> {
        match result {
            Unwrapped::Opened(payload) => payload.to_vec(),
            other => panic!("expected the payload, got {other:?}"),
        }
    }

    #[test]
    fn opens_sops_armor_including_go_only_forms() {
        for file in ["edge/armor-crlf-whitespace.json", "edge/armor-no-final-newline.json", "edge/wrong-recipient-string.json"] {
            let key = opened(unwrap(&json_enc(file), &alice()));
            assert_eq!(key, data_key(file), "{file}");
        }
        assert_eq!(opened(unwrap(&json_enc("enc/basic.json"), &alice())), data_key("enc/basic.json"));
    }

    #[test]
    fn the_wrong_identity_does_not_open() {
        assert!(matches!(unwrap(&json_enc("enc/basic.json"), &bob()), Unwrapped::NoIdentity));
        assert!(matches!(unwrap(&json_enc("enc/basic.json"), &Identities::empty()), Unwrapped::NoIdentity));
        assert!(matches!(unwrap("not armor", &alice()), Unwrapped::Failed(_)));
    }

    /// BEGIN, full 64-column lines, one shorter last line, END, final LF; nothing else.
    /// (The age crate adds a random "grease" stanza, so the length varies from file to file.)
    fn assert_go_layout(enc: &str) {
        let lines: Vec<&str> = enc.split('\n').collect();
        let n = lines.len();
        assert!(n >= 5, "{enc}");
        assert_eq!(lines[0], "-----BEGIN AGE ENCRYPTED FILE-----");
        assert!(lines[1..n - 3].iter().all(|l| l.len() == 64), "{enc}");
        assert!((1..=64).contains(&lines[n - 3].len()), "{enc}");
        assert_eq!(lines[n - 2], "-----END AGE ENCRYPTED FILE-----");
        assert_eq!(lines[n - 1], "");
        assert!(!enc.contains('\r'));
        assert_eq!(crate::keys::armor::armor(&crate::keys::armor::dearmor(enc).unwrap()), enc);
    }

    #[test]
    fn wraps_for_x25519_like_go_age() {
        let key = [42u8; 32];
        let enc = wrap("  age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg ", &key).unwrap();
        assert_go_layout(&enc);
        assert_eq!(opened(unwrap(&enc, &alice())), key);
        assert!(matches!(unwrap(&enc, &bob()), Unwrapped::NoIdentity));

        // A 33-byte share has the same layout.
        let share = [7u8; 33];
        let enc = wrap("age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg", &share).unwrap();
        assert_go_layout(&enc);
        assert_eq!(opened(unwrap(&enc, &alice())), share);
    }

    #[test]
    fn wraps_for_ssh_ed25519() {
        let recipient = read("ssh/id_ed25519.pub");
        let enc = wrap(recipient.trim_end(), &[1u8; 32]).unwrap();
        let mut ssh = Identities::empty();
        ssh.add_ssh_private_key_file(std::path::Path::new(&format!("{VECTORS}/ssh/id_ed25519"))).unwrap();
        assert_eq!(opened(unwrap(&enc, &ssh)), [1u8; 32]);
        assert!(matches!(unwrap(&enc, &alice()), Unwrapped::NoIdentity));
    }

    #[test]
    fn wraps_for_ssh_rsa() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/keys-cases/ssh-rsa");
        let recipient = std::fs::read_to_string(format!("{dir}/id_rsa.pub")).unwrap();
        let enc = wrap(&recipient, &[2u8; 32]).unwrap();
        assert_go_layout(&enc);
        let mut rsa = Identities::empty();
        rsa.add_ssh_private_key_file(std::path::Path::new(&format!("{dir}/id_rsa"))).unwrap();
        assert_eq!(opened(unwrap(&enc, &rsa)), [2u8; 32]);
        assert!(rsa.reports()[0].outcome.starts_with("ssh key ssh-rsa AAAA"));
        assert!(matches!(unwrap(&enc, &alice()), Unwrapped::NoIdentity));
    }

    #[test]
    fn rejects_unusable_recipients_clearly() {
        let cases = [
            ("age1pq1qqqqqqqqqqqqqqqqqqqq", "post-quantum"),
            ("age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjx", "X25519"),
            ("AGE1E9XPLSQ", "unknown recipient type"),
            ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "ssh"),
            ("", "unknown recipient type"),
            ("age1nosuchplugin1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "plugin"),
        ];
        for (recipient, expected) in cases {
            match wrap(recipient, &[0u8; 32]) {
                Err(Error::Recipient { reason, .. }) => {
                    assert!(reason.contains(expected), "{recipient}: {reason}");
                }
                other => panic!("{recipient}: {other:?}"),
            }
        }
    }

    #[test]
    fn plugin_recipient_names_the_missing_plugin() {
        // A syntactically valid plugin recipient for a plugin that is not installed.
        let recipient = bech32::encode::<bech32::Bech32>(bech32::Hrp::parse("age1zzznotinstalled").unwrap(), &[1u8, 2, 3]).unwrap();
        match wrap(&recipient, &[0u8; 32]) {
            Err(Error::Recipient { reason, .. }) => {
                assert!(reason.contains("age-plugin-zzznotinstalled"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn opens_what_go_age_writes_for_every_recipient_type() {
        let Ok(status) = std::process::Command::new("age").arg("--version").output() else {
            eprintln!("note: `age` is not on PATH; skipping the interop check");
            return;
        };
        assert!(status.status.success());
        let rsa_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/keys-cases/ssh-rsa");
        let cases = [
            ("-r", "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg".to_string(), format!("{VECTORS}/keys.txt")),
            ("-R", format!("{VECTORS}/ssh/id_ed25519.pub"), format!("{VECTORS}/ssh/id_ed25519")),
            ("-R", format!("{rsa_dir}/id_rsa.pub"), format!("{rsa_dir}/id_rsa")),
        ];
        let key: Vec<u8> = (100u8..132).collect();
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("key");
        std::fs::write(&input, &key).unwrap();
        for (flag, recipient, identity) in cases {
            // A second recipient puts a stanza of another type before ours.
            let out = std::process::Command::new("age")
                .args(["-e", "-a", "-r", "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p", flag, &recipient])
                .arg(&input)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let enc = String::from_utf8(out.stdout).unwrap();
            let mut ids = Identities::empty();
            if std::path::Path::new(&identity).extension().is_some_and(|e| e == "txt") {
                ids.add_age_key_text(&std::fs::read_to_string(&identity).unwrap(), "keys.txt").unwrap();
            } else {
                ids.add_ssh_private_key_file(std::path::Path::new(&identity)).unwrap();
            }
            assert_eq!(opened(unwrap(&enc, &ids)), key, "{recipient}");
            assert!(matches!(unwrap(&enc, &Identities::empty()), Unwrapped::NoIdentity));
        }
    }

    #[test]
    fn a_tampered_header_or_payload_is_refused() {
        let enc = wrap("age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg", &[4u8; 32]).unwrap();
        let binary = dearmor(&enc).unwrap();
        // The grease stanza is not the identity's, but the MAC covers it.
        let text = String::from_utf8_lossy(&binary).into_owned();
        let grease = text.lines().find(|l| l.starts_with("-> ") && l.contains("-grease")).unwrap();
        let tampered = binary
            .windows(grease.len())
            .position(|w| w == grease.as_bytes())
            .map(|at| {
                let mut copy = binary.clone();
                copy[at + 3] = if copy[at + 3] == b'a' { b'b' } else { b'a' };
                copy
            })
            .unwrap();
        assert!(matches!(unwrap(&armor(&tampered), &alice()), Unwrapped::Failed(UnwrapError::HeaderMac)));

        let mut payload = binary.clone();
        *payload.last_mut().unwrap() ^= 0x80;
        assert!(matches!(unwrap(&armor(&payload), &alice()), Unwrapped::Failed(UnwrapError::Payload(_))));
        assert!(matches!(unwrap(&armor(b"age-encryption.org/v1\n"), &alice()), Unwrapped::Failed(UnwrapError::Header(_))));
    }

    #[test]
    fn wrapped_keys_decrypt_with_go_age() {
        let Ok(status) = std::process::Command::new("age").arg("--version").output() else {
            eprintln!("note: `age` is not on PATH; skipping the interop check");
            return;
        };
        assert!(status.status.success());
        let key: Vec<u8> = (0u8..32).collect();
        let enc = wrap("age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg", &key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.age");
        std::fs::write(&path, &enc).unwrap();
        let out = std::process::Command::new("age").args(["-d", "-i", &format!("{VECTORS}/keys.txt")]).arg(&path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, key);

        let ssh_enc = wrap(read("ssh/id_ed25519.pub").trim(), &key).unwrap();
        std::fs::write(&path, &ssh_enc).unwrap();
        let out = std::process::Command::new("age").args(["-d", "-i", &format!("{VECTORS}/ssh/id_ed25519")]).arg(&path).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, key);
    }
}
