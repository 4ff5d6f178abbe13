//! `secrets sops groups add|delete` against the real sops: a group added to a file (age or PGP
//! keys) holds a Shamir share the real sops combines with the others, a deleted group no longer
//! counts, and the threshold rules are sops's.

use crate::common::{age_keygen, ok, peer, secrets, sops, sops_and_keygen, stderr_of, stdout_of, GpgKeyring};

#[test]
fn groups_added_and_deleted_split_the_same_data_key_for_the_real_sops() {
    if !(sops_and_keygen() && peer("gpg").is_some()) {
        return;
    }
    let dir = tempfile::Builder::new().prefix("grp").tempdir_in("/tmp").unwrap();
    let pgp = GpgKeyring::new(dir.path(), "a");
    let (alice_key, alice) = age_keygen(dir.path(), "alice");
    let (bob_key, bob) = age_keygen(dir.path(), "bob");
    std::fs::write(dir.path().join("s.yaml"), "token: abc\n").unwrap();
    let run = |args: &[&str]| {
        secrets().env("GNUPGHOME", &pgp.home).env("SOPS_AGE_KEY_FILE", &alice_key).current_dir(dir.path()).args(args).output().unwrap()
    };
    ok(&run(&["sops", "encrypt", "-i", "--age", &alice, "s.yaml"]));
    let values_before = std::fs::read_to_string(dir.path().join("s.yaml")).unwrap().lines().next().unwrap().to_string();

    // Without -i the result is printed and the file stays.
    let printed = ok(&run(&["sops", "groups", "add", "-f", "s.yaml", "--pgp", &pgp.fingerprint])).stdout.clone();
    assert!(String::from_utf8_lossy(&printed).contains("key_groups:"));
    assert!(!std::fs::read_to_string(dir.path().join("s.yaml")).unwrap().contains("key_groups:"));

    ok(&run(&["sops", "groups", "add", "-i", "-f", "s.yaml", "--pgp", &pgp.fingerprint]));
    let written = std::fs::read_to_string(dir.path().join("s.yaml")).unwrap();
    assert!(written.contains("shamir_threshold: 2\n"), "{written}");
    assert_eq!(written.lines().next().unwrap(), values_before, "the data key and the values stay");
    let both = sops(&["decrypt", "s.yaml"], &[("GNUPGHOME", &pgp.home), ("SOPS_AGE_KEY_FILE", &alice_key)], dir.path());
    assert!(both.status.success(), "sops: {}", stderr_of(&both));
    assert_eq!(stdout_of(&both), "token: abc\n");
    let alone = sops(&["decrypt", "s.yaml"], &[("SOPS_AGE_KEY_FILE", &alice_key)], dir.path());
    assert!(!alone.status.success(), "one share of two is not enough");

    // A third group with a threshold of two: any two groups open the file.
    ok(&run(&["sops", "groups", "add", "-i", "-f", "s.yaml", "--age", &bob, "--shamir-secret-sharing-threshold", "2"]));
    let keys = dir.path().join("ab.txt");
    let alice_text = std::fs::read_to_string(&alice_key).unwrap();
    std::fs::write(&keys, alice_text + &std::fs::read_to_string(&bob_key).unwrap()).unwrap();
    let two = sops(&["decrypt", "s.yaml"], &[("SOPS_AGE_KEY_FILE", &keys)], dir.path());
    assert!(two.status.success(), "sops: {}", stderr_of(&two));

    // Deleting the PGP group (index 1) leaves alice and bob, still two of two.
    ok(&run(&["sops", "groups", "delete", "-i", "-f", "s.yaml", "1"]));
    let written = std::fs::read_to_string(dir.path().join("s.yaml")).unwrap();
    assert!(!written.contains("pgp:"), "{written}");
    let two = sops(&["decrypt", "s.yaml"], &[("SOPS_AGE_KEY_FILE", &keys)], dir.path());
    assert!(two.status.success(), "sops: {}", stderr_of(&two));

    // sops's rule: a threshold above the groups left is refused, and nothing changes.
    let before = std::fs::read(dir.path().join("s.yaml")).unwrap();
    let out = run(&["sops", "groups", "delete", "-i", "-f", "s.yaml", "--shamir-secret-sharing-threshold", "2", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("will make the Shamir threshold impossible to satisfy"), "{}", stderr_of(&out));
    let out = run(&["sops", "groups", "delete", "-i", "-f", "s.yaml", "5"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(dir.path().join("s.yaml")).unwrap(), before);
}
