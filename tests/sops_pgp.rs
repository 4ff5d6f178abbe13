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

/// A `SOPS_GPG_EXEC` program that logs each call to `log` and runs the real gpg.
fn logging_gpg(dir: &Path, log: &Path) -> std::path::PathBuf {
    let script = dir.join("gpg-logged");
    let gpg = peer("gpg").expect("checked by the caller");
    std::fs::write(&script, format!("#!/bin/sh\necho \"$*\" >> '{}'\nexec '{}' \"$@\"\n", log.display(), gpg.display())).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    script
}

/// Whether gpg was run at all, and its first run was to decrypt.
fn first_call_decrypts(log: &Path) -> bool {
    std::fs::read_to_string(log).ok().and_then(|text| text.lines().next().map(|line| line.split(' ').any(|word| word == "-d")))
        == Some(true)
}

#[test]
fn the_decryption_order_decides_whether_gpg_runs_before_age_as_in_sops() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::Builder::new().prefix("pgp").tempdir_in("/tmp").unwrap();
    let key = GpgKeyring::new(dir.path(), "a");
    let (age_key, age_recipient) = age_keygen(dir.path(), "alice");
    let plain = dir.path().join("plain.yaml");
    std::fs::write(&plain, "token: abc\n").unwrap();
    let out = sops(
        &["encrypt", "--age", &age_recipient, "--pgp", &key.fingerprint, plain.to_str().unwrap()],
        &[("GNUPGHOME", &key.home)],
        dir.path(),
    );
    assert!(out.status.success(), "sops: {}", stderr_of(&out));
    let file = dir.path().join("both.yaml");
    std::fs::write(&file, &out.stdout).unwrap();
    let log = dir.path().join("gpg.log");
    let gpg = logging_gpg(dir.path(), &log);

    // updatekeys needs a rule, and something to change to open the data key at all.
    let (_, bob) = age_keygen(dir.path(), "bob");
    let rule = format!("creation_rules:\n  - age: {age_recipient},{bob}\n    pgp: {}\n", key.fingerprint);
    std::fs::write(dir.path().join(".sops.yaml"), rule).unwrap();

    // (arguments, SOPS_DECRYPTION_ORDER, whether gpg opens the file before age is tried)
    let cases: [(&[&str], Option<&str>, bool); 11] = [
        (&["decrypt"], None, false),
        (&["decrypt", "--decryption-order", "age,pgp"], None, false),
        (&["decrypt", "--decryption-order", "pgp,age"], None, true),
        (&["decrypt", "--decryption-order", "pgp"], None, true),
        // Neither kind named: both rank last, and sops keeps PGP keys before age keys.
        (&["decrypt", "--decryption-order", "kms"], None, true),
        (&["decrypt"], Some("pgp,age"), true),
        (&["decrypt", "--decryption-order", "age"], Some("pgp"), false),
        (&["exec-env", "both.yaml", "echo $token"], Some("pgp"), true),
        (&["exec-env", "both.yaml", "echo $token"], None, false),
        // sops gives updatekeys (and groups) no order: PGP first, whatever the variable says.
        (&["updatekeys", "-y", "copy.yaml"], None, true),
        (&["updatekeys", "-y", "copy.yaml"], Some("age,pgp"), true),
    ];
    for (args, variable, gpg_first) in cases {
        let mut args = args.to_vec();
        if args[0] == "decrypt" {
            args.push("both.yaml");
        }
        let mut envs: Vec<(&str, &Path)> = vec![("GNUPGHOME", &key.home), ("SOPS_AGE_KEY_FILE", &age_key), ("SOPS_GPG_EXEC", &gpg)];
        if let Some(order) = variable {
            envs.push(("SOPS_DECRYPTION_ORDER", Path::new(order)));
        }
        std::fs::copy(&file, dir.path().join("copy.yaml")).unwrap();
        let _ = std::fs::remove_file(&log);
        let theirs = sops(&args, &envs, dir.path());
        assert!(theirs.status.success(), "sops {args:?}: {}", stderr_of(&theirs));
        let sops_ran_gpg = first_call_decrypts(&log);
        std::fs::copy(&file, dir.path().join("copy.yaml")).unwrap();
        let _ = std::fs::remove_file(&log);
        let mut ours = secrets();
        ours.current_dir(dir.path()).arg("sops").args(&args);
        for (name, value) in &envs {
            ours.env(name, value);
        }
        let ours = ok(&ours.output().unwrap()).clone();
        let we_ran_gpg = first_call_decrypts(&log);
        assert_eq!(sops_ran_gpg, gpg_first, "sops {args:?} {variable:?}");
        assert_eq!(we_ran_gpg, gpg_first, "ours {args:?} {variable:?}");
        assert_eq!(stdout_of(&ours), stdout_of(&theirs), "{args:?}");
    }
}

#[test]
fn a_kind_named_twice_in_the_decryption_order_fails_as_in_sops() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = crate::common::vectors().join("enc/basic.yaml");
    for order in ["age,pgp,age", "pgp,,"] {
        let theirs = sops(&["decrypt", "--decryption-order", order, file.to_str().unwrap()], &[], dir.path());
        let ours = secrets().args(["sops", "decrypt", "--decryption-order", order]).arg(&file).output().unwrap();
        assert_eq!(theirs.status.code(), Some(112), "{order}");
        assert_eq!(ours.status.code(), Some(112), "{order}");
        assert_eq!(stderr_of(&ours), stderr_of(&theirs), "{order}");
        assert!(ours.stdout.is_empty());
    }
}

#[test]
fn a_key_under_the_other_kind_in_a_creation_rule_is_never_used_as_that_kind() {
    if !have_peers() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_, alice) = age_keygen(dir.path(), "alice");
    let fp = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";
    let rules = [
        (format!("creation_rules:\n  - pgp: {alice}\n"), format!("creation_rules[0].pgp: {alice} is not a PGP fingerprint")),
        (format!("creation_rules:\n  - age: {fp}\n"), format!("creation_rules[0].age: {fp} is a PGP fingerprint, not an age recipient")),
        (
            format!("creation_rules:\n  - key_groups:\n      - pgp: [{alice}]\n"),
            format!("creation_rules[0].key_groups[0].pgp: {alice} is not a PGP fingerprint"),
        ),
        (
            format!("creation_rules:\n  - key_groups:\n      - age: ['{fp}']\n"),
            format!("creation_rules[0].key_groups[0].age: {fp} is a PGP fingerprint"),
        ),
    ];
    // A file to decrypt later, made before any .sops.yaml is there.
    std::fs::write(dir.path().join("s.yaml"), "a: secret\n").unwrap();
    let out = sops(&["encrypt", "--age", &alice, "s.yaml"], &[], dir.path());
    assert!(out.status.success(), "sops: {}", stderr_of(&out));
    std::fs::write(dir.path().join("enc.yaml"), &out.stdout).unwrap();
    let empty_home = dir.path().join("gnupg");
    std::fs::create_dir_all(&empty_home).unwrap();
    std::fs::set_permissions(&empty_home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    for (config, words) in rules {
        std::fs::write(dir.path().join(".sops.yaml"), &config).unwrap();
        std::fs::write(dir.path().join("s.yaml"), "a: secret\n").unwrap();
        let theirs = sops(&["encrypt", "s.yaml"], &[("GNUPGHOME", &empty_home)], dir.path());
        assert_eq!(theirs.status.code(), Some(1), "sops fails too: {config}");
        let ours =
            secrets().env("GNUPGHOME", &empty_home).current_dir(dir.path()).args(["sops", "encrypt", "-i", "s.yaml"]).output().unwrap();
        assert_eq!(ours.status.code(), Some(1), "{config}");
        assert!(stderr_of(&ours).contains(&words), "{config}: {}", stderr_of(&ours));
        assert_eq!(std::fs::read_to_string(dir.path().join("s.yaml")).unwrap(), "a: secret\n");
    }
    // Decrypting does not choose a rule: the same .sops.yaml stands in the way of neither tool.
    let alice_key = dir.path().join("alice.txt");
    let theirs = sops(&["decrypt", "enc.yaml"], &[("SOPS_AGE_KEY_FILE", &alice_key)], dir.path());
    assert!(theirs.status.success(), "sops: {}", stderr_of(&theirs));
    let ours =
        ok(&secrets().env("SOPS_AGE_KEY_FILE", &alice_key).current_dir(dir.path()).args(["sops", "decrypt", "enc.yaml"]).output().unwrap())
            .stdout
            .clone();
    assert_eq!(ours, b"a: secret\n");
}
