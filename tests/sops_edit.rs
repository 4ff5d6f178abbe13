//! `secrets sops edit` and the bare `secrets sops FILE`, driven by scripted editors (shell
//! scripts that change the file they are given) next to the real sops: the same example
//! document for a new file, the same exit codes, files the real sops reads, and a private
//! temporary file that is gone afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{age_keygen, clean_env, ok, secrets, sops_and_keygen, sops_bin, stderr_of, stdout_of};

/// A folder with a key and an editor script `editor.sh` made of `body` (`$1` is the file).
struct Bench {
    dir: tempfile::TempDir,
    key: PathBuf,
    recipient: String,
}

impl Bench {
    fn new(body: &str) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let (key, recipient) = age_keygen(dir.path(), "key");
        let bench = Bench { dir, key, recipient };
        bench.editor(body);
        bench
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn editor(&self, body: &str) {
        let script = self.path("editor.sh");
        std::fs::write(&script, format!("#!/bin/sh\nD='{}'\n{body}\n", self.dir.path().display())).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }

    fn env(&self, cmd: &mut Command) {
        cmd.current_dir(self.dir.path())
            .env("SOPS_EDITOR", self.path("editor.sh"))
            .env("SOPS_AGE_KEY_FILE", &self.key)
            .env("SOPS_AGE_RECIPIENTS", &self.recipient);
    }

    fn ours(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = secrets();
        cmd.current_dir(self.dir.path())
            .env("SOPS_EDITOR", self.path("editor.sh"))
            .env("SOPS_AGE_KEY_FILE", &self.key)
            .env("SOPS_AGE_RECIPIENTS", &self.recipient);
        cmd.arg("sops").args(args).write_stdin(stdin).output().unwrap()
    }

    fn real(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write;
        let mut cmd = Command::new(sops_bin().unwrap());
        clean_env(&mut cmd);
        self.env(&mut cmd);
        let mut child = cmd
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    fn real_decrypt(&self, name: &str) -> String {
        let out = self.real(&["decrypt", name], "");
        assert!(out.status.success(), "sops decrypt {name}: {}", stderr_of(&out));
        stdout_of(&out)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

/// An editor that keeps a copy of what it was shown (as `seen`) and changes nothing.
const LOOK: &str = "cp \"$1\" \"$D/seen\"";

#[test]
fn a_new_file_starts_from_the_example_sops_shows_in_every_store() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new(LOOK);
    for name in ["new.yaml", "new.json", "new.env", "new.ini", "new.bin"] {
        let real = b.real(&["edit", name], "");
        assert_eq!(real.status.code(), Some(200), "{name}: {}", stderr_of(&real));
        let shown_by_sops = b.read("seen");
        let ours = b.ours(&["edit", name], "");
        assert_eq!(ours.status.code(), Some(200), "{name}: {}", stderr_of(&ours));
        assert_eq!(stderr_of(&ours), "File has not changed, exiting.\n");
        assert_eq!(String::from_utf8_lossy(&b.read("seen")), String::from_utf8_lossy(&shown_by_sops), "{name}");
        assert!(!b.path(name).exists(), "{name}: an unchanged example is not written");
    }
}

#[test]
fn an_edited_new_file_is_encrypted_for_the_recipients_and_the_real_sops_reads_it() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new("sed -i 's/example_value/changed/' \"$1\"");
    for name in ["made.yaml", "made.json", "made.env", "made.ini"] {
        ok(&b.ours(&["edit", name], ""));
        let plain = b.real_decrypt(name);
        assert!(plain.contains("changed") && !plain.contains("example_value"), "{name}: {plain}");
    }
}

#[test]
fn editing_keeps_untouched_ciphertexts_and_the_bare_form_is_edit() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new("sed -i 's/one/uno/' \"$1\"");
    std::fs::write(b.path("plain.yaml"), "a: one\nb: two\n").unwrap();
    let enc = b.real(&["encrypt", "--output", "s.yaml", "plain.yaml"], "");
    assert!(enc.status.success(), "{}", stderr_of(&enc));
    let before = String::from_utf8(b.read("s.yaml")).unwrap();
    ok(&b.ours(&["edit", "s.yaml"], ""));
    assert_eq!(b.real_decrypt("s.yaml"), "a: uno\nb: two\n");
    let after = String::from_utf8(b.read("s.yaml")).unwrap();
    let line = |text: &str, key: &str| text.lines().find(|l| l.starts_with(key)).unwrap().to_string();
    assert_eq!(line(&before, "b:"), line(&after, "b:"), "b keeps its ciphertext");
    assert_ne!(line(&before, "a:"), line(&after, "a:"));

    // `secrets sops FILE` is `secrets sops edit FILE`, as `sops FILE` is.
    b.editor("sed -i 's/two/dos/' \"$1\"");
    ok(&b.ours(&["s.yaml"], ""));
    assert_eq!(b.real_decrypt("s.yaml"), "a: uno\nb: dos\n");
}

#[test]
fn an_unchanged_edit_writes_nothing_and_exits_200_like_sops() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new(LOOK);
    std::fs::write(b.path("plain.yaml"), "a: one\n").unwrap();
    assert!(b.real(&["encrypt", "--output", "s.yaml", "plain.yaml"], "").status.success());
    let before = b.read("s.yaml");
    assert_eq!(b.real(&["edit", "s.yaml"], "").status.code(), Some(200));
    let out = b.ours(&["edit", "s.yaml"], "");
    assert_eq!(out.status.code(), Some(200));
    assert_eq!(stderr_of(&out), "File has not changed, exiting.\n");
    assert_eq!(b.read("s.yaml"), before, "not rewritten");
    assert_eq!(b.read("seen"), b"a: one\n");
}

#[test]
fn an_invalid_edit_reopens_the_editor_after_a_key_press_like_sops() {
    if !sops_and_keygen() {
        return;
    }
    // First round: broken YAML; second round: valid.
    let b = Bench::new(
        "n=$(cat \"$D/rounds\" 2>/dev/null || echo 0); n=$((n+1)); echo $n > \"$D/rounds\"\n\
         if [ $n = 1 ]; then printf 'a: [broken\\n' > \"$1\"; else printf 'a: fixed\\n' > \"$1\"; fi",
    );
    std::fs::write(b.path("plain.yaml"), "a: one\n").unwrap();
    assert!(b.real(&["encrypt", "--output", "s.yaml", "plain.yaml"], "").status.success());
    std::fs::copy(b.path("s.yaml"), b.path("t.yaml")).unwrap();

    assert!(b.real(&["edit", "t.yaml"], "\n").status.success());
    assert_eq!(std::fs::read_to_string(b.path("rounds")).unwrap().trim(), "2");
    std::fs::remove_file(b.path("rounds")).unwrap();

    let out = b.ours(&["edit", "s.yaml"], "\n");
    ok(&out);
    assert!(stderr_of(&out).contains("Press a key to return to the editor"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_to_string(b.path("rounds")).unwrap().trim(), "2");
    assert_eq!(b.real_decrypt("s.yaml"), "a: fixed\n");

    // With standard input at its end there is no key to wait for: stop, change nothing.
    std::fs::remove_file(b.path("rounds")).unwrap();
    let before = b.read("s.yaml");
    let out = b.ours(&["edit", "s.yaml"], "");
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(b.read("s.yaml"), before);
}

#[test]
fn the_file_edited_is_private_in_memory_and_removed_afterwards() {
    if !sops_and_keygen() {
        return;
    }
    // The script records where the file is, its folder's and its own modes, and what it sees
    // of the key variables.
    let b = Bench::new(
        "echo \"$1\" > \"$D/where\"; stat -c %a \"$(dirname \"$1\")\" \"$1\" > \"$D/modes\"\n\
         echo \"${SOPS_AGE_KEY_FILE:-unset}\" > \"$D/keyvar\"; sed -i 's/one/two/' \"$1\"",
    );
    std::fs::write(b.path("plain.yaml"), "a: one\n").unwrap();
    assert!(b.real(&["encrypt", "--output", "s.yaml", "plain.yaml"], "").status.success());
    ok(&b.ours(&["edit", "s.yaml"], ""));
    let place = PathBuf::from(std::fs::read_to_string(b.path("where")).unwrap().trim());
    assert_eq!(place.file_name().unwrap(), "s.yaml", "named like the file, so the editor knows its type");
    if Path::new("/dev/shm").is_dir() {
        assert!(place.starts_with("/dev/shm"), "{}", place.display());
    }
    assert_eq!(std::fs::read_to_string(b.path("modes")).unwrap(), "700\n600\n");
    assert!(!place.exists() && !place.parent().unwrap().exists(), "removed");
    assert_eq!(std::fs::read_to_string(b.path("keyvar")).unwrap(), "unset\n");
}

#[test]
fn show_master_keys_shows_what_sops_shows_and_takes_the_metadata_back() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new(LOOK);
    std::fs::write(b.path("plain.yaml"), "a: one\n").unwrap();
    assert!(b.real(&["encrypt", "--output", "s.yaml", "plain.yaml"], "").status.success());
    assert_eq!(b.real(&["edit", "--show-master-keys", "s.yaml"], "").status.code(), Some(200));
    let shown_by_sops = b.read("seen");
    assert_eq!(b.ours(&["edit", "-s", "s.yaml"], "").status.code(), Some(200));
    assert_eq!(String::from_utf8_lossy(&b.read("seen")), String::from_utf8_lossy(&shown_by_sops));

    // A changed value and a changed metadata field both come back.
    b.editor("sed -i 's/one/two/; s/unencrypted_suffix: _unencrypted/unencrypted_suffix: _plain/' \"$1\"");
    ok(&b.ours(&["edit", "-s", "s.yaml"], ""));
    assert_eq!(b.real_decrypt("s.yaml"), "a: two\n");
    assert!(String::from_utf8(b.read("s.yaml")).unwrap().contains("unencrypted_suffix: _plain"));
}

#[test]
fn the_editor_comes_from_sops_editor_then_editor_split_like_a_shell() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new("sed -i \"s/one/$2/\" \"$1\"");
    std::fs::write(b.path("plain.yaml"), "a: one\n").unwrap();
    assert!(b.real(&["encrypt", "--output", "s.yaml", "plain.yaml"], "").status.success());
    // EDITOR with an argument that holds a space (quoted), SOPS_EDITOR unset: the script gets
    // the argument, then the file ($1 is the argument here, so the script swaps them).
    b.editor("sed -i \"s/one/$1/\" \"$2\"");
    let mut cmd = secrets();
    cmd.current_dir(b.dir.path()).env("EDITOR", format!("'{}' 'un o'", b.path("editor.sh").display())).env("SOPS_AGE_KEY_FILE", &b.key);
    ok(&cmd.args(["sops", "edit", "s.yaml"]).output().unwrap());
    assert_eq!(b.real_decrypt("s.yaml"), "a: un o\n");

    // An editor that cannot be started is sops's code 201.
    let mut cmd = secrets();
    cmd.current_dir(b.dir.path()).env("SOPS_EDITOR", b.path("missing-editor")).env("SOPS_AGE_KEY_FILE", &b.key);
    let out = cmd.args(["sops", "edit", "s.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(201), "{}", stderr_of(&out));
}

#[test]
fn a_new_file_without_recipients_fails_before_the_editor_opens() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new("touch \"$D/opened\"");
    let mut cmd = secrets();
    cmd.current_dir(b.dir.path()).env("SOPS_EDITOR", b.path("editor.sh"));
    let out = cmd.args(["sops", "edit", "new.yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(!b.path("opened").exists() && !b.path("new.yaml").exists());
}
