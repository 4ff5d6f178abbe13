//! Cloud credentials end to end: storing per provider (from flags, stdin and the AWS CLI's
//! files), masked listings, the provider environment for a command, `--export`, the resolver's
//! order, Kubernetes manifests (the encrypted one read back by the real sops), and no secret in
//! any output that is not meant to show it.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{ok, secrets, sops, sops_bin, stderr_of, stdout_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const CF_TOKEN: &str = "cf-token-0123456789abcdef";

struct Repo {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".clan-flake"), "").unwrap();
        let repo = Repo { dir, home: tempfile::tempdir().unwrap() };
        ok(&repo.run(&["users", "add", "admin", ALICE]));
        repo
    }

    fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = secrets();
        cmd.current_dir(self.dir.path()).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt")).env("HOME", self.home.path());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn run_stdin(&self, args: &[&str], input: &str) -> Output {
        self.cmd().args(args).write_stdin(input).output().unwrap()
    }
}

/// Outputs that must never show a stored secret.
fn assert_no_secrets(out: &Output) {
    for text in [stdout_of(out), stderr_of(out)] {
        for secret in [AWS_SECRET, CF_TOKEN, "kube-secret-token"] {
            assert!(!text.contains(secret), "a secret leaked: {text}");
        }
    }
}

fn store_aws(repo: &Repo) {
    let out = repo.run_stdin(
        &[
            "credentials",
            "store",
            "aws",
            "--set",
            &format!("access_key_id={AWS_KEY}"),
            "--set",
            "region=eu-west-1",
            "--set-stdin",
            "secret_access_key",
        ],
        &format!("{AWS_SECRET}\n"),
    );
    ok(&out);
    assert_no_secrets(&out);
}

#[test]
fn stores_lists_masked_and_runs_with_the_aws_environment() {
    let repo = Repo::new();
    store_aws(&repo);
    let list = repo.run(&["credentials", "list"]);
    assert_no_secrets(ok(&list));
    let text = stdout_of(&list);
    assert!(text.contains("aws/default") && text.contains("user:admin"), "{text}");
    assert!(text.contains("secret_access_key: wJal***"), "{text}");
    assert!(!text.contains(AWS_KEY), "the key id is masked too: {text}");
    assert!(text.contains("region: eu-west-1"));
    let json: serde_json::Value = serde_json::from_str(&stdout_of(ok(&repo.run(&["--json", "credentials", "list"])))).unwrap();
    assert_eq!(json[0]["values"]["access_key_id"], "AKIA***");

    let out = repo.run(&[
        "credentials",
        "exec",
        "aws",
        "--",
        "sh",
        "-c",
        "printf '%s|%s|%s' \"$AWS_ACCESS_KEY_ID\" \"$AWS_SECRET_ACCESS_KEY\" \"$AWS_REGION\"",
    ]);
    assert_eq!(stdout_of(ok(&out)), format!("{AWS_KEY}|{AWS_SECRET}|eu-west-1"));
    let out = repo.run(&["credentials", "exec", "aws", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "the command's exit code is kept");
    let out = repo.run(&["credentials", "exec", "aws", "--export"]);
    assert!(stdout_of(ok(&out)).contains(&format!("export AWS_SECRET_ACCESS_KEY='{AWS_SECRET}'")));
}

#[test]
fn missing_and_unknown_fields_are_refused() {
    let repo = Repo::new();
    let out = repo.run(&["credentials", "store", "cloudflare", "--set", "account_id=abc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("api_token"), "{}", stderr_of(&out));
    let out = repo.run(&["credentials", "store", "cloudflare", "--set", "api_token=x", "--set", "account_id=a", "--set", "colour=blue"]);
    assert!(stderr_of(&out).contains("no field `colour`"), "{}", stderr_of(&out));
    assert!(!repo.dir.path().join("sops/secrets/cloudflare.default").exists());
}

#[test]
fn aws_profiles_come_from_the_aws_cli_files_and_storing_again_rotates() {
    let repo = Repo::new();
    let aws = repo.home.path().join(".aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(aws.join("credentials"), format!("[prod]\naws_access_key_id = {AWS_KEY}\naws_secret_access_key = {AWS_SECRET}\n"))
        .unwrap();
    std::fs::write(aws.join("config"), "[profile prod]\nregion = us-east-2\n").unwrap();
    ok(&repo.run(&["machines", "add", "ci", "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p"]));
    ok(&repo.run(&["credentials", "store", "aws", "--name", "prod", "--profile", "prod", "--machine", "ci"]));
    let out = repo.run(&["credentials", "exec", "aws/prod", "--", "sh", "-c", "printf %s \"$AWS_REGION\""]);
    assert_eq!(stdout_of(ok(&out)), "us-east-2");
    // Rotation: new values, same readers.
    std::fs::write(
        aws.join("credentials"),
        format!("[prod]\naws_access_key_id = {AWS_KEY}\naws_secret_access_key = rotated-secret-value\n"),
    )
    .unwrap();
    ok(&repo.run(&["credentials", "store", "aws", "--name", "prod", "--profile", "prod"]));
    let out = secrets()
        .current_dir(repo.dir.path())
        .env("SOPS_AGE_KEY_FILE", vectors().join("keys-b.txt"))
        .args(["credentials", "exec", "aws/prod", "--", "sh", "-c", "printf %s \"$AWS_SECRET_ACCESS_KEY\""])
        .output()
        .unwrap();
    assert_eq!(stdout_of(ok(&out)), "rotated-secret-value", "the machine can still read it");
    ok(&repo.run(&["credentials", "delete", "aws/prod"]));
    assert!(!repo.dir.path().join("sops/secrets/aws.prod").exists());
}

#[test]
fn kubeconfig_is_a_private_file_removed_afterwards() {
    let repo = Repo::new();
    let kube = repo.home.path().join("kubeconfig");
    std::fs::write(&kube, "apiVersion: v1\ncurrent-context: staging\nusers:\n- name: u\n  user:\n    token: kube-secret-token\n").unwrap();
    ok(&repo.run(&["credentials", "store", "kubernetes", "--kubeconfig", kube.to_str().unwrap()]));
    let out = repo.run(&["credentials", "exec", "kubernetes", "--", "sh", "-c", "stat -c %a \"$KUBECONFIG\"; stat -c %a \"$(dirname \"$KUBECONFIG\")\"; echo \"$KUBECONFIG\"; grep -c kube-secret-token \"$KUBECONFIG\""]);
    let text = stdout_of(ok(&out)).clone();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "600");
    assert_eq!(lines[1], "700");
    assert_eq!(lines[3], "1");
    assert!(!Path::new(lines[2]).exists(), "the file is removed when the command exits");
    assert_no_secrets(ok(&repo.run(&["credentials", "list"])));
}

#[test]
fn resolver_tries_environment_then_file_then_store() {
    let repo = Repo::new();
    ok(&repo.run_stdin(&["set", "postgres.admin"], "{\"user\": \"root\", \"password\": \"from-store\"}"));
    let out = repo.run(&["resolve", "postgres", "admin", "--field", "password"]);
    assert_eq!(stdout_of(ok(&out)), "from-store");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("postgres")).unwrap();
    std::fs::write(dir.path().join("postgres/admin"), "from-file\n").unwrap();
    let out = repo.cmd().args(["resolve", "postgres", "admin", "--dir", dir.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(stdout_of(ok(&out)), "{\"credential\":\"from-file\"}\n");
    let out = repo
        .cmd()
        .env("POSTGRES_ADMIN", "from-env")
        .args(["resolve", "postgres", "admin", "--field", "credential", "--dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(stdout_of(ok(&out)), "from-env");
    let out = repo.run(&["resolve", "nothing", "here"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("NOTHING_HERE"), "{}", stderr_of(&out));
}

#[test]
fn kubernetes_export_in_clear_and_encrypted_for_the_real_sops() {
    let repo = Repo::new();
    ok(&repo.run_stdin(&["set", "db-password"], "hunter2"));
    let out = repo.run(&["export", "k8s", "--name", "app", "--namespace", "prod", "db-password"]);
    let text = stdout_of(ok(&out)).clone();
    assert!(text.contains("kind: Secret") && text.contains("namespace: prod"), "{text}");
    assert!(text.contains("db-password: aHVudGVyMg=="), "{text}");
    let out = repo.run(&["export", "k8s", "--name", "app", "--encrypted", "db-password"]);
    let encrypted = stdout_of(ok(&out)).clone();
    assert!(encrypted.contains("kind: Secret") && !encrypted.contains("aHVudGVyMg=="), "{encrypted}");
    assert!(encrypted.contains("encrypted_regex: ^(data|stringData)$"));
    if sops_bin().is_some() {
        let file = repo.dir.path().join("app.sops.yaml");
        std::fs::write(&file, &encrypted).unwrap();
        let out = sops(&["decrypt", file.to_str().unwrap()], &[("SOPS_AGE_KEY_FILE", &vectors().join("keys.txt"))], repo.dir.path());
        assert!(out.status.success(), "{}", stderr_of(&out));
        let clear = repo.run(&["export", "k8s", "--name", "app", "db-password"]);
        assert_eq!(stdout_of(&out), stdout_of(ok(&clear)));
    }
}

#[test]
fn errors_mask_credentials() {
    let repo = Repo::new();
    let out = repo.run(&["credentials", "store", "aws", "--set", &format!("colour={AWS_KEY}")]);
    assert!(!out.status.success());
    let out = repo.run(&["get", &format!("token={AWS_SECRET}")]);
    assert!(!out.status.success());
    assert_no_secrets(&out);
    assert!(!stderr_of(&out).contains(AWS_SECRET));
}

#[test]
fn created_and_updated_dates_come_from_git() {
    let repo = Repo::new();
    let git = |args: &[&str]| assert!(Command::new("git").args(args).current_dir(repo.dir.path()).output().unwrap().status.success());
    git(&["init", "-q"]);
    git(&["config", "user.email", "t@example.com"]);
    git(&["config", "user.name", "T"]);
    store_aws(&repo);
    let json: serde_json::Value = serde_json::from_str(&stdout_of(ok(&repo.run(&["--json", "credentials", "list"])))).unwrap();
    assert!(json[0]["created"].is_string(), "{json}");
    assert!(json[0]["updated"].is_string(), "{json}");
}

#[test]
fn the_clear_manifest_parses_back_as_yaml() {
    use base64::Engine;
    use secrets_sops::{stores::store, Format, Value};
    let repo = Repo::new();
    ok(&repo.run_stdin(&["set", "db-password"], "hunter2"));
    let out = repo.run(&["export", "k8s", "--name", "app", "--namespace", "prod", "db-password"]);
    let doc = store(Format::Yaml).parse_plain(&ok(&out).stdout).unwrap();
    let root = &doc.branches[0];
    assert_eq!(root.get("apiVersion"), Some(&Value::str("v1")));
    assert_eq!(root.get("kind"), Some(&Value::str("Secret")));
    let Some(Value::Map(data)) = root.get("data") else { panic!("no data") };
    let Some(Value::Str(encoded)) = data.get("db-password") else { panic!("no key") };
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap(), b"hunter2");
}

/// Every command that shows something, run with credentials stored: none prints a secret.
#[test]
fn no_listing_or_report_prints_a_secret() {
    let repo = Repo::new();
    store_aws(&repo);
    ok(&repo.run_stdin(&["credentials", "store", "cloudflare", "--set", "account_id=acc", "--set-stdin", "api_token"], CF_TOKEN));
    for args in [
        vec!["credentials", "list"],
        vec!["--json", "credentials", "list"],
        vec!["list"],
        vec!["--json", "list"],
        vec!["users", "get", "admin"],
        vec!["groups", "list"],
        vec!["key", "show"],
        vec!["access"],
        vec!["--json", "access"],
        vec!["check"],
        vec!["--json", "check"],
        vec!["git-diff", "sops/secrets/aws.default/secret"],
        vec!["resolve", "nothing", "here"],
        vec!["credentials", "exec", "aws"],
        vec!["get", "missing"],
    ] {
        let out = repo.run(&args);
        assert_no_secrets(&out);
    }
}
