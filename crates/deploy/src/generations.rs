//! Generations of installed secrets, as sops-install-secrets keeps them: each install writes a
//! new numbered folder (`/run/secrets.d/N`), and the target (`/run/secrets`) is a symlink
//! switched to it atomically. A generation is written in a private staging folder and renamed
//! to its number only when complete, so a number always names a whole generation and the
//! target never points at a partial one.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rustix::fs::FileType;

use crate::error::{DeployError, Exposure, Result};
use crate::fsat::{self, DirFd};

/// Mode of generation folders: others may pass through to files meant for them, not list.
pub const DIR_MODE: u32 = 0o751;
const STAGING_PREFIX: &str = ".staging-";
/// A staging folder older than this was left by an install that crashed.
const STALE_STAGING: Duration = Duration::from_secs(600);

/// The target symlink and the folder of its generations, both opened (see [`fsat`]): the
/// folder holding the target and the generations folder are reached once, checked, and then
/// used through their descriptors only.
#[derive(Debug)]
pub struct Generations {
    /// The symlink to the current generation (`/run/secrets`).
    pub target: PathBuf,
    /// The folder of numbered generations (`/run/secrets.d`).
    pub dir: PathBuf,
    target_parent: DirFd,
    target_name: OsString,
    numbered: DirFd,
    /// A folder or file at the target is removed when a generation is switched in.
    replace_target: bool,
}

/// A generation being written: a private (0700) folder in the generations folder, removed
/// if dropped before [`Generations::commit`].
pub struct Staging<'a> {
    gens: &'a Generations,
    dir: DirFd,
    name: OsString,
    committed: bool,
}

impl Staging<'_> {
    /// The open staging folder, to write the generation's files into.
    pub fn dir(&self) -> &DirFd {
        &self.dir
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.gens.numbered.remove_tree(&self.name);
        }
    }
}

/// A generation's number from its folder name: only the plain decimal form an install
/// writes (no sign, no leading zero, not 0).
fn parse_number(name: &OsStr) -> Option<u64> {
    let text = name.to_str()?;
    if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl Generations {
    /// Opens the folder of the target (creating missing folders), checks the target, and opens
    /// or creates the generations folder (0751). Refused when another user could control any of
    /// them: a folder on the way that is not root's or the caller's or that others can write to
    /// (unless sticky, as `/tmp`), a generations folder that is not the caller's or is a
    /// symlink, a target symlink that belongs to someone else.
    pub fn open(target: impl Into<PathBuf>, dir: impl Into<PathBuf>) -> Result<Generations> {
        Generations::open_replacing(target, dir, false)
    }

    /// [`Generations::open`]; with `replace_target`, a folder or file at the target is accepted
    /// and removed when the first generation is switched in (sops-install-secrets replaces an
    /// old `/run/secrets` folder that way), not before: a failed install leaves it in place.
    pub fn open_replacing(target: impl Into<PathBuf>, dir: impl Into<PathBuf>, replace_target: bool) -> Result<Generations> {
        let (target, dir) = (target.into(), dir.into());
        let (target_parent, target_name) = DirFd::open_parent_of(&target)?;
        match target_parent.stat_entry(&target_name)? {
            None => {}
            Some(stat) if FileType::from_raw_mode(stat.st_mode as _) == FileType::Symlink => {
                let me = fsat::euid();
                if stat.st_uid != 0 && stat.st_uid != me {
                    return Err(DeployError::Unsafe { path: target.clone(), exposure: Exposure::ForeignTarget { uid: stat.st_uid, me } });
                }
            }
            Some(_) if replace_target => {}
            Some(_) => return Err(DeployError::TargetNotSymlink { path: target }),
        }
        let (dir_parent, dir_name) = DirFd::open_parent_of(&dir)?;
        let generations = dir_parent.open_owned(&dir_name, DIR_MODE, true)?;
        Ok(Generations { target, dir, target_parent, target_name, numbered: generations, replace_target })
    }

    /// The generation the target points at, if it points into the generations folder.
    pub fn current(&self) -> Option<u64> {
        let link = self.target_parent.read_link(&self.target_name)?;
        if link.parent() != Some(self.dir.as_path()) {
            return None;
        }
        parse_number(link.file_name()?)
    }

    /// The numbered generations present (folders only), sorted.
    pub fn list(&self) -> Result<Vec<u64>> {
        let mut out: Vec<u64> = self
            .numbered
            .entries()?
            .into_iter()
            .filter(|(_, kind)| *kind == FileType::Directory)
            .filter_map(|(name, _)| parse_number(&name))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// A generation, opened for reading (not through a symlink).
    pub fn open_generation(&self, number: u64) -> Result<DirFd> {
        self.numbered.open_dir(OsStr::new(&number.to_string()))
    }

    /// A new private (0700) folder to write a generation into; removed if dropped.
    pub fn stage(&self) -> Result<Staging<'_>> {
        let (dir, name) = self.numbered.create_private(STAGING_PREFIX)?;
        Ok(Staging { gens: self, dir, name, committed: false })
    }

    /// Makes a complete staging folder the next generation: readable as generations are, owned
    /// by `root:<group>` when a group is given, and renamed to its number (never over an
    /// existing one). A number that cannot be counted past (a planted `18446744073709551615`)
    /// is refused, not wrapped.
    pub fn commit(&self, mut staging: Staging<'_>, group: Option<u32>) -> Result<(u64, PathBuf)> {
        // One listing: folders are generations; a stray file or link under the next number is
        // stepped over, never tripped on.
        let entries = self.numbered.entries()?;
        let generations = entries.iter().filter(|(_, kind)| *kind == FileType::Directory).filter_map(|(name, _)| parse_number(name));
        let highest = self.current().into_iter().chain(generations).max().unwrap_or(0);
        let taken: std::collections::HashSet<u64> = entries.iter().filter_map(|(name, _)| parse_number(name)).collect();
        let mut number = highest;
        loop {
            // The last number is never used: a generation there could never be followed, and
            // the live one would then be the one the error asks to remove.
            number = number
                .checked_add(1)
                .filter(|&n| n < u64::MAX)
                .ok_or_else(|| DeployError::GenerationsExhausted { path: self.dir.join(highest.to_string()) })?;
            if !taken.contains(&number) {
                break;
            }
        }
        let path = self.dir.join(number.to_string());
        staging.dir.chmod(DIR_MODE)?;
        if let Some(gid) = group {
            staging.dir.chown(Some(0), Some(gid))?;
        }
        self.numbered.rename_no_replace(&staging.name, OsStr::new(&number.to_string()))?;
        staging.committed = true;
        Ok((number, path))
    }

    /// Points the target at a generation in one step: a symlink under a temporary name beside
    /// the target, renamed over it.
    pub fn switch(&self, generation: &Path) -> Result<()> {
        if self.replace_target {
            let in_the_way = self
                .target_parent
                .stat_entry(&self.target_name)?
                .is_some_and(|s| FileType::from_raw_mode(s.st_mode as _) != FileType::Symlink);
            if in_the_way {
                self.target_parent.remove_tree(&self.target_name)?;
            }
        }
        self.target_parent.replace_with_symlink(&self.target_name, generation).map(|_| ())
    }

    /// Removes generations older than the `keep` newest (the current one always stays; 0 keeps
    /// everything), and staging folders left by crashed installs. Returns the removed numbers.
    pub fn prune(&self, current: u64, keep: usize) -> Result<Vec<u64>> {
        let mut removed = Vec::new();
        if keep > 0 {
            for number in self.list()? {
                // Saturating: a huge number planted beside ours is never counted as old.
                if number != current && number.saturating_add(keep as u64) <= current {
                    self.numbered.remove_tree(OsStr::new(&number.to_string()))?;
                    removed.push(number);
                }
            }
        }
        for (name, kind) in self.numbered.entries()? {
            let is_staging = name.to_str().is_some_and(|n| n.starts_with(STAGING_PREFIX)) && kind == FileType::Directory;
            let stale = is_staging
                && self.numbered.stat_entry(&name)?.is_some_and(|stat| {
                    let modified = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(stat.st_mtime).unwrap_or(0));
                    SystemTime::now().duration_since(modified).unwrap_or_default() > STALE_STAGING
                });
            if stale {
                let _ = self.numbered.remove_tree(&name);
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn setup() -> (tempfile::TempDir, Generations) {
        let dir = tempfile::tempdir().unwrap();
        let gens = Generations::open(dir.path().join("secrets"), dir.path().join("secrets.d")).unwrap();
        (dir, gens)
    }

    fn install(gens: &Generations, content: &str) -> u64 {
        let staging = gens.stage().unwrap();
        staging.dir().create_file(OsStr::new("f"), content.as_bytes(), 0o400, (None, None)).unwrap();
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
        staging
            .dir()
            .descend(&[OsStr::new("sub")], DIR_MODE, None)
            .unwrap()
            .create_file(OsStr::new("f"), b"half", 0o400, (None, None))
            .unwrap();
        assert_eq!(fs::metadata(staging.dir().path()).unwrap().permissions().mode() & 0o777, 0o700);
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
        let (dir, gens) = setup();
        fs::create_dir_all(&gens.target).unwrap();
        assert!(matches!(Generations::open(&gens.target, &gens.dir), Err(DeployError::TargetNotSymlink { .. })));
        fs::write(gens.target.join("old"), "x").unwrap();
        let replacing = Generations::open_replacing(&gens.target, &gens.dir, true).unwrap();
        assert!(gens.target.join("old").exists(), "kept until a generation is switched in");
        let staging = replacing.stage().unwrap();
        let (_, path) = replacing.commit(staging, None).unwrap();
        replacing.switch(&path).unwrap();
        assert_eq!(fs::read_link(&gens.target).unwrap(), path);
        drop(dir);
    }

    #[test]
    fn only_plain_decimal_folders_are_generations() {
        for (name, number) in [("1", Some(1)), ("42", Some(42)), ("18446744073709551615", Some(u64::MAX))] {
            assert_eq!(parse_number(OsStr::new(name)), number);
        }
        for name in ["", "0", "007", "+3", "-1", "1e3", "18446744073709551616", ".staging-1"] {
            assert_eq!(parse_number(OsStr::new(name)), None, "{name:?}");
        }
        let (_d, gens) = setup();
        install(&gens, "one");
        fs::write(gens.dir.join("9"), "a file, not a generation").unwrap();
        std::os::unix::fs::symlink("/", gens.dir.join("12")).unwrap();
        assert_eq!(gens.list().unwrap(), [1]);
        assert_eq!(install(&gens, "two"), 2);
    }

    #[test]
    fn the_highest_number_is_refused_not_wrapped() {
        let (_d, gens) = setup();
        install(&gens, "one");
        fs::create_dir(gens.dir.join(u64::MAX.to_string())).unwrap();
        let staging = gens.stage().unwrap();
        let err = gens.commit(staging, None).unwrap_err();
        assert!(matches!(err, DeployError::GenerationsExhausted { .. }), "{err}");
        assert_eq!(gens.current(), Some(1));
        assert_eq!(gens.prune(1, 1).unwrap(), Vec::<u64>::new(), "never counted as old");
        assert_eq!(gens.list().unwrap(), [1, u64::MAX]);
        assert_eq!(fs::read_dir(&gens.dir).unwrap().count(), 2, "the staging folder is gone");
    }

    #[test]
    fn a_stray_numbered_file_is_counted_past() {
        let (_d, gens) = setup();
        fs::write(gens.dir.join("1"), "stray").unwrap();
        assert_eq!(install(&gens, "one"), 2, "the file named 1 is not overwritten nor tripped over");
        assert_eq!(fs::read_to_string(gens.dir.join("1")).unwrap(), "stray");
        assert_eq!(gens.list().unwrap(), [2], "only folders are generations");
    }

    #[test]
    fn the_highest_number_is_never_created() {
        let (_d, gens) = setup();
        install(&gens, "one");
        fs::create_dir(gens.dir.join((u64::MAX - 1).to_string())).unwrap();
        let err = gens.commit(gens.stage().unwrap(), None).unwrap_err();
        assert!(matches!(err, DeployError::GenerationsExhausted { ref path } if path.ends_with((u64::MAX - 1).to_string())), "{err}");
        assert_eq!(gens.current(), Some(1), "the live generation is still the one installed");
    }

    #[test]
    fn a_planted_generations_symlink_or_open_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let target = dir.path().join("secrets");
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("secrets.d")).unwrap();
        let err = Generations::open(&target, dir.path().join("secrets.d")).unwrap_err();
        assert!(matches!(err, DeployError::Unsafe { .. }), "{err}");
        fs::remove_file(dir.path().join("secrets.d")).unwrap();
        fs::create_dir(dir.path().join("secrets.d")).unwrap();
        fs::set_permissions(dir.path().join("secrets.d"), fs::Permissions::from_mode(0o777)).unwrap();
        let err = Generations::open(&target, dir.path().join("secrets.d")).unwrap_err();
        assert!(err.to_string().contains("others can write to it"), "{err}");
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }
}
