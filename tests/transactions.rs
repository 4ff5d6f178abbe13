//! A revocation that fails half way — a full disk at the first, a middle or the last write — is
//! undone completely, so that the member's links and the files agree, `access` never claims a
//! revocation the files do not enforce, and running the command again (once there is space)
//! completes it. Failures are injected exactly with `SECRETS_FAIL_WRITE`, and for real with a
//! tiny tmpfs in a private mount namespace (root only).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{git, init_git_repo, ok, secrets_process, stderr_of, stdout_of, vectors};

const ADMIN: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const SECRETS: usize = 6;
/// Enough secrets for a re-key to write them as one batch, synced through the file system.
const BULK: usize = 40;

struct Fixture {
    scratch: tempfile::TempDir,
    repo: PathBuf,
    mallory_key: PathBuf,
    mallory: String,
    secrets: usize,
}

fn command(repo: &Path) -> Command {
    let mut cmd = secrets_process();
    cmd.current_dir(repo).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"));
    cmd
}

fn run(repo: &Path, args: &[&str]) -> Output {
    command(repo).args(args).output().unwrap()
}

fn fixture() -> Fixture {
    fixture_of(SECRETS)
}

/// A git repository with admin and mallory, `secrets` secrets mallory reads through group
/// `team`, and one she reads directly.
fn fixture_of(secrets: usize) -> Fixture {
    use age::secrecy::ExposeSecret;
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("repo");
    init_git_repo(&repo);
    let identity = age::x25519::Identity::generate();
    let mallory_key = scratch.path().join("mallory.key");
    std::fs::write(&mallory_key, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    let mallory = identity.to_public().to_string();
    ok(&run(&repo, &["users", "add", "admin", ADMIN]));
    ok(&run(&repo, &["users", "add", "mallory", &mallory]));
    ok(&run(&repo, &["groups", "add-user", "team", "admin"]));
    ok(&run(&repo, &["groups", "add-user", "team", "mallory"]));
    for s in 0..secrets {
        let out = command(&repo)
            .args(["--no-commit", "set", "--group", "team", &format!("s{s}")])
            .env("SOPS_NIX_SECRET", format!("v{s}"))
            .output();
        ok(&out.unwrap());
    }
    ok(&git(&repo, &["add", "-A"]));
    ok(&git(&repo, &["commit", "-qm", "secrets"]));
    Fixture { scratch, repo, mallory_key, mallory, secrets }
}

fn recipients(repo: &Path, secret: usize) -> BTreeSet<String> {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.join(format!("sops/secrets/s{secret}/secret"))).unwrap()).unwrap();
    json["sops"]["age"].as_array().unwrap().iter().map(|e| e["recipient"].as_str().unwrap().to_string()).collect()
}

/// What the links say (through `access --json`) agrees with the files, for mallory: she is
/// listed as a reader exactly where the file is encrypted for her.
fn links_agree_with_files(f: &Fixture, context: &str) -> bool {
    let out = ok(&run(&f.repo, &["--json", "access"])).clone();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut linked_any = false;
    for s in 0..f.secrets {
        let entry = json["secrets"].as_array().unwrap().iter().find(|e| e["name"] == format!("s{s}")).unwrap();
        let linked = entry["users"].get("mallory").is_some();
        let in_file = recipients(&f.repo, s).contains(&f.mallory);
        assert_eq!(linked, in_file, "{context}: s{s}: access says mallory can read: {linked}, the file is encrypted for her: {in_file}");
        linked_any |= linked;
    }
    ok(&run(&f.repo, &["check"]));
    linked_any
}

fn mallory_reads_nothing(f: &Fixture, context: &str) {
    for s in 0..f.secrets {
        assert!(!recipients(&f.repo, s).contains(&f.mallory), "{context}: s{s} still encrypted for mallory");
        let out = command(&f.repo).args(["get", &format!("s{s}")]).env("SOPS_AGE_KEY_FILE", &f.mallory_key).output().unwrap();
        assert!(!out.status.success(), "{context}: mallory decrypted s{s}");
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".secrets") || name.contains(".removing-") {
            out.push(entry.display().to_string());
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            out.push(entry.path());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walk(&entry.path()));
            }
        }
    }
    out
}

#[test]
fn a_full_disk_at_any_write_of_a_revocation_undoes_it_and_the_retry_completes_it() {
    let revocations: [&[&str]; 2] = [&["groups", "remove-user", "team", "mallory"], &["users", "remove", "mallory"]];
    // A few secrets are written one by one, many as one batch: both ways must undo.
    let cases = revocations.iter().map(|r| (*r, SECRETS)).chain([(revocations[0], BULK)]);
    for (revocation, secrets) in cases {
        // The revocation re-keys every secret: fail the first, a middle and the last write.
        for fail_at in [1, secrets / 2, secrets] {
            let f = fixture_of(secrets);
            let context = format!("{revocation:?} of {secrets} secrets failing at write {fail_at}");
            let out = command(&f.repo).args(revocation).env("SECRETS_FAIL_WRITE", fail_at.to_string()).output().unwrap();
            assert!(!out.status.success(), "{context}: succeeded");
            let err = stderr_of(&out);
            assert!(err.contains("No space left on device"), "{context}: {err}");
            assert!(!err.contains("no error"), "{context}: {err}");
            // Undone: mallory is still a member, and the files say so too.
            assert!(links_agree_with_files(&f, &context), "{context}: mallory is linked nowhere after the failed revocation");
            assert!(git(&f.repo, &["status", "--porcelain"]).stdout.is_empty(), "{context}: the failed change left changes");
            assert!(leftovers(&f.repo.join("sops")).is_empty() && leftovers(&f.repo.join(".git")).is_empty(), "{context}");

            ok(&run(&f.repo, revocation));
            assert!(!links_agree_with_files(&f, &context), "{context}: mallory still linked after the retry");
            mallory_reads_nothing(&f, &context);
            assert!(git(&f.repo, &["status", "--porcelain"]).stdout.is_empty(), "{context}: the retry is committed");
        }
    }
}

/// The journal itself meets the full disk, right after a file's old content was kept for
/// undoing: that copy, which no journal names, must not stay behind (the removed member could
/// still read it, and a `git add -A` would commit it).
#[test]
fn a_full_disk_at_a_journal_record_leaves_no_copy_of_the_old_content() {
    // Records: the link removal, then one per secret file; fail the first, a middle and the last.
    for (secrets, fail_at) in [1, 2, SECRETS / 2 + 1, SECRETS + 1].map(|at| (SECRETS, at)).into_iter().chain([(BULK, 2), (BULK, BULK + 1)])
    {
        let f = fixture_of(secrets);
        let context = format!("journal record {fail_at} of {secrets} secrets failing");
        let out = command(&f.repo).args(["users", "remove", "mallory"]).env("SECRETS_FAIL_JOURNAL", fail_at.to_string()).output().unwrap();
        assert!(!out.status.success(), "{context}: succeeded");
        assert!(stderr_of(&out).contains("No space left on device"), "{context}: {}", stderr_of(&out));
        assert!(links_agree_with_files(&f, &context), "{context}: undone");
        assert!(leftovers(&f.repo.join("sops")).is_empty(), "{context}: {:?}", leftovers(&f.repo.join("sops")));
        assert!(git(&f.repo, &["status", "--porcelain", "--untracked-files=all"]).stdout.is_empty(), "{context}");
        ok(&run(&f.repo, &["users", "remove", "mallory"]));
        mallory_reads_nothing(&f, &context);
    }
}

/// Killed (`kill -9`) at a journal record, the first, a middle or the last: no old content
/// may have been kept before its record names it, or the next command, which undoes the
/// change, could not know of the copy, and the removed member could read it until `key update`.
#[test]
fn a_kill_at_a_journal_record_leaves_no_copy_the_next_command_misses() {
    for (secrets, kill_at) in
        [1, 2, SECRETS / 2 + 1, SECRETS + 1].map(|at| (SECRETS, at)).into_iter().chain([(BULK, BULK / 2), (BULK, BULK + 1)])
    {
        let f = fixture_of(secrets);
        let context = format!("killed at journal record {kill_at} of {secrets} secrets");
        let out =
            command(&f.repo).args(["users", "remove", "mallory"]).env("SECRETS_KILL_AT_JOURNAL", kill_at.to_string()).output().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(9), "{context}: {}", stderr_of(&out));
        ok(&run(&f.repo, &["list"]));
        assert!(links_agree_with_files(&f, &context), "{context}: undone");
        assert!(leftovers(&f.repo.join("sops")).is_empty(), "{context}: {:?}", leftovers(&f.repo.join("sops")));
        assert!(git(&f.repo, &["status", "--porcelain", "--untracked-files=all"]).stdout.is_empty(), "{context}");
        ok(&run(&f.repo, &["users", "remove", "mallory"]));
        mallory_reads_nothing(&f, &context);
    }
}

#[test]
fn a_change_killed_half_way_is_undone_by_the_next_command_even_a_reading_one() {
    // Killed at several moments of the revocation (not committing: a kill inside git's own
    // commit leaves git's lock files, which is git's business); a few secrets are written one
    // by one, many as one batch, which takes longer.
    let few = [0u64, 1, 2, 3, 5, 7, 10, 13, 16, 20, 24, 28, 32, 36, 40, 45, 50, 60, 80].map(|ms| (SECRETS, ms));
    let many = [15u64, 30, 45, 60, 75, 90, 110, 130, 150, 175, 200, 250, 300].map(|ms| (BULK, ms));
    let (mut f, mut secrets) = (fixture(), SECRETS);
    for (size, delay_ms) in few.into_iter().chain(many) {
        if size != secrets {
            (f, secrets) = (fixture_of(size), size);
        }
        let mut child = command(&f.repo).args(["--no-commit", "groups", "remove-user", "team", "mallory"]).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        // Any next command, a reading one included, first settles the repository.
        let listed = run(&f.repo, &["list"]);
        ok(&listed);
        let context = format!("{secrets} secrets, killed after {delay_ms} ms ({status})");
        let still_member = links_agree_with_files(&f, &context);
        assert!(leftovers(&f.repo.join("sops")).is_empty(), "{context}: {:?}", leftovers(&f.repo.join("sops")));
        if !still_member {
            // The command had finished: put mallory back for the next round.
            mallory_reads_nothing(&f, &context);
            ok(&run(&f.repo, &["--no-commit", "groups", "add-user", "team", "mallory"]));
        }
        assert!(stdout_of(&listed).contains("s0"));
    }
}

/// What HEAD holds at `path`, or `None` when it holds nothing there.
fn committed(repo: &Path, path: &str) -> Option<String> {
    let out = Command::new("git").current_dir(repo).args(["show", &format!("HEAD:{path}")]).output().unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A revocation killed (`kill -9`) after its change was final on disk but before its commit:
/// the next command, whichever it is, commits the change first, so that the revocation is in
/// git (and reaches the machines) rather than silently uncommitted; one told not to commit says
/// the change is uncommitted and how to commit it.
#[test]
fn a_revocation_killed_before_its_commit_is_committed_by_the_next_command() {
    let next_commands: [&[&str]; 3] =
        [&["list"], &["users", "add", "carol", "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p"], &["--no-commit", "list"]];
    for next in next_commands {
        let f = fixture();
        let context = format!("then {next:?}");
        let killed =
            command(&f.repo).args(["groups", "remove-user", "team", "mallory"]).env("SECRETS_KILL_BEFORE_COMMIT", "1").output().unwrap();
        assert!(!killed.status.success(), "{context}: the command was not killed: {}", stderr_of(&killed));
        assert!(!git(&f.repo, &["status", "--porcelain"]).stdout.is_empty(), "{context}: the change is on disk, uncommitted");
        assert!(committed(&f.repo, "sops/groups/team/users/mallory").is_some());
        // Run by git itself (a pre-commit hook running `check`), it only says so.
        let hook = command(&f.repo).args(["list"]).env("GIT_INDEX_FILE", f.repo.join(".git/index")).output().unwrap();
        assert!(stderr_of(ok(&hook)).contains("the next secrets command run outside git commits it"), "{context}: {}", stderr_of(&hook));
        assert!(committed(&f.repo, "sops/groups/team/users/mallory").is_some(), "{context}: committed from inside git");

        let out = run(&f.repo, next);
        ok(&out);
        let err = stderr_of(&out);
        assert!(err.contains("interrupted secrets command") && err.contains("sops/groups/team/users/mallory"), "{context}: {err}");
        if next[0] == "--no-commit" {
            assert!(err.contains("not committed") && err.contains("git commit"), "{context}: {err}");
            // Said once: the next command has nothing more to say.
            let again = stderr_of(ok(&run(&f.repo, &["list"])));
            assert!(!again.contains("interrupted"), "{context}: {again}");
            continue;
        }
        // The revocation is committed: the link is gone from HEAD and every committed file
        // is encrypted without mallory.
        assert!(committed(&f.repo, "sops/groups/team/users/mallory").is_none(), "{context}: the link is still committed");
        for s in 0..SECRETS {
            let file = committed(&f.repo, &format!("sops/secrets/s{s}/secret")).unwrap();
            assert!(!file.contains(&f.mallory), "{context}: the committed s{s} is still encrypted for mallory");
        }
        let subjects = String::from_utf8_lossy(&git(&f.repo, &["log", "--format=%s", "-3"]).stdout).into_owned();
        assert!(subjects.contains("secrets: commit the change of an interrupted secrets command"), "{context}: {subjects}");
        assert!(git(&f.repo, &["status", "--porcelain"]).stdout.is_empty(), "{context}: everything is committed");
        assert!(!f.repo.join(".git/secrets.uncommitted").exists(), "{context}");
        mallory_reads_nothing(&f, &context);
    }
}

/// Runs `script` as root in a private mount namespace (so that its tmpfs vanishes with it).
fn in_private_namespace(script: &str, envs: &[(&str, &Path)]) -> Option<Output> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: a real full disk needs root (a tmpfs in a private mount namespace)");
        return None;
    }
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", script]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    Some(cmd.output().unwrap())
}

#[test]
fn a_real_full_disk_during_a_revocation_is_undone_and_the_retry_completes_it() {
    // Free pages left on the tmpfs when the revocation starts: none (the journal cannot be
    // written), and a few (it fails at some secret or at the git commit).
    for pages in [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12] {
        let f = fixture();
        let mount = f.scratch.path().join("mnt");
        std::fs::create_dir(&mount).unwrap();
        let script = r#"
            set -u
            mount -t tmpfs -o size=1m tmpfs "$MNT" || exit 90
            cp -a "$REPO" "$MNT/repo" || exit 91
            cd "$MNT/repo"
            dd if=/dev/zero of="$MNT/fill" bs=4096 2>/dev/null
            truncate -s "-$((PAGES * 4096))" "$MNT/fill"
            "$BIN" users remove mallory 2>"$OUT.first"; echo $? > "$OUT.code"
            rm -f "$MNT/fill"
            rm -rf "$REPO" && cp -a "$MNT/repo" "$REPO"
        "#;
        let out_prefix = f.scratch.path().join("out");
        let pages_text = pages.to_string();
        let Some(out) = in_private_namespace(
            script,
            &[
                ("MNT", &mount),
                ("REPO", &f.repo),
                ("OUT", &out_prefix),
                ("PAGES", Path::new(&pages_text)),
                ("BIN", Path::new(env!("CARGO_BIN_EXE_secrets"))),
                ("SOPS_AGE_KEY_FILE", &vectors().join("keys.txt")),
            ],
        ) else {
            return;
        };
        assert!(out.status.success(), "{}", stderr_of(&out));
        let first = std::fs::read_to_string(out_prefix.with_extension("first")).unwrap();
        let code = std::fs::read_to_string(out_prefix.with_extension("code")).unwrap();
        let context = format!("{pages} free pages: exit {} {first}", code.trim());
        eprintln!("{context}");
        assert!(!first.contains("no error"), "{context}");
        if code.trim() != "0" {
            assert!(first.contains("No space left on device"), "{context}");
        }
        // Whatever happened, the links and the files agree.
        let still_member = links_agree_with_files(&f, &context);
        assert!(leftovers(&f.repo.join("sops")).is_empty(), "{context}: {:?}", leftovers(&f.repo.join("sops")));
        if still_member {
            ok(&run(&f.repo, &["users", "remove", "mallory"]));
        } else if !git(&f.repo, &["status", "--porcelain"]).stdout.is_empty() {
            // The change was made but could not be committed: it said so.
            assert!(first.contains("not committed") && first.contains("free some space"), "{context}");
        }
        mallory_reads_nothing(&f, &context);
    }
}

#[test]
fn access_flags_files_that_do_not_enforce_what_the_links_say() {
    let f = fixture();
    // A revocation the files do not enforce: the link is gone, the files are as they were.
    std::fs::remove_file(f.repo.join("sops/groups/team/users/mallory")).unwrap();

    let text = stdout_of(ok(&run(&f.repo, &["access"])));
    let row = text.lines().find(|l| l.starts_with("s0 ")).unwrap();
    assert!(row.contains('!'), "the matrix marks mallory's cell: {text}");
    assert!(text.contains("s0: the file is STILL encrypted for mallory (user)"), "{text}");

    let json: serde_json::Value = serde_json::from_slice(&ok(&run(&f.repo, &["--json", "access"])).stdout).unwrap();
    let s0 = json["secrets"].as_array().unwrap().iter().find(|e| e["name"] == "s0").unwrap();
    assert_eq!(s0["drift"], true, "{s0}");
    assert_eq!(s0["still_in_file"], serde_json::json!(["mallory (user)"]), "{s0}");
    assert!(s0["users"].get("mallory").is_none());

    let one = stdout_of(ok(&run(&f.repo, &["access", "s1"])));
    assert!(one.contains("STILL encrypted for mallory (user)"), "{one}");
    let member = stdout_of(ok(&run(&f.repo, &["access", "--member", "mallory"])));
    assert!(member.contains("no secret by its links") && member.contains("! s0: no link, but its file is STILL encrypted"), "{member}");
    let member: serde_json::Value =
        serde_json::from_slice(&ok(&run(&f.repo, &["--json", "access", "--member", "mallory"])).stdout).unwrap();
    assert_eq!(member["still_in_file"].as_array().unwrap().len(), SECRETS, "{member}");

    // Once re-keyed, no more drift.
    ok(&run(&f.repo, &["check", "--fix"]));
    let json: serde_json::Value = serde_json::from_slice(&ok(&run(&f.repo, &["--json", "access"])).stdout).unwrap();
    assert!(json["secrets"].as_array().unwrap().iter().all(|e| e["drift"] == false), "{json}");
    assert!(!stdout_of(ok(&run(&f.repo, &["access"]))).contains('!'));
    mallory_reads_nothing(&f, "after check --fix");
}
