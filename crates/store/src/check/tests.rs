use std::fs;
use std::os::unix::fs::symlink;

use super::*;
use crate::keyfile::{render, PublicKey};
use crate::links;
use crate::ops::{self, Ctx, Quiet};
use crate::rekey::RekeyOptions;

const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";
const CAROL: &str = "age1xzzypxvu5n8fvvakra4m8nwszzgzumwpfu03l2wsynhvlvygj9kq5793e2";

fn alice_identities() -> Identities {
    let text = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sops-vectors/keys.txt")).unwrap();
    let mut ids = Identities::empty();
    ids.add_age_key_text(&text, "keys.txt").unwrap();
    ids
}

struct Fixture {
    _dir: tempfile::TempDir,
    repo: Repo,
}

impl Fixture {
    /// alice and bob (users), web1 (machine), group ops = {bob, web1}; secret `db` for alice
    /// and ops.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::at(dir.path().canonicalize().unwrap());
        let f = Fixture { _dir: dir, repo };
        f.member(Kind::User, "alice", &[ALICE]);
        f.member(Kind::User, "bob", &[BOB]);
        f.member(Kind::Machine, "web1", &[CAROL]);
        let ops = f.repo.member_dir(Kind::Group, "ops");
        links::add(&f.repo, &ops, Kind::User, "bob").unwrap();
        links::add(&f.repo, &ops, Kind::Machine, "web1").unwrap();
        f.secret("db", &[(Kind::User, "alice"), (Kind::Group, "ops")], &[ALICE, BOB, CAROL]);
        f
    }

    fn member(&self, kind: Kind, name: &str, keys: &[&str]) {
        let keys: Vec<PublicKey> = keys.iter().map(|k| PublicKey::age(*k)).collect();
        fs::create_dir_all(self.repo.member_dir(kind, name)).unwrap();
        fs::write(self.repo.key_file(kind, name), render(&keys)).unwrap();
    }

    fn secret(&self, name: &str, members: &[(Kind, &str)], recipients: &[&str]) {
        let secret = self.repo.secret(name).unwrap();
        for (kind, member) in members {
            links::add(&self.repo, &secret.dir, *kind, member).unwrap();
        }
        let bytes = ops::encrypt_value(&secret, b"value", recipients.iter().map(ToString::to_string).collect()).unwrap();
        fs::write(secret.file(), bytes).unwrap();
    }

    fn check(&self) -> Report {
        check(&self.repo, &Options::default()).unwrap()
    }

    fn codes(&self) -> Vec<(&'static str, String)> {
        self.check().findings.into_iter().map(|f| (f.code, f.path.display().to_string())).collect()
    }
}

#[test]
fn a_consistent_repository_has_no_findings() {
    let f = Fixture::new();
    let report = f.check();
    assert_eq!(report.findings, vec![], "{:#?}", report.findings);
    assert_eq!(report.secrets, 1);
    assert!(report.drifted.is_empty());
}

#[test]
fn bad_links_are_each_reported() {
    let f = Fixture::new();
    let users = f.repo.secret_dir("db").join("users");
    // Named after carol, grants bob.
    symlink("../../../users/bob", users.join("carol")).unwrap();
    fs::create_dir_all(f.repo.root().join("elsewhere/eve")).unwrap();
    symlink("../../../../elsewhere/eve", users.join("eve")).unwrap();
    symlink("../../../machines/web1", users.join("web1")).unwrap();
    symlink("../../../users/gone", users.join("gone")).unwrap();
    fs::write(users.join("plain"), "hunter2").unwrap();
    let codes = f.codes();
    for (code, path) in [
        ("misnamed-link", "sops/secrets/db/users/carol"),
        ("escaping-link", "sops/secrets/db/users/eve"),
        ("wrong-kind-link", "sops/secrets/db/users/web1"),
        ("dangling-link", "sops/secrets/db/users/gone"),
        ("not-a-link", "sops/secrets/db/users/plain"),
    ] {
        assert!(codes.contains(&(code, path.to_string())), "{code} {path}: {codes:?}");
    }
}

#[test]
fn drift_is_found_and_fixed() {
    let f = Fixture::new();
    // Encrypted for alice only, while its links also name ops (bob, web1).
    f.secret("api", &[(Kind::User, "alice"), (Kind::Group, "ops")], &[ALICE]);
    let report = f.check();
    let drift: Vec<&Finding> = report.findings.iter().filter(|x| x.code == "drift").collect();
    assert_eq!(drift.len(), 1, "{:#?}", report.findings);
    assert_eq!(drift[0].path, Path::new("sops/secrets/api/secret"));
    assert!(drift[0].message.contains("bob (user)") && drift[0].message.contains("web1 (machine)"), "{}", drift[0].message);
    assert_eq!(report.drifted.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["api"]);

    let ids = alice_identities();
    let ctx = Ctx { repo: &f.repo, identities: &ids, options: RekeyOptions::default(), progress: &Quiet };
    let outcome = fix(&ctx, &report).unwrap();
    assert_eq!(outcome.rekeyed.len(), 1);
    assert_eq!(f.check().findings, vec![]);
}

#[test]
fn dangling_links_are_fixable() {
    let f = Fixture::new();
    symlink("../../../users/gone", f.repo.secret_dir("db").join("users/gone")).unwrap();
    let report = f.check();
    assert_eq!(report.drifted.len(), 1);
    let ids = alice_identities();
    let ctx = Ctx { repo: &f.repo, identities: &ids, options: RekeyOptions::default(), progress: &Quiet };
    fix(&ctx, &report).unwrap();
    assert_eq!(f.check().findings, vec![]);
}

#[test]
fn plaintext_is_flagged() {
    let f = Fixture::new();
    let dir = f.repo.secret_dir("leak");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("secret"), "hunter2").unwrap();
    links::add(&f.repo, &dir, Kind::User, "alice").unwrap();
    fs::write(f.repo.sops_dir().join("secrets/notes.txt"), "hunter2").unwrap();
    fs::write(f.repo.secret_dir("db").join("value.txt"), "hunter2").unwrap();
    // sops metadata, but the value in clear.
    let clear = f.repo.secret_dir("clear");
    fs::create_dir_all(&clear).unwrap();
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(f.repo.secret_dir("db").join("secret")).unwrap()).unwrap();
    json["data"] = serde_json::Value::String("hunter2".into());
    fs::write(clear.join("secret"), serde_json::to_vec(&json).unwrap()).unwrap();
    links::add(&f.repo, &clear, Kind::User, "alice").unwrap();
    let report = f.check();
    let codes: Vec<(&str, String)> = report.findings.iter().map(|x| (x.code, x.path.display().to_string())).collect();
    for (code, path) in [
        ("plaintext", "sops/secrets/leak/secret"),
        ("plaintext", "sops/secrets/notes.txt"),
        ("unexpected-file", "sops/secrets/db/value.txt"),
        ("plaintext", "sops/secrets/clear/secret"),
    ] {
        assert!(codes.contains(&(code, path.to_string())), "{code} {path}: {codes:?}");
    }
    assert!(report.findings.iter().all(|x| !x.message.contains("hunter2")));
}

#[test]
fn malformed_pgp_entries_are_flagged_like_malformed_age_entries() {
    let f = Fixture::new();
    let original: serde_json::Value = serde_json::from_slice(&fs::read(f.repo.secret_dir("db").join("secret")).unwrap()).unwrap();
    let fp = "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4";
    let entry = |fp: Option<&str>| {
        let mut e = serde_json::json!({"created_at": "2025-01-01T00:00:00Z", "enc": "-----BEGIN PGP MESSAGE-----\n\nwcBMA\n-----END PGP MESSAGE-----"});
        if let Some(fp) = fp {
            e["fp"] = serde_json::Value::String(fp.to_string());
        }
        e
    };
    let cases = [
        ("nofp", entry(None), "pgp[0].fp is missing"),
        ("keyid", entry(Some("3D16CEE4A27381B4")), "pgp[0].fp is not a whole PGP fingerprint"),
        (
            "agefp",
            entry(Some("age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg")),
            "pgp[0].fp is not a whole PGP fingerprint",
        ),
        ("noenc", serde_json::json!({"created_at": "2025-01-01T00:00:00Z", "fp": fp}), "pgp[0].enc is missing"),
        ("notamap", serde_json::json!("text"), "pgp[0] is not a mapping"),
        ("good", entry(Some(fp)), ""),
    ];
    for (name, pgp_entry, _) in &cases {
        let dir = f.repo.secret_dir(name);
        fs::create_dir_all(&dir).unwrap();
        let mut json = original.clone();
        json["sops"]["pgp"] = serde_json::Value::Array(vec![pgp_entry.clone()]);
        fs::write(dir.join("secret"), serde_json::to_vec(&json).unwrap()).unwrap();
        links::add(&f.repo, &dir, Kind::User, "alice").unwrap();
        links::add(&f.repo, &dir, Kind::Group, "ops").unwrap();
    }
    let report = f.check();
    for (name, _, message) in cases {
        let path = format!("sops/secrets/{name}/secret");
        let found: Vec<&Finding> = report.findings.iter().filter(|x| x.path.display().to_string() == path).collect();
        if message.is_empty() {
            assert!(found.iter().all(|x| x.code != "bad-secret-file"), "{name}: {found:#?}");
        } else {
            assert!(found.iter().any(|x| x.code == "bad-secret-file" && x.message.contains(message)), "{name}: {found:#?}");
        }
    }
}

#[test]
fn key_files_are_validated() {
    let f = Fixture::new();
    f.member(Kind::User, "dup", &[BOB]);
    fs::create_dir_all(f.repo.member_dir(Kind::User, "twice")).unwrap();
    fs::write(
        f.repo.key_file(Kind::User, "twice"),
        format!(r#"[{{"publickey": "{ALICE}", "type": "age"}}, {{"publickey": "{ALICE}", "type": "age"}}]"#),
    )
    .unwrap();
    f.member(Kind::User, "broken", &["age1notakey"]);
    fs::create_dir_all(f.repo.member_dir(Kind::User, "junk")).unwrap();
    fs::write(f.repo.key_file(Kind::User, "junk"), "{").unwrap();
    f.member(Kind::Machine, "ssh1", &["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDFbZlTpuUMGyrBr2Gx5Xz9c3IZdv3JCiEmAcgVd9B8y"]);
    fs::create_dir_all(f.repo.member_dir(Kind::User, "Bad")).unwrap();
    let codes = f.codes();
    for (code, path) in [
        ("duplicate-key", "sops/users/twice/key.json"),
        ("invalid-key", "sops/users/broken/key.json"),
        ("bad-key-file", "sops/users/junk/key.json"),
        ("ssh-recipient", "sops/machines/ssh1/key.json"),
        ("shared-key", "sops"),
        ("invalid-name", "sops/users/Bad"),
    ] {
        assert!(codes.contains(&(code, path.to_string())), "{code} {path}: {codes:?}");
    }
}

#[test]
fn readers_are_checked() {
    let f = Fixture::new();
    f.secret("machine-only", &[(Kind::Machine, "web1")], &[CAROL]);
    let report = f.check();
    let finding = report.findings.iter().find(|x| x.code == "no-user").expect("no-user");
    assert_eq!(finding.severity, Severity::Warning);
    assert!(report.is_ok());

    // The message is not taken for a `secret: value` assignment and masked.
    fs::create_dir_all(f.repo.secret_dir("orphan")).unwrap();
    f.secret("orphan", &[], &[ALICE]);
    let report = f.check();
    let finding = report.findings.iter().find(|x| x.code == "no-recipients").expect("no-recipients");
    assert!(finding.message.contains("nobody is meant to read it"), "{}", finding.message);
}

#[test]
fn macs_are_verified_with_a_key() {
    let f = Fixture::new();
    let path = f.repo.secret_dir("db").join("secret");
    let mut json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    json["sops"]["lastmodified"] = serde_json::Value::String("2020-01-01T00:00:00Z".into());
    fs::write(&path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    assert!(f.check().findings.is_empty(), "keyless, the file looks fine");
    let ids = alice_identities();
    let report = check(&f.repo, &Options { identities: Some(&ids) }).unwrap();
    assert!(report.findings.iter().any(|x| x.code == "mac"), "{:#?}", report.findings);
}

#[test]
fn verified_and_unreadable_are_counted() {
    let f = Fixture::new();
    f.secret("bobs", &[(Kind::User, "bob")], &[BOB]);
    let ids = alice_identities();
    let report = check(&f.repo, &Options { identities: Some(&ids) }).unwrap();
    assert_eq!((report.verified, report.unreadable), (1, 1));
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[test]
fn refused_files_and_folders_are_reported_by_kind_and_not_read() {
    let f = Fixture::new();
    let outside = f.repo.root().join("outside.enc.json");
    fs::copy(f.repo.secret_dir("db").join("secret"), &outside).unwrap();
    let linked = f.repo.secret_dir("linked");
    fs::create_dir_all(&linked).unwrap();
    symlink(&outside, linked.join("secret")).unwrap();
    links::add(&f.repo, &linked, Kind::User, "bob").unwrap();
    let zero = f.repo.secret_dir("zero");
    fs::create_dir_all(&zero).unwrap();
    symlink("/dev/zero", zero.join("secret")).unwrap();
    links::add(&f.repo, &zero, Kind::User, "alice").unwrap();
    fs::create_dir_all(f.repo.root().join("elsewhere/users")).unwrap();
    symlink(f.repo.root().join("elsewhere"), f.repo.member_dir(Kind::Group, "evil")).unwrap();
    symlink(&outside, f.repo.key_file(Kind::User, "bob").with_file_name("key2.json")).unwrap();
    fs::create_dir_all(f.repo.member_dir(Kind::User, "eve")).unwrap();
    symlink(&outside, f.repo.key_file(Kind::User, "eve")).unwrap();

    let started = std::time::Instant::now();
    let report = f.check();
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "nothing large was read");
    let codes: Vec<(&str, String)> = report.findings.iter().map(|x| (x.code, x.path.display().to_string())).collect();
    for (code, path) in [
        ("symlink", "sops/secrets/linked/secret"),
        ("symlink", "sops/secrets/zero/secret"),
        ("folder-symlink", "sops/groups/evil"),
        ("symlink", "sops/users/eve/key.json"),
    ] {
        assert!(codes.contains(&(code, path.to_string())), "{code} {path}: {codes:?}");
    }
    assert!(report.drifted.iter().all(|s| s.name == "db"), "nothing refused is offered to --fix: {:?}", report.drifted);
    assert!(!report.is_ok());
}

#[test]
fn a_private_key_in_a_key_file_is_reported_masked() {
    let f = Fixture::new();
    let private = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS3JXH8W";
    fs::create_dir_all(f.repo.member_dir(Kind::User, "leaky")).unwrap();
    fs::write(f.repo.key_file(Kind::User, "leaky"), format!(r#"[{{"publickey": "{private}", "type": "age"}}]"#)).unwrap();
    let report = f.check();
    assert!(report.findings.iter().any(|x| x.code == "private-key"), "{:#?}", report.findings);
    assert!(report.findings.iter().all(|x| !x.message.contains("AGE-SECRET-KEY-1")), "{:#?}", report.findings);
}

#[test]
fn hidden_secrets_are_checked_not_called_ignored() {
    let f = Fixture::new();
    // Encrypted for alice only while linked to ops too: it drifts, and --fix must see it.
    let dir = f.repo.secret_dir(".hidden");
    fs::create_dir_all(&dir).unwrap();
    links::add(&f.repo, &dir, Kind::User, "alice").unwrap();
    links::add(&f.repo, &dir, Kind::Group, "ops").unwrap();
    let secret = SecretRef { name: ".hidden".into(), dir: dir.clone() };
    fs::write(secret.file(), ops::encrypt_value(&secret, b"value", vec![ALICE.to_string()]).unwrap()).unwrap();
    let report = f.check();
    let hidden: Vec<&Finding> = report.findings.iter().filter(|x| x.path.starts_with("sops/secrets/.hidden")).collect();
    assert!(hidden.iter().any(|x| x.code == "hidden-name" && x.severity == Severity::Warning), "{hidden:#?}");
    assert!(hidden.iter().all(|x| !x.message.contains("ignores")), "{hidden:#?}");
    assert_eq!(report.drifted.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), [".hidden"]);
}

#[test]
fn a_symlinked_kind_folder_is_reported_once_and_not_read() {
    let f = Fixture::new();
    let elsewhere = f.repo.root().join("elsewhere");
    fs::rename(f.repo.sops_dir().join("users"), &elsewhere).unwrap();
    symlink(&elsewhere, f.repo.sops_dir().join("users")).unwrap();
    let report = f.check();
    let at_users: Vec<&Finding> = report.findings.iter().filter(|x| x.path == Path::new("sops/users")).collect();
    assert_eq!(at_users.len(), 1, "{:#?}", report.findings);
    assert_eq!(at_users[0].code, "folder-symlink");
    assert!(
        report.findings.iter().all(|x| x.path == Path::new("sops/users") || !x.path.starts_with("sops/users")),
        "{:#?}",
        report.findings
    );
    assert!(report.drifted.is_empty(), "nothing is fixed through it");
}

/// `check` reads each `secret` file once, through its open folders: a secret whose folder was
/// swapped for a symlink after the walk found it (a reference naming one) is refused by name,
/// its file neither read nor decrypted.
#[test]
fn a_secret_file_is_read_only_through_its_folders() {
    let f = Fixture::new();
    let root = f.repo.root();
    let elsewhere = root.join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    fs::copy(f.repo.secret_dir("db").join("secret"), elsewhere.join("secret")).unwrap();
    symlink(&elsewhere, f.repo.secret_dir("swapped")).unwrap();
    let secret = SecretRef { name: "swapped".into(), dir: f.repo.secret_dir("swapped") };
    let mut sink = Sink::new(root);
    let env = super::links::Env::new(&f.repo);
    let members = members::check(&f.repo, &env, &mut Sink::new(root));
    let (drifted, verification) = check_secret(&env, &members, &secret, Some(&alice_identities()), &mut sink);
    assert_eq!((drifted, verification), (false, Verification::NotTried));
    let codes: Vec<_> = sink.findings.iter().map(|finding| (finding.code, finding.path.clone())).collect();
    assert_eq!(codes, [("folder-symlink", PathBuf::from("sops/secrets/swapped"))]);
}

/// Runs `check` on another thread, failing (instead of hanging the suite) when it does not
/// finish within `limit`: a FIFO opened for reading, or `/dev/zero` read to its end, would.
fn check_within(repo: &Repo, limit: std::time::Duration) -> Report {
    let repo = repo.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(check(&repo, &Options::default()).unwrap()));
    receiver.recv_timeout(limit).expect("check finished in time: nothing blocked and nothing endless was read")
}

fn fifo(path: &Path) {
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0).unwrap();
}

/// A FIFO wherever the layout has a file, folder or link: check reports each by kind and
/// neither blocks on one nor offers it to `--fix`.
#[test]
fn fifos_are_reported_and_never_opened() {
    let f = Fixture::new();
    let piped = f.repo.secret_dir("piped");
    fs::create_dir_all(&piped).unwrap();
    fifo(&piped.join("secret"));
    links::add(&f.repo, &piped, Kind::User, "alice").unwrap();
    fs::create_dir_all(f.repo.member_dir(Kind::User, "pipe")).unwrap();
    fifo(&f.repo.key_file(Kind::User, "pipe"));
    fifo(&f.repo.secret_dir("db").join("users/fifo"));
    fifo(&f.repo.secret_dir("loose"));
    fifo(&f.repo.member_dir(Kind::Group, "ops").join("extra"));
    fifo(&f.repo.secret_dir("db").join(".secrets-tmp"));

    let report = check_within(&f.repo, std::time::Duration::from_secs(20));
    let codes: Vec<(&str, String)> = report.findings.iter().map(|x| (x.code, x.path.display().to_string())).collect();
    for (code, path) in [
        ("not-a-regular-file", "sops/secrets/piped/secret"),
        ("not-a-regular-file", "sops/users/pipe/key.json"),
        ("not-a-link", "sops/secrets/db/users/fifo"),
        ("plaintext", "sops/secrets/loose"),
        ("unexpected-file", "sops/groups/ops/extra"),
        ("planted-leftover", "sops/secrets/db/.secrets-tmp"),
    ] {
        assert!(codes.contains(&(code, path.to_string())), "{code} {path}: {codes:?}");
    }
    assert!(report.drifted.is_empty(), "{:?}", report.drifted);
}

/// `/dev/zero` behind every kind of link a committer can plant: as a `secret`, a `key.json`, a
/// membership link, a leftover and a vars secret. Check reads none of it (it would read
/// gigabytes) and says what each is.
#[test]
fn dev_zero_links_are_reported_and_never_read() {
    let f = Fixture::new();
    let zero = Path::new("/dev/zero");
    let secret = f.repo.secret_dir("zero");
    fs::create_dir_all(&secret).unwrap();
    symlink(zero, secret.join("secret")).unwrap();
    links::add(&f.repo, &secret, Kind::User, "alice").unwrap();
    fs::create_dir_all(f.repo.member_dir(Kind::Machine, "zm")).unwrap();
    symlink(zero, f.repo.key_file(Kind::Machine, "zm")).unwrap();
    symlink(zero, f.repo.secret_dir("db").join("users/zero")).unwrap();
    symlink(zero, f.repo.secret_dir("db").join(".secrets-zero")).unwrap();
    symlink(zero, f.repo.secret_dir("zdir")).unwrap();
    let var = f.repo.root().join("vars/shared/gen/zero");
    fs::create_dir_all(&var).unwrap();
    symlink(zero, var.join("secret")).unwrap();

    let started = std::time::Instant::now();
    let report = check_within(&f.repo, std::time::Duration::from_secs(20));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "nothing large was read: {:?}", started.elapsed());
    let codes: Vec<(&str, String)> = report.findings.iter().map(|x| (x.code, x.path.display().to_string())).collect();
    for (code, path) in [
        ("symlink", "sops/secrets/zero/secret"),
        ("symlink", "sops/machines/zm/key.json"),
        ("escaping-link", "sops/secrets/db/users/zero"),
        ("planted-leftover", "sops/secrets/db/.secrets-zero"),
        ("folder-symlink", "sops/secrets/zdir"),
        ("symlink", "vars/shared/gen/zero/secret"),
    ] {
        assert!(codes.contains(&(code, path.to_string())), "{code} {path}: {codes:?}");
    }
    assert!(report.drifted.is_empty(), "nothing refused is offered to --fix: {:?}", report.drifted);
}

/// A local user (or a racing checkout) swaps a secret's folder for a symlink to a folder
/// elsewhere, and back, while `check` runs. Listing or reading by path would sometimes report
/// what the folder over there holds (its plaintext `secret`, its stray file, its link to
/// `/etc`); through the folders check opened, it reports either the real folder or the
/// refusal of the symlink, never anything from over there.
#[test]
fn a_secret_folder_swapped_while_checking_is_never_followed() {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    let f = Fixture::new();
    let root = f.repo.root();
    let outside = root.join("outside");
    fs::create_dir_all(outside.join("users")).unwrap();
    fs::write(outside.join("secret"), "OUTSIDE").unwrap();
    fs::write(outside.join("stray"), "OUTSIDE").unwrap();
    symlink("/etc", outside.join("users/etc")).unwrap();
    let spare = root.join("spare");
    symlink(&outside, &spare).unwrap();

    let (stop, swapper) = crate::swap_race::swapping(f.repo.secret_dir("db"), spare.clone());
    let (mut clean, mut refused, deadline) = (0u64, 0u64, Instant::now() + Duration::from_secs(2));
    while Instant::now() < deadline {
        let report = check_within(&f.repo, Duration::from_secs(20));
        let at_db: Vec<&Finding> = report.findings.iter().filter(|x| x.path.starts_with("sops/secrets/db")).collect();
        assert!(
            at_db.iter().all(|x| x.path == Path::new("sops/secrets/db") && ["folder-symlink", "unreadable"].contains(&x.code)),
            "only a refusal of the swapped folder is reported: {at_db:#?}"
        );
        assert!(report.findings.iter().all(|x| !x.message.contains("/etc")), "{:#?}", report.findings);
        if at_db.is_empty() {
            clean += 1;
        } else {
            refused += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0 && clean > 0, "the race ran: {swaps} swaps, {clean} clean checks, {refused} refusals");
}

/// The same race on the `users/` folder of a secret that `check --fix` repairs (a dangling link
/// to drop): the fix removes links only through the folder it opened, so the folder over there,
/// holding a dangling link of the same name, is never deleted from, whatever the timing.
#[test]
fn check_fix_never_deletes_through_a_folder_swapped_meanwhile() {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    let f = Fixture::new();
    let root = f.repo.root();
    let outside = root.join("outside");
    fs::create_dir_all(&outside).unwrap();
    let gone = Path::new("../../../users/gone");
    symlink(gone, outside.join("gone")).unwrap();
    let spare = root.join("spare");
    symlink(&outside, &spare).unwrap();
    let users = f.repo.secret_dir("db").join("users");
    // Opened before the race, so that the dangling link is always put back into the real one.
    let real = crate::untrusted::Folder::open(root, &users).unwrap().unwrap();

    let ids = alice_identities();
    let ctx = Ctx { repo: &f.repo, identities: &ids, options: RekeyOptions::default(), progress: &Quiet };
    let (stop, swapper) = crate::swap_race::swapping(users.clone(), spare.clone());
    let (mut attempts, deadline) = (0u64, Instant::now() + Duration::from_millis(2500));
    while Instant::now() < deadline {
        if real.kind("gone").unwrap().is_none() {
            real.symlink(gone, "gone").unwrap();
        }
        let report = check_within(&f.repo, Duration::from_secs(20));
        attempts += u64::from(!report.drifted.is_empty());
        // Refused or done, both are fine; what matters is where it deleted. A fix refused
        // half-way leaves a journal, which the next command undoes (through the same folders).
        if fix(&ctx, &report).is_err() {
            recover(&f.repo);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 0 && attempts > 0, "the race ran: {swaps} swaps, {attempts} fixes attempted");
    let names: Vec<_> = fs::read_dir(&outside).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["gone"], "nothing created or deleted outside");
    assert_eq!(fs::read_link(outside.join("gone")).unwrap(), gone);

    // Once the folder is back in place, the same fix drops the link from the real folder.
    if fs::symlink_metadata(&users).unwrap().file_type().is_symlink() {
        rustix::fs::renameat_with(rustix::fs::CWD, &users, rustix::fs::CWD, &spare, rustix::fs::RenameFlags::EXCHANGE).unwrap();
    }
    recover(&f.repo);
    assert!(!crate::journal::pending(&f.repo));
    if real.kind("gone").unwrap().is_none() {
        real.symlink(gone, "gone").unwrap();
    }
    fix(&ctx, &f.check()).unwrap();
    assert!(real.kind("gone").unwrap().is_none(), "the fix works on the real folder");
    assert!(fs::symlink_metadata(outside.join("gone")).is_ok());
}

/// Undoes what an interrupted fix left, as the next command would (a refusal is left for the
/// next try).
fn recover(repo: &Repo) {
    if crate::journal::pending(repo) {
        let lock = crate::lock::RepoLock::try_acquire(repo).unwrap().expect("nobody else holds the lock");
        let _ = crate::journal::recover(repo, &lock);
    }
}
