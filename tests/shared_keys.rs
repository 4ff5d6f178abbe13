//! One public key registered for two members (a user and a machine, say) stays a recipient of
//! what either reads: removing one of them cannot revoke the key, and the removal says so,
//! naming the other holder, so that nobody believes a revocation that did not happen.

use crate::common::clan::{Flake, K};
use crate::common::stderr_of;

#[test]
fn removing_a_user_whose_key_a_machine_shares_warns_that_the_key_still_decrypts() {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "alice", K[0]], &["users", "add", "bob", K[1]], &["machines", "add", "web1", K[1]]]);
    flake.set(0, &["--user", "bob", "--machine", "web1", "s"], "value");

    let out = flake.as_key(0).args(["users", "remove", "bob"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    let warning = err.lines().find(|l| l.starts_with("warning: the key")).unwrap_or_else(|| panic!("no warning: {err}"));
    assert!(warning.contains(K[1]) && warning.contains("removed user bob") && warning.contains("machine web1"), "{warning}");
    assert!(warning.contains("still decrypts"), "{warning}");
    // It is true: the file is still encrypted for the key, through web1.
    assert!(flake.recipients("s").contains(K[1]));

    // A key nobody else holds: no warning.
    flake.all(0, &[&["users", "add", "carol", K[2]], &["users", "add-secret", "carol", "s"]]);
    let out = flake.as_key(0).args(["users", "remove", "carol"]).output().unwrap();
    assert!(out.status.success() && !stderr_of(&out).contains("still decrypts"), "{}", stderr_of(&out));
}

/// The other holder's name comes from the repository: a planted machine folder whose name
/// carries terminal escapes never reaches the terminal raw.
#[test]
fn the_other_holder_is_never_printed_raw() {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "alice", K[0]], &["users", "add", "bob", K[1]]]);
    let planted = flake.sops("machines/web\u{1b}[2Jx");
    std::fs::create_dir_all(&planted).unwrap();
    std::fs::write(planted.join("key.json"), crate::common::clan::clan_key_json(&[K[1]])).unwrap();
    let out = flake.as_key(0).args(["users", "remove", "bob"]).output().unwrap();
    let err = stderr_of(&out);
    assert!(!err.contains('\u{1b}'), "{err:?}");
}
