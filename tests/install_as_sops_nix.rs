//! `secrets install` standing in for sops-install-secrets on a machine: what sops-nix's own
//! NixOS tests expect of it (the change lines of its restart test, dry activation that changes
//! nothing), the ramfs it mounts at the secrets mount point, what it replaces, and how it
//! copes with the keys a real machine lists (clan's host key that does not exist yet at first
//! boot, an RSA host key) and with a user-mode manifest without `XDG_RUNTIME_DIR`.
//!
//! Change lines and mounts concern root outside user mode (sops-install-secrets reports no
//! changes in user mode, and only root mounts): as another user those tests say so and pass.
//! Mounts are made in a private mount namespace (`unshare -m`), so nothing reaches the
//! machine running the tests.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{ok, secrets, stderr_of, stdout_of, vectors};

fn is_root() -> bool {
    tempfile::tempfile().unwrap().metadata().unwrap().uid() == 0
}

fn clan_secret() -> PathBuf {
    crate::common::repo_root().join("fixtures/clan-repo/sops/secrets/group-secret/secret")
}

/// A sops-nix manifest for a folder: `test_key` and `another_key` from the fixture's clan
/// secret (web1's key opens it) and the template `test_template` using `test_key`; `changes`
/// is `logging.secretChanges`.
fn manifest(dir: &Path, changes: bool, extra: serde_json::Value) -> PathBuf {
    let secret = |name: &str| {
        serde_json::json!({"name": name, "key": "", "path": dir.join("secrets").join(name), "owner": null, "uid": 0, "group": null,
            "gid": 0, "sopsFile": clan_secret(), "format": "binary", "mode": "0400", "restartUnits": ["restart.service"],
            "reloadUnits": ["reload.service"]})
    };
    let mut value = serde_json::json!({
        "secrets": [secret("test_key"), secret("another_key")],
        "templates": [{"name": "test_template", "content": "value=<SOPS:test_key>\n", "path": dir.join("secrets/rendered/test_template"),
                       "mode": "0400", "owner": null, "uid": 0, "group": null, "gid": 0, "file": "", "restartUnits": [], "reloadUnits": []}],
        "placeholderBySecretName": {"test_key": "<SOPS:test_key>", "another_key": "<SOPS:another_key>"},
        "secretsMountPoint": dir.join("secrets.d"), "symlinkPath": dir.join("secrets"), "keepGenerations": 1,
        "gnupgHome": null, "sshKeyPaths": [], "ageKeyFile": vectors().join("keys-b.txt"), "ageSshKeyPaths": [],
        "useTmpfs": false, "userMode": false, "logging": {"keyImport": true, "secretChanges": changes}
    });
    if let (Some(value), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
        value.extend(extra.clone());
    }
    let path = dir.join("manifest.json");
    fs::write(&path, serde_json::to_vec_pretty(&value).unwrap()).unwrap();
    path
}

/// The manifest installed into its own folders without a mount (`--target` names them), so
/// that the generations stay readable from the test; units are only named through systemctl's
/// dry-run words, never started.
fn install(dir: &Path, manifest: &Path, envs: &[(&str, &str)]) -> Output {
    secrets()
        .args(["install", "--manifest"])
        .arg(manifest)
        .arg("--target")
        .arg(dir.join("secrets"))
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

fn lines(out: &Output) -> Vec<String> {
    stdout_of(out).lines().map(str::to_string).collect()
}

/// Makes a file of the current generation differ from what an install writes (it is
/// replaced: root's 0400 files cannot be written in place by another user).
fn tamper(path: &Path) {
    fs::remove_file(path).unwrap();
    fs::write(path, "").unwrap();
}

/// sops-nix's restart test, change detection part: nothing is said on the first install nor
/// when nothing changed; then a removed, an emptied and an extra file of the current
/// generation are reported in its exact lines, secrets before rendered secrets.
#[test]
fn change_lines_are_sops_install_secrets_own() {
    if !is_root() {
        eprintln!("skipping: change lines are for root outside user mode, as sops-install-secrets prints them");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(dir.path(), true, serde_json::json!({}));
    let target = dir.path().join("secrets");
    let first = ok(&install(dir.path(), &path, &[])).clone();
    assert_eq!(stdout_of(&first), "", "nothing to compare with at first boot");
    assert_eq!(fs::read_to_string(target.join("rendered/test_template")).unwrap(), "value=group-value\n");
    assert_eq!(stdout_of(ok(&install(dir.path(), &path, &[]))), "", "nothing changed");

    fs::remove_file(target.join("test_key")).unwrap();
    fs::remove_file(target.join("rendered/test_template")).unwrap();
    assert_eq!(lines(ok(&install(dir.path(), &path, &[]))), ["adding secret: test_key", "adding rendered secret: test_template"]);

    tamper(&target.join("test_key"));
    tamper(&target.join("rendered/test_template"));
    assert_eq!(lines(ok(&install(dir.path(), &path, &[]))), ["modifying secret: test_key", "modifying rendered secret: test_template"]);

    fs::write(target.join("old_key"), "").unwrap();
    fs::write(target.join("rendered/old_template"), "").unwrap();
    assert_eq!(lines(ok(&install(dir.path(), &path, &[]))), ["removing secret: old_key", "removing rendered secret: old_template"]);

    // Two names in one line, and nothing at all without logging.secretChanges.
    fs::remove_file(target.join("test_key")).unwrap();
    fs::remove_file(target.join("another_key")).unwrap();
    assert_eq!(lines(ok(&install(dir.path(), &path, &[]))), ["adding secrets: another_key, test_key"]);
    let quiet = manifest(dir.path(), false, serde_json::json!({}));
    fs::remove_file(target.join("test_key")).unwrap();
    assert_eq!(stdout_of(ok(&install(dir.path(), &quiet, &[]))), "");
}

/// sops-nix's restart test, dry activation part: under `NIXOS_ACTION=dry-activate` the lines
/// say what would change, the units are only named, and the secrets, the generation and the
/// target stay as they were. `--dry-run` does the same for a machine of a repository.
#[test]
fn dry_activation_says_what_would_change_and_changes_nothing() {
    if !is_root() {
        eprintln!("skipping: dry activation lines are for root outside user mode, as sops-install-secrets prints them");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(dir.path(), true, serde_json::json!({}));
    let target = dir.path().join("secrets");
    ok(&install(dir.path(), &path, &[]));
    fs::remove_file(target.join("test_key")).unwrap();
    fs::remove_file(target.join("rendered/test_template")).unwrap();
    fs::write(target.join("old_key"), "").unwrap();
    fs::write(target.join("rendered/old_template"), "").unwrap();
    let link = fs::read_link(&target).unwrap();
    let listing = |d: &Path| {
        let mut names: Vec<_> = fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        names
    };
    let before = listing(&dir.path().join("secrets.d"));

    let dry = [("NIXOS_ACTION", "dry-activate"), ("SOPS_RESTART_UNITS_VIA_SYSTEMCTL", "1")];
    let out = install(dir.path(), &path, &dry);
    ok(&out);
    assert_eq!(
        lines(&out),
        [
            "would add secret: test_key",
            "would remove secret: old_key",
            "would add rendered secret: test_template",
            "would remove rendered secret: old_template"
        ]
    );
    let err = stderr_of(&out);
    assert!(err.contains("would restart restart.service") && err.contains("would reload reload.service"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(!target.join("test_key").exists() && !target.join("rendered/test_template").exists());
    assert!(target.join("old_key").exists() && target.join("rendered/old_template").exists());
    assert_eq!(fs::read_link(&target).unwrap(), link, "not switched");
    assert_eq!(listing(&dir.path().join("secrets.d")), before, "no generation written or pruned");

    ok(&install(dir.path(), &path, &[]));
    tamper(&target.join("test_key"));
    let out = install(dir.path(), &path, &dry);
    assert_eq!(lines(ok(&out)), ["would modify secret: test_key"]);
    assert_eq!(fs::read(target.join("test_key")).unwrap(), b"", "the live secret is left alone");

    // --dry-run for a repository's machine: nothing is created, not even the folders.
    let fresh = dir.path().join("fresh/secrets");
    let out = secrets()
        .arg("--repo")
        .arg(crate::common::repo_root().join("fixtures/clan-repo"))
        .args(["install", "--machine", "web1", "--dry-run", "--target"])
        .arg(&fresh)
        .arg("--age-key-file")
        .arg(vectors().join("keys-b.txt"))
        .output()
        .unwrap();
    ok(&out);
    assert!(stderr_of(&out).contains("Would install 2 secrets for machine `web1`"), "{}", stderr_of(&out));
    assert!(!dir.path().join("fresh").exists());
}

/// The key paths of a real machine: clan lists the host key it generates among the ssh keys
/// before it exists, and a machine may list its RSA host key. Each is skipped with a warning
/// and the others are used; only when no key is left does the install fail, naming them all,
/// with nothing changed. No key material is ever written to the installed folders.
#[test]
fn unusable_key_paths_are_skipped_and_no_key_at_all_fails() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("run/secrets/vars/per-machine/web1/openssh/ssh.id_ed25519");
    let rsa = dir.path().join("ssh_host_rsa_key");
    fs::write(&rsa, "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n").unwrap();
    let target = dir.path().join("target");
    let run = |age: bool| {
        let mut cmd = secrets();
        cmd.arg("--repo").arg(crate::common::repo_root().join("fixtures/clan-repo"));
        cmd.args(["install", "--machine", "web1", "--target"]).arg(&target).arg("--ssh-key").arg(&missing).arg("--ssh-key").arg(&rsa);
        if age {
            cmd.arg("--age-key-file").arg(vectors().join("keys-b.txt"));
        }
        cmd.output().unwrap()
    };
    let out = run(false);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no key to decrypt with") && err.contains("ssh.id_ed25519") && err.contains("ssh_host_rsa_key"), "{err}");
    assert!(!target.exists(), "nothing installed");

    let out = run(true);
    ok(&out);
    let err = stderr_of(&out);
    assert!(err.contains("warning: skipping key") && err.contains("ssh.id_ed25519") && err.contains("only ed25519"), "{err}");
    assert_eq!(fs::read(target.join("group-secret")).unwrap(), b"group-value");

    // A key under the folder being installed came from these secrets: left out, as sops-nix
    // leaves such host keys out, even once a previous generation holds it.
    let run_secrets = dir.path().join("run/secrets");
    let under = |age: bool| {
        let mut cmd = secrets();
        cmd.arg("--repo").arg(crate::common::repo_root().join("fixtures/clan-repo"));
        cmd.args(["install", "--machine", "web1", "--target"]).arg(&run_secrets).arg("--ssh-key").arg(&missing);
        if age {
            cmd.arg("--age-key-file").arg(vectors().join("keys-b.txt"));
        }
        cmd.output().unwrap()
    };
    let out = under(false);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("every key given is installed from these secrets"), "{}", stderr_of(&out));
    let out = under(true);
    ok(&out);
    assert!(stderr_of(&out).contains("it is installed from these secrets"), "{}", stderr_of(&out));

    let mut stack = vec![dir.path().join("target.d")];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = fs::read(&path).unwrap();
                assert!(!String::from_utf8_lossy(&text).contains("AGE-SECRET-KEY-"), "{}: key material", path.display());
            }
        }
    }
}

/// In user mode `%r` is `$XDG_RUNTIME_DIR`; without it the install is refused instead of made
/// in `/secrets` at the root of the file system. The build-time check needs no runtime folder.
#[test]
fn user_mode_without_a_runtime_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(
        dir.path(),
        true,
        serde_json::json!({"userMode": true, "secretsMountPoint": "%r/secrets.d", "symlinkPath": "%r/secrets", "templates": [],
                           "placeholderBySecretName": {}}),
    );
    let out = secrets().args(["install", "--manifest"]).arg(&path).env_remove("XDG_RUNTIME_DIR").output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("XDG_RUNTIME_DIR is not set"), "{err}");
    assert!(!Path::new("/secrets").exists() && !Path::new("/secrets.d").exists());
    ok(&secrets().args(["install", "--check-mode", "manifest", "--manifest"]).arg(&path).env_remove("XDG_RUNTIME_DIR").output().unwrap());

    let runtime = dir.path().join("runtime");
    fs::create_dir(&runtime).unwrap();
    ok(&secrets().args(["install", "--manifest"]).arg(&path).env("XDG_RUNTIME_DIR", &runtime).output().unwrap());
    assert_eq!(fs::read(runtime.join("secrets/test_key")).unwrap(), b"group-value");
}

/// Two secrets reading one file in different formats fail the manifest check already (it
/// reads no file), as sops-install-secrets' `-check-mode=manifest` does.
#[test]
fn the_manifest_check_catches_one_file_in_two_formats() {
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(dir.path(), true, serde_json::json!({}));
    let mut value: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    value["secrets"][1]["format"] = serde_json::json!("yaml");
    fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let out = secrets().args(["install", "--check-mode", "manifest", "--manifest"]).arg(&path).output().unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("secret `another_key`") && err.contains("but test_key gave binary before"), "{err}");
}

/// As sops-install-secrets on a machine: a ramfs at the mount point (a tmpfs with
/// `useTmpfs`), mounted once, owned by root and the `keys` group or `nogroup` without it; an
/// old folder at `/run/secrets` and a regular file at a secret's path are replaced.
#[test]
fn the_mount_point_gets_a_ramfs_and_what_stands_in_the_way_is_replaced() {
    if !is_root() {
        eprintln!("skipping: mounting the secrets file system needs root (CI runs as root)");
        return;
    }
    for (use_tmpfs, kind) in [(false, "ramfs"), (true, "tmpfs")] {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("etc/app/test_key");
        let path = manifest(dir.path(), true, serde_json::json!({"useTmpfs": use_tmpfs}));
        let mut value: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        value["secrets"][0]["path"] = serde_json::json!(elsewhere);
        fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
        fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
        fs::write(&elsewhere, "a file from before").unwrap();
        let target = dir.path().join("secrets");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("leftover"), "from an older install").unwrap();

        let secrets_d = dir.path().join("secrets.d");
        // Twice in one namespace, then what the second install sees.
        let script = format!(
            "set -e; b={bin}; $b install --manifest {m}; $b install --manifest {m}; stat -f -c %T {d}; stat -c '%a %G' {d}; \
             grep -c ' {d} ' /proc/self/mountinfo; cat {e}; echo; ls {t}",
            bin = env!("CARGO_BIN_EXE_secrets"),
            m = path.display(),
            d = secrets_d.display(),
            e = elsewhere.display(),
            t = target.display()
        );
        let Some(mut sh) = crate::common::in_private_mounts("/bin/sh") else { return };
        let out = sh.arg("-c").arg(&script).output().unwrap();
        ok(&out);
        let group = if fs::read_to_string("/etc/group").unwrap().lines().any(|l| l.starts_with("keys:")) { "keys" } else { "nogroup" };
        let got = lines(&out);
        assert_eq!(
            got[..5],
            [kind.to_string(), format!("751 {group}"), "1".to_string(), "group-value".to_string(), "another_key".to_string()]
        );
        assert!(!got.contains(&"leftover".to_string()), "{got:?}");
        assert!(fs::symlink_metadata(&target).unwrap().file_type().is_symlink(), "the old folder was replaced by the link");
        assert!(fs::symlink_metadata(&elsewhere).unwrap().file_type().is_symlink(), "the old file was replaced by the link");
        assert_eq!(fs::read_dir(&secrets_d).unwrap().count(), 0, "the generations were on the mount, gone with its namespace");
    }
}

/// `logging.keyImport` names each ssh host key used and the age recipient it became; without
/// it nothing is said about keys.
#[test]
fn key_import_logging_follows_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let host_key = vectors().join("ssh/id_ed25519");
    for key_import in [true, false] {
        let path = manifest(
            dir.path(),
            true,
            serde_json::json!({"ageSshKeyPaths": [host_key], "userMode": !is_root(),
                               "logging": {"keyImport": key_import, "secretChanges": true}}),
        );
        let out = install(dir.path(), &path, &[]);
        ok(&out);
        let said = stderr_of(&out).contains(&format!("using ssh key {} as age key age1", host_key.display()));
        assert_eq!(said, key_import, "{}", stderr_of(&out));
    }
}

/// sops-nix's restart-and-reload test, activation part: during an activation (`/run/nixos`
/// exists) the units of changed secrets and templates are appended to NixOS's activation
/// lists, which switch-to-configuration restarts and reloads after activation; nothing is
/// appended when nothing changed, and a dry activation fills the dry-activation lists only.
/// As root in a private mount namespace with a tmpfs on `/run`, so that the lists are the
/// namespace's own; as another user the test says so and passes.
#[test]
fn units_of_changed_files_go_to_the_activation_lists() {
    if !is_root() {
        eprintln!("skipping: the activation lists live in /run/nixos, which only root can stand in for");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secrets");
    let template = serde_json::json!([{"name": "test_template", "content": "value=<SOPS:test_key>\n", "path": "", "mode": "0400",
        "owner": null, "uid": 0, "group": null, "gid": 0, "file": "", "restartUnits": ["template-restart.service"],
        "reloadUnits": ["template-reload.service"]}]);
    let path = manifest(dir.path(), true, serde_json::json!({ "templates": template }));
    let lists = "for l in activation-restart-list activation-reload-list dry-activation-restart-list dry-activation-reload-list; do \
                 if [ -e /run/nixos/$l ]; then echo \"$l: $(tr '\\n' ' ' < /run/nixos/$l)\"; fi; done";
    let script = format!(
        "set -e; mount -t tmpfs none /run; mkdir /run/nixos; i() {{ {bin} install --manifest {m} --target {t} >/dev/null; }}; \
         i; i; echo unchanged; {lists}; \
         : > {t}/rendered/test_template; i; echo template; {lists}; rm /run/nixos/*; \
         rm {t}/test_key; NIXOS_ACTION=dry-activate i; echo dry; {lists}; test ! -e {t}/test_key",
        bin = env!("CARGO_BIN_EXE_secrets"),
        m = path.display(),
        t = target.display(),
    );
    let Some(mut sh) = crate::common::in_private_mounts("/bin/sh") else { return };
    let out = sh.arg("-c").arg(&script).output().unwrap();
    ok(&out);
    assert_eq!(
        lines(&out),
        [
            "unchanged",
            "template",
            "activation-restart-list: template-restart.service ",
            "activation-reload-list: template-reload.service ",
            "dry",
            "dry-activation-restart-list: restart.service ",
            "dry-activation-reload-list: reload.service ",
        ]
    );
}

/// sops-nix's templates test: a template owned by a user and group by name, one by root by
/// default and linked from elsewhere (the link resolving into the generation), one by uid and
/// gid that no account has; each rendered with the secret's value in place of its
/// placeholder. Owners are root's to give: as another user the test says so and passes.
#[test]
fn templates_get_their_owners_modes_and_links() {
    if !is_root() {
        eprintln!("skipping: giving files to other users needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("secrets");
    let linked = dir.path().join("etc/externally/linked");
    let template = |name: &str, owner: serde_json::Value, group: serde_json::Value, id: u32, path: &Path| {
        serde_json::json!({"name": name, "content": format!("This line is not modified.\n{name}: <SOPS:test_key>\n"), "path": path,
            "mode": "0440", "owner": owner, "uid": id, "group": group, "gid": id, "file": "", "restartUnits": [], "reloadUnits": []})
    };
    let templates = serde_json::json!([
        template("test_template", "nobody".into(), "nogroup".into(), 0, &target.join("rendered/test_template")),
        template("test_default", serde_json::Value::Null, serde_json::Value::Null, 0, &linked),
        template("test_uid_gid", serde_json::Value::Null, serde_json::Value::Null, 420, &target.join("rendered/test_uid_gid")),
    ]);
    let path = manifest(dir.path(), true, serde_json::json!({ "templates": templates }));
    ok(&install(dir.path(), &path, &[]));
    let owner = |name: &str| {
        let meta = fs::metadata(target.join("rendered").join(name)).unwrap();
        (meta.uid(), meta.gid(), meta.mode() & 0o7777)
    };
    assert_eq!(owner("test_template"), (65534, 65534, 0o440));
    assert_eq!(owner("test_default"), (0, 0, 0o440));
    assert_eq!(owner("test_uid_gid"), (420, 420, 0o440));
    assert_eq!(
        fs::read_to_string(target.join("rendered/test_template")).unwrap(),
        "This line is not modified.\ntest_template: group-value\n"
    );
    assert_eq!(fs::read_to_string(&linked).unwrap(), "This line is not modified.\ntest_default: group-value\n");
    assert_eq!(fs::canonicalize(&linked).unwrap(), fs::canonicalize(dir.path().join("secrets.d/1/rendered/test_default")).unwrap());
}
