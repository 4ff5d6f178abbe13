//! PGP master keys through the real GnuPG, both ways: files `secrets sops` encrypts for a PGP
//! key (`--pgp`, `SOPS_PGP_FP`, `pgp:` in `.sops.yaml`) open with the real sops, files the real
//! sops encrypts for one open with us, and `rotate`/`updatekeys` wrap the data key for PGP keys
//! again instead of leaving them with the old one. Every keyring is made by the test.

use std::path::Path;
use std::process::Output;

use crate::common::{age_keygen, ok, peer, secrets, sops, sops_and_keygen, stderr_of, stdout_of, GpgKeyring};

fn have_peers() -> bool {
    sops_and_keygen() && peer("gpg").is_some()
}

fn our_decrypt(home: &Path, file: &Path) -> Output {
    secrets().env("GNUPGHOME", home).args(["sops", "decrypt"]).arg(file).output().unwrap()
}

fn real_decrypt(home: &Path, file: &Path) -> Output {
    sops(&["decrypt", file.to_str().unwrap()], &[("GNUPGHOME", home)], file.parent().unwrap())
}

#[test]
fn files_we_encrypt_for_a_pgp_key_open_with_the_real_sops() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pgp").tempdir_in("/tmp").unwrap();
    let key = GpgKeyring::new(dir.path(), "a");
    let plain = dir.path().join("plain.yaml");
    std::fs::write(&plain, "password: hunter2\n").unwrap();

    // --pgp, with the fingerprint written with spaces as gpg prints it.
    let spaced: String = key.fingerprint.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ");
    let by_flag = dir.path().join("flag.yaml");
    ok(&secrets()
        .env("GNUPGHOME", &key.home)
        .args(["sops", "encrypt", "--pgp", &spaced, "--output"])
        .arg(&by_flag)
        .arg(&plain)
        .output()
        .unwrap());
    let written = std::fs::read_to_string(&by_flag).unwrap();
    assert!(written.contains(&format!("          fp: {}\n", key.fingerprint)), "the fingerprint without spaces:\n{written}");
    assert!(written.contains("        - created_at: \"20"), "sops's created_at first:\n{written}");
    assert!(written.contains("          enc: |-\n            -----BEGIN PGP MESSAGE-----\n"), "{written}");
    let out = real_decrypt(&key.home, &by_flag);
    assert!(out.status.success(), "sops: {}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "password: hunter2\n");

    // SOPS_PGP_FP, in JSON.
    let json = dir.path().join("plain.json");
    std::fs::write(&json, "{\"password\": \"hunter2\"}\n").unwrap();
    let out = ok(&secrets()
        .env("GNUPGHOME", &key.home)
        .env("SOPS_PGP_FP", &key.fingerprint)
        .args(["sops", "encrypt"])
        .arg(&json)
        .output()
        .unwrap())
    .stdout
    .clone();
    let by_env = dir.path().join("env.json");
    std::fs::write(&by_env, out).unwrap();
    let out = real_decrypt(&key.home, &by_env);
    assert!(out.status.success(), "sops: {}", stderr_of(&out));
    assert!(stdout_of(&out).contains("hunter2"));

    // A PGP key that GnuPG does not know stops the encryption and is named.
    let other = GpgKeyring::new(dir.path(), "b");
    let out = secrets().env("GNUPGHOME", &key.home).args(["sops", "encrypt", "--pgp", &other.fingerprint]).arg(&plain).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(stderr_of(&out).contains(&format!("PGP key {}", other.fingerprint)), "{}", stderr_of(&out));
}

#[test]
fn creation_rules_with_pgp_keys_split_the_key_between_pgp_and_age_groups() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pgp").tempdir_in("/tmp").unwrap();
    let a = GpgKeyring::new(dir.path(), "a");
    let (alice_key, alice) = age_keygen(dir.path(), "alice");
    let config = format!(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - pgp:\n          - {}\n      - age: [{alice}]\n",
        a.fingerprint
    );
    std::fs::write(dir.path().join(".sops.yaml"), config).unwrap();
    std::fs::write(dir.path().join("s.yaml"), "token: abc\n").unwrap();
    ok(&secrets().env("GNUPGHOME", &a.home).current_dir(dir.path()).args(["sops", "encrypt", "-i", "s.yaml"]).output().unwrap());
    let file = dir.path().join("s.yaml");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("key_groups:\n        - pgp:\n"), "{written}");

    let both = sops(&["decrypt", "s.yaml"], &[("GNUPGHOME", &a.home), ("SOPS_AGE_KEY_FILE", &alice_key)], dir.path());
    assert!(both.status.success(), "sops: {}", stderr_of(&both));
    assert_eq!(stdout_of(&both), "token: abc\n");
    let pgp_only = real_decrypt(&a.home, &file);
    assert!(!pgp_only.status.success(), "one share of two is not enough");
}

#[test]
fn files_the_real_sops_encrypts_for_a_pgp_key_open_with_us() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pgp").tempdir_in("/tmp").unwrap();
    let key = GpgKeyring::new(dir.path(), "a");
    let plain = dir.path().join("plain.env");
    std::fs::write(&plain, "TOKEN=abc\n").unwrap();
    let out = sops(&["encrypt", "--pgp", &key.fingerprint, plain.to_str().unwrap()], &[("GNUPGHOME", &key.home)], dir.path());
    assert!(out.status.success(), "sops: {}", stderr_of(&out));
    let file = dir.path().join("enc.env");
    std::fs::write(&file, &out.stdout).unwrap();
    let out = ok(&our_decrypt(&key.home, &file)).stdout.clone();
    assert_eq!(out, b"TOKEN=abc\n");
}

#[test]
fn rotate_and_updatekeys_wrap_the_key_again_for_pgp_keys() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pgp").tempdir_in("/tmp").unwrap();
    let a = GpgKeyring::new(dir.path(), "a");
    let b = GpgKeyring::new(dir.path(), "b");
    a.import_public(&b);
    let (alice_key, alice) = age_keygen(dir.path(), "alice");
    let file = dir.path().join("s.yaml");
    std::fs::write(&file, "token: abc\n").unwrap();
    let run = |args: &[&str]| {
        secrets().env("GNUPGHOME", &a.home).env("SOPS_AGE_KEY_FILE", &alice_key).current_dir(dir.path()).args(args).output().unwrap()
    };
    ok(&run(&["sops", "encrypt", "-i", "--age", &alice, "--pgp", &a.fingerprint, "s.yaml"]));

    // A new data key for both PGP keys: B opens it with the real sops, A still does.
    ok(&run(&["sops", "rotate", "-i", "--add-pgp", &b.fingerprint, "s.yaml"]));
    for home in [&b.home, &a.home] {
        let out = real_decrypt(home, &file);
        assert!(out.status.success(), "sops: {}", stderr_of(&out));
    }
    // Removed, A no longer opens the file.
    ok(&run(&["sops", "rotate", "-i", "--rm-pgp", &a.fingerprint, "s.yaml"]));
    assert!(!real_decrypt(&a.home, &file).status.success(), "A was removed");
    assert!(real_decrypt(&b.home, &file).status.success());

    // updatekeys gives the same data key to the PGP keys of the creation rule.
    let config = format!("creation_rules:\n  - age: {alice}\n    pgp: {},{}\n", a.fingerprint, b.fingerprint);
    std::fs::write(dir.path().join(".sops.yaml"), config).unwrap();
    let out = ok(&run(&["sops", "updatekeys", "-y", "s.yaml"])).stdout.clone();
    assert!(String::from_utf8_lossy(&out).contains(&format!("+++ {}", a.fingerprint)), "{}", String::from_utf8_lossy(&out));
    for home in [&a.home, &b.home] {
        let out = real_decrypt(home, &file);
        assert!(out.status.success(), "sops: {}", stderr_of(&out));
        assert_eq!(stdout_of(&out), "token: abc\n");
    }
    let out = ok(&run(&["sops", "updatekeys", "-y", "s.yaml"])).stderr.clone();
    assert!(String::from_utf8_lossy(&out).contains("already up to date"), "{}", String::from_utf8_lossy(&out));
}

#[test]
fn a_rule_without_keys_fails_with_sops_words() {
    let dir = tempfile::tempdir().unwrap();
    let config = "creation_rules:\n  - path_regex: none\\.yaml$\n  - path_regex: zero\\.yaml$\n    key_groups: []\n  - path_regex: empty\\.yaml$\n    key_groups:\n      - {}\n";
    std::fs::write(dir.path().join(".sops.yaml"), config).unwrap();
    for name in ["none.yaml", "zero.yaml", "empty.yaml"] {
        std::fs::write(dir.path().join(name), "a: secret\n").unwrap();
        let out = secrets().current_dir(dir.path()).args(["sops", "encrypt", "-i", name]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert_eq!(stderr_of(&out), "Could not generate data key: [empty key group provided]\n", "{name}");
        assert_eq!(std::fs::read_to_string(dir.path().join(name)).unwrap(), "a: secret\n", "{name} unchanged");
    }
}

#[test]
fn a_key_given_to_the_wrong_flag_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("p.yaml");
    std::fs::write(&plain, "a: 1\n").unwrap();
    let out = secrets().args(["sops", "encrypt", "--pgp", "age1qqqq"]).arg(&plain).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("age1qqqq is not a PGP fingerprint"), "{}", stderr_of(&out));
    let out = secrets().args(["sops", "encrypt", "--age", "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"]).arg(&plain).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("is a PGP fingerprint, not an age recipient"), "{}", stderr_of(&out));
}
