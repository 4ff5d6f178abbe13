//! A clan flake for the tests of the clan-compatible commands, clan's six fixed test keys
//! (`fixtures/clan-keys`, standing in for its k0…k5), and assertions on how a command fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use predicates::str::contains;

use super::{repo_root, secrets, sops, sops_bin, stderr_of, stdout_of};

/// The recipients of `fixtures/clan-keys/k0.txt` … `k5.txt`.
pub const K: [&str; 6] = [
    "age1sw3ly6phrtcgwztls7cwc0eddkangpxrmraacn4kx0l9ksgmvu6qfed7ql",
    "age1hdc2czfu4pxjq3a8u62mkf39g9rhnawql6lm7g8xgnurd7ucsvvqs58cpx",
    "age1thtmspa84s6405scqfsw4q4sffkwpxgsjvqqpat74gjpm7fegv3stv8ddg",
    "age1vrcy7lx8yc52r9h3egpzuy64d9h626nqnhtc5r5angqhqxfqycqqz8y0pv",
    "age1c3wg4254urzvvaxg986ml34sq98wvhp3qqaf085jnk4xdfxztdhqpc63rp",
    "age1yzmjzg4hc6yekus4t9dljh6ze5ry8r6a3t884ltfp8h2gmf0jyjqrvqhax",
];

pub fn clan_keys() -> PathBuf {
    repo_root().join("fixtures/clan-keys")
}

/// The identity file of k`i`.
pub fn key_file(i: usize) -> PathBuf {
    clan_keys().join(format!("k{i}.txt"))
}

/// The private key of k`i` (`AGE-SECRET-KEY-1…`).
pub fn private_key(i: usize) -> String {
    let text = std::fs::read_to_string(key_file(i)).unwrap();
    text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap().to_string()
}

/// A set of the recipients of the given keys.
pub fn keys(indices: &[usize]) -> BTreeSet<String> {
    indices.iter().map(|&i| K[i].to_string()).collect()
}

/// `key.json` exactly as clan writes it for these public keys (sorted, indent 2, no newline).
pub fn clan_key_json(publickeys: &[&str]) -> String {
    let mut sorted = publickeys.to_vec();
    sorted.sort_unstable();
    let objects: Vec<String> = sorted.iter().map(|k| format!("  {{\n    \"publickey\": \"{k}\",\n    \"type\": \"age\"\n  }}")).collect();
    format!("[\n{}\n]", objects.join(",\n"))
}

/// A fresh git repository acting as a clan flake (`flake.nix`, one commit).
pub struct Flake {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Flake {
    pub fn new() -> Flake {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let flake = Flake { _dir: dir, root };
        flake.git(&["init", "-q"]);
        flake.git(&["config", "user.email", "test@example.com"]);
        flake.git(&["config", "user.name", "Test"]);
        std::fs::write(flake.path().join("flake.nix"), "{}\n").unwrap();
        flake.git(&["add", "flake.nix"]);
        flake.git(&["commit", "-q", "-m", "init"]);
        flake
    }

    /// The flake's root, canonical (as messages print it).
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `<flake>/sops/<rel>`.
    pub fn sops(&self, rel: &str) -> PathBuf {
        self.root.join("sops").join(rel)
    }

    /// `<flake>/sops/<rel>` as text, for messages.
    pub fn sops_str(&self, rel: &str) -> String {
        self.sops(rel).display().to_string()
    }

    /// `secrets` run in the flake, with no key.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = secrets();
        cmd.current_dir(&self.root);
        cmd
    }

    /// `secrets` run in the flake as the holder of k`i`, given through `SOPS_AGE_KEY` as clan's
    /// tests do.
    pub fn as_key(&self, i: usize) -> assert_cmd::Command {
        let mut cmd = self.cmd();
        cmd.env("SOPS_AGE_KEY", private_key(i));
        cmd
    }

    /// Runs `args` as k`i`, asserting success; returns stdout.
    #[track_caller]
    pub fn ok(&self, i: usize, args: &[&str]) -> String {
        let out = self.as_key(i).args(args).output().unwrap();
        assert!(out.status.success(), "secrets {args:?} failed ({:?}): {}", out.status.code(), stderr_of(&out));
        stdout_of(&out)
    }

    /// Runs each command as k`i`, asserting success (a scenario's setup).
    #[track_caller]
    pub fn all(&self, i: usize, commands: &[&[&str]]) {
        for args in commands {
            self.ok(i, args);
        }
    }

    /// `set` as k`i` with the value given through `SOPS_NIX_SECRET`.
    #[track_caller]
    pub fn set(&self, i: usize, args: &[&str], value: &str) {
        let out = self.as_key(i).arg("set").args(args).env("SOPS_NIX_SECRET", value).output().unwrap();
        assert!(out.status.success(), "set {args:?} failed: {}", stderr_of(&out));
    }

    /// The recipients written in `sops/secrets/<secret>/secret`.
    pub fn recipients(&self, secret: &str) -> BTreeSet<String> {
        let bytes = std::fs::read(self.sops("secrets").join(secret).join("secret")).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        json["sops"]["age"].as_array().unwrap().iter().map(|e| e["recipient"].as_str().unwrap().to_string()).collect()
    }

    /// Whether a link (even a dangling one) exists at `sops/<rel>`.
    pub fn has_link(&self, rel: &str) -> bool {
        std::fs::symlink_metadata(self.sops(rel)).is_ok()
    }

    /// The target of the link `sops/<rel>`.
    pub fn link_target(&self, rel: &str) -> PathBuf {
        std::fs::read_link(self.sops(rel)).unwrap()
    }

    /// Runs git in the flake and returns its stdout.
    #[track_caller]
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git").args(args).current_dir(&self.root).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", stderr_of(&out));
        stdout_of(&out)
    }

    /// The subject of the last commit.
    pub fn last_commit(&self) -> String {
        self.git(&["log", "-1", "--format=%s"]).trim().to_string()
    }

    /// `git status --porcelain sops/`: empty when everything is committed.
    pub fn uncommitted(&self) -> String {
        self.git(&["status", "--porcelain", "--untracked-files=all", "sops/"])
    }

    /// Runs `args` as k`i` and asserts success and the commit it made.
    #[track_caller]
    pub fn commits(&self, i: usize, args: &[&str], subject: &str) {
        self.ok(i, args);
        assert_eq!(self.last_commit(), subject, "after secrets {args:?}");
        assert_eq!(self.uncommitted(), "", "after secrets {args:?}");
    }

    /// What the real sops decrypts `sops/secrets/<secret>/secret` to with `env` (e.g.
    /// `SOPS_AGE_KEY_FILE`): `Some(Ok(bytes))`, `Some(Err(stderr))`, or `None` without sops.
    pub fn sops_decrypt(&self, secret: &str, env: (&str, &Path)) -> Option<Result<Vec<u8>, String>> {
        sops_bin()?;
        let file = format!("sops/secrets/{secret}/secret");
        let out = sops(&["decrypt", &file], &[env], &self.root);
        Some(if out.status.success() { Ok(out.stdout) } else { Err(stderr_of(&out)) })
    }

    /// Asserts that the real sops with k`i` reads `value` from the secret (skipped without sops).
    #[track_caller]
    pub fn sops_reads(&self, secret: &str, i: usize, value: &str) {
        if let Some(result) = self.sops_decrypt(secret, ("SOPS_AGE_KEY_FILE", &key_file(i))) {
            assert_eq!(result.map(String::from_utf8), Ok(Ok(value.to_string())), "k{i} reading {secret} with sops");
        }
    }

    /// Asserts that the real sops with k`i` cannot decrypt the secret (skipped without sops).
    #[track_caller]
    pub fn sops_cannot_read(&self, secret: &str, i: usize) {
        if let Some(result) = self.sops_decrypt(secret, ("SOPS_AGE_KEY_FILE", &key_file(i))) {
            assert!(result.is_err(), "k{i} can still read {secret}");
        }
    }
}

impl Default for Flake {
    fn default() -> Self {
        Flake::new()
    }
}

/// Asserts that no panic or backtrace text reached stderr.
#[track_caller]
pub fn no_panic(stderr: &str) {
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
}

/// Asserts one of our errors: exit `code`, `text` on stderr, one or two lines (the error and
/// perhaps a hint), no panic. Returns stderr.
#[track_caller]
pub fn fails(cmd: &mut assert_cmd::Command, code: i32, text: &str) -> String {
    let out = cmd.assert().code(code).stderr(contains(text)).get_output().clone();
    let err = stderr_of(&out);
    no_panic(&err);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.len() <= 2 && lines[0].starts_with("error: "), "one or two lines: {err}");
    assert!(lines.get(1).is_none_or(|l| l.starts_with("hint: ")), "{err}");
    err
}

/// Asserts a usage error from the argument parser: exit 2, `text`, the pointer to `--help`, no
/// panic.
#[track_caller]
pub fn usage(cmd: &mut assert_cmd::Command, text: &str) -> String {
    let out = cmd.assert().code(2).stderr(contains(text)).stderr(contains("For more information, try '--help'.")).get_output().clone();
    let err = stderr_of(&out);
    no_panic(&err);
    err
}
