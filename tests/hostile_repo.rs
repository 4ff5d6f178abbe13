//! A repository prepared by a hostile committer: symlinks, FIFOs and huge files where a
//! `secret`, a `key.json` or a folder belongs, private keys in key files; and secrets whose
//! names start with a dot, which `clan secrets` creates and re-keys. No command may read or
//! write outside the repository through them, `check` must name each one quickly, and no
//! secret clan would re-key may be skipped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::clan::{key_file, Flake, K};
use crate::common::{stderr_of, stdout_of};

/// alice (k0) is the victim who runs the commands; eve (k1) is the committer.
fn team() -> Flake {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "alice", K[0]], &["users", "add", "eve", K[1]]]);
    flake.set(0, &["db"], "in-repo value");
    flake
}

/// A sops file only alice can read, in another checkout outside the repository.
struct Outside {
    dir: tempfile::TempDir,
}

impl Outside {
    fn new(flake: &Flake) -> Outside {
        flake.set(0, &["victim"], "OUTSIDE-VALUE");
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("other-checkout")).unwrap();
        fs::copy(flake.sops("secrets/victim/secret"), dir.path().join("other-checkout/x.enc")).unwrap();
        flake.ok(0, &["remove", "victim"]);
        Outside { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("other-checkout/x.enc").canonicalize().unwrap()
    }

    fn bytes(&self) -> Vec<u8> {
        fs::read(self.file()).unwrap()
    }
}

/// The path from `sops/secrets/<s>/` up to `/` and down to `target`, as a committer writes a
/// relative link that leaves the repository.
fn relative_from_secret_dir(flake: &Flake, target: &Path) -> PathBuf {
    let depth = flake.path().components().count() - 1 + 3;
    let mut out = PathBuf::new();
    for _ in 0..depth {
        out.push("..");
    }
    out.join(target.strip_prefix("/").unwrap())
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// The committed secret `stolen`, readable by alice and eve according to its links, whose
/// `secret` is what `make` puts there.
fn plant(flake: &Flake, make: impl FnOnce(&Path)) {
    let dir = flake.sops("secrets/stolen");
    fs::create_dir_all(dir.join("users")).unwrap();
    std::os::unix::fs::symlink("../../../users/alice", dir.join("users/alice")).unwrap();
    std::os::unix::fs::symlink("../../../users/eve", dir.join("users/eve")).unwrap();
    make(&dir.join("secret"));
}

/// Runs `args` as alice with a time limit; returns (exit code, stdout, stderr, time taken).
fn run(flake: &Flake, args: &[&str]) -> (Option<i32>, String, String, Duration) {
    let started = Instant::now();
    let out = flake.as_key(0).args(args).timeout(Duration::from_secs(20)).output().unwrap();
    (out.status.code(), stdout_of(&out), stderr_of(&out), started.elapsed())
}

/// Every command that would follow the planted `secret` refuses, names it, and leaves the
/// outside file and the repository's history alone.
fn nothing_goes_through(flake: &Flake, outside: Option<&Outside>, refusal: &str) {
    let before = outside.map(Outside::bytes);
    let head = flake.git(&["rev-parse", "HEAD"]);
    let (code, stdout, stderr, took) = run(flake, &["check"]);
    assert_eq!(code, Some(1), "check: {stdout}{stderr}");
    assert!(stdout.contains(&format!("error[{refusal}]: sops/secrets/stolen/secret")), "check: {stdout}");
    assert!(!stdout.contains("drift") && !stdout.contains("--fix"), "nothing to fix is suggested: {stdout}");
    assert!(took < Duration::from_secs(5), "check took {took:?}");

    for args in [&["get", "stolen"][..], &["check", "--fix"], &["key", "update"], &["users", "add-secret", "eve", "stolen"]] {
        let (code, stdout, stderr, took) = run(flake, args);
        assert_ne!(code, Some(0), "{args:?} succeeded: {stdout}{stderr}");
        assert!(code.is_some(), "{args:?} did not finish");
        assert!(!stdout.contains("OUTSIDE-VALUE"), "{args:?} printed the outside value");
        assert!(stdout.contains("sops/secrets/stolen/secret") || stderr.contains("sops/secrets/stolen/secret"), "{args:?}: {stderr}");
        assert!(took < Duration::from_secs(5), "{args:?} took {took:?}");
    }
    // Writing a new value must not start by reading (for its undo copy) what the entry leads to.
    let started = Instant::now();
    let out = flake.as_key(0).args(["set", "stolen"]).env("SOPS_NIX_SECRET", "new").timeout(Duration::from_secs(20)).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "set: {}", stderr_of(&out));
    assert!(stderr_of(&out).contains("sops/secrets/stolen/secret"), "set: {}", stderr_of(&out));
    assert!(started.elapsed() < Duration::from_secs(5), "set took {:?}", started.elapsed());
    if let (Some(outside), Some(before)) = (outside, before) {
        assert_eq!(outside.bytes(), before, "the outside file was rewritten");
    }
    assert!(
        fs::symlink_metadata(flake.sops("secrets/stolen/secret")).is_ok_and(|m| !m.is_file()),
        "the planted entry is still there, untouched"
    );
    assert_eq!(flake.git(&["rev-parse", "HEAD"]), head, "nothing was committed");
}

#[test]
fn a_secret_linked_relatively_outside_is_never_decrypted() {
    let flake = team();
    let outside = Outside::new(&flake);
    let target = relative_from_secret_dir(&flake, &outside.file());
    plant(&flake, |secret| std::os::unix::fs::symlink(&target, secret).unwrap());
    assert!(flake.sops("secrets/stolen/secret").is_file(), "the link resolves to the outside file");
    nothing_goes_through(&flake, Some(&outside), "symlink");
}

#[test]
fn a_secret_linked_absolutely_outside_is_never_decrypted() {
    let flake = team();
    let outside = Outside::new(&flake);
    plant(&flake, |secret| std::os::unix::fs::symlink(outside.file(), secret).unwrap());
    nothing_goes_through(&flake, Some(&outside), "symlink");
}

#[test]
fn a_secret_linked_to_dev_zero_is_not_read() {
    let flake = team();
    plant(&flake, |secret| std::os::unix::fs::symlink("/dev/zero", secret).unwrap());
    nothing_goes_through(&flake, None, "symlink");
}

#[test]
fn a_fifo_secret_does_not_block() {
    let flake = team();
    plant(&flake, mkfifo);
    nothing_goes_through(&flake, None, "not-a-regular-file");
}

#[test]
fn a_huge_secret_is_refused() {
    let flake = team();
    plant(&flake, |secret| fs::write(secret, vec![b' '; 17 << 20]).unwrap());
    let (code, stdout, _, _) = run(&flake, &["check"]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("error[too-large]: sops/secrets/stolen/secret"), "{stdout}");
    // The bound is configurable.
    let out = flake.as_key(0).arg("check").env("SECRETS_MAX_FILE_SIZE", "1000").output().unwrap();
    assert!(stdout_of(&out).contains("error[too-large]: sops/secrets/db/secret"), "{}", stdout_of(&out));
}

#[test]
fn a_symlinked_group_folder_is_neither_written_nor_deleted_through() {
    let flake = team();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().canonicalize().unwrap().join("g");
    fs::create_dir_all(&target).unwrap();
    fs::create_dir_all(flake.sops("groups")).unwrap();
    std::os::unix::fs::symlink(&target, flake.sops("groups/admins")).unwrap();
    let (code, _, stderr, _) = run(&flake, &["groups", "add-user", "admins", "alice"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("sops/groups/admins") && stderr.contains("symbolic link"), "{stderr}");
    assert!(!target.join("users").exists(), "a link was written outside the repository");
}

#[test]
fn a_symlinked_group_users_folder_is_not_cleaned_by_check_fix() {
    let flake = team();
    // The group's users/ folder leads to a folder elsewhere holding a link that, read through
    // it, looks like a dangling member link, which --fix would delete.
    let outside = tempfile::tempdir().unwrap();
    let elsewhere = outside.path().canonicalize().unwrap().join("u");
    fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink("../../../users/gone", elsewhere.join("gone")).unwrap();
    fs::create_dir_all(flake.sops("groups/admins")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, flake.sops("groups/admins/users")).unwrap();
    fs::create_dir_all(flake.sops("secrets/db/groups")).unwrap();
    std::os::unix::fs::symlink("../../../groups/admins", flake.sops("secrets/db/groups/admins")).unwrap();

    let (code, stdout, _, _) = run(&flake, &["check"]);
    assert_eq!(code, Some(1));
    assert!(stdout.contains("error[folder-symlink]: sops/groups/admins/users"), "{stdout}");
    let (_, stdout, stderr, _) = run(&flake, &["check", "--fix"]);
    assert!(fs::symlink_metadata(elsewhere.join("gone")).is_ok(), "deleted outside: {stdout}{stderr}");
    let (code, _, stderr, _) = run(&flake, &["groups", "remove-user", "admins", "gone"]);
    assert_ne!(code, Some(0));
    assert!(fs::symlink_metadata(elsewhere.join("gone")).is_ok(), "deleted outside: {stderr}");
}

#[test]
fn hostile_key_files_are_refused() {
    let flake = team();
    let outside = tempfile::tempdir().unwrap();
    let real = outside.path().join("key.json");
    fs::write(&real, crate::common::clan::clan_key_json(&[K[2]])).unwrap();
    for (user, make) in [
        ("linked", Box::new(|p: &Path| std::os::unix::fs::symlink(&real, p).unwrap()) as Box<dyn Fn(&Path)>),
        ("fifo", Box::new(|p: &Path| mkfifo(p))),
        (
            "huge",
            Box::new(|p: &Path| fs::write(p, format!("{}{}", crate::common::clan::clan_key_json(&[K[3]]), " ".repeat(2 << 20))).unwrap()),
        ),
    ] {
        fs::create_dir_all(flake.sops("users").join(user)).unwrap();
        make(&flake.sops("users").join(user).join("key.json"));
    }
    let (code, stdout, stderr, took) = run(&flake, &["check"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(took < Duration::from_secs(5), "check took {took:?}");
    for (code, user) in [("symlink", "linked"), ("not-a-regular-file", "fifo"), ("too-large", "huge")] {
        assert!(stdout.contains(&format!("error[{code}]: sops/users/{user}/key.json")), "{code} {user}: {stdout}");
    }
    let (code, _, stderr, _) = run(&flake, &["users", "list"]);
    assert_eq!(code, Some(1), "{stderr}");
    let (code, _, stderr, _) = run(&flake, &["users", "add-secret", "linked", "db"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("sops/users/linked/key.json"), "{stderr}");
    assert!(!flake.has_link("secrets/db/users/linked"));
}

#[test]
fn check_never_prints_a_private_key() {
    let flake = team();
    let private = crate::common::clan::private_key(2);
    fs::create_dir_all(flake.sops("users/leaky")).unwrap();
    fs::write(flake.sops("users/leaky/key.json"), format!(r#"[{{"publickey": "{private}", "type": "age"}}]"#)).unwrap();
    fs::create_dir_all(flake.sops("machines/leaky2")).unwrap();
    fs::write(flake.sops("machines/leaky2/key.json"), format!(r#"{{"publickey": "{K2}", "type": "age"}} {private}"#, K2 = K[2])).unwrap();
    for args in [&["check"][..], &["--json", "check"]] {
        let (code, stdout, stderr, _) = run(&flake, args);
        assert_eq!(code, Some(1), "{args:?}: {stdout}{stderr}");
        assert!(stdout.contains("private-key"), "{args:?}: {stdout}");
        assert!(!stdout.contains("AGE-SECRET-KEY-1") && !stderr.contains("AGE-SECRET-KEY-1"), "{args:?}: {stdout}{stderr}");
    }
}

/// A clan repository where `clan secrets rename` gave secrets names starting with a dot: bob
/// (k1) reads `.hidden` directly and `.grp` through group `team`.
fn hidden_secrets() -> Flake {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "alice", K[0]], &["users", "add", "bob", K[1]], &["groups", "add-user", "team", "bob"]]);
    flake.set(0, &["hidden", "--user", "bob"], "h-value");
    flake.set(0, &["grp", "--group", "team"], "g-value");
    // What `clan secrets rename hidden .hidden` does: move the folder; its links are relative
    // to sops/ and stay valid.
    flake.git(&["mv", "sops/secrets/hidden", "sops/secrets/.hidden"]);
    flake.git(&["mv", "sops/secrets/grp", "sops/secrets/.grp"]);
    flake.git(&["commit", "-q", "-m", "rename"]);
    flake.sops_reads(".hidden", 1, "h-value");
    flake.sops_reads(".grp", 1, "g-value");
    flake
}

#[test]
fn hidden_secrets_are_listed_and_read() {
    let flake = hidden_secrets();
    let out = flake.as_key(0).arg("list").output().unwrap();
    assert_eq!(stdout_of(&out), ".grp\n.hidden\n");
    assert!(stderr_of(&out).contains("`.hidden` starts with a dot"), "{}", stderr_of(&out));
    assert_eq!(flake.ok(1, &["get", ".hidden"]), "h-value");
    let (code, stdout, _, _) = run(&flake, &["check"]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(!stdout.contains("ignores"), "{stdout}");
    // Creating such a name stays refused.
    assert_ne!(flake.as_key(0).args(["set", ".new"]).env("SOPS_NIX_SECRET", "x").output().unwrap().status.code(), Some(0));
    assert_ne!(flake.as_key(0).args(["rename", ".hidden", ".other"]).output().unwrap().status.code(), Some(0));
}

#[test]
fn users_remove_revokes_hidden_secrets() {
    let flake = hidden_secrets();
    flake.ok(0, &["users", "remove", "bob"]);
    flake.sops_cannot_read(".hidden", 1);
    flake.sops_cannot_read(".grp", 1);
    flake.sops_reads(".hidden", 0, "h-value");
    assert!(flake.uncommitted().is_empty());
}

#[test]
fn groups_remove_user_revokes_hidden_secrets() {
    let flake = hidden_secrets();
    flake.ok(0, &["groups", "remove-user", "--force", "team", "bob"]);
    flake.sops_cannot_read(".grp", 1);
    flake.sops_reads(".grp", 0, "g-value");
}

#[test]
fn key_update_and_grants_reach_hidden_secrets() {
    let flake = hidden_secrets();
    // A link removed by hand (or by a merge): key update must re-key what it says.
    fs::remove_file(flake.sops("secrets/.hidden/users/bob")).unwrap();
    flake.ok(0, &["key", "update"]);
    flake.sops_cannot_read(".hidden", 1);
    flake.ok(0, &["users", "add-secret", "bob", ".hidden"]);
    flake.sops_reads(".hidden", 1, "h-value");
    flake.ok(0, &["users", "remove-secret", "bob", ".hidden"]);
    flake.sops_cannot_read(".hidden", 1);
    if let Some(age) = crate::common::peer("age") {
        // The real age agrees: bob's identity opens none of the recipients' stanzas.
        let json: serde_json::Value = serde_json::from_slice(&fs::read(flake.sops("secrets/.hidden/secret")).unwrap()).unwrap();
        let opens = |key: usize, stanza: &serde_json::Value| {
            use std::io::Write;
            let mut child = Command::new(&age)
                .args(["-d", "-i"])
                .arg(key_file(key))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(stanza["enc"].as_str().unwrap().as_bytes()).unwrap();
            child.wait().unwrap().success()
        };
        let stanzas = json["sops"]["age"].as_array().unwrap();
        assert!(stanzas.iter().any(|s| opens(0, s)), "alice's key opens her stanza");
        assert!(!stanzas.iter().any(|s| opens(1, s)), "bob's key still opens the data key");
    }
}

#[test]
fn list_says_when_it_leaves_out_a_secret_no_command_can_name() {
    let flake = team();
    // A committer copies a secret under a name with a space: clan lists neither it nor says so.
    let bad = flake.sops("secrets/db copy");
    fs::create_dir(&bad).unwrap();
    fs::copy(flake.sops("secrets/db/secret"), bad.join("secret")).unwrap();
    let out = flake.as_key(0).arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout_of(&out), "db\n", "the listing itself stays clan's");
    let err = stderr_of(&out);
    assert!(err.contains("one folder under sops/secrets/") && err.contains("secrets check"), "{err}");

    // Nothing to say when every secret is listed.
    fs::remove_dir_all(&bad).unwrap();
    let out = flake.as_key(0).arg("list").output().unwrap();
    assert_eq!(stderr_of(&out), "");
}
