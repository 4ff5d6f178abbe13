//! PGP master keys through the real GnuPG: a file the real sops encrypted for a PGP key opens
//! with that key's throw-away keyring, and the tries are reported when it does not.

use std::path::{Path, PathBuf};
use std::process::Command;

use secrets_sops::keys::Identities;
use secrets_sops::{DecryptOptions, EncryptedFile, Format};

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
