//! The error catalogue as data: representative failing invocations, each with its exit code and
//! its whole stderr, compared with one snapshot (`tests/snapshots/…error_catalogue.snap`). It
//! reads as the list of what a user sees when something is wrong: no repository, unknown
//! names, missing or wrong keys, files sops itself refuses (bad MAC, tampered value, missing
//! file, with sops's exit codes), hostile repository content (symlinks, FIFOs, oversized
//! files), and the argument parser's own errors. Paths are replaced by placeholders; the
//! commands run with no environment but what each case gives them.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::clan::{private_key, Flake, K};
use crate::common::{normalize, secrets_bare, stderr_of, vectors};

/// The transcript being written: one entry per case, in order.
struct Catalogue {
    folders: Vec<(PathBuf, &'static str)>,
    text: String,
}

impl Catalogue {
    /// Runs `secrets <args>` in `dir` with `env` and records how it fails, asserting that it does
    /// fail, with a message and without a panic.
    #[track_caller]
    fn case(&mut self, title: &str, dir: &Path, env: &[(&str, &str)], args: &[&str]) {
        let mut cmd = secrets_bare();
        cmd.current_dir(dir).args(args);
        for (name, value) in env {
            cmd.env(name, value);
        }
        let out = cmd.output().unwrap();
        let err = stderr_of(&out);
        assert!(!out.status.success() && !err.is_empty(), "{title}: secrets {args:?} should fail with a message");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{title}: {err}");
        let folders: Vec<(&Path, &str)> = self.folders.iter().map(|(p, n)| (p.as_path(), *n)).collect();
        let mut shown_env = String::new();
        for (name, value) in env {
            let _ = write!(shown_env, "{name}={} ", if name.contains("KEY") && !value.starts_with('/') { "…" } else { value });
        }
        let line = normalize(&format!("$ {shown_env}secrets {}", args.join(" ")), &folders);
        let code = out.status.code().map_or("signal".to_string(), |c| c.to_string());
        let _ = write!(self.text, "## {title}\n{line}\nexit {code}\n{}\n", normalize(&err, &folders));
    }
}

/// `text` with one character changed in the data of its first encrypted value (comments left
/// alone: sops only warns about a comment it cannot decrypt, and so do we).
fn tamper(text: &str) -> String {
    let value = text.match_indices("ENC[AES256_GCM,data:").find(|(at, _)| !text[..*at].ends_with('#')).unwrap().0;
    let start = value + "ENC[AES256_GCM,data:".len();
    let mut bytes = text.as_bytes().to_vec();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn failing_invocations_say_what_is_wrong() {
    // A clan flake with user `admin` (k0), machine `web` (k1) and secret `db` for admin.
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "admin", K[0]]);
    flake.ok(0, &["machines", "add", "web", K[1]]);
    flake.set(0, &["db"], "v");
    let scratch = tempfile::tempdir().unwrap();
    let scratch_path = scratch.path().canonicalize().unwrap();
    let s = scratch_path.as_path();
    let mut book =
        Catalogue { folders: vec![(flake.path().to_path_buf(), "[FLAKE]"), (s.to_path_buf(), "[SCRATCH]")], text: String::new() };
    let f = flake.path();
    let k0 = private_key(0);
    let k3 = private_key(3);
    let as_k0: &[(&str, &str)] = &[("SOPS_AGE_KEY", &k0)];
    let vector = |name: &str| vectors().join(name).display().to_string();
    let keys_a = vector("keys.txt");
    let keys_b = vector("keys-b.txt");
    let key_a: &[(&str, &str)] = &[("SOPS_AGE_KEY_FILE", &keys_a)];
    let key_b: &[(&str, &str)] = &[("SOPS_AGE_KEY_FILE", &keys_b)];

    // Where the repository is.
    book.case("no repository here", s, as_k0, &["list"]);
    book.case("--repo names no folder", s, as_k0, &["--repo", "/nonexistent/flake", "list"]);

    // Names that do not exist, or may not.
    book.case("unknown user", f, as_k0, &["users", "get", "nobody"]);
    book.case("unknown machine", f, as_k0, &["machines", "remove", "nobody"]);
    book.case("unknown group", f, as_k0, &["groups", "remove-user", "nogroup", "admin"]);
    book.case("unknown secret", f, as_k0, &["get", "nope"]);
    book.case("secret name that escapes", f, as_k0, &["get", ".."]);
    book.case("user name that clan refuses", f, as_k0, &["users", "add", "Alice", K[2]]);
    book.case("user added twice", f, as_k0, &["users", "add", "admin", K[2]]);

    // Keys.
    book.case("bad age key", f, as_k0, &["users", "add", "alice", "age1notakey"]);
    book.case("no key at all", f, &[], &["get", "db"]);
    book.case("a key that is not a recipient", f, &[("SOPS_AGE_KEY", &k3)], &["get", "db"]);
    book.case("a key file that does not exist", f, &[("SOPS_AGE_KEY_FILE", "/nonexistent/keys.txt")], &["get", "db"]);
    book.case("a key that is not an age key", f, &[("SOPS_AGE_KEY", "AGE-SECRET-KEY-1NOTAKEY")], &["get", "db"]);
    book.case("removing the last reader", f, as_k0, &["users", "remove-secret", "admin", "db"]);

    // Repository content that is not what it should be.
    let linked = flake.sops("secrets/linked");
    fs::create_dir_all(&linked).unwrap();
    symlink(flake.sops("secrets/db/secret"), linked.join("secret")).unwrap();
    book.case("symlinked secret", f, as_k0, &["get", "linked"]);
    let fifo = flake.sops("secrets/fifo");
    fs::create_dir_all(&fifo).unwrap();
    assert!(Command::new("mkfifo").arg(fifo.join("secret")).status().unwrap().success());
    book.case("secret that is a FIFO", f, as_k0, &["get", "fifo"]);
    fs::remove_dir_all(&fifo).unwrap();
    fs::remove_dir_all(&linked).unwrap();
    book.case("oversized secret", f, &[("SOPS_AGE_KEY", &k0), ("SECRETS_MAX_FILE_SIZE", "100")], &["get", "db"]);
    let tampered = flake.sops("secrets/tampered");
    fs::create_dir_all(&tampered).unwrap();
    fs::write(tampered.join("secret"), tamper(&fs::read_to_string(flake.sops("secrets/db/secret")).unwrap())).unwrap();
    book.case("tampered value in a secret", f, as_k0, &["get", "tampered"]);
    fs::remove_dir_all(&tampered).unwrap();
    fs::write(flake.sops("machines/web/key.json"), "[{\"publickey\": ").unwrap();
    book.case("key.json that is not JSON", f, as_k0, &["machines", "get", "web"]);

    // `secrets sops`, with sops's exit codes.
    let tampered_yaml = s.join("tampered.yaml");
    fs::write(&tampered_yaml, tamper(&fs::read_to_string(vectors().join("enc/basic.yaml")).unwrap())).unwrap();
    let negative = |name: &str| vectors().join("negative").join(name).display().to_string();
    book.case("sops file with a bad MAC", s, key_a, &["sops", "decrypt", &negative("mac-mismatch.yaml")]);
    book.case("sops file with swapped values", s, key_b, &["sops", "decrypt", &negative("swapped-values.yaml")]);
    book.case("sops file with a tampered value", s, key_a, &["sops", "decrypt", "tampered.yaml"]);
    book.case("sops file for other keys", s, key_b, &["sops", "decrypt", &vector("enc/basic.yaml")]);
    book.case("missing file for sops decrypt", s, key_a, &["sops", "decrypt", "missing.yaml"]);
    fs::write(s.join("plain.yaml"), "a: 1\n").unwrap();
    book.case("plain file for sops decrypt", s, key_a, &["sops", "decrypt", "plain.yaml"]);
    book.case("encrypting an encrypted file", s, &[], &["sops", "encrypt", "--age", K[0], &vector("enc/basic.yaml")]);
    book.case("extracting a key that is not there", s, key_a, &["sops", "decrypt", "--extract", "[\"nope\"]", &vector("enc/basic.yaml")]);

    // The argument parser.
    book.case("unknown command", f, as_k0, &["frobnicate"]);
    book.case("missing argument", f, as_k0, &["get"]);
    book.case("unknown flag", f, as_k0, &["list", "--bogus"]);

    insta::assert_snapshot!(book.text);
}
