//! The git-native workflow end to end, in real git repositories driven by the git CLI: `check`
//! (tampered, escaping and dangling links, drift made by the real `sops updatekeys`, plaintext,
//! `--fix`), `access`, the diff driver through `git diff` and `git log -p`, the merge driver
//! through `git merge`, `git setup` and its hooks, `log` and `list --long`.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{clean_env, ok, secrets, sops_bin, stderr_of, stdout_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";
const CAROL: &str = "age1xzzypxvu5n8fvvakra4m8nwszzgzumwpfu03l2wsynhvlvygj9kq5793e2";

/// Private keys of the test vectors: alice, bob, and carol (the key of machine web1).
const AS_ALICE: Option<&str> = Some("keys.txt");
const AS_BOB: Option<&str> = Some("keys-b.txt");
const AS_WEB1: Option<&str> = Some("keys-c.txt");
const KEYLESS: Option<&str> = None;

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// A git repository holding users alice and bob, machine web1, group ops = {bob}, and
    /// secrets `db` (alice, web1; value `hunter2`) and `api` (alice, group ops; `token-1`).
    fn team() -> Repo {
        let repo = Repo { dir: tempfile::tempdir().unwrap() };
        repo.git_ok(KEYLESS, &["init", "-q", "-b", "main"]);
        repo.git_ok(KEYLESS, &["config", "user.email", "alice@example.com"]);
        repo.git_ok(KEYLESS, &["config", "user.name", "Alice"]);
        fs::write(repo.path().join("flake.nix"), "{}\n").unwrap();
        repo.git_ok(KEYLESS, &["add", "flake.nix"]);
        repo.git_ok(KEYLESS, &["commit", "-q", "-m", "init"]);
        ok(&repo.run(AS_ALICE, &["users", "add", "alice", "--age-key", ALICE]));
        ok(&repo.run(AS_ALICE, &["users", "add", "bob", "--age-key", BOB]));
        ok(&repo.run(AS_ALICE, &["machines", "add", "web1", CAROL]));
        ok(&repo.run(AS_ALICE, &["groups", "add-user", "ops", "bob"]));
        ok(&repo.set(AS_ALICE, &["db", "--machine", "web1"], "hunter2"));
        ok(&repo.set(AS_ALICE, &["api", "--group", "ops"], "token-1"));
        repo
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn with_key(cmd: &mut Command, key: Option<&str>) {
        if let Some(key) = key {
            cmd.env("SOPS_AGE_KEY_FILE", vectors().join(key));
        }
    }

    /// `secrets` in this repository, as the holder of `key` when there is one.
    fn secrets(&self, key: Option<&str>) -> assert_cmd::Command {
        let mut cmd = secrets();
        cmd.current_dir(self.path());
        if let Some(key) = key {
            cmd.env("SOPS_AGE_KEY_FILE", vectors().join(key));
        }
        cmd
    }

    fn run(&self, key: Option<&str>, args: &[&str]) -> Output {
        self.secrets(key).args(args).output().unwrap()
    }

    fn set(&self, key: Option<&str>, args: &[&str], value: &str) -> Output {
        self.secrets(key).arg("set").args(args).env("SOPS_NIX_SECRET", value).output().unwrap()
    }

    fn get(&self, key: Option<&str>, name: &str) -> String {
        stdout_of(ok(&self.run(key, &["get", name])))
    }

    /// git, with the same clean environment (the drivers it runs inherit it).
    fn git(&self, key: Option<&str>, args: &[&str]) -> Output {
        self.git_env(key, args, &[])
    }

    fn git_env(&self, key: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new("git");
        clean_env(&mut cmd);
        cmd.current_dir(self.path()).args(args).envs(env.iter().copied()).env("GIT_CONFIG_NOSYSTEM", "1");
        Repo::with_key(&mut cmd, key);
        cmd.output().unwrap()
    }

    #[track_caller]
    fn git_ok(&self, key: Option<&str>, args: &[&str]) -> String {
        let out = self.git(key, args);
        assert!(out.status.success(), "git {args:?}: {}{}", stdout_of(&out), stderr_of(&out));
        stdout_of(&out)
    }

    /// `secrets git setup`, with its .gitattributes committed.
    fn setup_git(&self, extra: &[&str]) {
        let mut args = vec!["git", "setup"];
        args.extend_from_slice(extra);
        ok(&self.run(KEYLESS, &args));
        self.git_ok(KEYLESS, &["add", ".gitattributes"]);
        self.git_ok(KEYLESS, &["commit", "-q", "-m", "secrets: git drivers"]);
    }

    fn recipients(&self, secret: &str) -> Vec<String> {
        let json: serde_json::Value = serde_json::from_slice(&fs::read(self.secret_file(secret)).unwrap()).unwrap();
        let mut out: Vec<String> =
            json["sops"]["age"].as_array().unwrap().iter().map(|e| e["recipient"].as_str().unwrap().to_string()).collect();
        out.sort();
        out
    }

    fn secret_file(&self, secret: &str) -> PathBuf {
        self.path().join("sops/secrets").join(secret).join("secret")
    }
}

fn sorted(keys: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = keys.iter().map(ToString::to_string).collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// check

#[test]
fn check_is_silent_on_an_untouched_repository() {
    let repo = Repo::team();
    for key in [KEYLESS, AS_ALICE] {
        let out = repo.run(key, &["check"]);
        ok(&out);
        assert_eq!(stdout_of(&out), "", "nothing to report");
        assert_eq!(stderr_of(&out), "");
    }
    let out = repo.run(AS_ALICE, &["check", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&ok(&out).stdout).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["secrets"], 2);
    assert_eq!(json["verified"], 2, "alice's key opens both and their MACs match");
    assert_eq!(json["findings"], serde_json::json!([]));
}

#[test]
fn check_finds_a_tampered_link() {
    let repo = Repo::team();
    // A link named after alice that grants bob.
    let link = repo.path().join("sops/secrets/db/users/alice");
    fs::remove_file(&link).unwrap();
    symlink("../../../users/bob", &link).unwrap();
    let out = repo.run(KEYLESS, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    assert!(text.contains("error[misnamed-link]: sops/secrets/db/users/alice: named `alice` but points at user `bob`"), "{text}");
    assert!(text.contains("error[drift]: sops/secrets/db/secret"), "the file is still for alice: {text}");
}

#[test]
fn check_finds_an_escaping_link_and_a_dangling_one() {
    let repo = Repo::team();
    fs::create_dir_all(repo.path().join("elsewhere/eve")).unwrap();
    symlink("../../../../elsewhere/eve", repo.path().join("sops/secrets/db/users/eve")).unwrap();
    fs::create_dir_all(repo.path().join("sops/secrets/api/users")).unwrap();
    symlink("../../../users/gone", repo.path().join("sops/secrets/api/users/gone")).unwrap();
    let out = repo.run(KEYLESS, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings: Vec<(String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap().to_string(), f["path"].as_str().unwrap().to_string()))
        .collect();
    assert!(findings.contains(&("escaping-link".into(), "sops/secrets/db/users/eve".into())), "{findings:?}");
    assert!(findings.contains(&("dangling-link".into(), "sops/secrets/api/users/gone".into())), "{findings:?}");
    assert_eq!(json["drifted"], serde_json::json!(["api"]), "a dangling link is fixed by a re-key; an escaping one is not");
}

#[test]
fn check_finds_plaintext() {
    let repo = Repo::team();
    let leak = repo.path().join("sops/secrets/leak");
    fs::create_dir_all(leak.join("users")).unwrap();
    fs::write(leak.join("secret"), "hunter3").unwrap();
    symlink("../../../users/alice", leak.join("users/alice")).unwrap();
    fs::write(repo.path().join("sops/secrets/notes.txt"), "hunter4").unwrap();
    let out = repo.run(KEYLESS, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    assert!(text.contains("error[plaintext]: sops/secrets/leak/secret: not encrypted"), "{text}");
    assert!(text.contains("error[plaintext]: sops/secrets/notes.txt"), "{text}");
    assert!(!text.contains("hunter3") && !text.contains("hunter4"), "values are never printed: {text}");
}

#[test]
fn check_finds_drift_made_by_the_real_sops_and_fix_repairs_it() {
    let Some(_) = sops_bin() else { return };
    let repo = Repo::team();
    // Re-key behind the store's back: the real sops, with its own creation rule.
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join(".sops.yaml");
    fs::write(&config, format!("creation_rules:\n  - path_regex: .*\n    age: {ALICE},{BOB}\n")).unwrap();
    let out = crate::common::sops(
        &["--config", config.to_str().unwrap(), "updatekeys", "-y", "--input-type", "binary", "sops/secrets/db/secret"],
        &[("SOPS_AGE_KEY_FILE", &vectors().join("keys.txt"))],
        repo.path(),
    );
    assert!(out.status.success(), "sops updatekeys: {}", stderr_of(&out));
    assert_eq!(repo.recipients("db"), sorted(&[ALICE, BOB]));

    let out = repo.run(KEYLESS, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout_of(&out);
    assert!(text.contains("error[drift]: sops/secrets/db/secret: recipients differ from the links: not encrypted for web1 (machine); still encrypted for bob (user)"), "{text}");
    assert!(text.contains("hint: `secrets check --fix` re-keys 1 secret"), "{text}");

    let out = repo.run(KEYLESS, &["check", "--fix"]);
    assert!(!out.status.success(), "re-keying needs a key");
    assert!(stderr_of(&out).contains("hint:"), "{}", stderr_of(&out));

    let out = repo.run(AS_ALICE, &["check", "--fix"]);
    ok(&out);
    assert_eq!(stdout_of(&out), "", "nothing left to report");
    assert_eq!(repo.recipients("db"), sorted(&[ALICE, CAROL]));
    assert_eq!(repo.get(AS_WEB1, "db"), "hunter2", "web1 can read it again");
    assert!(!repo.run(AS_BOB, &["get", "db"]).status.success(), "bob cannot any more");
    assert_eq!(repo.git_ok(KEYLESS, &["log", "-1", "--format=%s"]).trim(), "secrets: re-key secrets to match their links");
    ok(&repo.run(KEYLESS, &["check"]));
}

#[test]
fn check_verifies_macs_with_a_key() {
    let repo = Repo::team();
    let path = repo.secret_file("db");
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    json["sops"]["lastmodified"] = serde_json::Value::String("2020-01-01T00:00:00Z".into());
    fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    ok(&repo.run(KEYLESS, &["check"]));
    let out = repo.run(AS_ALICE, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout_of(&out).contains("error[mac]: sops/secrets/db/secret"), "{}", stdout_of(&out));
}

/// Not a timed test: prints how long `check` takes over 1,000 secrets (run with --ignored).
#[test]
#[ignore = "a measurement, run by hand: it prints how long `check` takes"]
fn check_over_a_thousand_secrets() {
    let repo = Repo::team();
    let template = repo.path().join("sops/secrets/api");
    for i in 0..1000 {
        let dir = repo.path().join(format!("sops/secrets/s{i:04}"));
        for folder in ["users", "groups"] {
            fs::create_dir_all(dir.join(folder)).unwrap();
            for entry in fs::read_dir(template.join(folder)).unwrap() {
                let entry = entry.unwrap();
                symlink(fs::read_link(entry.path()).unwrap(), dir.join(folder).join(entry.file_name())).unwrap();
            }
        }
        fs::copy(template.join("secret"), dir.join("secret")).unwrap();
    }
    for (label, key) in [("without a key", KEYLESS), ("with a key (MACs verified)", AS_ALICE)] {
        let start = std::time::Instant::now();
        let out = repo.run(key, &["check"]);
        let elapsed = start.elapsed();
        ok(&out);
        assert_eq!(stdout_of(&out), "");
        eprintln!("secrets check over 1002 secrets, {label}: {elapsed:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// access

#[test]
fn access_shows_the_matrix_one_secret_one_member_and_the_path() {
    let repo = Repo::team();
    let out = stdout_of(ok(&repo.run(KEYLESS, &["access"])));
    assert_eq!(
        out,
        "        users       machines\n\
         SECRET  alice  bob  web1\n\
         api     x      g    -\n\
         db      x      -    x\n\
         x: direct, g: through a group (`secrets access SECRET` says which), -: no access\n"
    );
    let out = stdout_of(ok(&repo.run(KEYLESS, &["access", "api"])));
    assert_eq!(out, "api\n  alice  user     direct\n  bob    user     through group ops\n");
    let out = stdout_of(ok(&repo.run(KEYLESS, &["access", "--member", "web1"])));
    assert_eq!(out, "web1 (machine) can read these secrets:\n  db  direct\n");

    let out = stdout_of(ok(&repo.run(KEYLESS, &["access", "api", "--member", "bob", "--explain"])));
    assert!(out.contains("bob (user) can read api:\n  through group ops:\n    sops/secrets/api/groups/ops -> ../../../groups/ops\n    sops/groups/ops/users/bob -> ../../../users/bob\n"), "{out}");
    assert!(out.contains(&format!("{BOB}: the file is encrypted for it")), "{out}");
    let out = stdout_of(ok(&repo.run(KEYLESS, &["access", "db", "--member", "bob", "--explain"])));
    assert!(out.starts_with("bob (user) cannot read db by its links:\n  no link sops/secrets/db/users/bob\n"), "{out}");

    let json: serde_json::Value = serde_json::from_slice(&ok(&repo.run(KEYLESS, &["access", "--json"])).stdout).unwrap();
    assert_eq!(json["users"], serde_json::json!(["alice", "bob"]));
    assert_eq!(json["secrets"][0]["name"], "api");
    assert_eq!(json["secrets"][0]["users"]["bob"], serde_json::json!({"direct": false, "groups": ["ops"]}));
    let json: serde_json::Value = serde_json::from_slice(&ok(&repo.run(KEYLESS, &["access", "--member", "bob", "--json"])).stdout).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"member": "bob", "kind": "user", "secrets": [{"name": "api", "direct": false, "groups": ["ops"]}]})
    );
}

// ---------------------------------------------------------------------------------------------
// git setup

#[test]
fn git_setup_is_idempotent_and_its_hook_runs_check() {
    let repo = Repo::team();
    let out = repo.run(KEYLESS, &["git", "setup", "--pre-commit"]);
    ok(&out);
    let attributes = fs::read_to_string(repo.path().join(".gitattributes")).unwrap();
    assert!(attributes.contains("sops/secrets/*/secret diff=secrets merge=secrets\n"), "{attributes}");
    assert!(attributes.contains("vars/**/secret diff=secrets merge=secrets\n"), "{attributes}");
    let config = |name: &str| repo.git_ok(KEYLESS, &["config", "--local", name]).trim().to_string();
    assert!(config("diff.secrets.textconv").ends_with(" git-diff"));
    assert!(config("merge.secrets.driver").ends_with(" git-merge %O %A %B %P"));
    assert!(!config("merge.secrets.name").is_empty());
    let salt = config("secrets.diff.salt");
    let hook = repo.path().join(".git/hooks/pre-commit");
    assert!(fs::read_to_string(&hook).unwrap().contains(" check --allow-empty\n"));

    let again = repo.run(KEYLESS, &["git", "setup", "--pre-commit"]);
    ok(&again);
    assert_eq!(stderr_of(&again), "git is already set up for secrets\n");
    assert_eq!(fs::read_to_string(repo.path().join(".gitattributes")).unwrap(), attributes);
    assert_eq!(config("secrets.diff.salt"), salt, "the salt is kept");

    // The hook refuses a commit that breaks the repository.
    repo.git_ok(KEYLESS, &["add", ".gitattributes"]);
    repo.git_ok(KEYLESS, &["commit", "-q", "-m", "drivers"]);
    fs::create_dir_all(repo.path().join("elsewhere/eve")).unwrap();
    symlink("../../../../elsewhere/eve", repo.path().join("sops/secrets/db/users/eve")).unwrap();
    repo.git_ok(KEYLESS, &["add", "sops"]);
    let out = repo.git(KEYLESS, &["commit", "-q", "-m", "sneak eve in"]);
    assert!(!out.status.success(), "the pre-commit hook runs `secrets check`");
    let all = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(all.contains("error[escaping-link]"), "{all}");
}

// ---------------------------------------------------------------------------------------------
// the diff driver

#[test]
fn git_diff_shows_recipients_by_name_and_never_values() {
    let repo = Repo::team();
    repo.setup_git(&[]);
    ok(&repo.run(AS_ALICE, &["--no-commit", "users", "add-secret", "bob", "db"]));

    let keyless = repo.git_ok(KEYLESS, &["diff"]);
    assert!(keyless.contains(&format!("+  bob (user): {BOB}\n")), "{keyless}");
    assert!(keyless.contains(&format!("   alice (user): {ALICE}\n")), "{keyless}");
    assert!(keyless.contains("\n value: ciphertext "), "the value's ciphertext is unchanged: {keyless}");
    assert!(!keyless.contains("plaintext hash") && !keyless.contains("hunter2"), "{keyless}");

    let keyed = repo.git_ok(AS_ALICE, &["diff"]);
    assert!(keyed.contains("\n value: plaintext hash "), "with a key the value's hash shows it unchanged: {keyed}");
    assert!(!keyed.contains("hunter2"), "{keyed}");
    repo.git_ok(KEYLESS, &["commit", "-qam", "bob reads db"]);

    // A new value: both the ciphertext and the plaintext hash change.
    ok(&repo.set(AS_ALICE, &["db"], "hunter3"));
    let log = repo.git_ok(AS_ALICE, &["log", "-p", "-1", "--", "sops/secrets/db/secret"]);
    assert!(log.contains("-value: ciphertext ") && log.contains("+value: ciphertext "), "{log}");
    assert!(log.contains("-value: plaintext hash ") && log.contains("+value: plaintext hash "), "{log}");
    assert!(!log.contains("hunter"), "{log}");

    // A revocation rotates the data key: the ciphertext changes, the plaintext hash does not.
    ok(&repo.run(AS_ALICE, &["users", "remove-secret", "bob", "db"]));
    let keyless = repo.git_ok(KEYLESS, &["log", "-p", "-1", "--", "sops/secrets/db/secret"]);
    assert!(keyless.contains(&format!("-  bob (user): {BOB}\n")), "{keyless}");
    assert!(keyless.contains("+value: ciphertext "), "{keyless}");
    let keyed = repo.git_ok(AS_ALICE, &["log", "-p", "-1", "--", "sops/secrets/db/secret"]);
    assert!(keyed.contains("\n value: plaintext hash "), "same value: {keyed}");

    // Values only on request, and only with a key.
    let shown = repo.git_env(AS_ALICE, &["log", "-p", "-2", "--", "sops/secrets/db/secret"], &[("SECRETS_DIFF_SHOW_VALUES", "1")]);
    let shown = stdout_of(&shown);
    assert!(shown.contains("-  | hunter2\n") && shown.contains("+  | hunter3\n"), "{shown}");
    let no_key =
        stdout_of(&repo.git_env(KEYLESS, &["log", "-p", "-2", "--", "sops/secrets/db/secret"], &[("SECRETS_DIFF_SHOW_VALUES", "1")]));
    assert!(!no_key.contains("hunter"), "{no_key}");
    repo.git_ok(KEYLESS, &["config", "secrets.diff.showValues", "true"]);
    let configured = repo.git_ok(AS_ALICE, &["show", "HEAD~1", "--", "sops/secrets/db/secret"]);
    assert!(configured.contains("+  | hunter3\n"), "{configured}");
}

#[test]
fn git_diff_of_binary_values_is_binary_safe() {
    let repo = Repo::team();
    repo.setup_git(&[]);
    repo.secrets(AS_ALICE).args(["set", "blob"]).write_stdin(vec![0u8, 159, 146, 150, 10, 255]).assert().success();
    let out = repo.git_env(AS_ALICE, &["show", "HEAD", "--", "sops/secrets/blob/secret"], &[("SECRETS_DIFF_SHOW_VALUES", "1")]);
    let text = stdout_of(&out);
    assert!(text.contains("+  (6 bytes, not text; hex)\n+  000000: 009f92960aff\n"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// the merge driver

/// Runs `git merge` with alice's key; returns its output.
fn merge(repo: &Repo, branch: &str) -> Output {
    repo.git(AS_ALICE, &["merge", "--no-edit", branch])
}

#[test]
fn merging_different_keys_of_a_yaml_file() {
    let repo = Repo::team();
    repo.setup_git(&["--pattern", "*.enc.yaml"]);
    let plain = "db:\n    user: admin\n    password: one\napi: key-1\n";
    let encrypted = repo
        .secrets(KEYLESS)
        .args(["sops", "encrypt", "--age", &format!("{ALICE},{BOB}"), "--filename-override", "secrets.enc.yaml"])
        .write_stdin(plain)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    fs::write(repo.path().join("app.enc.yaml"), encrypted).unwrap();
    repo.git_ok(KEYLESS, &["add", "app.enc.yaml"]);
    repo.git_ok(KEYLESS, &["commit", "-qm", "app config"]);

    let sops_set = |path: &str, value: &str| ok(&repo.run(AS_ALICE, &["sops", "set", "app.enc.yaml", path, value])).status;
    repo.git_ok(KEYLESS, &["checkout", "-qb", "feature"]);
    sops_set("[\"db\"][\"password\"]", "\"two\"");
    repo.git_ok(KEYLESS, &["commit", "-qam", "new db password"]);
    repo.git_ok(KEYLESS, &["checkout", "-q", "main"]);
    sops_set("[\"api\"]", "\"key-2\"");
    repo.git_ok(KEYLESS, &["commit", "-qam", "new api key"]);

    let shown = repo.git_ok(KEYLESS, &["show", "feature", "--", "app.enc.yaml"]);
    assert!(shown.contains("-[\"db\"][\"password\"]: ciphertext ") && shown.contains("\n [\"api\"]: ciphertext "), "{shown}");
    assert!(!shown.contains("two"), "{shown}");

    let out = merge(&repo, "feature");
    assert!(out.status.success(), "{}{}", stdout_of(&out), stderr_of(&out));
    let decrypted = stdout_of(ok(&repo.run(AS_ALICE, &["sops", "decrypt", "app.enc.yaml"])));
    assert_eq!(decrypted, "db:\n    user: admin\n    password: two\napi: key-2\n");
    assert_eq!(
        stdout_of(ok(&repo.run(AS_BOB, &["sops", "decrypt", "--extract", "[\"api\"]", "app.enc.yaml"]))),
        "key-2",
        "still for bob too"
    );
    if sops_bin().is_some() {
        let real = crate::common::sops(&["decrypt", "app.enc.yaml"], &[("SOPS_AGE_KEY_FILE", &vectors().join("keys.txt"))], repo.path());
        assert_eq!(stdout_of(&real), decrypted, "the real sops reads the merge: {}", stderr_of(&real));
    }

    // Both sides changing the same key is a conflict that names the key, not the values.
    repo.git_ok(KEYLESS, &["checkout", "-qb", "feature2"]);
    sops_set("[\"api\"]", "\"key-theirs\"");
    repo.git_ok(KEYLESS, &["commit", "-qam", "api on feature2"]);
    repo.git_ok(KEYLESS, &["checkout", "-q", "main"]);
    sops_set("[\"api\"]", "\"key-ours\"");
    repo.git_ok(KEYLESS, &["commit", "-qam", "api on main"]);
    let out = merge(&repo, "feature2");
    assert!(!out.status.success());
    let all = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(all.contains("[\"api\"]: changed on both sides"), "{all}");
    assert!(!all.contains("key-ours") && !all.contains("key-theirs"), "{all}");
    let ours = stdout_of(ok(&repo.run(AS_ALICE, &["sops", "decrypt", "--extract", "[\"api\"]", "app.enc.yaml"])));
    assert_eq!(ours, "key-ours", "the file is left as ours");
}

#[test]
fn merging_the_same_binary_secret_changed_on_both_sides_conflicts() {
    let repo = Repo::team();
    repo.setup_git(&[]);
    repo.git_ok(KEYLESS, &["checkout", "-qb", "feature"]);
    ok(&repo.set(AS_ALICE, &["db"], "from-feature"));
    repo.git_ok(KEYLESS, &["checkout", "-q", "main"]);
    ok(&repo.set(AS_ALICE, &["db"], "from-main"));

    let out = merge(&repo, "feature");
    assert!(!out.status.success());
    let all = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(all.contains("sops/secrets/db/secret: cannot merge:\n  both sides changed the value"), "{all}");
    assert!(all.contains("CONFLICT"), "{all}");
    assert!(!all.contains("from-main") && !all.contains("from-feature"), "{all}");
    assert_eq!(repo.get(AS_ALICE, "db"), "from-main", "left as ours, still a valid secret");

    // Resolving: set the value without committing, then finish the merge with git.
    ok(&repo.set(AS_ALICE, &["--no-commit", "db"], "resolved"));
    repo.git_ok(KEYLESS, &["add", "sops/secrets/db/secret"]);
    repo.git_ok(KEYLESS, &["commit", "-q", "--no-edit"]);
    assert_eq!(repo.git_ok(KEYLESS, &["log", "-1", "--format=%p"]).split_whitespace().count(), 2, "a merge commit");
    assert_eq!(repo.get(AS_WEB1, "db"), "resolved");
    ok(&repo.run(KEYLESS, &["check"]));
}

#[test]
fn merging_a_new_value_with_a_new_reader_encrypts_for_the_merged_links() {
    let repo = Repo::team();
    repo.setup_git(&[]);
    repo.git_ok(KEYLESS, &["checkout", "-qb", "feature"]);
    ok(&repo.run(AS_ALICE, &["users", "add-secret", "bob", "db"]));
    ok(&repo.run(AS_ALICE, &["groups", "add-machine", "ops", "web1"]));
    repo.git_ok(KEYLESS, &["checkout", "-q", "main"]);
    ok(&repo.set(AS_ALICE, &["db"], "new-db"));
    ok(&repo.set(AS_ALICE, &["api"], "token-2"));

    let out = merge(&repo, "feature");
    assert!(out.status.success(), "{}{}", stdout_of(&out), stderr_of(&out));
    assert!(stderr_of(&out).contains("secrets: merged sops/secrets/db/secret"), "{}", stderr_of(&out));
    assert_eq!(repo.recipients("db"), sorted(&[ALICE, BOB, CAROL]));
    assert_eq!(repo.recipients("api"), sorted(&[ALICE, BOB, CAROL]), "web1 joined ops on the other branch");
    assert_eq!(repo.get(AS_BOB, "db"), "new-db");
    assert_eq!(repo.get(AS_WEB1, "api"), "token-2");
    let out = repo.run(KEYLESS, &["check"]);
    assert_eq!(stdout_of(ok(&out)), "", "the merge left nothing drifted");
}

#[test]
fn merged_recipients_follow_the_merged_links_even_when_a_side_drifted() {
    let repo = Repo::team();
    repo.setup_git(&[]);
    // A branch that links bob to db by hand, without re-keying it.
    repo.git_ok(KEYLESS, &["checkout", "-qb", "feature"]);
    fs::create_dir_all(repo.path().join("sops/secrets/db/users")).unwrap();
    symlink("../../../users/bob", repo.path().join("sops/secrets/db/users/bob")).unwrap();
    // It also changes the value in place (same data key, same recipients), so the file on
    // this branch is not encrypted for bob, and git has to merge it.
    ok(&repo.run(AS_ALICE, &["sops", "set", "--input-type", "binary", "sops/secrets/db/secret", "[\"data\"]", "\"from-feature\""]));
    repo.git_ok(KEYLESS, &["add", "sops"]);
    repo.git_ok(KEYLESS, &["commit", "-qm", "link bob by hand, new value"]);
    assert_eq!(repo.recipients("db"), sorted(&[ALICE, CAROL]));
    repo.git_ok(KEYLESS, &["checkout", "-q", "main"]);
    ok(&repo.run(AS_ALICE, &["machines", "remove-secret", "web1", "db"]));

    let out = merge(&repo, "feature");
    assert!(out.status.success(), "{}{}", stdout_of(&out), stderr_of(&out));
    // Merged links: alice (both), bob (feature), web1 removed (main).
    assert_eq!(repo.recipients("db"), sorted(&[ALICE, BOB]));
    assert_eq!(repo.get(AS_BOB, "db"), "from-feature");
    assert!(!repo.run(AS_WEB1, &["get", "db"]).status.success(), "web1's removal on main stands");
    ok(&repo.run(KEYLESS, &["check"]));
}

#[test]
fn a_merge_without_a_key_is_a_clear_conflict() {
    let repo = Repo::team();
    repo.setup_git(&[]);
    repo.git_ok(KEYLESS, &["checkout", "-qb", "feature"]);
    ok(&repo.set(AS_ALICE, &["db"], "one"));
    repo.git_ok(KEYLESS, &["checkout", "-q", "main"]);
    ok(&repo.set(AS_ALICE, &["db"], "two"));
    let out = repo.git(KEYLESS, &["merge", "--no-edit", "feature"]);
    assert!(!out.status.success());
    let all = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(all.contains("cannot merge") && all.contains("needs a key"), "{all}");
}

// ---------------------------------------------------------------------------------------------
// history

#[test]
fn log_tells_value_changes_from_recipient_changes() {
    let repo = Repo::team();
    ok(&repo.run(AS_ALICE, &["users", "add-secret", "bob", "db"]));
    ok(&repo.set(AS_ALICE, &["db"], "hunter3"));
    ok(&repo.run(AS_ALICE, &["users", "remove-secret", "bob", "db"]));

    let keyless = stdout_of(ok(&repo.run(KEYLESS, &["log", "db"])));
    let lines: Vec<&str> = keyless.lines().filter(|l| l.starts_with("  db: ")).collect();
    assert_eq!(
        lines,
        [
            "  db: recipients -bob (user); value or data key changed (no key here reads both versions)",
            "  db: value changed (or re-encrypted with a new data key; no key here reads both versions)",
            "  db: recipients +bob (user); value unchanged",
            "  db: created, readable by alice (user), web1 (machine)",
        ],
        "{keyless}"
    );
    assert!(keyless.contains("Alice <alice@example.com>\n    secrets: remove user bob from db\n"), "{keyless}");

    let keyed = stdout_of(ok(&repo.run(AS_ALICE, &["log", "db", "-n", "2"])));
    let lines: Vec<&str> = keyed.lines().filter(|l| l.starts_with("  db: ")).collect();
    assert_eq!(lines, ["  db: recipients -bob (user); value unchanged", "  db: value changed"], "{keyed}");

    let json: serde_json::Value = serde_json::from_slice(&ok(&repo.run(AS_ALICE, &["log", "--json"])).stdout).unwrap();
    let first = &json[0];
    assert_eq!(first["subject"], "secrets: remove user bob from db");
    assert_eq!(first["changes"][0]["value"], "unchanged");
    assert_eq!(first["changes"][0]["recipients_removed"][0]["owners"][0], serde_json::json!({"kind": "user", "name": "bob"}));
    assert_eq!(json.as_array().unwrap().len(), 5, "every commit that touched a secret file");
}

#[test]
fn list_long_shows_created_and_updated_dates() {
    let repo = Repo::team();
    // git records the dates; the store's own commits use the current time, so commit by hand.
    let commit_at = |days: i64, args: &[&str], value: Option<&str>| {
        let mut cmd = secrets();
        cmd.current_dir(repo.path()).arg("--no-commit").args(args).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"));
        if let Some(v) = value {
            cmd.env("SOPS_NIX_SECRET", v);
        }
        ok(&cmd.output().unwrap());
        let date = format!("@{} +0000", 1_700_000_000 + days * 86_400);
        repo.git_ok(KEYLESS, &["add", "-A", "sops"]);
        let out =
            repo.git_env(KEYLESS, &["commit", "-q", "-m", &args.join(" ")], &[("GIT_AUTHOR_DATE", &date), ("GIT_COMMITTER_DATE", &date)]);
        ok(&out);
    };
    commit_at(10, &["set", "later"], Some("v1"));
    commit_at(20, &["users", "add-secret", "bob", "later"], None);
    commit_at(30, &["set", "later"], Some("v2"));
    commit_at(40, &["machines", "add-secret", "web1", "later"], None);
    ok(&repo.set(AS_ALICE, &["--no-commit", "draft"], "x"));
    let out = stdout_of(ok(&repo.run(KEYLESS, &["list", "--long", "la"])));
    assert_eq!(out, "NAME   CREATED     UPDATED     BY\nlater  2023-11-24  2023-12-14  Alice\n");
    let out = stdout_of(ok(&repo.run(KEYLESS, &["list", "--long", "draft"])));
    assert!(out.contains("draft  -           -           (not committed)"), "{out}");
    let json: serde_json::Value = serde_json::from_slice(&ok(&repo.run(KEYLESS, &["list", "--long", "--json", "later"])).stdout).unwrap();
    assert_eq!(json[0]["created"], "2023-11-24 22:13:20 +00:00");
    assert_eq!(json[0]["updated"], "2023-12-14 22:13:20 +00:00");
}
