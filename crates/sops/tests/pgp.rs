//! PGP master keys through the real GnuPG, both ways: a file the real sops encrypted for a PGP
//! key opens with that key's throw-away keyring (the tries are reported when it does not), and
//! a file we encrypt, re-key or rotate for a PGP key opens with the real sops.

use std::path::{Path, PathBuf};
use std::process::Command;

use secrets_sops::keys::{GnuPg, Identities};
use secrets_sops::{DecryptOptions, EncryptOptions, EncryptedFile, Format};

/// An age recipient nobody here holds: the file also has a key of another kind.
const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";

fn peer(name: &str) -> Option<PathBuf> {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
    let path = String::from_utf8(found.stdout).ok()?.trim().to_string();
    if path.is_empty() {
        assert!(std::env::var_os("SECRETS_REQUIRE_PEERS").is_none(), "{name} is required (SECRETS_REQUIRE_PEERS)");
        eprintln!("skipped: {name} not found");
        return None;
    }
    Some(PathBuf::from(path))
}

/// A fresh GnuPG home with one passphrase-less key; its fingerprint.
fn keyring(home: &Path) -> String {
    let gpg = |args: &[&str]| {
        let out = Command::new("gpg").arg("--homedir").arg(home).args(["--batch", "--quiet"]).args(args).output().unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    };
    gpg(&["--passphrase", "", "--quick-gen-key", "Test <test@example.com>", "default", "default", "never"]);
    let listing = String::from_utf8(gpg(&["--with-colons", "--list-secret-keys"])).unwrap();
    listing.lines().find_map(|l| l.strip_prefix("fpr:").map(|rest| rest.trim_matches(':').to_string())).unwrap()
}

#[test]
fn a_file_the_real_sops_encrypted_for_a_pgp_key_opens_through_gpg() {
    let (Some(_), Some(sops)) = (peer("gpg"), peer("sops")) else { return };
    let dir = tempfile::Builder::new().prefix("pgp").tempdir_in("/tmp").unwrap();
    let home = dir.path().join("g");
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let fingerprint = keyring(&home);
    let plain = dir.path().join("plain.yaml");
    std::fs::write(&plain, "password: hunter2\n").unwrap();
    let out = Command::new(sops).env("GNUPGHOME", &home).args(["encrypt", "--pgp", &fingerprint]).arg(&plain).output().unwrap();
    assert!(out.status.success(), "sops: {}", String::from_utf8_lossy(&out.stderr));
    let file = EncryptedFile::parse(&out.stdout, Format::Yaml).unwrap();

    let mut identities = Identities::empty();
    identities.set_gnupg(None, Some(home.clone()));
    let opened = file.decrypt(&identities, DecryptOptions::default()).unwrap();
    assert_eq!(opened.to_plain_bytes(Format::Yaml).unwrap(), b"password: hunter2\n");

    // Another keyring cannot open it, and the report names the PGP key tried.
    let other = dir.path().join("o");
    std::fs::create_dir(&other).unwrap();
    std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    keyring(&other);
    identities.set_gnupg(None, Some(other.clone()));
    let err = file.decrypt(&identities, DecryptOptions::default()).unwrap_err().to_string();
    assert!(err.contains(&format!("pgp {fingerprint}")), "{err}");
    for h in [&home, &other] {
        let _ = Command::new("gpgconf").env("GNUPGHOME", h).args(["--kill", "gpg-agent"]).status();
    }
}

fn private_home(dir: &Path, name: &str) -> PathBuf {
    let home = dir.join(name);
    std::fs::create_dir(&home).unwrap();
    std::fs::set_permissions(&home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    home
}

fn real_decrypt(sops: &Path, home: &Path, bytes: &[u8], dir: &Path) -> std::process::Output {
    let file = dir.join("written.yaml");
    std::fs::write(&file, bytes).unwrap();
    Command::new(sops).env_remove("SOPS_AGE_KEY_FILE").env("GNUPGHOME", home).arg("decrypt").arg(&file).output().unwrap()
}

#[test]
fn a_file_we_encrypt_for_a_pgp_key_opens_with_the_real_sops_and_rewraps_for_it() {
    let (Some(_), Some(sops)) = (peer("gpg"), peer("sops")) else { return };
    let dir = tempfile::Builder::new().prefix("pgp").tempdir_in("/tmp").unwrap();
    let home = private_home(dir.path(), "g");
    let fingerprint = keyring(&home);
    let gnupg = GnuPg { program: "gpg".into(), home: Some(home.clone()) };
    let data = secrets_sops::parse_plain(b"password: hunter2\n", Format::Yaml).unwrap();
    let options = EncryptOptions {
        key_groups: vec![vec![ALICE.to_string(), fingerprint.clone()]],
        gnupg: gnupg.clone(),
        ..EncryptOptions::default()
    };
    let mut file = secrets_sops::encrypt(data, Format::Yaml, &options).unwrap();
    assert_eq!(file.metadata.recipients(), vec![vec![ALICE.to_string(), fingerprint.clone()]]);
    let out = real_decrypt(&sops, &home, &file.to_bytes().unwrap(), dir.path());
    assert!(out.status.success(), "sops: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"password: hunter2\n");

    // Re-keying with the same data key keeps the PGP entry as it was.
    let before = file.metadata.key_groups[0].other.clone();
    let mut identities = Identities::empty();
    identities.set_gnupg(None, Some(home.clone()));
    assert!(file.update_keys(&identities, &[vec![fingerprint.clone()]], 0).unwrap());
    assert!(file.metadata.key_groups[0].age.is_empty(), "the age recipient is gone");
    assert_eq!(file.metadata.key_groups[0].other, before, "the PGP entry is kept byte for byte");

    // A new data key is wrapped for the PGP key again (no longer refused), and opens.
    let mut plain = file.decrypt(&identities, DecryptOptions::default()).unwrap();
    let rotated = plain.rotate(None, 0).unwrap();
    assert_ne!(rotated.metadata.key_groups[0].other, before, "a new wrap of the new key");
    let out = real_decrypt(&sops, &home, &rotated.to_bytes().unwrap(), dir.path());
    assert!(out.status.success(), "sops: {}", String::from_utf8_lossy(&out.stderr));

    // A fingerprint GnuPG does not know is an error that names it.
    let unknown = "0123456789ABCDEF0123456789ABCDEF01234567";
    let data = secrets_sops::parse_plain(b"a: 1\n", Format::Yaml).unwrap();
    let options = EncryptOptions { key_groups: vec![vec![unknown.to_string()]], gnupg, ..EncryptOptions::default() };
    let err = secrets_sops::encrypt(data, Format::Yaml, &options).unwrap_err();
    assert!(matches!(&err, secrets_sops::Error::PgpEncrypt { fingerprint, .. } if fingerprint == unknown), "{err:?}");
    let _ = Command::new("gpgconf").env("GNUPGHOME", &home).args(["--kill", "gpg-agent"]).status();
}

/// A committer can put in a file a tiny PGP entry that GnuPG unpacks to gigabytes (a compressed
/// literal packet, which needs no key at all): it is cut off after a few bytes, quickly, and
/// reported, never read into memory.
#[test]
fn an_entry_that_unpacks_to_more_than_a_data_key_is_cut_off() {
    let Some(_) = peer("gpg") else { return };
    let dir = tempfile::Builder::new().prefix("pgp").tempdir_in("/tmp").unwrap();
    let home = private_home(dir.path(), "g");
    let fingerprint = keyring(&home);
    let gnupg = GnuPg { program: "gpg".into(), home: Some(home.clone()) };
    let data = secrets_sops::parse_plain(b"{\"a\": 1}", Format::Json).unwrap();
    let options = EncryptOptions { key_groups: vec![vec![fingerprint]], gnupg, ..EncryptOptions::default() };
    let file = secrets_sops::encrypt(data, Format::Json, &options).unwrap();

    // 256 MiB of zeros, stored (no key) and compressed to a few hundred bytes of armor.
    let zeros = dir.path().join("zeros");
    std::fs::File::create(&zeros).unwrap().set_len(256 << 20).unwrap();
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(&home)
        .args(["--batch", "--quiet", "-z", "9", "--compress-algo", "zlib", "--store", "-a", "-o", "-"])
        .arg(&zeros)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bomb = String::from_utf8(out.stdout).unwrap();
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());

    let mut json: serde_json::Value = serde_json::from_slice(&file.to_bytes().unwrap()).unwrap();
    json["sops"]["pgp"][0]["enc"] = serde_json::Value::String(bomb.trim_end().to_string());
    let hostile = EncryptedFile::parse(&serde_json::to_vec(&json).unwrap(), Format::Json).unwrap();

    let mut identities = Identities::empty();
    identities.set_gnupg(None, Some(home.clone()));
    let started = std::time::Instant::now();
    let err = hostile.decrypt(&identities, DecryptOptions::default()).unwrap_err().to_string();
    assert!(err.contains("gpg's output is longer than 64 bytes"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
    let _ = Command::new("gpgconf").env("GNUPGHOME", &home).args(["--kill", "gpg-agent"]).status();
}
