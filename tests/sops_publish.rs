//! `secrets sops publish` against the real sops: the exit codes, messages on standard output
//! and the `(y/n)` prompt where the two overlap (sops is pointed at an S3 rule and answered "n",
//! so it never reaches the network), the `local_path` destination whose copy the real sops
//! decrypts with the recreation rule's key only, and the refusals of a hostile repository
//! (links on the way in and out, destinations this tool cannot reach).

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::common::{age_keygen, clean_env, ok, sops, sops_and_keygen, sops_bin, stderr_of, stdout_of};

/// Runs `program args` in `dir` with the key file `key`, `input` on standard input.
fn run_with(mut cmd: Command, dir: &Path, key: &Path, args: &[&str], input: &str) -> Output {
    clean_env(&mut cmd);
    let mut child = cmd
        .args(args)
        .current_dir(dir)
        .env("SOPS_AGE_KEY_FILE", key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A child that stops reading early closes the pipe: that is not the test's failure.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn ours(dir: &Path, key: &Path, args: &[&str], input: &str) -> Output {
    let mut all = vec!["sops", "publish"];
    all.extend_from_slice(args);
    run_with(Command::new(env!("CARGO_BIN_EXE_secrets")), dir, key, &all, input)
}

fn theirs(dir: &Path, key: &Path, args: &[&str], input: &str) -> Output {
    let mut all = vec!["publish"];
    all.extend_from_slice(args);
    run_with(Command::new(sops_bin().expect("checked by the caller")), dir, key, &all, input)
}

/// A folder with alice's and bob's age keys and `s.yaml` and `d/e/t.yaml` encrypted by the real
/// sops for alice.
struct Setup {
    dir: tempfile::TempDir,
    alice_key: std::path::PathBuf,
    bob_key: std::path::PathBuf,
    alice: String,
    bob: String,
}

fn setup() -> Setup {
    let dir = tempfile::Builder::new().prefix("pub").tempdir_in("/tmp").unwrap();
    let (alice_key, alice) = age_keygen(dir.path(), "alice");
    let (bob_key, bob) = age_keygen(dir.path(), "bob");
    std::fs::create_dir_all(dir.path().join("d/e")).unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    for (name, text) in [("s.yaml", "token: abc\n"), ("d/e/t.yaml", "db: pw\n"), ("d/a.yaml", "x: 1\n")] {
        std::fs::write(dir.path().join(name), text).unwrap();
        let out = sops(&["encrypt", "-i", "--age", &alice, name], &[], dir.path());
        assert!(out.status.success(), "sops: {}", stderr_of(&out));
    }
    Setup { dir, alice_key, bob_key, alice, bob }
}

impl Setup {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self, text: &str) {
        std::fs::write(self.path().join(".sops.yaml"), text.replace("BOB", &self.bob)).unwrap();
    }
}

#[test]
fn exit_codes_messages_and_the_prompt_are_sopss() {
    if !sops_and_keygen() {
        return;
    }
    let s = setup();
    let key = s.alice_key.as_path();
    let same = |args: &[&str], input: &str| {
        let (a, b) = (ours(s.path(), key, args, input), theirs(s.path(), key, args, input));
        assert_eq!(a.status.code(), b.status.code(), "{args:?}: ours {} / sops {}", stderr_of(&a), stderr_of(&b));
        (a, b)
    };
    // No configuration at all, then no file, a missing file, a folder without --recursive.
    same(&["s.yaml"], "");
    s.config("destination_rules:\n  - path_regex: nomatch\n    s3_bucket: b\n");
    assert_eq!(same(&[], "").0.status.code(), Some(100));
    same(&["missing.yaml"], "");
    same(&["d"], "");
    // No rule matches; a rule without a destination; a rule with two.
    assert_eq!(same(&["s.yaml"], "").0.status.code(), Some(1));
    s.config("destination_rules:\n  - path_regex: s\\.yaml\n    recreation_rule:\n      age: BOB\n");
    same(&["s.yaml"], "");
    s.config("destination_rules:\n  - path_regex: s\\.yaml\n    s3_bucket: b\n    gcs_bucket: c\n");
    let (two, _) = same(&["s.yaml"], "");
    assert!(stderr_of(&two).contains("more than one destinations"), "{}", stderr_of(&two));

    // The prompt: sops asks about its S3 rule, we about the same rule with a local folder.
    let out = s.path().join("out");
    let rule = |destination: &str| {
        format!("destination_rules:\n  - path_regex: \\.yaml$\n    {destination}\n    recreation_rule:\n      age: BOB\n")
    };
    let ask = |args: &[&str], input: &str| {
        s.config(&rule("s3_bucket: bucket\n    s3_prefix: pre/"));
        let b = theirs(s.path(), key, args, input);
        s.config(&rule(&format!("local_path: {}", out.display())));
        let a = ours(s.path(), key, args, input);
        assert_eq!(a.status.code(), b.status.code(), "{args:?} {input:?}: ours {} / sops {}", stderr_of(&a), stderr_of(&b));
        let expected = stdout_of(&b).replace("s3://bucket/pre/", &format!("{}/", out.display()));
        assert_eq!(stdout_of(&a), expected, "{args:?} {input:?}");
        (a, b)
    };
    let (no, theirs_no) = ask(&["s.yaml"], "n\n");
    assert!(stdout_of(&no).starts_with("The following changes will be made to the file's key groups:\nGroup 1\n"), "{}", stdout_of(&no));
    assert!(stdout_of(&no).ends_with(&format!("uploading {}/s.yaml to {}/s.yaml ? (y/n): ", s.path().display(), out.display())));
    assert_eq!(stderr_of(&no).trim(), stderr_of(&theirs_no).lines().last().unwrap().trim(), "sops's words");
    ask(&["s.yaml"], "maybe\nn\n");
    ask(&["s.yaml"], "");
    ask(&["s.yaml"], "\n");
    // In a folder, "n" cancels one file and goes on; the paths are the files' below the folder.
    let (walked, _) = ask(&["--recursive", "d"], "n\nn\n");
    assert_eq!(walked.status.code(), Some(0));
    assert!(stdout_of(&walked).contains(&format!("to {}/e/t.yaml ? (y/n): Publication of", out.display())), "{}", stdout_of(&walked));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "nothing published");
    // A key that does not open the file: sops's code 128 for both.
    s.config(&rule("s3_bucket: bucket"));
    let theirs_locked = theirs(s.path(), &s.bob_key, &["-y", "s.yaml"], "");
    s.config(&rule(&format!("local_path: {}", out.display())));
    let locked = ours(s.path(), &s.bob_key, &["-y", "s.yaml"], "");
    assert_eq!((locked.status.code(), theirs_locked.status.code()), (Some(128), Some(128)), "{}", stderr_of(&locked));
    // A plain file is not a sops file, for either.
    std::fs::write(s.path().join("plain.yaml"), "a: 1\n").unwrap();
    ask(&["plain.yaml"], "y\n");
}

#[test]
fn a_local_destination_gets_a_copy_the_recreation_rule_keys_open() {
    if !sops_and_keygen() {
        return;
    }
    let s = setup();
    let key = s.alice_key.as_path();
    s.config("destination_rules:\n  - path_regex: ^s\\.yaml$\n    local_path: out\n    recreation_rule:\n      age: BOB\n  - path_regex: \\.yaml$\n    local_path: out/all\n    omit_extensions: true\n");
    let published = ok(&ours(s.path(), key, &["s.yaml"], "y\n")).stdout.clone();
    assert!(String::from_utf8_lossy(&published).contains(&format!("+++ {}\n--- {}\n", s.bob, s.alice)));
    let copy = s.path().join("out/s.yaml");
    let bob = sops(&["decrypt", copy.to_str().unwrap()], &[("SOPS_AGE_KEY_FILE", &s.bob_key)], s.path());
    assert!(bob.status.success(), "sops: {}", stderr_of(&bob));
    assert_eq!(stdout_of(&bob), "token: abc\n");
    let alice = sops(&["decrypt", copy.to_str().unwrap()], &[("SOPS_AGE_KEY_FILE", &s.alice_key)], s.path());
    assert!(!alice.status.success(), "the copy is for the recreation rule's keys only");
    assert_ne!(
        std::fs::read_to_string(&copy).unwrap().lines().next(),
        std::fs::read_to_string(s.path().join("s.yaml")).unwrap().lines().next(),
        "a new data key"
    );

    // A rule without keys publishes the file as it is; a folder keeps its layout, here without
    // extensions; nothing but the files is left in the destination.
    std::fs::create_dir(s.path().join("out/all")).unwrap();
    ok(&ours(s.path(), key, &["--yes", "--recursive", "./d/"], ""));
    assert_eq!(std::fs::read(s.path().join("out/all/e/t")).unwrap(), std::fs::read(s.path().join("d/e/t.yaml")).unwrap());
    assert_eq!(std::fs::read(s.path().join("out/all/a")).unwrap(), std::fs::read(s.path().join("d/a.yaml")).unwrap());
    let mut names: Vec<String> =
        std::fs::read_dir(s.path().join("out/all")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["a", "e"]);
    // Published again, the file is replaced.
    ok(&ours(s.path(), key, &["-y", "s.yaml"], ""));
    let again = sops(&["decrypt", copy.to_str().unwrap()], &[("SOPS_AGE_KEY_FILE", &s.bob_key)], s.path());
    assert_eq!(stdout_of(&again), "token: abc\n");
}

#[test]
fn links_names_and_unreachable_destinations_are_refused() {
    if !sops_and_keygen() {
        return;
    }
    let s = setup();
    let key = s.alice_key.as_path();
    let elsewhere = tempfile::tempdir().unwrap();
    s.config("destination_rules:\n  - path_regex: \\.yaml$\n    local_path: out\n    recreation_rule:\n      age: BOB\n");

    // A source that is a link to another sops file (which the caller's key opens) is not read.
    symlink(s.path().join("s.yaml"), s.path().join("link.yaml")).unwrap();
    let out = ours(s.path(), key, &["-y", "link.yaml"], "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("symbolic link"), "{}", stderr_of(&out));
    // Nor is a link inside a published folder.
    symlink(s.path().join("s.yaml"), s.path().join("d/e/z.yaml")).unwrap();
    let out = ours(s.path(), key, &["-y", "--recursive", "d"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("z.yaml: not a regular file or folder"), "{}", stderr_of(&out));
    std::fs::remove_file(s.path().join("d/e/z.yaml")).unwrap();
    // A folder of the destination that is a link is not written through.
    symlink(elsewhere.path(), s.path().join("out/e")).unwrap();
    let out = ours(s.path(), key, &["-y", "--recursive", "d"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("symbolic link"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

    // S3, GCS and Vault: refused before anything is read or asked, naming where it would go.
    for (rule, shown) in [
        ("s3_bucket: b\n    s3_prefix: p/", "publishing to S3 (s3://b/p/s.yaml) is not supported by this tool"),
        ("gcs_bucket: g", "publishing to GCS (gcs://g/s.yaml) is not supported by this tool"),
        ("vault_path: app\n    vault_address: https://vault:8200", "(https://vault:8200/v1/secret/data/app/s.yaml)"),
    ] {
        s.config(&format!("destination_rules:\n  - {rule}\n"));
        let out = ours(s.path(), key, &["s.yaml"], "y\n");
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr_of(&out).contains(shown), "{}", stderr_of(&out));
        assert!(stderr_of(&out).contains("local_path"), "the way out is named: {}", stderr_of(&out));
        assert_eq!(stdout_of(&out), "", "nothing asked");
    }

    // A missing destination folder is named, not created through whatever is on the way.
    s.config("destination_rules:\n  - local_path: missing/folder\n");
    let out = ours(s.path(), key, &["-y", "s.yaml"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("does not exist"), "{}", stderr_of(&out));
    assert!(!s.path().join("missing").exists());
}
