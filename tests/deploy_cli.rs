//! The machine side end to end: `secrets install` into temporary folders (generations, the
//! atomic switch, pruning, modes, owners, failures, sops-nix manifests, ssh host keys), checked
//! against the real `sops decrypt`; and `secrets exec`.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{ok, peer, secrets, secrets_process, sops_bin, stderr_of, stdout_of, vectors};

const CAROL: &str = "age1xzzypxvu5n8fvvakra4m8nwszzgzumwpfu03l2wsynhvlvygj9kq5793e2";

fn fixture_repo() -> PathBuf {
    crate::common::repo_root().join("fixtures/clan-repo")
}

/// A writable copy of the fixture repository (links kept as links).
fn copy_fixture(into: &Path) -> PathBuf {
    let repo = into.join("repo");
    let status = Command::new("cp").arg("-a").arg(fixture_repo()).arg(&repo).status().unwrap();
    assert!(status.success());
    repo
}

/// `secrets install` for web1 with its own key (bob's test key).
fn install(repo: &Path, target: &Path, extra: &[&str]) -> Output {
    install_machine(repo, "web1", target, extra)
}

/// `secrets install` for any `--machine`, with web1's key.
fn install_machine(repo: &Path, machine: &str, target: &Path, extra: &[&str]) -> Output {
    secrets()
        .arg("--repo")
        .arg(repo)
        .args(["install", "--machine", machine, "--target"])
        .arg(target)
        .arg("--age-key-file")
        .arg(vectors().join("keys-b.txt"))
        .args(extra)
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn generations(target: &Path) -> Vec<String> {
    let mut dir = target.as_os_str().to_owned();
    dir.push(".d");
    let mut names: Vec<String> =
        fs::read_dir(PathBuf::from(dir)).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn is_root() -> bool {
    let probe = tempfile::tempfile().unwrap();
    probe.metadata().unwrap().uid() == 0
}

/// A clan-style secret encrypted by the real sops for `recipient`, linked to `machine`.
fn add_secret(repo: &Path, name: &str, value: &[u8], recipient: &str, machine: &str) {
    let dir = repo.join("sops/secrets").join(name);
    fs::create_dir_all(dir.join("machines")).unwrap();
    let plain = dir.join("plain");
    fs::write(&plain, value).unwrap();
    let out = Command::new(sops_bin().unwrap())
        .args(["encrypt", "--age", recipient, "--input-type", "binary", "--output-type", "binary"])
        .arg(&plain)
        .output()
        .unwrap();
    assert!(out.status.success(), "sops encrypt: {}", stderr_of(&out));
    fs::remove_file(&plain).unwrap();
    fs::write(dir.join("secret"), &out.stdout).unwrap();
    std::os::unix::fs::symlink(format!("../../../machines/{machine}"), dir.join("machines").join(machine)).unwrap();
}

/// What the real `sops decrypt` prints for a file, with the given key file.
fn sops_decrypt(file: &Path, key: &Path, extra: &[&str]) -> Vec<u8> {
    let mut cmd = Command::new(sops_bin().unwrap());
    crate::common::clean_env(&mut cmd);
    let out = cmd.arg("decrypt").args(extra).arg(file).env("SOPS_AGE_KEY_FILE", key).output().unwrap();
    assert!(out.status.success(), "sops decrypt {}: {}", file.display(), stderr_of(&out));
    out.stdout
}

#[test]
fn install_writes_generations_switches_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("run/secrets");
    ok(&install(&fixture_repo(), &target, &[]));

    assert!(fs::symlink_metadata(&target).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_link(&target).unwrap(), dir.path().join("run/secrets.d/1"));
    assert_eq!(fs::read(target.join("group-secret")).unwrap(), b"group-value", "reached through group servers");
    assert_eq!(fs::read(target.join("vars/per-machine/web1/gen/token")).unwrap(), b"vars-token", "a vars secret");
    assert!(!target.join("legacy-secret").exists(), "not linked to web1");
    assert_eq!(mode(&target.join("group-secret")), 0o400);
    assert_eq!(mode(&dir.path().join("run/secrets.d/1")), 0o751);
    if sops_bin().is_some() {
        let file = fixture_repo().join("vars/per-machine/web1/gen/token/secret");
        let theirs = sops_decrypt(&file, &vectors().join("keys-b.txt"), &["--input-type", "binary", "--output-type", "binary"]);
        assert_eq!(fs::read(target.join("vars/per-machine/web1/gen/token")).unwrap(), theirs, "the bytes sops decrypt gives");
    }

    let second = ok(&install(&fixture_repo(), &target, &["--json"])).clone();
    let report: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(report["generation"], 2);
    assert_eq!(report["pruned"], serde_json::json!([1]), "sops-nix keeps one generation by default");
    assert_eq!(report["modified"], serde_json::json!([]));
    assert_eq!(fs::read_link(&target).unwrap(), dir.path().join("run/secrets.d/2"));
    assert_eq!(generations(&target), ["2"]);

    ok(&install(&fixture_repo(), &target, &["--keep", "3"]));
    ok(&install(&fixture_repo(), &target, &["--keep", "3"]));
    ok(&install(&fixture_repo(), &target, &["--keep", "3"]));
    assert_eq!(generations(&target), ["3", "4", "5"]);
    ok(&install(&fixture_repo(), &target, &["--keep", "0"]));
    assert_eq!(generations(&target), ["3", "4", "5", "6"]);
    let names: Vec<_> = fs::read_dir(target.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "only secrets and secrets.d, no temporary link: {names:?}");
}

#[test]
fn a_failing_secret_leaves_the_previous_generation_current() {
    if sops_bin().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = copy_fixture(dir.path());
    let target = dir.path().join("secrets");
    ok(&install(&repo, &target, &[]));
    let before = fs::read_link(&target).unwrap();

    // Linked to web1 but encrypted for someone else: web1 cannot open it.
    add_secret(&repo, "zz-not-for-web1", b"nope", CAROL, "web1");
    let out = install(&repo, &target, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("zz-not-for-web1") && err.contains("cannot be decrypted"), "{err}");
    assert!(err.contains("still points at the previous generation"), "{err}");
    assert_eq!(fs::read_link(&target).unwrap(), before);
    assert_eq!(generations(&target), ["1"], "no new or half-written generation");
    assert_eq!(fs::read(target.join("group-secret")).unwrap(), b"group-value");

    // The same for a key file that opens nothing.
    let out = secrets()
        .arg("--repo")
        .arg(&repo)
        .args(["install", "--machine", "web1", "--target"])
        .arg(&target)
        .arg("--age-key-file")
        .arg(vectors().join("keys-c.txt"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(generations(&target), ["1"]);
}

#[test]
fn a_real_folder_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secrets");
    fs::create_dir_all(&target).unwrap();
    fs::write(target.join("keep-me"), "x").unwrap();
    let out = install(&fixture_repo(), &target, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("is not a symlink"), "{}", stderr_of(&out));
    assert!(target.join("keep-me").exists());
    assert!(stderr_of(&out).contains(&format!("nothing was changed: {} is as it was", target.display())), "{}", stderr_of(&out));
}

/// The hint after a failure says what is at the target: never "still points at the previous
/// generation" when the target is a file or was never made.
#[test]
fn the_hint_after_a_failure_says_what_is_at_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, "mine").unwrap();
    let err = stderr_of(&install(&fixture_repo(), &file, &[]));
    assert!(err.contains("is not a symlink") && err.contains("is as it was") && !err.contains("previous generation"), "{err}");
    assert_eq!(fs::read(&file).unwrap(), b"mine");

    let fresh = dir.path().join("fresh");
    fs::write(dir.path().join("fresh.d"), "a file where the generations folder goes").unwrap();
    let err = stderr_of(&install(&fixture_repo(), &fresh, &[]));
    assert!(err.contains("is not safe to install into") && err.contains("give another --target"), "{err}");
    assert!(err.contains(&format!("nothing was installed: {} was not created", fresh.display())), "{err}");
    assert!(!err.contains("another user could change it"), "{err}");
}

/// A `--machine` that is not a machine of the repository (a path, `..`, a typo) is refused
/// before anything is written: the previous generation stays current and is not pruned.
#[test]
fn machine_names_that_are_not_machines_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secrets");
    ok(&install(&fixture_repo(), &target, &[]));
    let before = fs::read_link(&target).unwrap();
    for machine in ["..", ".", "", "/etc/passwd", "web1/..", "../sops", "webl"] {
        let out = install_machine(&fixture_repo(), machine, &target, &[]);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{machine:?}: {err}");
        assert!(err.contains("machine"), "{machine:?}: {err}");
        assert!(err.contains("nothing was installed or removed"), "{machine:?}: {err}");
        assert_eq!(fs::read_link(&target).unwrap(), before, "{machine:?}");
        assert_eq!(generations(&target), ["1"], "{machine:?}: not pruned");
        assert_eq!(fs::read(target.join("group-secret")).unwrap(), b"group-value");
    }
    let typo = stderr_of(&install_machine(&fixture_repo(), "webl", &target, &[]));
    assert!(typo.contains("machine `webl` is not in") && typo.contains("(machines there: web1)"), "{typo}");
    let path = stderr_of(&install_machine(&fixture_repo(), "/etc/passwd", &target, &[]));
    assert!(path.contains("Invalid character in machine name"), "{path}");
}

/// A machine of the repository without secrets installs an empty generation, and says so.
#[test]
fn a_known_machine_without_secrets_installs_an_empty_generation() {
    let dir = tempfile::tempdir().unwrap();
    let repo = copy_fixture(dir.path());
    fs::create_dir_all(repo.join("sops/machines/web2")).unwrap();
    let target = dir.path().join("secrets");
    let out = install_machine(&repo, "web2", &target, &[]);
    assert!(stderr_of(ok(&out)).contains("warning: machine `web2` has no secrets"), "{}", stderr_of(&out));
    assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
}

/// A generation number that cannot be counted past is refused, not wrapped to 0: the previous
/// generation stays current and nothing is pruned.
#[test]
fn a_planted_highest_generation_number_does_not_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secrets");
    ok(&install(&fixture_repo(), &target, &[]));
    let highest = dir.path().join("secrets.d").join(u64::MAX.to_string());
    fs::create_dir(&highest).unwrap();
    let out = install(&fixture_repo(), &target, &[]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("18446744073709551615: generation numbers are exhausted"), "{err}");
    assert!(err.contains("still points at the previous generation"), "{err}");
    assert_eq!(fs::read_link(&target).unwrap(), dir.path().join("secrets.d/1"));
    assert_eq!(generations(&target), ["1", "18446744073709551615"], "no generation 0, nothing pruned");
    assert_eq!(fs::read(target.join("group-secret")).unwrap(), b"group-value");

    // Names that are not plain numbers are not generations at all.
    fs::remove_dir(&highest).unwrap();
    for name in ["0099", "+5", "7x"] {
        fs::create_dir(dir.path().join("secrets.d").join(name)).unwrap();
    }
    ok(&install(&fixture_repo(), &target, &[]));
    assert_eq!(fs::read_link(&target).unwrap(), dir.path().join("secrets.d/2"));
}

#[test]
fn overrides_set_mode_path_owner_and_units() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secrets");
    let link = dir.path().join("etc/app/password");
    let root = is_root();
    let owner = if root { r#", "owner": "nobody", "group": "nogroup""# } else { "" };
    let manifest = dir.path().join("overrides.json");
    fs::write(
        &manifest,
        format!(
            r#"{{"secrets": {{"group-secret": {{"mode": "0440", "path": "{}", "restartUnits": ["app.service"]{owner}}},
                             "vars/per-machine/web1/gen/token": {{"name": "token", "mode": "0600"}}}}}}"#,
            link.display()
        ),
    )
    .unwrap();
    let out = ok(&install(&fixture_repo(), &target, &["--manifest", manifest.to_str().unwrap(), "--json"])).clone();
    assert_eq!(mode(&target.join("group-secret")), 0o440);
    assert_eq!(mode(&target.join("token")), 0o600);
    assert_eq!(fs::read_link(&link).unwrap(), target.join("group-secret"), "the extra path links through the target");
    assert_eq!(fs::read(&link).unwrap(), b"group-value");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["restart_units"],
        serde_json::json!([]),
        "a first install restarts nothing (services start with their secrets), as sops-nix"
    );
    if root {
        let meta = fs::metadata(target.join("group-secret")).unwrap();
        let passwd = fs::read_to_string("/etc/passwd").unwrap();
        let nobody: u32 = passwd.lines().find(|l| l.starts_with("nobody:")).unwrap().split(':').nth(2).unwrap().parse().unwrap();
        assert_eq!(meta.uid(), nobody);
        let group = fs::read_to_string("/etc/group").unwrap();
        let nogroup: u32 = group.lines().find(|l| l.starts_with("nogroup:")).unwrap().split(':').nth(2).unwrap().parse().unwrap();
        assert_eq!(meta.gid(), nogroup);
        assert_eq!(fs::symlink_metadata(&link).unwrap().uid(), nobody, "the link is owned too, as sops-nix does");
    }

    let typo = dir.path().join("typo.json");
    fs::write(&typo, r#"{"secrets": {"group-secre": {"mode": "0440"}}}"#).unwrap();
    let out = install(&fixture_repo(), &target, &["--manifest", typo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("not one of the machine's secrets"), "{}", stderr_of(&out));
    let unknown = dir.path().join("unknown.json");
    fs::write(&unknown, r#"{"secrets": {"group-secret": {"owner": "no-such-user-here"}}}"#).unwrap();
    let out = install(&fixture_repo(), &target, &["--manifest", unknown.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("no-such-user-here"), "{}", stderr_of(&out));
}

#[test]
fn unchanged_secrets_restart_nothing_and_changes_are_reported() {
    if sops_bin().is_none() || Path::new("/run/nixos").exists() || Path::new("/run/systemd/system").exists() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = copy_fixture(dir.path());
    let target = dir.path().join("secrets");
    let manifest = dir.path().join("o.json");
    fs::write(&manifest, r#"{"secrets": {"group-secret": {"restartUnits": ["a.service"]}, "vars/per-machine/web1/gen/token": {"reloadUnits": ["b.service"]}}}"#).unwrap();
    let args = ["--manifest", manifest.to_str().unwrap(), "--json"];
    ok(&install(&repo, &target, &args));
    let again: serde_json::Value = serde_json::from_slice(&ok(&install(&repo, &target, &args)).stdout).unwrap();
    assert_eq!(again["restart_units"], serde_json::json!([]));
    assert_eq!(again["reload_units"], serde_json::json!([]));

    // A new value for the vars secret, still encrypted for web1.
    let bob = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";
    add_secret(&repo, "extra", b"x", bob, "web1");
    let secret = repo.join("vars/per-machine/web1/gen/token/secret");
    fs::copy(repo.join("sops/secrets/extra/secret"), &secret).unwrap();
    let out = ok(&install(&repo, &target, &args)).clone();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["added"], serde_json::json!(["extra"]));
    assert_eq!(report["modified"], serde_json::json!(["vars/per-machine/web1/gen/token"]));
    assert_eq!(report["reload_units"], serde_json::json!(["b.service"]));
    assert_eq!(report["restart_units"], serde_json::json!([]));
    let human = ok(&install(&repo, &target, &["--manifest", manifest.to_str().unwrap()])).clone();
    assert!(stderr_of(&human).contains("Installed 3 secrets for machine `web1`"), "{}", stderr_of(&human));
}

#[test]
fn a_copy_of_the_sops_folder_works_as_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("deployed");
    fs::create_dir_all(&copy).unwrap();
    assert!(Command::new("cp").arg("-a").arg(fixture_repo().join("sops")).arg(copy.join("sops")).status().unwrap().success());
    let target = dir.path().join("secrets");
    ok(&install(&copy.join("sops"), &target, &[]));
    assert_eq!(fs::read(target.join("group-secret")).unwrap(), b"group-value");
    assert!(!target.join("vars").exists(), "no vars/ was copied");
}

#[test]
fn check_mode_reads_no_key_and_lists_the_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secrets");
    let out = secrets()
        .arg("--repo")
        .arg(fixture_repo())
        .args(["install", "--machine", "web1", "--check", "--target"])
        .arg(&target)
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(stdout_of(&out), "group-secret\nvars/per-machine/web1/gen/token\n");
    assert!(!target.exists(), "nothing written");
}

#[test]
fn ssh_host_keys_open_both_recipient_forms() {
    let (Some(keygen), Some(_)) = (peer("ssh-keygen"), sops_bin()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let host_key = dir.path().join("ssh_host_ed25519_key");
    let out = Command::new(keygen).args(["-q", "-t", "ed25519", "-N", "", "-C", "host", "-f"]).arg(&host_key).output().unwrap();
    assert!(out.status.success());
    let public = fs::read_to_string(host_key.with_extension("pub")).unwrap();
    let age_form = secrets_sops::keys::ssh_to_age::ssh_ed25519_public_to_age(&public).unwrap();
    let ssh_form: String = public.split_whitespace().take(2).collect::<Vec<_>>().join(" ");

    let repo = dir.path().join("repo");
    fs::create_dir_all(repo.join("sops/machines/host")).unwrap();
    fs::write(repo.join("sops/machines/host/key.json"), format!(r#"[{{"publickey": "{age_form}", "type": "age"}}]"#)).unwrap();
    add_secret(&repo, "as-age", b"converted", &age_form, "host");
    add_secret(&repo, "as-ssh", b"native", &ssh_form, "host");

    let target = dir.path().join("secrets");
    let out = secrets()
        .arg("--repo")
        .arg(&repo)
        .args(["install", "--machine", "host", "--target"])
        .arg(&target)
        .arg("--ssh-key")
        .arg(&host_key)
        .output()
        .unwrap();
    ok(&out);
    assert_eq!(fs::read(target.join("as-age")).unwrap(), b"converted", "the ssh-to-age conversion sops-nix uses");
    assert_eq!(fs::read(target.join("as-ssh")).unwrap(), b"native", "a raw ssh-ed25519 recipient, which sops-install-secrets cannot open");
}

/// Every kind of file through a sops-nix manifest, compared with what the real sops prints.
#[test]
fn sops_nix_manifests_match_the_real_sops_byte_for_byte() {
    if sops_bin().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let enc = vectors().join("enc");
    let key = vectors().join("keys.txt");
    let cases: &[(&str, &str, &str, &[&str])] = &[
        ("yaml-whole", "basic.yaml", "yaml", &[]),
        ("json-whole", "basic.json", "json", &[]),
        ("dotenv", "basic.env", "dotenv", &[]),
        ("ini", "basic.ini", "ini", &[]),
        ("binary", "binary.bin", "binary", &[]),
        ("text", "text.txt", "binary", &[]),
        ("clan", "secret", "binary", &[]),
    ];
    let root = is_root();
    let mut secrets_json = Vec::new();
    for (name, file, format, _) in cases {
        secrets_json
            .push(serde_json::json!({"name": name, "key": "", "path": dir.path().join("secrets").join(name), "owner": null, "uid": 0,
            "group": null, "gid": 0, "sopsFile": enc.join(file), "format": format, "mode": "0400", "restartUnits": [], "reloadUnits": []}));
    }
    let manifest = serde_json::json!({
        "secrets": secrets_json, "templates": [], "placeholderBySecretName": {},
        "secretsMountPoint": dir.path().join("secrets.d"), "symlinkPath": dir.path().join("secrets"), "keepGenerations": 1,
        "gnupgHome": null, "sshKeyPaths": [], "ageKeyFile": key, "ageSshKeyPaths": [], "useTmpfs": false, "userMode": !root,
        "logging": {"keyImport": true, "secretChanges": true}
    });
    let path = dir.path().join("manifest.json");
    fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    // --target (the manifest's own folders): no ramfs is mounted, so the files stay readable here.
    let out = secrets().args(["install", "--manifest"]).arg(&path).arg("--target").arg(dir.path().join("secrets")).output().unwrap();
    ok(&out);
    for (name, file, format, _) in cases {
        let ours = fs::read(dir.path().join("secrets").join(name)).unwrap();
        let theirs = sops_decrypt(&enc.join(file), &key, &["--input-type", format, "--output-type", format]);
        assert!(ours == theirs, "{name}: differs from sops decrypt");
    }
}

#[test]
fn sops_nix_manifest_nested_keys_templates_and_check() {
    let (Some(_), Some(_)) = (sops_bin(), peer("age-keygen")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (key, recipient) = crate::common::age_keygen(dir.path(), "machine");
    let encrypt = |name: &str, content: &str| -> PathBuf {
        let plain = dir.path().join(name);
        fs::write(&plain, content).unwrap();
        let out = Command::new(sops_bin().unwrap()).args(["encrypt", "--age", &recipient]).arg(&plain).output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        let enc = dir.path().join(format!("enc-{name}"));
        fs::write(&enc, &out.stdout).unwrap();
        enc
    };
    let yaml = encrypt("s.yaml", "db:\n    password: yaml-pw\n    port: 5432\ntop: t\n");
    let json = encrypt("s.json", "{\"api\": {\"token\": \"json-token\"}, \"n\": 1}\n");
    let target = dir.path().join("run/secrets");
    let secret = |name: &str, key: &str, file: &Path, format: &str| {
        serde_json::json!({"name": name, "key": key, "path": target.join(name), "owner": null, "uid": 0, "group": null, "gid": 0,
            "sopsFile": file, "format": format, "mode": "0400", "restartUnits": [], "reloadUnits": []})
    };
    let manifest = |secrets: Vec<serde_json::Value>| {
        let names: Vec<String> = secrets.iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
        let placeholders: serde_json::Map<String, serde_json::Value> =
            names.iter().enumerate().map(|(i, n)| (n.clone(), serde_json::json!(format!("<SOPS:{i}:PLACEHOLDER>")))).collect();
        serde_json::json!({
            "secrets": secrets,
            "templates": [{"name": "app.env", "content": "PW=<SOPS:0:PLACEHOLDER>\nTOKEN=<SOPS:1:PLACEHOLDER>\n", "path": target.join("rendered/app.env"),
                           "mode": "0440", "owner": null, "uid": 0, "group": null, "gid": 0, "file": "", "restartUnits": [], "reloadUnits": []}],
            "placeholderBySecretName": placeholders,
            "secretsMountPoint": dir.path().join("run/secrets.d"), "symlinkPath": target, "keepGenerations": 1,
            "gnupgHome": null, "sshKeyPaths": ["/etc/ssh/ssh_host_rsa_key"], "ageKeyFile": key, "ageSshKeyPaths": [],
            "useTmpfs": false, "userMode": !is_root(), "logging": {"keyImport": true, "secretChanges": true}
        })
    };
    let path = dir.path().join("manifest.json");
    fs::write(
        &path,
        serde_json::to_vec(&manifest(vec![
            secret("db/password", "db/password", &yaml, "yaml"),
            secret("api-token", "api/token", &json, "json"),
        ]))
        .unwrap(),
    )
    .unwrap();
    ok(&secrets().args(["install", "--check", "--manifest"]).arg(&path).output().unwrap());
    ok(&secrets().args(["install", "--manifest"]).arg(&path).arg("--target").arg(&target).output().unwrap());
    assert_eq!(fs::read(target.join("db/password")).unwrap(), b"yaml-pw");
    assert_eq!(fs::read(target.join("api-token")).unwrap(), b"json-token");
    assert_eq!(
        fs::read(target.join("db/password")).unwrap(),
        sops_decrypt(&yaml, &key, &["--input-type", "yaml", "--extract", "[\"db\"][\"password\"]"]),
        "the same bytes as sops --extract"
    );
    assert_eq!(fs::read_to_string(target.join("rendered/app.env")).unwrap(), "PW=yaml-pw\nTOKEN=json-token\n");
    assert_eq!(mode(&target.join("rendered/app.env")), 0o440);

    // The build-time check needs no key and catches a missing key or a non-string.
    for (key_path, message) in
        [("db/nope", "the key 'db/nope' cannot be found"), ("db/port", "is not a string"), ("top/x", "does not refer to a dictionary")]
    {
        fs::write(
            &path,
            serde_json::to_vec(&manifest(vec![secret("x", key_path, &yaml, "yaml"), secret("y", "api/token", &json, "json")])).unwrap(),
        )
        .unwrap();
        let out = secrets().args(["install", "--check-mode", "sopsfile", "--manifest"]).arg(&path).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{key_path}");
        assert!(stderr_of(&out).contains(message), "{key_path}: {}", stderr_of(&out));
    }
    fs::write(&path, serde_json::to_vec(&manifest(vec![secret("x", "", &yaml, "binary"), secret("y", "", &json, "json")])).unwrap())
        .unwrap();
    let out = secrets().args(["install", "--check", "--manifest"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a binary-format file must be a sops JSON file");
    fs::write(&path, serde_json::to_vec(&manifest(vec![secret("x", "top", &yaml, "yaml"), secret("y", "", &yaml, "json")])).unwrap())
        .unwrap();
    let out = secrets().args(["install", "--check", "--manifest"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "one file, two formats");
    assert!(stderr_of(&out).contains("but x gave yaml before"), "{}", stderr_of(&out));
}

// ---- exec ----

fn exec(args: &[&str]) -> assert_cmd::Command {
    assert_cmd::Command::from_std(exec_process(args))
}

/// `exec` as a plain process, for the test that signals it while it runs.
fn exec_process(args: &[&str]) -> Command {
    let mut cmd = secrets_process();
    cmd.arg("--repo").arg(fixture_repo()).arg("exec").args(args).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt"));
    cmd
}

#[test]
fn exec_puts_secrets_in_the_environment_not_on_the_command_line() {
    let script =
        "echo \"$PW\"; echo \"$LEGACY_SECRET\"; tr '\\0' '\\n' < /proc/$$/environ | grep -cx \"PW=$PW\"; tr '\\0' ' ' < /proc/$$/cmdline";
    let out = exec(&["--env", "PW=group-secret", "--env", "legacy-secret", "--", "sh", "-c", script]).output().unwrap();
    ok(&out);
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..3], ["group-value", "legacy-value", "1"], "the values are in the child's environment");
    assert!(lines[3].starts_with("sh -c "), "{}", lines[3]);
    assert!(!lines[3].contains("group-value") && !lines[3].contains("legacy-value"), "the child's command line: {}", lines[3]);
}

#[test]
fn exec_files_are_private_and_removed_afterwards() {
    let out = exec(&[
        "--file",
        "TOKEN=vars/per-machine/web1/gen/token",
        "--",
        "sh",
        "-c",
        "echo \"$TOKEN\"; cat \"$TOKEN\"; echo; stat -c %a \"$TOKEN\" \"$(dirname \"$TOKEN\")\"; tr '\\0' ' ' < /proc/$$/cmdline",
    ])
    .output()
    .unwrap();
    ok(&out);
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    let path = Path::new(lines[0]);
    assert_eq!(lines[1], "vars-token");
    assert_eq!(lines[2..4], ["400", "700"]);
    assert!(!lines[4].contains("vars-token"));
    assert!(!path.exists() && !path.parent().unwrap().exists(), "the private folder is gone");

    let out = exec(&["--file", "legacy-secret", "--", "cat", "{}"]).output().unwrap();
    assert_eq!(ok(&out).stdout, b"legacy-value");
    let out = exec(&["--file", "a=legacy-secret", "--file", "b=group-secret", "--", "cat", "{}"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{{}} is ambiguous with two files");
}

#[test]
fn exec_returns_the_command_exit_code() {
    assert_eq!(exec(&["--env", "legacy-secret", "--", "sh", "-c", "exit 7"]).output().unwrap().status.code(), Some(7));
    assert_eq!(exec(&["--env", "legacy-secret", "--", "sh", "-c", "kill -TERM $$"]).output().unwrap().status.code(), Some(143));
    assert_eq!(exec(&["--env", "legacy-secret", "--", "/nonexistent/program"]).output().unwrap().status.code(), Some(127));
    let out = exec(&["--env", "no-such-secret", "--", "true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("no secret `no-such-secret`"));
}

#[test]
fn exec_passes_termination_on_and_still_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("path");
    let script = format!("echo \"$F\" > {}; exec sleep 30", marker.display());
    let mut child = exec_process(&["--file", "F=legacy-secret", "--", "sh", "-c", &script]).spawn().unwrap();
    let start = std::time::Instant::now();
    while fs::read_to_string(&marker).map_or(true, |s| s.is_empty()) {
        assert!(start.elapsed().as_secs() < 20, "the command did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let file = PathBuf::from(fs::read_to_string(&marker).unwrap().trim());
    assert!(file.exists());
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "the command was terminated and its status passed on");
    assert!(!file.parent().unwrap().exists(), "the private folder is removed");
}

#[test]
fn exec_takes_all_of_a_machine_or_user() {
    let out = exec(&[
        "--machine",
        "web1",
        "--all-env",
        "--",
        "sh",
        "-c",
        "echo $GROUP_SECRET $VARS_PER_MACHINE_WEB1_GEN_TOKEN ${LEGACY_SECRET:-unset}",
    ])
    .output()
    .unwrap();
    assert_eq!(stdout_of(ok(&out)), "group-value vars-token unset\n");
    let out = exec(&[
        "--user",
        "admin",
        "--all-files",
        "--",
        "sh",
        "-c",
        "cd $SECRETS_DIR && cat legacy-secret group-secret vars/per-machine/web1/gen/token",
    ])
    .output()
    .unwrap();
    assert_eq!(stdout_of(ok(&out)), "legacy-valuegroup-valuevars-token");
}

// ---- the Nix side ----

/// The Nix library (what the NixOS module installs) and `secrets install` choose the same
/// secrets, on a repository with every kind of membership.
#[test]
fn nix_lib_and_install_agree_on_a_machines_secrets() {
    let Some(nix) = peer("nix-instantiate") else { return };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let link = |target: &str, at: &str| {
        let at = repo.join(at);
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, at).unwrap();
    };
    let secret_file = |at: &str| {
        let at = repo.join(at).join("secret");
        fs::create_dir_all(at.parent().unwrap()).unwrap();
        fs::copy(fixture_repo().join("sops/secrets/group-secret/secret"), at).unwrap();
    };
    fs::create_dir_all(repo.join("sops/machines/m")).unwrap();
    link("../../../machines/m", "sops/groups/g1/machines/m");
    fs::create_dir_all(repo.join("sops/groups/g3/machines/m")).unwrap(); // a folder counts as an entry
    fs::create_dir_all(repo.join("sops/groups/g2/machines")).unwrap();
    for s in ["a", "b", "c", "e", "f", "h"] {
        secret_file(&format!("sops/secrets/{s}"));
    }
    link("../../../machines/m", "sops/secrets/a/machines/m");
    link("../../../groups/g1", "sops/secrets/b/groups/g1");
    link("../../../groups/g2", "sops/secrets/c/groups/g2");
    fs::create_dir_all(repo.join("sops/secrets/d/machines")).unwrap();
    link("../../../machines/m", "sops/secrets/d/machines/m"); // no secret file
    link("../../../machines/gone", "sops/secrets/f/machines/gone");
    link("../../../groups/g3", "sops/secrets/h/groups/g3");
    secret_file("vars/shared/gen/x");
    link("../../../../../sops/groups/g1", "vars/shared/gen/x/groups/g1");
    secret_file("vars/shared/gen/unlinked");
    secret_file("vars/per-machine/m/gen/y");
    link("../../../../../../sops/machines/m", "vars/per-machine/m/gen/y/machines/m");
    secret_file("vars/per-machine/other/gen/z");
    link("../../../../../../sops/machines/m", "vars/per-machine/other/gen/z/machines/m");
    // An export's file is deployed to the machines linked directly (its `deploy` list), not
    // to those of a group that may read it.
    secret_file("vars/per-export/e/gen/direct");
    link("../../../../../../sops/machines/m", "vars/per-export/e/gen/direct/machines/m");
    secret_file("vars/per-export/e/gen/by-group");
    link("../../../../../../sops/groups/g1", "vars/per-export/e/gen/by-group/groups/g1");

    let ours = secrets()
        .arg("--repo")
        .arg(&repo)
        .args(["install", "--machine", "m", "--check", "--target"])
        .arg(dir.path().join("t"))
        .output()
        .unwrap();
    let ours: Vec<String> = stdout_of(ok(&ours)).lines().map(String::from).collect();
    assert_eq!(ours, ["a", "b", "h", "vars/per-export/e/gen/direct", "vars/per-machine/m/gen/y", "vars/shared/gen/x"]);

    let lib = crate::common::repo_root().join("nix/lib.nix");
    let expr = format!("(import {}).machineSecretNames {{ repo = /. + \"{}\"; machine = \"m\"; }}", lib.display(), repo.display());
    let out = Command::new(nix).args(["--store", "dummy://", "--eval", "--strict", "--json", "-E", &expr]).output().unwrap();
    assert!(out.status.success(), "nix-instantiate: {}", stderr_of(&out));
    let theirs: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(theirs, ours);
}

/// The manifests the NixOS module builds, evaluated by the real Nix from `nix/lib.nix` and
/// installed on real folders: a secret given by uid and gid, a template rendered from its
/// placeholder with sops-nix's modes and owners, and a secret needed for users in its own
/// folder, installed with `--ignore-passwd` as the module's early step does. Owners are
/// checked as root only (another user cannot give files away). The ramfs the module's
/// install mounts is left out (`--no-mount`); install_as_sops_nix tests that mount.
#[test]
fn the_modules_manifests_install_uids_templates_and_secrets_for_users() {
    let Some(nix) = peer("nix-instantiate") else { return };
    let dir = tempfile::tempdir().unwrap();
    let token = "vars/per-machine/web1/gen/token";
    let manifest = |name: &str, args: &str| module_manifest(&nix, dir.path(), name, args);
    let services = manifest(
        "services.json",
        &format!(
            r#"target = "{t}"; only = [ "group-secret" ];
               settings."group-secret" = {{ uid = 1234; gid = 5678; mode = "0440"; }};
               templates."app.env" = {{ content = "pw=${{lib.placeholder "group-secret"}}\n"; owner = null; uid = 4321; mode = "0404"; }};"#,
            t = dir.path().join("secrets").display()
        ),
    );
    let users =
        manifest("users.json", &format!(r#"target = "{t}"; only = [ "{token}" ];"#, t = dir.path().join("secrets-for-users").display()));
    let install = |manifest: &Path, extra: &[&str]| {
        secrets().args(["install", "--no-mount", "--manifest"]).arg(manifest).args(extra).output().unwrap()
    };

    ok(&install(&users, &["--ignore-passwd"]));
    let for_users = dir.path().join("secrets-for-users").join(token);
    assert_eq!(fs::read(&for_users).unwrap(), b"vars-token");
    assert!(!dir.path().join("secrets").exists(), "the early step installs only the secrets for users");

    ok(&install(&services, &[]));
    let secret = dir.path().join("secrets/group-secret");
    let rendered = dir.path().join("secrets/rendered/app.env");
    assert_eq!(fs::read(&secret).unwrap(), b"group-value");
    assert_eq!(fs::read_to_string(&rendered).unwrap(), "pw=group-value\n");
    assert_eq!((mode(&secret), mode(&rendered)), (0o440, 0o404));
    assert!(!dir.path().join("secrets").join(token).exists(), "the secret for users is not installed twice");
    if is_root() {
        let meta = fs::metadata(&secret).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (1234, 5678), "uid and gid are applied though no account has them");
        assert_eq!(fs::metadata(&rendered).unwrap().uid(), 4321);
        assert_eq!(fs::metadata(&for_users).unwrap().uid(), 0);
    }
}

/// A manifest as the NixOS module writes it, from `nix/lib.nix` evaluated by the real Nix for
/// web1 of the fixture repository with web1's key; `args` are more arguments of
/// `lib.manifest`. Written to `dir/name`.
fn module_manifest(nix: &Path, dir: &Path, name: &str, args: &str) -> PathBuf {
    let expr = format!(
        "let lib = import {lib}; in lib.manifest {{ repo = /. + \"{repo}\"; machine = \"web1\"; keyFile = \"{key}\"; {args} }}",
        lib = crate::common::repo_root().join("nix/lib.nix").display(),
        repo = fixture_repo().display(),
        key = vectors().join("keys-b.txt").display(),
    );
    let out = Command::new(nix).args(["--store", "dummy://", "--eval", "--strict", "--json", "-E", &expr]).output().unwrap();
    assert!(out.status.success(), "nix-instantiate: {}", stderr_of(&out));
    let path = dir.join(name);
    fs::write(&path, &out.stdout).unwrap();
    path
}

/// The module's two steps as a machine runs them, in their order, at their own places: the
/// secrets for users into `/run/secrets-for-users` first (`--ignore-passwd`, before users
/// exist), then the others into `/run/secrets`, each on a ramfs the install mounts at its
/// generations folder. Run as root in a private mount namespace with a tmpfs on `/run`, so
/// that nothing reaches the machine running the tests; as another user (no mount) the test
/// says so and passes.
#[test]
fn the_modules_two_steps_install_on_their_own_ramfs() {
    let Some(nix) = peer("nix-instantiate") else { return };
    if !is_root() {
        eprintln!("skipping: the module's install mounts a ramfs under /run, which needs root (CI runs as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let token = "vars/per-machine/web1/gen/token";
    let users = module_manifest(&nix, dir.path(), "users.json", &format!(r#"target = "/run/secrets-for-users"; only = [ "{token}" ];"#));
    let services = module_manifest(&nix, dir.path(), "services.json", r#"only = [ "group-secret" ];"#);
    let script = format!(
        "set -e; mount -t tmpfs none /run; b={bin}; \
         $b install --ignore-passwd --manifest {users}; test ! -e /run/secrets; \
         $b install --manifest {services}; \
         for d in /run/secrets-for-users /run/secrets; do stat -f -c %T $d.d; readlink $d; done; \
         cat /run/secrets-for-users/{token}; echo; cat /run/secrets/group-secret; echo; \
         test ! -e /run/secrets/{token} && test ! -e /run/secrets-for-users/group-secret",
        bin = env!("CARGO_BIN_EXE_secrets"),
        users = users.display(),
        services = services.display(),
    );
    let Some(mut sh) = crate::common::in_private_mounts("/bin/sh") else { return };
    let out = sh.arg("-c").arg(&script).output().unwrap();
    ok(&out);
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines, ["ramfs", "/run/secrets-for-users.d/1", "ramfs", "/run/secrets.d/1", "vars-token", "group-value"]);
}

/// The `sops-install-secrets` wrapper of the Nix package translates its command line.
#[test]
fn the_sops_install_secrets_wrapper_passes_its_flags_on() {
    let Some(bash) = peer("bash") else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = fs::read_to_string(crate::common::repo_root().join("nix/sops-install-secrets.sh")).unwrap();
    let wrapper = dir.path().join("sops-install-secrets");
    fs::write(&wrapper, script.replace("@secrets@", env!("CARGO_BIN_EXE_secrets"))).unwrap();
    let manifest = dir.path().join("manifest.json");
    let target = dir.path().join("secrets");
    fs::write(
        &manifest,
        serde_json::to_vec(&serde_json::json!({
            "secrets": [{"name": "group-secret", "key": "", "path": target.join("group-secret"), "owner": null, "uid": 0, "group": null, "gid": 0,
                         "sopsFile": fixture_repo().join("sops/secrets/group-secret/secret"), "format": "binary", "mode": "0400"}],
            "secretsMountPoint": dir.path().join("secrets.d"), "symlinkPath": target, "keepGenerations": 1,
            "ageKeyFile": vectors().join("keys-b.txt"), "ageSshKeyPaths": [], "userMode": !is_root()
        }))
        .unwrap(),
    )
    .unwrap();
    // As root the wrapper mounts a ramfs at secrets.d: each run is in a private mount
    // namespace, and reads the installed file there before the mount goes away with it.
    let run = |args: &[&str]| {
        let mut cmd = crate::common::in_private_mounts(&bash)?;
        let script = format!("{} \"$0\" \"$@\" && if [ -e {1} ]; then cat {1}/group-secret; fi", bash.display(), target.display());
        Some(cmd.arg("-c").arg(script).arg(&wrapper).args(args).arg(&manifest).output().unwrap())
    };
    let Some(out) = run(&["-check-mode=sopsfile"]) else { return };
    ok(&out);
    assert!(!target.exists());
    ok(&run(&["-check-mode", "manifest"]).unwrap());
    assert_eq!(ok(&run(&[]).unwrap()).stdout, b"group-value");
    assert_eq!(run(&["-bogus"]).unwrap().status.code(), Some(2));
    // sops-install-secrets' -h prints its usage and succeeds.
    let mut help = Command::new(&bash);
    crate::common::clean_env(&mut help);
    let out = help.arg(&wrapper).arg("-h").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("usage: sops-install-secrets"), "{}", stderr_of(&out));
}
