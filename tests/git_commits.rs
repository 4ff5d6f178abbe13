//! How changes reach git, checked with the real git: the author and committer `git commit`
//! would record (its variables, then its configuration), signing and hooks left to the real
//! `git commit`, a repository in a subfolder of a larger work tree, and clan's ways of not
//! committing (`--no-commit`/`CLAN_NO_COMMIT` mark new files intent-to-add), `CLAN_DIR`,
//! `--debug` and `--option`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{clean_env, git, ok, secrets, stderr_of, stdout_of, vectors};

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";

/// A git work tree with an identity in its configuration and a first commit.
fn work_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["config", "user.name", "Config Name"]);
    git(dir.path(), &["config", "user.email", "config@example.com"]);
    fs::write(dir.path().join("flake.nix"), "{}\n").unwrap();
    git(dir.path(), &["add", "flake.nix"]);
    git(dir.path(), &["commit", "-q", "-m", "init"]);
    dir
}

/// `secrets` in `dir`, as alice.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = secrets();
    cmd.current_dir(dir).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).output().unwrap()
}

fn head(dir: &Path, format: &str) -> String {
    stdout_of(&git(dir, &["log", "-1", &format!("--format={format}")])).trim().to_string()
}

fn status(dir: &Path) -> String {
    stdout_of(&git(dir, &["status", "--porcelain"]))
}

fn executable(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn commits_carry_the_identity_and_dates_git_commit_would_record() {
    let dir = work_tree();
    ok(&run(dir.path(), &["users", "add", "alice", "--age-key", ALICE], &[]));
    assert_eq!(head(dir.path(), "%an <%ae>|%cn <%ce>"), "Config Name <config@example.com>|Config Name <config@example.com>");

    git(dir.path(), &["config", "author.name", "Author Config"]);
    let env = [
        ("GIT_AUTHOR_EMAIL", "env-author@example.com"),
        ("GIT_AUTHOR_DATE", "@1700000000 +0100"),
        ("GIT_COMMITTER_NAME", "Env Committer"),
        ("GIT_COMMITTER_DATE", "1600000000 -0500"),
    ];
    ok(&run(dir.path(), &["set", "one"], &[("SOPS_NIX_SECRET", "v1"), env[0], env[1], env[2], env[3]]));
    assert_eq!(
        head(dir.path(), "%an <%ae> %at %ai|%cn <%ce> %ct %ci"),
        "Author Config <env-author@example.com> 1700000000 2023-11-14 23:13:20 +0100|Env Committer <config@example.com> 1600000000 2020-09-13 07:26:40 -0500"
    );

    // A date in another format git reads: git itself records it, the same way.
    ok(&run(dir.path(), &["set", "two"], &[("SOPS_NIX_SECRET", "v2"), ("GIT_AUTHOR_DATE", "2021-02-03T04:05:06+07:00")]));
    assert_eq!(head(dir.path(), "%aI %s"), "2021-02-03T04:05:06+07:00 secrets: update two");
    assert_eq!(status(dir.path()), "", "the index agrees with the commit");
}

#[test]
fn without_an_identity_git_refuses_and_the_change_stays_staged() {
    let dir = work_tree();
    ok(&run(dir.path(), &["users", "add", "alice", "--age-key", ALICE], &[]));
    git(dir.path(), &["config", "--unset", "user.name"]);
    git(dir.path(), &["config", "--unset", "user.email"]);
    git(dir.path(), &["config", "user.useConfigOnly", "true"]);
    let out = run(dir.path(), &["set", "db"], &[("SOPS_NIX_SECRET", "v")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("git commit") && err.contains("identity"), "{err}");
    assert!(err.contains("commit it: git commit -m 'secrets: update db'"), "{err}");
    assert!(status(dir.path()).contains("A  sops/secrets/db/secret"), "{}", status(dir.path()));
    // EMAIL (read after the configuration) and a name from the environment are enough.
    ok(&run(
        dir.path(),
        &["set", "db2"],
        &[("SOPS_NIX_SECRET", "v"), ("GIT_AUTHOR_NAME", "A"), ("GIT_COMMITTER_NAME", "C"), ("EMAIL", "e@example.com")],
    ));
    assert_eq!(head(dir.path(), "%an <%ae>|%cn <%ce>|%s"), "A <e@example.com>|C <e@example.com>|secrets: update db2");
}

#[test]
fn hooks_run_as_for_a_commit_by_hand_and_a_failing_one_leaves_the_change_staged() {
    let dir = work_tree();
    let log = dir.path().join("hooks.log");
    for hook in ["pre-commit", "commit-msg", "post-commit"] {
        executable(&dir.path().join(".git/hooks").join(hook), &format!("#!/bin/sh\necho {hook} >> '{}'\n", log.display()));
    }
    ok(&run(dir.path(), &["users", "add", "alice", "--age-key", ALICE], &[]));
    assert_eq!(fs::read_to_string(&log).unwrap(), "pre-commit\ncommit-msg\npost-commit\n");
    assert_eq!(head(dir.path(), "%s"), "secrets: add user alice");
    // Other staged work is not swept into the commit.
    fs::write(dir.path().join("other"), "x").unwrap();
    git(dir.path(), &["add", "other"]);

    executable(&dir.path().join(".git/hooks/pre-commit"), "#!/bin/sh\necho 'refused by policy' >&2\nexit 1\n");
    let out = run(dir.path(), &["set", "db"], &[("SOPS_NIX_SECRET", "v")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("refused by policy") && err.contains("commit hooks"), "{err}");
    assert!(err.contains("written and staged but not committed") && err.contains("git commit -m 'secrets: update db'"), "{err}");
    assert_eq!(head(dir.path(), "%s"), "secrets: add user alice");
    let staged = status(dir.path());
    assert!(staged.contains("A  sops/secrets/db/secret") && staged.contains("A  other"), "{staged}");
    // The value is there: the change itself is final.
    assert_eq!(stdout_of(ok(&run(dir.path(), &["get", "db"], &[]))), "v");

    // A hooks folder of the configuration is used (and its absence of hooks too).
    fs::remove_file(dir.path().join(".git/hooks/pre-commit")).unwrap();
    git(dir.path(), &["reset", "-q", "other"]);
    let shared = dir.path().join("shared-hooks");
    executable(&shared.join("commit-msg"), "#!/bin/sh\necho 'Signed-off-by: Hook' >> \"$1\"\n");
    git(dir.path(), &["config", "core.hooksPath", shared.to_str().unwrap()]);
    ok(&run(dir.path(), &["set", "db", "--debug"], &[("SOPS_NIX_SECRET", "v2")]));
    assert_eq!(head(dir.path(), "%B").trim(), "secrets: update db\nSigned-off-by: Hook");
    assert_eq!(status(dir.path()), "?? hooks.log\n?? other\n?? shared-hooks/\n", "only the secret was committed");
}

#[test]
fn signed_commits_are_made_by_git_with_the_configured_program() {
    let dir = work_tree();
    // A stand-in for gpg that records it was asked to sign, then fails: the commit is refused
    // as git refuses it, and the change stays staged.
    let calls = dir.path().join("gpg-calls");
    let program = dir.path().join("fake-gpg");
    executable(&program, &format!("#!/bin/sh\necho \"$@\" >> '{}'\nexit 1\n", calls.display()));
    git(dir.path(), &["config", "commit.gpgsign", "true"]);
    git(dir.path(), &["config", "gpg.program", program.to_str().unwrap()]);
    let out = run(dir.path(), &["users", "add", "alice", "--age-key", ALICE], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("commit.gpgsign") && err.contains("gpg failed to sign"), "{err}");
    assert!(fs::read_to_string(&calls).unwrap().contains("-bsau"), "git asked the configured program to sign");
    assert_eq!(head(dir.path(), "%s"), "init");
}

#[test]
fn a_repository_in_a_subfolder_of_a_work_tree_commits_into_that_work_tree() {
    let dir = work_tree();
    let infra = dir.path().join("infra");
    fs::create_dir(&infra).unwrap();
    let out = secrets()
        .current_dir(dir.path())
        .env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"))
        .args(["--repo", "infra", "users", "add", "alice", "--age-key", ALICE])
        .output()
        .unwrap();
    ok(&out);
    assert!(stderr_of(&out).contains("Committed"), "{}", stderr_of(&out));
    assert_eq!(head(dir.path(), "%s"), "secrets: add user alice");
    let files = stdout_of(&git(dir.path(), &["ls-files"]));
    assert!(files.contains("infra/sops/users/alice/key.json"), "{files}");
    assert_eq!(status(dir.path()), "");
}

#[test]
fn no_commit_marks_new_files_intent_to_add_as_clan_does() {
    for (flag, env) in [(Some("--no-commit"), None), (None, Some(("CLAN_NO_COMMIT", "1")))] {
        let dir = work_tree();
        let mut args: Vec<&str> = flag.into_iter().collect();
        args.extend(["users", "add", "alice", "--age-key", ALICE]);
        ok(&run(dir.path(), &args, &env.into_iter().collect::<Vec<_>>()));
        assert_eq!(head(dir.path(), "%s"), "init", "nothing committed");
        // Tracked, nothing staged: ` A` as after `git add --intent-to-add`.
        assert_eq!(status(dir.path()), " A sops/users/alice/key.json\n");
        let files = stdout_of(&git(dir.path(), &["ls-files"]));
        assert!(files.contains("sops/users/alice/key.json"), "{files}");
        // git reads the index we wrote, and the next commit takes the content as usual.
        git(dir.path(), &["add", "sops"]);
        git(dir.path(), &["commit", "-q", "-m", "by hand"]);
        assert_eq!(status(dir.path()), "");
    }
}

#[test]
fn clan_dir_names_the_repository_and_clans_flags_are_accepted() {
    let dir = work_tree();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = secrets()
        .current_dir(elsewhere.path())
        .env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"))
        .env("CLAN_DIR", dir.path())
        .args(["--debug", "--option", "eval-cache", "false", "users", "add", "alice", "--age-key", ALICE])
        .output()
        .unwrap();
    ok(&out);
    let err = stderr_of(&out);
    let root = dir.path().canonicalize().unwrap();
    assert!(err.contains(&format!("debug: repository {}", root.display())), "{err}");
    assert!(err.contains("debug: --option") && err.contains("debug: committing in process"), "{err}");
    assert_eq!(head(dir.path(), "%s"), "secrets: add user alice");
    // --repo wins over CLAN_DIR; an empty CLAN_DIR is unset, as in clan.
    let out = secrets().current_dir(dir.path()).env("CLAN_DIR", "").args(["users", "list"]).output().unwrap();
    assert_eq!(stdout_of(ok(&out)), "alice\n");
    let out = secrets().env("CLAN_DIR", "/nonexistent").args(["--repo", dir.path().to_str().unwrap(), "users", "list"]).output().unwrap();
    assert_eq!(stdout_of(ok(&out)), "alice\n");
    let out = secrets().env("CLAN_DIR", "/nonexistent/x").args(["users", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("CLAN_DIR=/nonexistent/x: no such directory"), "{}", stderr_of(&out));
}

/// Runs the shell `body` in a private mount namespace, after a prologue that mounts a tmpfs of
/// `size` on `$MNT` and makes there a git repository of 6,000 tracked files (their index, about
/// 600 KB, is the largest write of a commit) where alice reads the committed secret `s`. The
/// body writes what it finds under `$OUT` (returned, with the folder that holds it); `None`
/// (the test is skipped) without root.
fn with_a_full_disk_repo(size: &str, body: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: a real full disk needs root (a tmpfs in a private mount namespace)");
        return None;
    }
    let scratch = tempfile::tempdir().unwrap();
    let script = format!(
        r#"
        set -eu
        mount -t tmpfs -o size={size} tmpfs "$MNT"
        cd "$MNT"; mkdir repo; cd repo
        git init -q -b main; git config user.name T; git config user.email t@example.com
        mkdir many; i=0; while [ $i -lt 6000 ]; do : > "many/a-file-with-a-longish-name-$i"; i=$((i+1)); done
        git add .; git commit -qm init
        "$BIN" users add alice --age-key "$ALICE" 2>/dev/null
        SOPS_NIX_SECRET=zero "$BIN" set s 2>/dev/null
        {body}"#
    );
    let mount = scratch.path().join("mnt");
    fs::create_dir(&mount).unwrap();
    let out_prefix = scratch.path().join("out");
    let mut command = std::process::Command::new("unshare");
    // The caller's git identity, keys and settings stay out, as in every other test.
    clean_env(&mut command);
    let out = command
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("MNT", &mount)
        .env("OUT", &out_prefix)
        .env("ALICE", ALICE)
        .env("BIN", env!("CARGO_BIN_EXE_secrets"))
        .env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"))
        .env("HOME", scratch.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    Some((scratch, out_prefix))
}

/// A full disk when git's index is written: the index is written (into `index.lock`) before
/// HEAD moves, as `git commit` writes it, so the failure leaves HEAD and the index as they
/// were and says the change is not committed. Were the commit made first, the index would
/// still stage the old content at the committed paths, and the next `git commit` by hand would
/// take the change back. A real full disk: a tmpfs in a private mount namespace (root only).
#[test]
fn a_full_disk_at_the_index_write_leaves_head_and_the_index_as_they_were() {
    let Some((_scratch, out_prefix)) = with_a_full_disk_repo(
        "2m",
        r#"
        git rev-parse HEAD > "$OUT.head"
        dd if=/dev/zero of="$MNT/fill" bs=4096 2>/dev/null || true
        truncate -s -150k "$MNT/fill"
        set +e
        SOPS_NIX_SECRET=two "$BIN" set s 2> "$OUT.err"; echo $? > "$OUT.code"
        set -e
        rm "$MNT/fill"
        git rev-parse HEAD > "$OUT.after"
        git diff --cached --name-only > "$OUT.staged"
        test ! -e .git/index.lock
    "#,
    ) else {
        return;
    };
    let read = |ext: &str| fs::read_to_string(out_prefix.with_extension(ext)).unwrap();
    let said = read("err");
    assert_eq!(read("code").trim(), "1", "the write fails: {said}");
    assert!(said.contains("index.lock") && said.contains("No space left on device"), "{said}");
    assert!(said.contains("not committed"), "{said}");
    assert_eq!(read("after"), read("head"), "nothing is committed");
    assert_eq!(read("staged"), "", "the index still agrees with HEAD: {said}");
}

/// A full disk at any write of a commit, the commit object's among them (libgit2 reports that
/// one as a success, HEAD unmoved): a command that says it committed has moved HEAD, and one
/// that failed has left HEAD where it was and no index lock behind. The free space left is
/// stepped across the sizes of the commit's writes (the index being the largest).
#[test]
fn a_full_disk_at_any_write_of_a_commit_never_claims_a_commit() {
    let Some((_scratch, out_prefix)) = with_a_full_disk_repo(
        "4m",
        r#"
        index=$(( $(stat -c %s .git/index) / 1024 ))
        free=$((index - 8))
        while [ $free -le $((index + 40)) ]; do
            before=$(git rev-parse HEAD)
            dd if=/dev/zero of="$MNT/fill" bs=4096 2>/dev/null || true
            truncate -s "-${free}k" "$MNT/fill"
            set +e
            SOPS_NIX_SECRET="value $free" "$BIN" set s 2>> "$OUT.err"; code=$?
            set -e
            rm "$MNT/fill"
            after=$(git rev-parse HEAD)
            lock=no; [ -e .git/index.lock ] && lock=yes
            echo "$free $code $([ "$before" = "$after" ] && echo same || echo moved) $lock" >> "$OUT.runs"
            # The next step starts from a clean, committed state.
            rm -f .git/index.lock; "$BIN" key update >/dev/null 2>&1 || true
            git add -A >/dev/null 2>&1; git commit -qm resync >/dev/null 2>&1 || true
            free=$((free + 4))
        done
    "#,
    ) else {
        return;
    };
    let runs = fs::read_to_string(out_prefix.with_extension("runs")).unwrap();
    let said = fs::read_to_string(out_prefix.with_extension("err")).unwrap_or_default();
    let mut failed = 0;
    for run in runs.lines() {
        let fields: Vec<&str> = run.split(' ').collect();
        let [free, code, head, lock] = fields[..] else { panic!("{run}") };
        if code == "0" {
            assert_eq!(head, "moved", "{free} KiB free: said committed, HEAD unmoved\n{runs}\n{said}");
        } else {
            failed += 1;
            assert_eq!(head, "same", "{free} KiB free: failed, yet HEAD moved\n{runs}");
        }
        assert_eq!(lock, "no", "{free} KiB free: an index lock is left\n{runs}");
    }
    assert!(failed > 0, "some steps run out of space\n{runs}");
    assert!(said.contains("No space left on device") || said.contains("not stored"), "{said}");
}
