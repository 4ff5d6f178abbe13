//! `secrets install` run by root in a folder a local user shares (a sticky, world-writable
//! folder like `/tmp`): the user (uid 65534) plants the generations folder as a symlink or as
//! a folder of their own, or races the install, swapping every entry they can for a symlink
//! to a root-only folder. Root must refuse what it does not own and never write outside the
//! generations folder it created.
//!
//! The attacks need root and `setpriv`; without them each test says so and passes.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{peer, secrets, stderr_of, vectors};

const NOBODY: &str = "65534";
/// Installs in the race test; each is a new target the racing user attacks.
const ROUNDS: usize = 12;
/// The racing process stops on its own after this, whatever happens to the test.
const RACER_LIMIT: Duration = Duration::from_secs(60);

fn is_root() -> bool {
    tempfile::tempfile().unwrap().metadata().unwrap().uid() == 0
}

/// A folder laid out for the attack: `shared/` (root's, mode 1777, as `/tmp`) and `victim/`
/// (root's, 0700), the folder the user would like root to write into.
struct Scene {
    dir: tempfile::TempDir,
    setpriv: PathBuf,
}

impl Scene {
    fn new() -> Option<Scene> {
        if !is_root() {
            eprintln!("skipping: the attacks on install need root (and a second user, uid {NOBODY})");
            return None;
        }
        let setpriv = peer("setpriv")?;
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::create_dir(dir.path().join("shared")).unwrap();
        fs::set_permissions(dir.path().join("shared"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::create_dir(dir.path().join("victim")).unwrap();
        fs::set_permissions(dir.path().join("victim"), fs::Permissions::from_mode(0o700)).unwrap();
        Some(Scene { dir, setpriv })
    }

    fn shared(&self) -> PathBuf {
        self.dir.path().join("shared")
    }

    fn victim(&self) -> PathBuf {
        self.dir.path().join("victim")
    }

    /// A command run as the unprivileged user.
    fn as_nobody(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(&self.setpriv);
        cmd.args([&format!("--reuid={NOBODY}"), &format!("--regid={NOBODY}"), "--clear-groups"]).arg(program);
        cmd
    }

    fn nobody_runs(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let out = self.as_nobody(program).args(args).output().unwrap();
        assert!(out.status.success(), "{program} as uid {NOBODY}: {}", stderr_of(&out));
    }

    fn assert_victim_untouched(&self) {
        let found: Vec<_> = fs::read_dir(self.victim()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(found.is_empty(), "root wrote into the folder the user chose: {found:?}");
    }
}

fn install(target: &Path) -> Output {
    secrets()
        .arg("--repo")
        .arg(crate::common::repo_root().join("fixtures/clan-repo"))
        .args(["install", "--machine", "web1", "--target"])
        .arg(target)
        .arg("--age-key-file")
        .arg(vectors().join("keys-b.txt"))
        .output()
        .unwrap()
}

#[test]
fn a_planted_generations_symlink_is_refused() {
    let Some(scene) = Scene::new() else { return };
    let target = scene.shared().join("secrets");
    let planted = scene.shared().join("secrets.d");
    scene.nobody_runs("ln", &["-s".as_ref(), scene.victim().as_os_str(), planted.as_os_str()]);

    let out = install(&target);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{} is not safe to install into", planted.display())), "{err}");
    assert!(err.contains("symlink"), "{err}");
    scene.assert_victim_untouched();
    assert!(fs::symlink_metadata(&target).is_err(), "no target was made");
}

#[test]
fn a_planted_generations_folder_of_another_user_is_refused() {
    let Some(scene) = Scene::new() else { return };
    for mode in ["0755", "0777"] {
        let target = scene.shared().join(format!("secrets-{mode}"));
        let planted = scene.shared().join(format!("secrets-{mode}.d"));
        scene.nobody_runs("mkdir", &["-m".as_ref(), mode.as_ref(), planted.as_os_str()]);

        let out = install(&target);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(&format!("{} is not safe to install into", planted.display())), "{err}");
        assert!(err.contains(&format!("belongs to uid {NOBODY}")), "{err}");
        assert_eq!(fs::read_dir(&planted).unwrap().count(), 0, "nothing was written into the planted folder");
        assert!(fs::symlink_metadata(&target).is_err(), "no target was made");
    }
}

#[test]
fn a_target_folder_another_user_can_write_to_is_refused() {
    let Some(scene) = Scene::new() else { return };
    let theirs = scene.shared().join("theirs");
    scene.nobody_runs("mkdir", &["-m".as_ref(), "0755".as_ref(), theirs.as_os_str()]);
    let out = install(&theirs.join("secrets"));
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{} is not safe to install into", theirs.display())), "{err}");
    assert_eq!(fs::read_dir(&theirs).unwrap().count(), 0);
}

/// An extra `path` may link into a folder of the user the secret is for (their home, say),
/// never into a folder of anyone else.
#[test]
fn extra_links_go_only_into_folders_of_root_or_the_secrets_owner() {
    let Some(scene) = Scene::new() else { return };
    let home = scene.shared().join("home");
    scene.nobody_runs("mkdir", &["-m".as_ref(), "0755".as_ref(), home.as_os_str()]);
    let manifest = scene.dir.path().join("overrides.json");
    let with_owner = |owner: &str| {
        let owner = if owner.is_empty() { String::new() } else { format!(r#", "owner": "{owner}""#) };
        let text = format!(r#"{{"secrets": {{"group-secret": {{"path": "{}"{owner}}}}}}}"#, home.join("token").display());
        fs::write(&manifest, text).unwrap();
    };
    let run = |name: &str| {
        secrets()
            .arg("--repo")
            .arg(crate::common::repo_root().join("fixtures/clan-repo"))
            .args(["install", "--machine", "web1", "--target"])
            .arg(scene.dir.path().join(name))
            .arg("--age-key-file")
            .arg(vectors().join("keys-b.txt"))
            .arg("--manifest")
            .arg(&manifest)
            .output()
            .unwrap()
    };

    with_owner("");
    let out = run("root-secrets");
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{} is not safe to install into", home.display())), "{err}");
    assert!(fs::symlink_metadata(home.join("token")).is_err(), "no link in their folder for root's secret");
    assert!(fs::symlink_metadata(scene.dir.path().join("root-secrets")).is_err(), "refused before anything was installed");

    with_owner(NOBODY);
    let out = run("their-secrets");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let meta = fs::symlink_metadata(home.join("token")).unwrap();
    assert!(meta.file_type().is_symlink() && meta.uid().to_string() == NOBODY);
    assert_eq!(fs::read_link(home.join("token")).unwrap(), scene.dir.path().join("their-secrets/group-secret"));
}

/// A symlink on the way to the target is followed only when root (or the caller) made it in a
/// folder nobody else controls: the user's link in the shared folder, pointing at a root-only
/// folder, is refused, where a link root made itself leads on.
#[test]
fn a_users_symlink_on_the_way_to_the_target_is_not_followed() {
    let Some(scene) = Scene::new() else { return };
    let theirs = scene.shared().join("app");
    scene.nobody_runs("ln", &["-s".as_ref(), scene.victim().as_os_str(), theirs.as_os_str()]);
    let out = install(&theirs.join("secrets"));
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{} is not safe to install into", theirs.display())), "{err}");
    assert!(err.contains(&format!("symlink of uid {NOBODY}")), "{err}");
    scene.assert_victim_untouched();

    let roots = scene.dir.path().join("roots-link");
    std::os::unix::fs::symlink(scene.victim(), &roots).unwrap();
    let out = install(&roots.join("secrets"));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(fs::symlink_metadata(scene.victim().join("secrets")).unwrap().file_type().is_symlink());
}

/// A folder of the secret's owner is trusted for their extra link only, never as a way to
/// somewhere else: a symlink they put below it is not followed, so no link of theirs appears in
/// (or replaces a file of) a root-only folder.
#[test]
fn an_extra_link_never_goes_through_a_symlink_of_the_secrets_owner() {
    let Some(scene) = Scene::new() else { return };
    let home = scene.shared().join("home");
    scene.nobody_runs("mkdir", &["-m".as_ref(), "0755".as_ref(), home.as_os_str()]);
    let cfg = home.join("cfg");
    scene.nobody_runs("ln", &["-s".as_ref(), scene.victim().as_os_str(), cfg.as_os_str()]);
    let manifest = scene.dir.path().join("overrides.json");
    let text = format!(r#"{{"secrets": {{"group-secret": {{"path": "{}", "owner": "{NOBODY}"}}}}}}"#, cfg.join("token").display());
    fs::write(&manifest, text).unwrap();
    let out = secrets()
        .arg("--repo")
        .arg(crate::common::repo_root().join("fixtures/clan-repo"))
        .args(["install", "--machine", "web1", "--target"])
        .arg(scene.dir.path().join("secrets"))
        .arg("--age-key-file")
        .arg(vectors().join("keys-b.txt"))
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{} is not safe to install into", cfg.display())), "{err}");
    scene.assert_victim_untouched();
}

/// The user keeps planting the generations folders and targets of the coming installs and
/// swapping every entry they can reach for a symlink to `victim/`, while root installs
/// [`ROUNDS`] times. Whoever wins each race, root never writes into `victim/`: an install
/// either refuses what was planted or completes in a folder it created and owns.
#[test]
fn a_racing_user_never_steers_where_root_writes() {
    let Some(scene) = Scene::new() else { return };
    // The racer is this test binary again, run as the user (copied where they can run it).
    // Copied by `cp`, not by this process: a file open for writing here would be inherited by
    // what the other test threads start meanwhile, and running it would fail ("text file busy").
    let racer = scene.dir.path().join("racer");
    assert!(Command::new("cp").arg(std::env::current_exe().unwrap()).arg(&racer).status().unwrap().success());
    fs::set_permissions(&racer, fs::Permissions::from_mode(0o755)).unwrap();
    // The test's full name in the binary of all areas: `<area>::racing_user`.
    let area = module_path!().split_once("::").map_or(module_path!(), |(_, area)| area);
    let child = scene
        .as_nobody(&racer)
        .arg(format!("{area}::racing_user"))
        .args(["--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("RACE_SHARED", scene.shared())
        .env("RACE_VICTIM", scene.victim())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let racer = Racer { child, stop: scene.shared().join("stop") };
    let ready = scene.shared().join("ready");
    let started = Instant::now();
    while !ready.exists() {
        assert!(started.elapsed() < Duration::from_secs(20), "the racing process did not start");
        std::thread::sleep(Duration::from_millis(10));
    }

    let mut completed = 0;
    for round in 0..ROUNDS {
        let target = scene.shared().join(format!("t{round}"));
        let out = install(&target);
        let err = stderr_of(&out);
        scene.assert_victim_untouched();
        if out.status.success() {
            completed += 1;
            let generations = scene.shared().join(format!("t{round}.d"));
            let meta = fs::symlink_metadata(&generations).unwrap();
            assert!(meta.is_dir() && meta.uid() == 0, "round {round}: installed into a folder root owns");
            assert_eq!(fs::read_link(&target).unwrap(), generations.join("1"), "round {round}");
            assert_eq!(fs::read(target.join("group-secret")).unwrap(), b"group-value", "round {round}");
        } else {
            assert!(err.contains("is not safe to install into"), "round {round}: {err}");
        }
    }
    drop(racer);
    scene.assert_victim_untouched();
    // Rounds the user leaves alone (every third) must still install.
    assert!(completed >= ROUNDS / 3, "only {completed} of {ROUNDS} installs completed");
}

/// The racing process: told to stop, and ended if it does not, however the test ends.
struct Racer {
    child: std::process::Child,
    stop: PathBuf,
}

impl Drop for Racer {
    fn drop(&mut self) {
        let _ = fs::write(&self.stop, "");
        let waited = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if waited.elapsed() > Duration::from_secs(10) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The racing user of [`a_racing_user_never_steers_where_root_writes`]: runs only when that
/// test starts it (as uid 65534), until told to stop or [`RACER_LIMIT`] passes.
#[test]
#[ignore = "started by a_racing_user_never_steers_where_root_writes as the unprivileged user"]
fn racing_user() {
    let (Some(shared), Some(victim)) = (std::env::var_os("RACE_SHARED"), std::env::var_os("RACE_VICTIM")) else { return };
    let (shared, victim) = (PathBuf::from(shared), PathBuf::from(victim));
    let link = |at: &Path| std::os::unix::fs::symlink(&victim, at).is_ok();
    fs::write(shared.join("ready"), "").unwrap();
    let started = Instant::now();
    while shared.is_dir() && !shared.join("stop").exists() && started.elapsed() < RACER_LIMIT {
        for round in 0..ROUNDS {
            let generations = shared.join(format!("t{round}.d"));
            match round % 3 {
                // Plant the generations folder as a symlink, and the target.
                0 => {
                    link(&generations);
                    link(&shared.join(format!("t{round}")));
                }
                // Plant it as a folder anyone can write to.
                1 if fs::create_dir(&generations).is_ok() => {
                    let _ = fs::set_permissions(&generations, fs::Permissions::from_mode(0o777));
                }
                // Leave it to root, and only attack what is inside.
                _ => {}
            }
            // Swap every staging folder and generation reachable for a symlink to the victim.
            let Ok(entries) = fs::read_dir(&generations) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                    continue;
                }
                let aside = shared.join(format!("aside-{round}-{}", entry.file_name().to_string_lossy()));
                if fs::rename(&path, &aside).is_ok() {
                    link(&path);
                }
            }
        }
    }
}
