//! Generations of installed secrets, as sops-install-secrets keeps them: each install writes a
//! new numbered folder (`/run/secrets.d/N`), and the target (`/run/secrets`) is a symlink
//! switched to it atomically. A generation is written in a private staging folder and renamed
//! to its number only when complete, so a number always names a whole generation and the
//! target never points at a partial one.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::error::{DeployError, Result};

/// Mode of generation folders: others may pass through to files meant for them, not list.
pub const DIR_MODE: u32 = 0o751;
const STAGING_PREFIX: &str = ".staging-";
/// A staging folder older than this was left by an install that crashed.
const STALE_STAGING: Duration = Duration::from_secs(600);

/// The target symlink and the folder of its generations.
#[derive(Clone, Debug)]
pub struct Generations {
    pub target: PathBuf,
    pub dir: PathBuf,
}

impl Generations {
    pub fn new(target: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Generations {
        Generations { target: target.into(), dir: dir.into() }
    }

    /// The target must be missing or a symlink: replacing a real folder would lose it.
    pub fn check_target(&self) -> Result<()> {
        match fs::symlink_metadata(&self.target) {
            Ok(meta) if meta.file_type().is_symlink() => Ok(()),
            Ok(_) => Err(DeployError::TargetNotSymlink { path: self.target.clone() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DeployError::io(&self.target, e)),
        }
    }

    /// The generation the target points at, if it points into the generations folder.
    pub fn current(&self) -> Option<u64> {
        let link = fs::read_link(&self.target).ok()?;
        if link.parent() != Some(self.dir.as_path()) {
            return None;
        }
        link.file_name()?.to_str()?.parse().ok()
    }

    /// The numbered generations present, sorted.
    pub fn list(&self) -> Result<Vec<u64>> {
        let mut out: Vec<u64> = match fs::read_dir(&self.dir) {
            Ok(entries) => entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(DeployError::io(&self.dir, e)),
        };
        out.sort_unstable();
        Ok(out)
    }

    /// A new private (0700) folder to write a generation into; removed if dropped.
    pub fn stage(&self) -> Result<tempfile::TempDir> {
        fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(&self.dir).map_err(|e| DeployError::io(&self.dir, e))?;
        let staging = tempfile::Builder::new()
            .prefix(STAGING_PREFIX)
            .permissions(fs::Permissions::from_mode(0o700))
            .tempdir_in(&self.dir)
            .map_err(|e| DeployError::io(&self.dir, e))?;
        // The mode given at creation is masked by the umask; plaintext goes in here, so be sure.
        fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o700)).map_err(|e| DeployError::io(staging.path(), e))?;
        Ok(staging)
    }

    /// Makes a complete staging folder the next generation: readable as generations are, owned
    /// by `root:<group>` when a group is given, and renamed to its number.
    pub fn commit(&self, staging: tempfile::TempDir, group: Option<u32>) -> Result<(u64, PathBuf)> {
        let number = self.current().into_iter().chain(self.list()?).max().unwrap_or(0) + 1;
        let path = self.dir.join(number.to_string());
        let fail = |e: std::io::Error| DeployError::io(staging.path(), e);
        fs::set_permissions(staging.path(), fs::Permissions::from_mode(DIR_MODE)).map_err(fail)?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(staging.path(), Some(0), Some(gid)).map_err(fail)?;
        }
        fs::rename(staging.path(), &path).map_err(fail)?;
        let _ = staging.keep();
        Ok((number, path))
    }

    /// Points the target at a generation in one step: a symlink under a temporary name beside
    /// the target, renamed over it.
    pub fn switch(&self, generation: &Path) -> Result<()> {
        let parent = self.target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(|e| DeployError::io(parent, e))?;
        replace_with_symlink(generation, &self.target)
    }

    /// Removes generations older than the `keep` newest (the current one always stays; 0 keeps
    /// everything), and staging folders left by crashed installs. Returns the removed numbers.
    pub fn prune(&self, current: u64, keep: usize) -> Result<Vec<u64>> {
        let mut removed = Vec::new();
        if keep > 0 {
            for number in self.list()? {
                if number != current && number + keep as u64 <= current {
                    let path = self.dir.join(number.to_string());
                    fs::remove_dir_all(&path).map_err(|e| DeployError::io(&path, e))?;
                    removed.push(number);
                }
            }
        }
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let stale = entry.file_name().to_str().is_some_and(|n| n.starts_with(STAGING_PREFIX))
                    && entry
                        .metadata()
                        .and_then(|m| m.modified())
                        .is_ok_and(|t| SystemTime::now().duration_since(t).unwrap_or_default() > STALE_STAGING);
                if stale {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
        Ok(removed)
    }
}

/// Creates or replaces the symlink `link` → `target` atomically (rename over the old one).
pub fn replace_with_symlink(target: &Path, link: &Path) -> Result<()> {
    let parent = link.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let base = link.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // A fresh folder holds the temporary link, so no name can collide or be pre-planted.
    let holder = tempfile::Builder::new().prefix(&format!(".{base}.")).tempdir_in(parent).map_err(|e| DeployError::io(parent, e))?;
    let temp = holder.path().join("link");
    std::os::unix::fs::symlink(target, &temp).map_err(|e| DeployError::io(&temp, e))?;
    fs::rename(&temp, link).map_err(|e| DeployError::io(link, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Generations) {
        let dir = tempfile::tempdir().unwrap();
        let gens = Generations::new(dir.path().join("secrets"), dir.path().join("secrets.d"));
        (dir, gens)
    }

    fn install(gens: &Generations, content: &str) -> u64 {
        let staging = gens.stage().unwrap();
        fs::write(staging.path().join("f"), content).unwrap();
        let (n, path) = gens.commit(staging, None).unwrap();
        gens.switch(&path).unwrap();
        n
    }

    #[test]
    fn generations_count_up_and_the_target_follows() {
        let (_d, gens) = setup();
        assert_eq!(gens.current(), None);
        assert_eq!(install(&gens, "one"), 1);
        assert_eq!(install(&gens, "two"), 2);
        assert_eq!(gens.current(), Some(2));
        assert_eq!(fs::read_to_string(gens.target.join("f")).unwrap(), "two");
        let mode = fs::metadata(gens.dir.join("2")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, DIR_MODE);
        assert_eq!(gens.list().unwrap(), [1, 2]);
        assert_eq!(fs::read_dir(gens.target.parent().unwrap()).unwrap().count(), 2, "no temporary link left");
    }

    #[test]
    fn a_dropped_staging_folder_leaves_nothing() {
        let (_d, gens) = setup();
        install(&gens, "one");
        let staging = gens.stage().unwrap();
        fs::write(staging.path().join("f"), "half").unwrap();
        assert_eq!(fs::metadata(staging.path()).unwrap().permissions().mode() & 0o777, 0o700);
        drop(staging);
        assert_eq!(fs::read_dir(&gens.dir).unwrap().count(), 1);
        assert_eq!(fs::read_to_string(gens.target.join("f")).unwrap(), "one");
    }

    #[test]
    fn numbers_never_reuse_a_leftover_generation() {
        let (_d, gens) = setup();
        install(&gens, "one");
        fs::create_dir_all(gens.dir.join("7")).unwrap();
        assert_eq!(install(&gens, "next"), 8);
    }

    #[test]
    fn pruning_keeps_the_newest() {
        let (_d, gens) = setup();
        for i in 0..5 {
            install(&gens, &i.to_string());
        }
        assert_eq!(gens.prune(5, 0).unwrap(), Vec::<u64>::new());
        assert_eq!(gens.prune(5, 2).unwrap(), [1, 2, 3]);
        assert_eq!(gens.list().unwrap(), [4, 5]);
        assert_eq!(gens.prune(5, 1).unwrap(), [4]);
        assert_eq!(gens.list().unwrap(), [5]);
    }

    #[test]
    fn a_real_folder_as_target_is_refused() {
        let (_d, gens) = setup();
        gens.check_target().unwrap();
        fs::create_dir_all(&gens.target).unwrap();
        assert!(matches!(gens.check_target(), Err(DeployError::TargetNotSymlink { .. })));
    }
}
