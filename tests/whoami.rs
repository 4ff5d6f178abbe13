//! `secrets whoami` / `secrets doctor`: the key sources found, who they make you in the
//! repository (age keys and ssh keys in their `ssh-to-age` form), how many secrets they open,
//! and whether git's drivers and hook are set up and `secrets` is on PATH; `key show` names
//! the registered user.

use crate::common::clan::{key_file, Flake, K};
use crate::common::{stdout_of, vectors};

const SSH_AS_AGE: &str = "age1nep7lca89l954lcwvpwdthkcmr7epst0jkytazf58peug79q2qesfkgq0s";

fn team() -> Flake {
    let flake = Flake::new();
    flake.all(0, &[&["users", "add", "alice", K[0]], &["machines", "add", "web1", SSH_AS_AGE], &["machines", "add", "web2", K[2]]]);
    flake.set(0, &["--user", "alice", "db"], "d");
    flake.set(0, &["--machine", "web1", "--machine", "web2", "tls"], "t");
    flake.set(0, &["--machine", "web2", "other"], "o");
    flake
}

fn json(cmd: &mut assert_cmd::Command) -> (Option<i32>, serde_json::Value) {
    let out = cmd.output().unwrap();
    (out.status.code(), serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout_of(&out))))
}

#[test]
fn an_age_key_is_a_user_with_what_it_reads() {
    let flake = team();
    let out = flake.cmd().arg("whoami").env("SOPS_AGE_KEY_FILE", key_file(0)).assert().success();
    let text = stdout_of(out.get_output());
    assert!(text.contains(&format!("  SOPS_AGE_KEY_FILE={}: 1 age identity: {}\n", key_file(0).display(), K[0])), "{text}");
    assert!(text.contains("  SOPS_AGE_KEY: not set\n"), "{text}");
    assert!(text.contains("You are: alice (user)\n"), "{text}");
    assert!(text.contains("Secrets: you can read 3 of 3 secrets\n"), "{text}");
    assert!(text.contains("Git diff driver: not set (`secrets git setup`)\n"), "{text}");

    let (code, value) = json(flake.cmd().args(["doctor", "--json"]).env("SOPS_AGE_KEY_FILE", key_file(0)));
    assert_eq!(code, Some(0));
    assert_eq!(value["members"], serde_json::json!([{"kind": "user", "name": "alice", "key": K[0]}]));
    assert_eq!(value["secrets"], serde_json::json!({"readable": 3, "total": 3}));
    assert_eq!(value["public_keys"], serde_json::json!([K[0]]));

    // `key show` names the registered user.
    let (_, shown) = json(flake.cmd().args(["key", "show"]).env("SOPS_AGE_KEY_FILE", key_file(0)));
    assert_eq!(shown[0]["username"], "alice");
}

/// A machine registered by its ssh host key (`--ssh-to-age`) is found from the ssh key itself.
#[test]
fn an_ssh_key_is_found_in_its_age_form() {
    let flake = team();
    let (code, value) = json(flake.cmd().args(["whoami", "--json"]).env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", vectors().join("ssh/id_ed25519")));
    assert_eq!(code, Some(0));
    assert_eq!(value["members"], serde_json::json!([{"kind": "machine", "name": "web1", "key": SSH_AS_AGE}]));
    assert_eq!(value["secrets"], serde_json::json!({"readable": 1, "total": 3}));
}

/// No key at all: said, with what to do, and the exit status says it too.
#[test]
fn no_key_reads_nothing_and_says_what_to_do() {
    let flake = team();
    let out = flake.cmd().arg("whoami").assert().code(1);
    let text = stdout_of(out.get_output());
    assert!(
        text.contains(
            "You are: no user or machine of this repository holds your keys\n  hint: generate a key with `secrets key generate`\n"
        ),
        "{text}"
    );
    assert!(text.contains("Secrets: you can read 0 of 3 secrets\n"), "{text}");
    // An unregistered key: the command that registers it.
    let out = flake.cmd().arg("whoami").env("SOPS_AGE_KEY_FILE", key_file(4)).assert().code(1);
    let text = stdout_of(out.get_output());
    assert!(text.contains(&format!("hint: register yourself with `secrets users add NAME --age-key {}`", K[4])), "{text}");
}

/// After `secrets git setup --pre-commit`: the drivers, the hook, and whether their program
/// runs; `secrets` on PATH.
#[test]
fn the_git_setup_and_path_are_reported() {
    let flake = team();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_secrets"));
    let path = format!("{}:/usr/bin:/bin", bin.parent().unwrap().display());
    flake.cmd().args(["git", "setup", "--pre-commit"]).env("PATH", &path).assert().success();
    let (_, value) = json(flake.cmd().args(["whoami", "--json"]).env("SOPS_AGE_KEY_FILE", key_file(0)).env("PATH", &path));
    assert_eq!(value["git"]["diff_driver"], "secrets git-diff");
    assert_eq!(value["git"]["merge_driver"], "secrets git-merge %O %A %B %P");
    assert!(value["git"]["pre_commit_hook"].as_str().unwrap().ends_with(".git/hooks/pre-commit"), "{value}");
    assert_eq!(value["git"]["drivers_runnable"], true);
    assert_eq!(value["secrets_on_path"], bin.display().to_string());

    // Without `secrets` on PATH, drivers set up to run `secrets` cannot run.
    let (_, value) = json(flake.cmd().args(["whoami", "--json"]).env("SOPS_AGE_KEY_FILE", key_file(0)).env("PATH", "/usr/bin:/bin"));
    assert_eq!(value["git"]["drivers_runnable"], false);
    assert_eq!(value["secrets_on_path"], serde_json::Value::Null);
}
