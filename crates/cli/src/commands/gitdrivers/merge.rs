//! `secrets git-merge %O %A %B %P`: the merge driver for sops files. It decrypts the common
//! ancestor, ours and theirs, merges the values, and re-encrypts for the recipients the merged
//! membership links call for (for a secret of the repository) or for the three-way merge of
//! the sides' recipients (for any other sops file). The result goes to %A; a real conflict
//! leaves %A as ours and exits 1, naming what conflicts but never a value.

use std::path::{Path, PathBuf};

use secrets_sops::Format;
use secrets_store::history::log::secret_name;
use secrets_store::history::merge::{self, Merged, Sides, Wanted};
use secrets_store::history::snapshot::recipients_in;
use secrets_store::history::{GitRepo, Layout, ThreeWay};
use secrets_store::Repo;

use super::GitMergeArgs;
use crate::context::Context;
use crate::failure::{CmdResult, Failure};
use crate::io::write_atomic;
use crate::output::say;

pub fn run(ctx: &Context, args: &GitMergeArgs) -> CmdResult {
    let read = |p: &Path, required: bool| match std::fs::read(p) {
        Ok(bytes) => Ok(bytes),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Failure::msg(format!("{}: cannot read it: {e}", p.display()))),
    };
    let base = read(&args.base, false)?;
    let ours = read(&args.ours, true)?;
    let theirs = read(&args.theirs, true)?;
    let path: PathBuf = args.path.clone().unwrap_or_else(|| args.ours.clone());
    let shown = path.display().to_string();
    let sides = Sides { base: &base, ours: &ours, theirs: &theirs };
    let format = if path.file_name().is_some_and(|n| n == "secret") { Format::Binary } else { Format::from_path(&path) };

    let from_links = ctx.repo().ok().and_then(|repo| recipients_from_links(&repo, &path, &sides));
    let wanted = match from_links {
        Some(recipients) => Wanted::Exactly(recipients),
        None => Wanted::MergeOfSides,
    };
    let identities = Context::identities();
    match merge::merge(format, &sides, &identities, wanted) {
        Ok(Merged::Clean(bytes)) => {
            write_atomic(&args.ours, &bytes)?;
            say!("secrets: merged {shown}");
            Ok(0)
        }
        Ok(Merged::Conflict(lines)) => {
            say!("secrets: {shown}: cannot merge:");
            for line in lines {
                say!("  {line}");
            }
            say!("hint: the file is left as ours; set the merged value (`secrets set --no-commit NAME`, or `secrets sops set FILE PATH VALUE` for other sops files), then `git add` it and commit");
            Ok(1)
        }
        Err(e) => {
            say!("secrets: {shown}: cannot merge: {e}");
            say!(
                "hint: merging encrypted files needs a key that can read all three versions (SOPS_AGE_KEY_FILE); the file is left as ours"
            );
            Ok(1)
        }
    }
}

/// For a secret of the repository: the recipients its links have once both sides' link
/// changes are merged, computed from the commits being merged (git writes the merged links
/// to the work tree only after every file is merged). `None` when the commits cannot be
/// identified with certainty (the versions must match what the commits hold).
fn recipients_from_links(repo: &Repo, path: &Path, sides: &Sides<'_>) -> Option<Vec<String>> {
    let git = GitRepo::open(repo).ok()??;
    let rel = git.repo_path(path)?;
    secret_name(&rel)?;
    let container = rel.parent()?.to_path_buf();
    let g = git.git();
    let blob_at = |commit: &git2::Commit<'_>| {
        commit.tree().ok()?.get_path(path).ok().and_then(|e| g.find_blob(e.id()).ok()).map(|b| b.content().to_vec())
    };

    let ours = g.head().ok()?.peel_to_commit().ok()?;
    if blob_at(&ours).as_deref() != Some(sides.ours) {
        return None;
    }
    let theirs =
        their_candidates(g).into_iter().filter_map(|id| g.find_commit(id).ok()).find(|c| blob_at(c).as_deref() == Some(sides.theirs))?;
    let base = g.merge_base(ours.id(), theirs.id()).ok().and_then(|id| g.find_commit(id).ok());
    let base_blob = base.as_ref().and_then(blob_at).unwrap_or_default();
    if base_blob != sides.base {
        return None;
    }
    let (o, a, b) = (base.as_ref().map(|c| git.snapshot(c)).transpose().ok()?, git.snapshot(&ours).ok()?, git.snapshot(&theirs).ok()?);
    let merged = ThreeWay { base: o.as_ref().map(|s| s as &dyn Layout), ours: &a, theirs: &b };
    recipients_in(&merged, &container).ok().filter(|r| !r.is_empty())
}

/// The commits that may be "theirs": git names the commits being merged in `GITHEAD_<id>`
/// variables; the sequencer's heads cover cherry-pick, revert and rebase.
fn their_candidates(git: &git2::Repository) -> Vec<git2::Oid> {
    let mut out: Vec<git2::Oid> =
        std::env::vars().filter_map(|(k, _)| k.strip_prefix("GITHEAD_").and_then(|id| git2::Oid::from_str(id).ok())).collect();
    for name in ["MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "REBASE_HEAD"] {
        if let Ok(id) = git.refname_to_id(name) {
            out.push(id);
        }
    }
    out
}
