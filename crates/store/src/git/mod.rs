//! Committing the files a command changed, as clan does (`git commit -- <paths>` with its
//! subjects), through libgit2: only the given paths are committed, other staged work stays
//! staged, and nothing happens outside a git work tree. The files committed are read through
//! open folders, never through a folder swapped for a symlink (see `collect`).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};

use git2::{Index, IndexEntry, IndexTime, Repository, Signature};

use crate::error::{Result, StoreError};
use crate::untrusted::{EntryKind, Folder, Limit};

mod index_file;
mod pack;
mod tree_edit;

fn git_err(e: git2::Error) -> StoreError {
    git_error(e, std::io::Error::last_os_error(), Path::new(".git"))
}

/// A libgit2 error as a store error. libgit2 reports some failed writes (a full disk) without a
/// message of its own ("no error"): the operating system's error, read right after the failing
/// call, is then the cause, and is kept as the source with the git folder as the path. An error
/// of class `Os` is libgit2 saying that a system call failed: the operating system's error is
/// kept beside it, so that a full disk is told by its kind, not by libgit2's wording.
fn git_error(e: git2::Error, os: std::io::Error, git_dir: &Path) -> StoreError {
    let message = e.message().trim();
    let silent = message.is_empty() || message.eq_ignore_ascii_case("no error");
    let os = os.raw_os_error().is_some_and(|code| code != 0).then_some(os);
    if silent {
        if let Some(os) = os {
            return StoreError::io(git_dir, os);
        }
    }
    // An error of class `Os` is libgit2 saying a system call failed: errno is its cause. For
    // the other classes of a failed write errno may be left over from anything; and libgit2's
    // clean-up after a failed write may have replaced it. There, the disk itself is asked.
    let mut cause = os.filter(|_| e.class() == git2::ErrorClass::Os);
    if writes_storage(&e) && !cause.as_ref().is_some_and(storage_error) && disk_full(git_dir) {
        cause = Some(std::io::Error::from_raw_os_error(libc::ENOSPC));
    }
    StoreError::Git { source: e, os: cause, git_dir: Some(git_dir.to_path_buf()) }
}

/// libgit2 reports a failed write of an object, a pack or the index with its own words and a
/// class of its own ("failed to write out file", class `Filesystem`, `Odb` or `Index`).
fn writes_storage(e: &git2::Error) -> bool {
    matches!(e.class(), git2::ErrorClass::Os | git2::ErrorClass::Filesystem | git2::ErrorClass::Odb | git2::ErrorClass::Index)
}

/// Whether the file system holding `dir` has no room left for an ordinary user: fewer free
/// blocks than a small git object needs.
fn disk_full(dir: &Path) -> bool {
    rustix::fs::statvfs(dir).is_ok_and(|fs| fs.f_bavail.saturating_mul(fs.f_frsize) < 64 * 1024)
}

/// An operating system error that means the disk refused the write: full, over quota,
/// read-only, or failing.
fn storage_error(os: &std::io::Error) -> bool {
    matches!(os.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded | std::io::ErrorKind::ReadOnlyFilesystem)
        || os.raw_os_error() == Some(libc::EIO)
}

/// From this many paths on (a bulk re-key), the new objects are written as one pack instead of
/// one loose file each: thousands of small files cost more than one pack and its index.
const PACK_FROM_PATHS: usize = 64;

/// Commits the current work-tree state of `paths` (files, links or whole directories, present
/// or deleted) on top of HEAD. Returns `Ok(false)` when `root` is not a git work tree or nothing
/// changed.
///
/// The cost follows the change, not the repository (as `git commit -- <paths>` after `git add`
/// does): the new tree is HEAD's tree with only the changed entries replaced, and the index is
/// updated only at the changed paths.
pub fn commit_paths(root: &Path, paths: &[PathBuf], subject: &str) -> Result<bool> {
    commit_paths_with(root, paths, subject, &|name| std::env::var_os(name))
}

/// [`commit_paths`], reading the environment through `env` (git's identity variables).
fn commit_paths_with(root: &Path, paths: &[PathBuf], subject: &str, env: &dyn Fn(&str) -> Option<OsString>) -> Result<bool> {
    let Some(repo) = work_tree(root)? else {
        return Ok(false);
    };
    // libgit2 hashes every object it reads again to check its name; git does not (only `git
    // fsck` does), and a commit reads the folders on each changed path, `sops/secrets` with
    // its 30,000 entries among them.
    git2::opts::strict_hash_verification(false);
    let git_dir = repo.path().to_path_buf();
    // Failures from here on name the git folder.
    let git_err = |e: git2::Error| git_error(e, std::io::Error::last_os_error(), &git_dir);
    let workdir = repo.workdir().ok_or_else(|| StoreError::NoWorkTree { git_dir: git_dir.clone() })?.to_path_buf();
    let workdir = fs::canonicalize(&workdir).unwrap_or(workdir);
    // A bulk change keeps its objects in memory and stores them as one pack before anything
    // refers to them.
    let objects = NewObjects {
        odb: repo.odb().map_err(git_err)?,
        pack: (paths.len() >= PACK_FROM_PATHS).then(pack::Pending::default),
        dir: repo.commondir().join("objects"),
    };

    // Each path's blobs are written once, then used for the tree and the index.
    let mut resolved = std::collections::HashMap::new();
    let changes: Vec<StagedPath> = paths
        .iter()
        .map(|p| relative_to_with(&workdir, p, &mut resolved).and_then(|rel| collect(&objects, &workdir, rel)))
        .collect::<Result<_>>()?;
    // git's index lock is taken before HEAD is read and held until HEAD has moved, as `git
    // commit -a` or `git commit -- <paths>` hold it: such a commit run meanwhile has either
    // finished, and this commit goes on top of it, or is told the lock is held. A plain `git
    // commit` releases the lock before it moves HEAD, so HEAD can still move in between; libgit2
    // then refuses ("current tip is not the first parent") and nothing is lost. The new index
    // itself is built and written into git's lock from what the lock protects, on a second
    // thread while this one builds the tree: in a large repository both take milliseconds (the
    // index is read, planned, written and checksummed; the folders on the changed paths read
    // and written) and neither needs the other.
    let lock = index_file::Lock::take(&git_dir)?;
    let (spliced, built) = std::thread::scope(|scope| {
        let index = scope.spawn(|| index_file::splice(lock, &changes));
        let built = new_tree(&repo, &objects, &changes);
        (index.join(), built)
    });
    let spliced = spliced.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
    let Some((head_commit, head_tree, tree_id)) = built? else {
        return Ok(false);
    };
    objects.store_pack()?;
    let tree = repo.find_tree(tree_id).map_err(git_err)?;
    let config = repo.config().map_err(git_err)?;
    let how = how_to_commit(&repo, &config, env);
    // Bring the real index in line for the committed paths, so `git status` shows them clean
    // (and, when git itself commits, so that it finds the new paths, as after `git add`). The
    // new index is written before the commit, as `git commit` writes it: a refusal or a failed
    // write (a full disk) leaves HEAD as it was. Written after the commit, a failed write would
    // leave the committed paths staged at their old content, and the next `git commit` would
    // take the change back. The spliced index waits in git's lock until HEAD has moved;
    // libgit2, which takes and releases the lock itself, writes its whole index first.
    if spliced.is_none() {
        let mut index = repo.index().map_err(git_err)?;
        apply(&mut index, &changes)?;
        index.write().map_err(git_err)?;
    }
    match how {
        How::InProcess { author, committer } => {
            let parents: Vec<&git2::Commit> = head_commit.iter().collect();
            let id = repo.commit(Some("HEAD"), &author, &committer, subject, &tree, &parents).map_err(git_err)?;
            // libgit2 1.9 reports success when the commit object cannot be written (a full
            // disk) and leaves HEAD where it was: the commit is only taken as made when HEAD
            // names it and it is stored. Otherwise the index is left as it was.
            let stored = repo.odb().is_ok_and(|odb| odb.exists(id));
            if !stored || repo.head().ok().and_then(|head| head.target()) != Some(id) {
                return Err(git_err(git2::Error::new(
                    git2::ErrorCode::GenericError,
                    git2::ErrorClass::Odb,
                    "the commit was not stored (HEAD did not move)",
                )));
            }
            spliced.map(index_file::Written::put_in_place).transpose()?;
        }
        How::ByGit(reason) => {
            spliced.map(index_file::Written::put_in_place).transpose()?;
            let changed = changed_paths(&repo, head_tree.as_ref(), &tree).map_err(git_err)?;
            run_git_commit(&workdir, &changed, subject, reason)?;
        }
    }
    Ok(true)
}

/// HEAD's commit and tree, and the id of the tree with `changes` applied (its new folders
/// written into `objects`); `None` when that is HEAD's tree already (nothing to commit).
type Built<'r> = (Option<git2::Commit<'r>>, Option<git2::Tree<'r>>, git2::Oid);

fn new_tree<'r>(repo: &'r Repository, objects: &NewObjects<'_>, changes: &[StagedPath]) -> Result<Option<Built<'r>>> {
    let git_err = |e: git2::Error| git_error(e, std::io::Error::last_os_error(), repo.path());
    let head_commit = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let head_tree = head_commit.as_ref().map(git2::Commit::tree).transpose().map_err(git_err)?;
    let baseline = match &head_tree {
        Some(tree) => tree.clone(),
        // A first commit edits the empty tree, which libgit2 reads without its being stored
        // (git knows it by heart too): kept for a pack, it is found at once.
        None => repo.find_tree(objects.write(git2::ObjectType::Tree, b"").map_err(git_err)?).map_err(git_err)?,
    };
    // The stored folders on the changed paths are edited; an edit that module leaves alone
    // goes to libgit2's tree editor, and one that refuses too (a file becoming a folder at one
    // path) is rare enough to take the whole-index way.
    let edited = tree_edit::updated(objects, baseline.id(), changes).map_err(git_err)?;
    let tree_id = if let Some(id) = edited {
        id
    } else {
        // libgit2 checks that every entry it is given exists: the kept objects are stored first.
        objects.store_pack()?;
        if let Ok(id) = updated_tree(repo, &baseline, changes) {
            id
        } else {
            let mut staged = Index::new().map_err(git_err)?;
            staged.read_tree(&baseline).map_err(git_err)?;
            apply(&mut staged, changes)?;
            staged.write_tree_to(repo).map_err(git_err)?
        }
    };
    if head_tree.as_ref().map(git2::Tree::id) == Some(tree_id) {
        return Ok(None);
    }
    Ok(Some((head_commit, head_tree, tree_id)))
}

/// Where a commit's new objects go: into the object database one by one (a loose file each),
/// or, for a bulk change, kept for one pack stored before anything refers to them. Old objects
/// are read from the object database.
struct NewObjects<'r> {
    odb: git2::Odb<'r>,
    pack: Option<pack::Pending>,
    /// The repository's `objects` folder (shared by its linked work trees).
    dir: PathBuf,
}

impl NewObjects<'_> {
    fn write(&self, kind: git2::ObjectType, data: &[u8]) -> std::result::Result<git2::Oid, git2::Error> {
        match &self.pack {
            Some(pack) => pack.add(kind, data),
            None => self.odb.write(kind, data),
        }
    }

    fn read(&self, id: git2::Oid) -> std::result::Result<git2::OdbObject<'_>, git2::Error> {
        self.odb.read(id)
    }

    /// Stores the objects kept for the pack so far (none without a pack).
    fn store_pack(&self) -> Result<()> {
        match &self.pack {
            Some(pack) => pack.write(&self.dir).map_err(|e| StoreError::io(self.dir.join("pack"), e)),
            None => Ok(()),
        }
    }
}

/// The git work tree `root` belongs to: `root` itself or a folder above it (a repository whose
/// `sops/` sits in a subfolder of a larger work tree commits into that work tree, as `git
/// commit` run there would). `None` outside any work tree, or in a bare repository.
fn work_tree(root: &Path) -> Result<Option<Repository>> {
    match Repository::discover(root) {
        Ok(repo) if repo.workdir().is_some() => Ok(Some(repo)),
        Ok(_) => Ok(None),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(git_err(e)),
    }
}

/// How the commit is made.
enum How {
    /// Through libgit2, with the identity git would use.
    InProcess {
        /// The author, as `git commit` reads it.
        author: Signature<'static>,
        /// The committer, as `git commit` reads it.
        committer: Signature<'static>,
    },
    /// By running `git commit`, for the reason given: what git does then (signing, hooks, its
    /// own identity rules) cannot be reproduced faithfully here.
    ByGit(ByGitReason),
}

/// Why a commit is left to `git commit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByGitReason {
    /// `commit.gpgsign` is set: git signs the commit.
    Signing,
    /// `core.hooksPath` is set, or an executable commit hook exists: git runs it.
    Hooks,
    /// No name or e-mail in git's variables or configuration (git then works them out from
    /// the system, or refuses, with its own message), or a date in a format only git reads.
    Identity,
}

impl std::fmt::Display for ByGitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ByGitReason::Signing => "commit.gpgsign is set",
            ByGitReason::Hooks => "commit hooks are set up",
            ByGitReason::Identity => "git works out the identity",
        })
    }
}

/// The commit hooks `git commit` runs.
const COMMIT_HOOKS: [&str; 4] = ["pre-commit", "prepare-commit-msg", "commit-msg", "post-commit"];

fn how_to_commit(repo: &Repository, config: &git2::Config, env: &dyn Fn(&str) -> Option<OsString>) -> How {
    if config.get_bool("commit.gpgsign").unwrap_or(false) {
        return How::ByGit(ByGitReason::Signing);
    }
    if config.get_path("core.hooksPath").is_ok() || COMMIT_HOOKS.iter().any(|h| is_executable(&repo.commondir().join("hooks").join(h))) {
        return How::ByGit(ByGitReason::Hooks);
    }
    let author = signature(config, env, Role::Author);
    let committer = signature(config, env, Role::Committer);
    match (author, committer) {
        (Some(author), Some(committer)) => How::InProcess { author, committer },
        _ => How::ByGit(ByGitReason::Identity),
    }
}

/// Why the commit of `root` would be made by `git commit` rather than in process, if it would.
pub fn commit_by_git(root: &Path) -> Option<ByGitReason> {
    let repo = work_tree(root).ok()??;
    let config = repo.config().ok()?;
    match how_to_commit(&repo, &config, &|name| std::env::var_os(name)) {
        How::ByGit(reason) => Some(reason),
        How::InProcess { .. } => None,
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[derive(Clone, Copy)]
enum Role {
    Author,
    Committer,
}

/// The author or committer as `git commit` reads them: `GIT_<ROLE>_NAME`, `<role>.name`,
/// `user.name`; `GIT_<ROLE>_EMAIL`, `<role>.email`, `user.email`, `EMAIL`; `GIT_<ROLE>_DATE`
/// or now. `None` when git would have to work a part out from the system (or refuse), or the
/// date is in a format other than git's own (`<seconds> <+hhmm>`, optionally after `@`).
fn signature(config: &git2::Config, env: &dyn Fn(&str) -> Option<OsString>, role: Role) -> Option<Signature<'static>> {
    let (upper, lower) = match role {
        Role::Author => ("AUTHOR", "author"),
        Role::Committer => ("COMMITTER", "committer"),
    };
    let from_env = |name: &str| env(name).map(|v| v.into_string().ok());
    let from_config = |name: &str| config.get_string(name).ok();
    // A variable that is set wins even when empty; git then refuses the empty name, and so
    // does the fallback to `git commit`.
    let name = match from_env(&format!("GIT_{upper}_NAME")) {
        Some(value) => value?,
        None => from_config(&format!("{lower}.name")).or_else(|| from_config("user.name"))?,
    };
    let email = match from_env(&format!("GIT_{upper}_EMAIL")) {
        Some(value) => value?,
        None => from_config(&format!("{lower}.email")).or_else(|| from_config("user.email")).or_else(|| from_env("EMAIL").flatten())?,
    };
    if name.trim().is_empty() || email.trim().is_empty() {
        return None;
    }
    match from_env(&format!("GIT_{upper}_DATE")) {
        Some(date) => {
            let time = parse_git_date(&date?)?;
            Signature::new(&name, &email, &time).ok()
        }
        None => Signature::now(&name, &email).ok(),
    }
}

/// git's internal date format, `<seconds since the epoch> <+hhmm|-hhmm>` (with an optional
/// `@` before the seconds). Other formats git reads (RFC 2822, ISO 8601, …) are left to git.
fn parse_git_date(text: &str) -> Option<git2::Time> {
    let (seconds, zone) = text.trim().split_once(' ')?;
    let seconds: i64 = seconds.strip_prefix('@').unwrap_or(seconds).parse().ok()?;
    let zone = zone.trim();
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    Some(git2::Time::new(seconds, sign * (hours * 60 + minutes)))
}

/// The paths of the files that differ between HEAD's tree and `tree`.
fn changed_paths(
    repo: &Repository,
    head: Option<&git2::Tree<'_>>,
    tree: &git2::Tree<'_>,
) -> std::result::Result<Vec<PathBuf>, git2::Error> {
    let diff = repo.diff_tree_to_tree(head, Some(tree), None)?;
    let mut paths = Vec::new();
    // A set tells a path seen before at once: a re-key's commit names thousands.
    let mut seen = std::collections::HashSet::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            if let Some(path) = file.path() {
                if seen.insert(path.to_path_buf()) {
                    paths.push(path.to_path_buf());
                }
            }
        }
    }
    Ok(paths)
}

/// Runs `git commit -m SUBJECT -- PATHS` in `workdir` (paths given on standard input, each
/// as a literal path): git signs the commit and runs the hooks as it would for a commit by hand.
/// The paths are staged already; a refusal (a hook that fails, a signing key that is missing)
/// leaves them staged and written, and the error carries what git said.
fn run_git_commit(workdir: &Path, paths: &[PathBuf], subject: &str, reason: ByGitReason) -> Result<()> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut list = Vec::new();
    for path in paths {
        // Literal paths (no glob), said in the pathspec itself: a variable such as
        // `GIT_LITERAL_PATHSPECS` would reach the hooks too.
        list.extend_from_slice(b":(literal)");
        list.extend_from_slice(path.as_os_str().as_encoded_bytes());
        list.push(0);
    }
    let spawned = Command::new("git")
        .arg("-C")
        .arg(workdir)
        .args(["commit", "--quiet", "--no-edit", "--message", subject, "--pathspec-from-file=-", "--pathspec-file-nul"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = spawned.map_err(|source| StoreError::GitCommand { reason, source })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&list).map_err(|source| StoreError::GitCommand { reason, source })?;
    }
    let output = child.wait_with_output().map_err(|source| StoreError::GitCommand { reason, source })?;
    if output.status.success() {
        return Ok(());
    }
    let mut said = String::from_utf8_lossy(&output.stderr).trim().to_string();
    let out = String::from_utf8_lossy(&output.stdout);
    if !out.trim().is_empty() {
        said = format!("{}\n{said}", out.trim()).trim().to_string();
    }
    Err(StoreError::GitCommitRefused { reason, status: output.status.to_string(), said })
}

/// `baseline` with the entries at each changed path replaced by the path's current files:
/// entries that are gone are removed, new or changed ones written; every other folder of the
/// tree is reused as it is.
fn updated_tree(repo: &Repository, baseline: &git2::Tree<'_>, changes: &[StagedPath]) -> std::result::Result<git2::Oid, git2::Error> {
    let mut update = git2::build::TreeUpdateBuilder::new();
    // The changed paths of a re-key share their parent folder (`sops/secrets`): each parent is
    // read once, not once per path (a tree of 30,000 entries parsed 30,000 times).
    let mut parents: std::collections::HashMap<&Path, Option<git2::Tree<'_>>> = std::collections::HashMap::new();
    for change in changes {
        let mut old = Vec::new();
        let parent = change.rel.parent().unwrap_or(Path::new(""));
        if !parents.contains_key(parent) {
            let tree = if parent.as_os_str().is_empty() {
                Some(baseline.clone())
            } else {
                match baseline.get_path(parent) {
                    Ok(entry) => entry.to_object(repo)?.into_tree().ok(),
                    Err(e) if e.code() == git2::ErrorCode::NotFound => None,
                    Err(e) => return Err(e),
                }
            };
            parents.insert(parent, tree);
        }
        let name = change.rel.file_name().unwrap_or_default();
        let found = parents
            .get(parent)
            .and_then(Option::as_ref)
            .and_then(|tree| tree.get_name_bytes(name.as_encoded_bytes()))
            .map(|e| e.to_owned());
        match found {
            Some(entry) if entry.kind() == Some(git2::ObjectType::Tree) => {
                let prefix = git_path(&change.rel);
                let subtree = entry.to_object(repo)?.peel_to_tree()?;
                subtree.walk(git2::TreeWalkMode::PreOrder, |folder, entry| {
                    if entry.kind() != Some(git2::ObjectType::Tree) {
                        // The walk gives folders as text: one whose name is not UTF-8 ends it
                        // with an error, and the change takes the whole-index way.
                        let path = [prefix, b"/", folder.as_bytes(), entry.name_bytes()].concat();
                        old.push((path, entry.id(), entry.filemode()));
                    }
                    git2::TreeWalkResult::Ok
                })?;
            }
            Some(entry) => old.push((git_path(&change.rel).to_vec(), entry.id(), entry.filemode())),
            None => {}
        }
        for (path, _, _) in &old {
            if !change.files.iter().any(|f| &f.path == path) {
                update.remove(path.as_slice());
            }
        }
        for file in &change.files {
            #[allow(clippy::cast_possible_wrap, reason = "git file modes fit in an i32")]
            let unchanged = old.iter().any(|(path, id, mode)| path == &file.path && *id == file.id && *mode == file.mode as i32);
            if !unchanged {
                update.upsert(file.path.as_slice(), file.id, file_mode(file.mode));
            }
        }
    }
    update.create_updated(repo, baseline)
}

/// git's index flag saying an entry has extended flags (`flags_extended`).
const EXTENDED_FLAGS: u16 = 0x4000;

/// git's index flag for an intent-to-add entry (`git add --intent-to-add`), in the extended
/// flags of an index entry.
const INTENT_TO_ADD: u16 = 1 << 13;

/// Marks the new files under `paths` intent-to-add, as `git add --intent-to-add -- <paths>`
/// does (clan does so when told not to commit): the files join git's tracked set, so a flake
/// evaluated from the work tree sees them, but nothing of their content is staged. Files git
/// already tracks, and ignored files, are left alone. Returns how many files were marked
/// (none outside a git work tree).
pub fn intent_to_add(root: &Path, paths: &[PathBuf]) -> Result<usize> {
    let Some(repo) = work_tree(root)? else {
        return Ok(0);
    };
    let workdir = repo.workdir().ok_or_else(|| StoreError::NoWorkTree { git_dir: repo.path().to_path_buf() })?.to_path_buf();
    let workdir = fs::canonicalize(&workdir).unwrap_or(workdir);
    let mut resolved = std::collections::HashMap::new();
    let rels: Vec<PathBuf> = paths.iter().map(|path| relative_to_with(&workdir, path, &mut resolved)).collect::<Result<_>>()?;
    // The paths' folders are listed on every core (a re-key lists a thousand); the first
    // failure in the paths' order is the one told.
    let collected: Vec<Result<StagedPath>> = {
        use rayon::prelude::*;
        rels.into_par_iter().map(|rel| collect_as(None, &workdir, rel)).collect()
    };
    let mut files = Vec::new();
    for path in collected {
        files.extend(path?.files);
    }
    // The common case, a change to files git tracks already, is told from the index file
    // without reading it whole into libgit2.
    let listed: Vec<&[u8]> = files.iter().map(|file| file.path.as_slice()).collect();
    if index_file::tracked(repo.path(), &listed)?.is_some_and(|known| known.iter().all(|k| *k)) {
        return Ok(0);
    }
    let mut index = repo.index().map_err(git_err)?;
    // libgit2 adds an entry only when its object exists: the empty blob (what git records for
    // an intent-to-add entry) is stored once.
    repo.blob(b"").map_err(git_err)?;
    let mut marked = 0;
    for file in files {
        let as_path = Path::new(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&file.path));
        // Any stage: a file in conflict is git's to resolve, and stays as it is.
        let known = (0..=3).any(|stage| index.get_path(as_path, stage).is_some());
        if known || repo.is_path_ignored(as_path).unwrap_or(false) {
            continue;
        }
        // Nothing of the content is staged: the size is 0, as git records it.
        let entry = index_entry(&file, 0, INTENT_TO_ADD);
        index.add(&entry).map_err(git_err)?;
        marked += 1;
    }
    if marked > 0 {
        index.write().map_err(git_err)?;
    }
    Ok(marked)
}

fn file_mode(mode: u32) -> git2::FileMode {
    match mode {
        0o120000 => git2::FileMode::Link,
        0o100755 => git2::FileMode::BlobExecutable,
        _ => git2::FileMode::Blob,
    }
}

/// `path` relative to the work tree, its parent folder resolved (symlinks, `..`) as git would
/// see it; each parent is resolved once in `resolved` (the thousand paths of a re-key share
/// theirs).
fn relative_to_with(workdir: &Path, path: &Path, resolved: &mut std::collections::HashMap<PathBuf, PathBuf>) -> Result<PathBuf> {
    let absolute =
        if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().map_or_else(|_| path.to_path_buf(), |d| d.join(path)) };
    // Canonicalize the parent only: the path itself may be a symlink or deleted.
    let parent = absolute
        .parent()
        .map(|p| resolved.entry(p.to_path_buf()).or_insert_with(|| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())).clone());
    let normalized = match (parent, absolute.file_name()) {
        (Some(p), Some(name)) => p.join(name),
        _ => absolute.clone(),
    };
    normalized
        .strip_prefix(workdir)
        .map(Path::to_path_buf)
        .map_err(|_| StoreError::NotInWorkTree { path: path.to_path_buf(), workdir: workdir.to_path_buf() })
}

/// A work-tree path as git records it: its bytes as the file system holds them (a name that is
/// not UTF-8 is committed as it is, as `git add` commits it, not as a replacement character
/// naming a file that does not exist).
fn git_path(rel: &Path) -> &[u8] {
    rel.as_os_str().as_encoded_bytes()
}

/// A committed path's work-tree state: the files under it (none when it was deleted).
struct StagedPath {
    rel: PathBuf,
    files: Vec<StagedFile>,
}

struct StagedFile {
    path: Vec<u8>,
    mode: u32,
    size: u32,
    id: git2::Oid,
}

/// Writes the blobs of `rel` (recursively for directories) and records their entries. What is
/// committed is read through open folders ([`Folder`]): every folder from the work tree down
/// to `rel` must be a real folder and is never followed through a symlink, so a folder swapped
/// for a symlink while the command runs can never put files from elsewhere on this disk into a
/// commit (and so into every clone). A symlink is committed as a symlink, never followed.
fn collect(objects: &NewObjects<'_>, workdir: &Path, rel: PathBuf) -> Result<StagedPath> {
    collect_as(Some(objects), workdir, rel)
}

/// [`collect`]; without `objects`, no blob is written and every id is the empty blob's (what
/// an intent-to-add entry records).
fn collect_as(objects: Option<&NewObjects<'_>>, workdir: &Path, rel: PathBuf) -> Result<StagedPath> {
    let mut files = Vec::new();
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(StoreError::NotAPathToCommit { path: rel });
    };
    if let Some(folder) = Folder::open(workdir, &workdir.join(parent))? {
        if let Some((EntryKind::Folder, _)) = folder.kind(name)? {
            if let Some(inner) = folder.open_dir(name)? {
                collect_folder(objects, &inner, &rel, &mut files)?;
            }
        } else if folder.kind(name)?.is_some() {
            files.push(blob_of(objects, &folder, name, &rel)?);
        }
    }
    Ok(StagedPath { rel, files })
}

/// The blobs of every file and link below the open folder `folder` (at `rel`).
fn collect_folder(objects: Option<&NewObjects<'_>>, folder: &Folder, rel: &Path, files: &mut Vec<StagedFile>) -> Result<()> {
    for (name, kind) in folder.entries()? {
        let child = rel.join(&name);
        if kind == EntryKind::Folder {
            if let Some(inner) = folder.open_dir(&name)? {
                collect_folder(objects, &inner, &child, files)?;
            }
        } else {
            files.push(blob_of(objects, folder, &name, &child)?);
        }
    }
    Ok(())
}

/// The blob of the entry `name` of `folder` (at `rel`): a link's target, or a regular file's
/// content (bounded; a FIFO or device is refused, never opened).
fn blob_of(objects: Option<&NewObjects<'_>>, folder: &Folder, name: &OsStr, rel: &Path) -> Result<StagedFile> {
    let kind = folder.kind(name)?.map(|(kind, _)| kind);
    let (content, mode) = if kind == Some(EntryKind::Symlink) {
        let missing = || StoreError::io(folder.path().join(name), std::io::ErrorKind::NotFound.into());
        let target = folder.link_target(name).ok_or_else(missing)?;
        (target.into_os_string().into_encoded_bytes(), 0o120000)
    } else if objects.is_none() && kind == Some(EntryKind::File) {
        // Marked intent-to-add, a file is staged without its content (nor its size): it is
        // not read.
        (Vec::new(), if folder.is_executable(name) { 0o100755 } else { 0o100644 })
    } else {
        let bytes = folder.read(name, Limit::Secret)?;
        (bytes, if folder.is_executable(name) { 0o100755 } else { 0o100644 })
    };
    let id = match objects {
        Some(objects) => {
            objects.write(git2::ObjectType::Blob, &content).map_err(|e| git_error(e, std::io::Error::last_os_error(), &objects.dir))?
        }
        None => git2::Oid::hash_object(git2::ObjectType::Blob, b"").map_err(git_err)?,
    };
    let path = git_path(rel).to_vec();
    // git's index keeps the size modulo 2^32, as git itself does.
    #[allow(clippy::cast_possible_truncation)]
    let size = content.len() as u32;
    Ok(StagedFile { path, mode, size, id })
}

/// An index entry for a collected file. The times and inode are left 0: git then compares the
/// content on its next `status`, which is correct, only slower once.
fn index_entry(file: &StagedFile, file_size: u32, flags_extended: u16) -> IndexEntry {
    IndexEntry {
        ctime: IndexTime::new(0, 0),
        mtime: IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode: file.mode,
        uid: 0,
        gid: 0,
        file_size,
        id: file.id,
        // libgit2 marks an entry with extended flags itself when it writes an index of version 2
        // or 3, not of version 4: unmarked, an intent-to-add entry would be written as an
        // empty file staged for the next commit.
        flags: if flags_extended == 0 { 0 } else { EXTENDED_FLAGS },
        flags_extended,
        path: file.path.clone(),
    }
}

/// Puts the recorded state into `index`: whatever was under each path before goes, so
/// deletions and renames are recorded, then the current files are added.
fn apply(index: &mut Index, changes: &[StagedPath]) -> Result<()> {
    for change in changes {
        index.remove_dir(&change.rel, 0).map_err(git_err)?;
        let _ = index.remove_path(&change.rel);
        for file in &change.files {
            let entry = index_entry(file, file.size, 0);
            index.add(&entry).map_err(git_err)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new repository with an identity in its configuration.
    fn init(root: &Path) -> Repository {
        let repo = Repository::init(root).unwrap();
        let mut config = repo.config().unwrap();
        config.set_str("user.name", "Test").unwrap();
        config.set_str("user.email", "test@example.com").unwrap();
        repo
    }

    /// A new repository (see [`init`]) in a folder of its own, removed when the guard drops.
    fn new_repo() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        init(&root);
        (dir, root)
    }

    fn head_message(root: &Path) -> Option<String> {
        let repo = Repository::open(root).ok()?;
        let commit = repo.head().ok()?.peel_to_commit().ok()?;
        commit.message().ok().map(str::to_string)
    }

    #[test]
    fn commits_only_the_given_paths_and_records_deletions() {
        let (_dir, root) = new_repo();
        fs::create_dir_all(root.join("sops/users/alice")).unwrap();
        fs::write(root.join("sops/users/alice/key.json"), "[]").unwrap();
        fs::write(root.join("unrelated"), "x").unwrap();
        assert!(commit_paths(&root, &[root.join("sops/users/alice")], "secrets: add user alice").unwrap());
        assert_eq!(head_message(&root).as_deref(), Some("secrets: add user alice"));
        let repo = Repository::open(&root).unwrap();
        let statuses = repo.statuses(None).unwrap();
        let dirty: Vec<String> = statuses.iter().filter_map(|s| s.path().ok().map(str::to_string)).collect();
        assert_eq!(dirty, ["unrelated"], "only the given paths are committed");

        // Nothing changed: no commit.
        assert!(!commit_paths(&root, &[root.join("sops/users/alice")], "again").unwrap());

        fs::remove_dir_all(root.join("sops/users/alice")).unwrap();
        assert!(commit_paths(&root, &[root.join("sops/users/alice")], "secrets: remove user alice").unwrap());
        let tree = repo.head().unwrap().peel_to_tree().unwrap();
        assert!(tree.get_path(Path::new("sops/users/alice/key.json")).is_err());
    }

    /// A local user swaps a secret folder for a symlink to a folder elsewhere, and back, while
    /// the command commits: reading the files to commit by path would sometimes commit the
    /// file over there (into every clone); reading through open folders never does.
    #[cfg(unix)]
    #[test]
    fn nothing_outside_the_repository_is_committed_through_a_folder_swapped_meanwhile() {
        use std::sync::atomic::Ordering;
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("repo");
        init(&root);
        let outside = dir.path().canonicalize().unwrap().join("outside");
        fs::create_dir_all(outside.join("d")).unwrap();
        fs::write(outside.join("secret"), "OUTSIDE").unwrap();
        fs::write(outside.join("d/f"), "OUTSIDE").unwrap();
        let real = root.join("sops/secrets/s");
        fs::create_dir_all(real.join("d")).unwrap();
        fs::write(real.join("secret"), "inside").unwrap();
        fs::write(real.join("d/f"), "inside").unwrap();
        let spare = root.join("spare");
        std::os::unix::fs::symlink(&outside, &spare).unwrap();
        let (stop, swapper) = crate::swap_race::swapping(real.clone(), spare.clone());
        let (mut commits, deadline) = (0u64, Instant::now() + Duration::from_millis(1500));
        while Instant::now() < deadline {
            for path in [real.join("secret"), real.join("d")] {
                commits += u64::from(commit_paths(&root, &[path], "c").is_ok());
            }
        }
        stop.store(true, Ordering::Relaxed);
        let swaps = swapper.join().unwrap();
        assert!(commits > 0 && swaps > 0, "the race ran: {commits} commits, {swaps} swaps");
        let repo = Repository::open(&root).unwrap();
        let mut walk = repo.revwalk().unwrap();
        walk.push_head().unwrap();
        for id in walk {
            let tree = repo.find_commit(id.unwrap()).unwrap().tree().unwrap();
            tree.walk(git2::TreeWalkMode::PreOrder, |folder, entry| {
                if let Ok(blob) = entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                    assert_ne!(blob.content(), b"OUTSIDE", "{folder}{:?} committed from outside", entry.name());
                }
                git2::TreeWalkResult::Ok
            })
            .unwrap();
        }
    }

    /// The files of the commit at HEAD, as `path -> content`.
    fn head_files(root: &Path) -> Vec<(String, Vec<u8>)> {
        let repo = Repository::open(root).unwrap();
        let tree = repo.head().unwrap().peel_to_tree().unwrap();
        let mut files = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |folder, entry| {
            if let Ok(blob) = entry.to_object(&repo).and_then(|o| o.peel_to_blob()) {
                files.push((format!("{folder}{}", entry.name().unwrap()), blob.content().to_vec()));
            }
            git2::TreeWalkResult::Ok
        })
        .unwrap();
        files
    }

    #[test]
    fn a_bulk_change_is_one_pack_and_the_tree_is_what_git_would_commit() {
        let (_dir, root) = new_repo();
        let names: Vec<String> = (0..100).map(|i| format!("s{i:03}")).collect();
        for name in &names {
            fs::create_dir_all(root.join("sops/secrets").join(name).join("users")).unwrap();
            fs::write(root.join("sops/secrets").join(name).join("secret"), name).unwrap();
        }
        fs::write(root.join("sops/secrets/s000/users/alice"), "x").unwrap();
        let paths: Vec<PathBuf> = names.iter().map(|n| root.join("sops/secrets").join(n)).collect();
        assert!(commit_paths(&root, &paths, "bulk").unwrap());
        let loose = |root: &Path| {
            fs::read_dir(root.join(".git/objects"))
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().len() == 2)
                .map(|e| fs::read_dir(e.unwrap().path()).unwrap().count())
                .sum::<usize>()
        };
        // The blobs and trees are in a pack; only the commit object is loose.
        assert_eq!(loose(&root), 1);
        assert_eq!(head_files(&root).len(), 101);

        // A second bulk change: one file changed, one folder gone, one new; the rest stays.
        fs::write(root.join("sops/secrets/s001/secret"), "changed").unwrap();
        fs::remove_dir_all(root.join("sops/secrets/s002")).unwrap();
        fs::remove_file(root.join("sops/secrets/s000/users/alice")).unwrap();
        fs::create_dir_all(root.join("sops/secrets/s003/users")).unwrap();
        fs::write(root.join("sops/secrets/s003/users/bob"), "y").unwrap();
        assert!(commit_paths(&root, &paths, "bulk again").unwrap());
        let files = head_files(&root);
        assert_eq!(files.len(), 100, "{files:?}");
        assert!(files.contains(&("sops/secrets/s001/secret".into(), b"changed".to_vec())));
        assert!(files.iter().all(|(p, _)| !p.starts_with("sops/secrets/s002/") && p != "sops/secrets/s000/users/alice"));
        assert!(files.contains(&("sops/secrets/s003/users/bob".into(), b"y".to_vec())));
        let repo = Repository::open(&root).unwrap();
        let statuses = repo.statuses(None).unwrap();
        assert_eq!(statuses.len(), 0, "the index agrees with the commit");
    }

    /// Runs git in `root` with a fixed identity; its standard output.
    pub(super) fn git(root: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(args)
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The index is spliced at the committed paths: git reads it as its own, finds the work
    /// tree clean, and its next commit (which reuses the index's cached trees) keeps our change.
    #[test]
    fn the_index_stays_git_s_own_after_a_commit() {
        let (_dir, root) = new_repo();
        for name in ["a", "b", "c"] {
            fs::create_dir_all(root.join("sops/secrets").join(name).join("users")).unwrap();
            fs::write(root.join("sops/secrets").join(name).join("secret"), name).unwrap();
            std::os::unix::fs::symlink("../../../users/alice", root.join("sops/secrets").join(name).join("users/alice")).unwrap();
        }
        fs::write(root.join("other"), "1").unwrap();
        // git writes its cached trees (and, told to, the untracked cache) with its commit.
        git(&root, &["config", "core.untrackedCache", "true"]);
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-qm", "init"]);
        git(&root, &["status", "--porcelain"]);
        let index_before = fs::read(root.join(".git/index")).unwrap();
        assert!(index_before.windows(4).any(|w| w == b"TREE"), "git wrote its cached trees");

        fs::write(root.join("sops/secrets/b/secret"), "changed").unwrap();
        fs::remove_dir_all(root.join("sops/secrets/c")).unwrap();
        fs::create_dir_all(root.join("sops/secrets/d")).unwrap();
        fs::write(root.join("sops/secrets/d/secret"), "new").unwrap();
        let paths = ["b", "c", "d"].map(|n| root.join("sops/secrets").join(n));
        assert!(commit_paths(&root, &paths, "ours").unwrap());
        assert!(!root.join(".git/index.lock").exists());
        assert_eq!(git(&root, &["status", "--porcelain"]), "");
        assert_eq!(git(&root, &["write-tree"]), git(&root, &["rev-parse", "HEAD^{tree}"]));
        assert_eq!(git(&root, &["ls-files"]), "other\nsops/secrets/a/secret\nsops/secrets/a/users/alice\nsops/secrets/b/secret\nsops/secrets/b/users/alice\nsops/secrets/d/secret\n");

        // git's own commit of another file builds its tree from the index and its caches.
        fs::write(root.join("other"), "2").unwrap();
        git(&root, &["commit", "-qam", "theirs"]);
        assert_eq!(git(&root, &["show", "HEAD:sops/secrets/b/secret"]), "changed");
        assert_eq!(git(&root, &["diff", "--stat", "HEAD~1", "HEAD"]).lines().count(), 2, "git's commit changed only its file");
        git(&root, &["fsck", "--no-progress"]);

        // A held lock is git's word for another git at work: nothing is committed.
        fs::write(root.join("sops/secrets/a/secret"), "again").unwrap();
        fs::write(root.join(".git/index.lock"), "").unwrap();
        let head = git(&root, &["rev-parse", "HEAD"]);
        let err = commit_paths(&root, &[root.join("sops/secrets/a")], "locked").unwrap_err();
        assert!(matches!(err, StoreError::GitIndexLocked { .. }), "{err}");
        assert_eq!(git(&root, &["rev-parse", "HEAD"]), head);
        assert!(root.join(".git/index.lock").exists(), "git's lock is left to git");
    }

    /// An index in a format the splice leaves alone (version 4) is updated through libgit2.
    #[test]
    fn an_index_of_version_4_is_updated_too() {
        let (_dir, root) = new_repo();
        fs::create_dir_all(root.join("sops/secrets/a")).unwrap();
        fs::write(root.join("sops/secrets/a/secret"), "a").unwrap();
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-qm", "init"]);
        git(&root, &["update-index", "--index-version", "4"]);
        fs::write(root.join("sops/secrets/a/secret"), "b").unwrap();
        assert!(commit_paths(&root, &[root.join("sops/secrets/a")], "ours").unwrap());
        assert_eq!(git(&root, &["status", "--porcelain"]), "");
        assert_eq!(git(&root, &["show", "HEAD:sops/secrets/a/secret"]), "b");
    }

    #[test]
    fn a_file_that_becomes_a_folder_is_committed_too() {
        let (_dir, root) = new_repo();
        fs::create_dir_all(root.join("sops/users")).unwrap();
        fs::write(root.join("sops/users/alice"), "file").unwrap();
        assert!(commit_paths(&root, &[root.join("sops/users/alice")], "a file").unwrap());
        fs::remove_file(root.join("sops/users/alice")).unwrap();
        fs::create_dir_all(root.join("sops/users/alice")).unwrap();
        fs::write(root.join("sops/users/alice/key.json"), "[]").unwrap();
        assert!(commit_paths(&root, &[root.join("sops/users/alice")], "a folder").unwrap());
        assert_eq!(head_files(&root), [("sops/users/alice/key.json".to_string(), b"[]".to_vec())]);
    }

    /// A path that turns from a folder into a file and back, among names that sort around it
    /// as files and as folders (`a-x`, `a.x`, `a0`, `a/`), with git as the judge after each
    /// commit: the index agrees with HEAD, the work tree is clean, and git's own next commit
    /// keeps the change.
    #[test]
    fn a_folder_that_becomes_a_file_and_back_among_its_neighbours() {
        let (_dir, root) = new_repo();
        let s = root.join("sops/secrets");
        for name in ["a-x", "a.x", "a0"] {
            fs::create_dir_all(s.join(name)).unwrap();
            fs::write(s.join(name).join("secret"), name).unwrap();
        }
        fs::write(s.join("a-y"), "file").unwrap();
        fs::create_dir_all(s.join("a/users")).unwrap();
        fs::write(s.join("a/secret"), "1").unwrap();
        git(&root, &["add", "-A"]);
        git(&root, &["commit", "-qm", "init"]);
        let judged = |step: &str| {
            assert_eq!(git(&root, &["status", "--porcelain"]), "", "{step}");
            assert_eq!(git(&root, &["write-tree"]), git(&root, &["rev-parse", "HEAD^{tree}"]), "{step}");
            git(&root, &["fsck", "--no-progress"]);
        };
        fs::remove_dir_all(s.join("a")).unwrap();
        fs::write(s.join("a"), "now a file").unwrap();
        assert!(commit_paths(&root, &[s.join("a")], "a file").unwrap());
        judged("a file");
        fs::remove_file(s.join("a")).unwrap();
        fs::create_dir_all(s.join("a/users")).unwrap();
        fs::write(s.join("a/secret"), "2").unwrap();
        fs::write(s.join("a/users/alice"), "3").unwrap();
        assert!(commit_paths(&root, &[s.join("a")], "a folder again").unwrap());
        judged("a folder again");
        fs::remove_dir_all(s.join("a")).unwrap();
        assert!(commit_paths(&root, &[s.join("a")], "gone").unwrap());
        judged("gone");
        assert_eq!(
            git(&root, &["ls-files"]),
            "sops/secrets/a-x/secret\nsops/secrets/a-y\nsops/secrets/a.x/secret\nsops/secrets/a0/secret\n"
        );
        fs::create_dir_all(s.join("a")).unwrap();
        fs::write(s.join("a/secret"), "4").unwrap();
        assert!(commit_paths(&root, &[s.join("a")], "back").unwrap());
        judged("back");
        fs::write(root.join("other"), "x").unwrap();
        git(&root, &["add", "other"]);
        git(&root, &["commit", "-qm", "by git"]);
        assert_eq!(git(&root, &["show", "HEAD:sops/secrets/a/secret"]), "4", "git's commit keeps the change");
        judged("by git");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_silent_libgit2_failure_reports_the_system_error() {
        let silent = git2::Error::new(git2::ErrorCode::GenericError, git2::ErrorClass::None, "no error");
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let error = git_error(silent, full, Path::new("/repo/.git"));
        let text = error.to_string();
        assert!(text.contains("/repo/.git") && text.contains("No space left on device"), "{text}");
        assert_eq!(error.io_error().map(std::io::Error::kind), Some(std::io::ErrorKind::StorageFull));
        let silent = git2::Error::new(git2::ErrorCode::GenericError, git2::ErrorClass::None, "no error");
        let none = std::io::Error::from_raw_os_error(0);
        let text = git_error(silent, none, Path::new("/repo/.git")).to_string();
        assert!(!text.contains("no error") && text.contains("without saying why") && text.contains("/repo/.git"), "{text}");
    }

    /// libgit2 words a failed write itself ("failed to write …: No space left on device"):
    /// the full disk is told by the kind of the system error kept beside it, not by the text,
    /// and only when libgit2 says a system call failed.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_reported_by_libgit2_is_told_by_its_kind() {
        let enospc = || std::io::Error::from_raw_os_error(libc::ENOSPC);
        let os =
            git2::Error::new(git2::ErrorCode::GenericError, git2::ErrorClass::Os, "failed to write 'objects/ab': No space left on device");
        let error = git_error(os, enospc(), Path::new("/repo/.git"));
        assert!(matches!(error, StoreError::Git { .. }), "{error:?}");
        assert_eq!(error.to_string(), "git: failed to write 'objects/ab': No space left on device");
        assert_eq!(error.io_error().map(std::io::Error::kind), Some(std::io::ErrorKind::StorageFull));
        assert!(std::error::Error::source(&error).is_some(), "libgit2's error is kept as the source");
        // Another class: the system error left over is not its cause.
        let index = git2::Error::new(git2::ErrorCode::GenericError, git2::ErrorClass::Index, "invalid entry");
        assert!(git_error(index, enospc(), Path::new("/repo/.git")).io_error().is_none());
    }

    #[test]
    fn outside_a_git_work_tree_nothing_happens() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("f"), "x").unwrap();
        assert!(!commit_paths(dir.path(), &[dir.path().join("f")], "x").unwrap());
    }

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn the_identity_comes_from_the_sources_git_commit_reads_in_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let repo = init(dir.path());
        let mut config = repo.config().unwrap().open_level(git2::ConfigLevel::Local).unwrap();
        config.set_str("author.name", "Config Author").unwrap();
        let config = repo.config().unwrap();
        let who = |env: &dyn Fn(&str) -> Option<OsString>, role| {
            let s = signature(&config, env, role).unwrap();
            (s.name().unwrap().to_string(), s.email().unwrap().to_string(), s.when().seconds(), s.when().offset_minutes())
        };
        // Configuration: author.* before user.*.
        let none = env_of(&[]);
        assert_eq!(who(&none, Role::Author).0, "Config Author");
        assert_eq!(who(&none, Role::Committer).0, "Test");
        assert_eq!(who(&none, Role::Committer).1, "test@example.com");
        // The environment before the configuration, each role its own.
        let env = env_of(&[
            ("GIT_AUTHOR_NAME", "Env Author"),
            ("GIT_AUTHOR_EMAIL", "author@example.com"),
            ("GIT_AUTHOR_DATE", "@1700000000 +0130"),
            ("GIT_COMMITTER_NAME", "Env Committer"),
            ("GIT_COMMITTER_DATE", "1600000000 -0500"),
        ]);
        assert_eq!(who(&env, Role::Author), ("Env Author".into(), "author@example.com".into(), 1_700_000_000, 90));
        assert_eq!(who(&env, Role::Committer), ("Env Committer".into(), "test@example.com".into(), 1_600_000_000, -300));
        // EMAIL comes after every configured address.
        assert_eq!(who(&env_of(&[("EMAIL", "e@example.com")]), Role::Author).1, "test@example.com");
        // A date only git reads, or an empty name: left to `git commit`.
        assert!(signature(&config, &env_of(&[("GIT_AUTHOR_DATE", "yesterday")]), Role::Author).is_none());
        assert!(signature(&config, &env_of(&[("GIT_COMMITTER_NAME", "")]), Role::Committer).is_none());
    }

    #[test]
    fn without_an_identity_email_is_read_last_and_then_git_decides() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut local = repo.config().unwrap().open_level(git2::ConfigLevel::Local).unwrap();
        local.set_str("user.name", "Only Name").unwrap();
        let config = repo.config().unwrap().open_level(git2::ConfigLevel::Local).unwrap();
        let s = signature(&config, &env_of(&[("EMAIL", "e@example.com")]), Role::Author).unwrap();
        assert_eq!(s.email().unwrap(), "e@example.com");
        assert!(signature(&config, &env_of(&[]), Role::Author).is_none());
        assert!(matches!(how_to_commit(&repo, &config, &env_of(&[])), How::ByGit(ByGitReason::Identity)));
    }

    #[test]
    fn signing_and_hooks_are_left_to_git() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let repo = init(dir.path());
        let config = || repo.config().unwrap();
        assert!(matches!(how_to_commit(&repo, &config(), &env_of(&[])), How::InProcess { .. }));
        let hook = dir.path().join(".git/hooks/commit-msg");
        fs::write(&hook, "#!/bin/sh\n").unwrap();
        assert!(matches!(how_to_commit(&repo, &config(), &env_of(&[])), How::InProcess { .. }), "not executable: git skips it");
        fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(how_to_commit(&repo, &config(), &env_of(&[])), How::ByGit(ByGitReason::Hooks)));
        fs::remove_file(&hook).unwrap();
        config().set_bool("commit.gpgsign", true).unwrap();
        assert!(matches!(how_to_commit(&repo, &config(), &env_of(&[])), How::ByGit(ByGitReason::Signing)));
    }

    #[test]
    fn git_dates_in_its_own_format_only() {
        assert_eq!(parse_git_date("@0 +0000").map(|t| (t.seconds(), t.offset_minutes())), Some((0, 0)));
        assert_eq!(parse_git_date("12 -0230").map(|t| (t.seconds(), t.offset_minutes())), Some((12, -150)));
        for other in ["2024-01-01T00:00:00Z", "12", "12 0100", "12 +01", "Mon, 1 Jan 2024 00:00:00 +0000"] {
            assert!(parse_git_date(other).is_none(), "{other}");
        }
    }

    #[test]
    fn new_files_are_marked_intent_to_add_and_tracked_ones_left_alone() {
        let (_dir, root) = new_repo();
        fs::create_dir_all(root.join("sops/users/alice")).unwrap();
        fs::write(root.join("sops/users/alice/key.json"), "[]").unwrap();
        assert!(commit_paths(&root, &[root.join("sops/users/alice")], "alice").unwrap());
        fs::write(root.join("sops/users/alice/key.json"), "[1]").unwrap();
        fs::create_dir_all(root.join("sops/users/bob")).unwrap();
        fs::write(root.join("sops/users/bob/key.json"), "[2]").unwrap();
        assert_eq!(intent_to_add(&root, &[root.join("sops/users")]).unwrap(), 1);
        let index = Repository::open(&root).unwrap().index().unwrap();
        let bob = index.get_path(Path::new("sops/users/bob/key.json"), 0).unwrap();
        assert_eq!(bob.flags_extended & INTENT_TO_ADD, INTENT_TO_ADD);
        let alice = index.get_path(Path::new("sops/users/alice/key.json"), 0).unwrap();
        assert_eq!(alice.flags_extended & INTENT_TO_ADD, 0, "a tracked file is not re-marked");
        assert_eq!(intent_to_add(&root, &[root.join("sops/users")]).unwrap(), 0, "marking twice changes nothing");
    }

    /// Marking files intent-to-add reads none of them, but still refuses a FIFO (never opened),
    /// and of many paths tells the first one's failure.
    #[test]
    fn intent_to_add_refuses_a_fifo_among_many_paths() {
        let (_dir, root) = new_repo();
        let mut paths = Vec::new();
        for i in 0..40 {
            fs::create_dir_all(root.join(format!("sops/secrets/s{i}"))).unwrap();
            fs::write(root.join(format!("sops/secrets/s{i}/secret")), "x").unwrap();
            paths.push(root.join(format!("sops/secrets/s{i}")));
        }
        assert_eq!(intent_to_add(&root, &paths).unwrap(), 40);
        for i in [7, 30] {
            let fifo = root.join(format!("sops/secrets/s{i}/pipe"));
            assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        }
        let refused = intent_to_add(&root, &paths).unwrap_err().to_string();
        assert!(refused.contains("s7"), "the first failing path is told: {refused}");
    }

    /// Names that are not UTF-8 (a file, a folder, a link's target) are committed as their
    /// bytes, as `git add` commits them: git then finds the work tree clean, not a file of a
    /// replacement-character name deleted and the real one untracked.
    #[test]
    fn names_that_are_not_utf8_are_committed_as_they_are() {
        use std::os::unix::ffi::OsStrExt;
        let (_dir, root) = new_repo();
        let secret = root.join("sops/secrets/a");
        fs::create_dir_all(secret.join(OsStr::from_bytes(b"d\xfe"))).unwrap();
        fs::write(secret.join("secret"), "x").unwrap();
        fs::write(secret.join(OsStr::from_bytes(b"j\xffk")), "junk").unwrap();
        fs::write(secret.join(OsStr::from_bytes(b"d\xfe")).join("f"), "inner").unwrap();
        std::os::unix::fs::symlink(OsStr::from_bytes(b"t\xfd"), secret.join("link")).unwrap();
        assert!(commit_paths(&root, std::slice::from_ref(&secret), "first").unwrap());
        // git quotes a name that is not printable, its bytes in octal.
        let listed = "\"sops/secrets/a/d\\376/f\"\n\"sops/secrets/a/j\\377k\"\nsops/secrets/a/link\nsops/secrets/a/secret\n";
        assert_eq!(git(&root, &["ls-files"]), listed);
        assert_eq!(git(&root, &["status", "--porcelain"]), "");
        let repo = Repository::open(&root).unwrap();
        let link = repo.head().unwrap().peel_to_tree().unwrap().get_path(Path::new("sops/secrets/a/link")).unwrap();
        assert_eq!(link.to_object(&repo).unwrap().peel_to_blob().unwrap().content(), b"t\xfd");
        // A second commit of the same folder (its stored trees edited) keeps them so.
        fs::write(secret.join("secret"), "y").unwrap();
        assert!(commit_paths(&root, &[secret], "second").unwrap());
        assert_eq!(git(&root, &["status", "--porcelain"]), "");
        assert_eq!(git(&root, &["write-tree"]), git(&root, &["rev-parse", "HEAD^{tree}"]));
        git(&root, &["fsck", "--no-progress"]);
    }

    /// In an index of version 4 (`git update-index --index-version 4`, `feature.manyFiles`) an
    /// intent-to-add entry stays one: git sees a new file, not an empty one staged.
    #[test]
    fn intent_to_add_entries_stay_so_in_an_index_of_version_4() {
        let (_dir, root) = new_repo();
        fs::create_dir_all(root.join("sops/users/alice")).unwrap();
        fs::write(root.join("sops/users/alice/key.json"), "[]").unwrap();
        assert!(commit_paths(&root, &[root.join("sops/users/alice")], "alice").unwrap());
        git(&root, &["update-index", "--index-version", "4"]);
        fs::create_dir_all(root.join("sops/users/bob")).unwrap();
        fs::write(root.join("sops/users/bob/key.json"), "[2]").unwrap();
        assert_eq!(intent_to_add(&root, &[root.join("sops/users")]).unwrap(), 1);
        assert_eq!(git(&root, &["status", "--porcelain"]), " A sops/users/bob/key.json\n");
        assert_eq!(git(&root, &["diff", "--cached", "--name-only"]), "", "nothing is staged");
        assert_eq!(git(&root, &["ls-files", "-v", "sops/users/bob"]), "H sops/users/bob/key.json\n");
    }
}
