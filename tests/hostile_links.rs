//! Membership links named after someone else than they lead to. A committer can plant
//! `sops/secrets/db/users/zz -> ../../../users/bob`: if the target made bob a reader, removing
//! bob (which finds his links by their name, as clan does) would miss it and leave `db` open to
//! him. A link therefore grants only the member it is named after; such a link grants nothing,
//! `check` reports it as `misnamed-link`, and `check --fix` drops it from a secret.

use std::fs;
use std::os::unix::fs::symlink;

use crate::common::clan::{Flake, K};
use crate::common::stdout_of;

/// alice (k0) runs every command; bob (k1) is the member a committer wants to keep in.
fn alice_and_bob() -> Flake {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "alice", K[0]], &["users", "add", "bob", K[1]]]);
    flake
}

/// Commits everything under the flake, as the committer's push would.
fn commit(flake: &Flake, message: &str) {
    flake.git(&["add", "-A"]);
    flake.git(&["commit", "-q", "-m", message]);
}

/// Asserts that bob's key is not among the recipients of `secret` and that sops cannot open it
/// with his key.
#[track_caller]
fn bob_is_out(flake: &Flake, secret: &str) {
    assert!(!flake.recipients(secret).contains(K[1]), "{secret} is encrypted for bob");
    flake.sops_cannot_read(secret, 1);
}

#[test]
fn a_secret_link_named_after_someone_else_grants_nothing() {
    let flake = alice_and_bob();
    flake.set(0, &["db"], "db-value");
    symlink("../../../users/bob", flake.sops("secrets/db/users/zz")).unwrap();
    commit(&flake, "give db to bob");

    let out = flake.as_key(0).args(["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    assert!(text.contains("misnamed-link") && text.contains("sops/secrets/db/users/zz"), "{text}");

    // Neither a full re-key nor the fix encrypts for bob; the fix drops the link.
    flake.ok(0, &["key", "update"]);
    bob_is_out(&flake, "db");
    let _ = flake.as_key(0).args(["check", "--fix"]).output().unwrap();
    bob_is_out(&flake, "db");
    assert!(!flake.has_link("secrets/db/users/zz"), "check --fix keeps the misnamed link");
    flake.sops_reads("db", 0, "db-value");

    flake.ok(0, &["users", "remove", "bob"]);
    bob_is_out(&flake, "db");
}

#[test]
fn a_group_link_named_after_another_group_grants_nothing() {
    let flake = alice_and_bob();
    flake.ok(0, &["groups", "add-user", "team", "bob"]);
    flake.set(0, &["db"], "db-value");
    fs::create_dir_all(flake.sops("secrets/db/groups")).unwrap();
    symlink("../../../groups/team", flake.sops("secrets/db/groups/g")).unwrap();
    commit(&flake, "give db to team");

    let _ = flake.as_key(0).args(["check", "--fix"]).output().unwrap();
    bob_is_out(&flake, "db");
    flake.ok(0, &["key", "update"]);
    bob_is_out(&flake, "db");

    flake.ok(0, &["groups", "remove-user", "team", "bob"]);
    bob_is_out(&flake, "db");
}

#[test]
fn a_group_member_link_named_after_someone_else_grants_nothing() {
    let flake = alice_and_bob();
    flake.ok(0, &["groups", "add-user", "team", "alice"]);
    flake.set(0, &["gs", "--group", "team"], "group-value");
    symlink("../../../users/bob", flake.sops("groups/team/users/zz")).unwrap();
    commit(&flake, "bob joins team");

    flake.ok(0, &["key", "update"]);
    bob_is_out(&flake, "gs");
    flake.sops_reads("gs", 0, "group-value");
    let out = flake.as_key(0).args(["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    assert!(text.contains("misnamed-link") && text.contains("sops/groups/team/users/zz"), "{text}");

    flake.ok(0, &["users", "remove", "bob"]);
    bob_is_out(&flake, "gs");
}

#[test]
fn access_does_not_list_a_member_through_a_misnamed_link() {
    let flake = alice_and_bob();
    flake.set(0, &["db"], "db-value");
    symlink("../../../users/bob", flake.sops("secrets/db/users/zz")).unwrap();
    let out = flake.ok(0, &["access", "db"]);
    assert!(!out.contains("bob"), "{out}");
}

#[test]
fn a_member_folder_that_is_a_symlink_is_refused_by_its_own_name() {
    let flake = alice_and_bob();
    flake.set(0, &["db"], "db-value");
    let outside = tempfile::tempdir().unwrap();
    let bob = flake.sops("users/bob");
    fs::rename(&bob, outside.path().join("bob")).unwrap();
    symlink(outside.path().join("bob"), &bob).unwrap();

    let text = crate::common::clan::fails(flake.as_key(0).args(["users", "add-secret", "bob", "db"]), 1, "sops/users/bob");
    assert!(text.contains("symbolic link") && !text.contains("secrets/db/users/bob"), "{text}");
    assert!(!flake.has_link("secrets/db/users/bob"), "a link to the symlinked folder was left behind");
    bob_is_out(&flake, "db");
}
