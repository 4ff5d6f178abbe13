//! Membership links, each inspected on its own so that every bad link is reported (the store's
//! reader stops at the first): links that dangle, escape `sops/`, point at the wrong kind of
//! member, are named after another member than they lead to (which grant nothing, by the
//! store's rule `links::member_of`), are absolute, or are not links.

use std::collections::HashMap;
use std::fs;
use std::path::{Component, Path, PathBuf};

use crate::links::normalize;
use crate::names::Kind;
use crate::repo::Repo;
use crate::untrusted::{self, EntryKind, Folder};

use super::members::Members;
use super::{listing, Sink};

/// Canonical paths the links are compared with, computed once.
pub(crate) struct Env {
    root: PathBuf,
    sops: Option<PathBuf>,
    kind_dirs: HashMap<Kind, Option<PathBuf>>,
}

impl Env {
    /// The repository root, from which files are read ([`crate::untrusted`]).
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    pub fn new(repo: &Repo) -> Env {
        let sops = fs::canonicalize(repo.sops_dir()).ok();
        let kind_dirs = [Kind::User, Kind::Machine, Kind::Group]
            .into_iter()
            .map(|k| (k, fs::canonicalize(repo.sops_dir().join(k.folder())).ok()))
            .collect();
        Env { root: repo.root().to_path_buf(), sops, kind_dirs }
    }
}

/// The members a link folder names.
#[derive(Default)]
pub(crate) struct Inspected {
    /// Existing members, by the name of what each link resolves to.
    pub members: Vec<String>,
    /// The names of links to members that do not exist (re-keying drops them from a secret;
    /// `check --fix` removes them from a group).
    pub dangling: Vec<String>,
    /// A link named after another member than it leads to: not a member (re-keying drops it).
    pub misnamed: bool,
    /// A link the store refuses to follow (outside sops/, wrong kind).
    pub unsafe_links: bool,
}

/// Inspects `container/<kind>/`, `container` being open: the link folder is opened through it
/// without following a link, listed through its descriptor, and each link's text read through
/// it. Only the resolution of a target goes by path, as the store's reader does
/// ([`crate::links`]): it reads no content, and its result must lie in `sops/<kind>/`.
pub(crate) fn inspect(env: &Env, members: &Members, container: &Folder, kind: Kind, sink: &mut Sink<'_>) -> Inspected {
    let folder_path = container.path().join(kind.folder());
    let mut out = Inspected::default();
    let noun = kind.noun();
    let folder = match container.open_dir(kind.folder()) {
        Ok(Some(folder)) => folder,
        Ok(None) => return out,
        Err(e) => {
            // Its entries could be anyone's links, and a fix would delete through it.
            sink.refused(&e, &folder_path);
            out.unsafe_links = true;
            return out;
        }
    };
    let entries = listing(&folder, sink);
    if !entries.is_empty() {
        // The links lead into sops/<kind>/; through a symlinked one they would grant whoever
        // the folder elsewhere names.
        if let Err(e) = untrusted::check_folders(&env.root, &env.root.join("sops").join(kind.folder())) {
            sink.refused(&e, &folder_path);
            out.unsafe_links = true;
            return out;
        }
    }
    for entry in entries {
        let (name, link) = (&entry.name, &entry.path);
        match entry.kind {
            EntryKind::Symlink => {}
            EntryKind::Folder => {
                sink.error("not-a-link", link, format!("a folder where a link to a {noun} belongs"));
                continue;
            }
            EntryKind::File | EntryKind::Other => {
                sink.error(
                    "not-a-link",
                    link,
                    format!("a regular file where a link to a {noun} belongs; if it holds a value, that value is in plaintext in git"),
                );
                continue;
            }
        }
        let Some(raw) = folder.link_target(name) else { continue };
        let shown = raw.display();
        if raw.is_absolute() {
            sink.warn(
                "absolute-link",
                link,
                format!("an absolute link ({shown}) works only on this machine; recreate it relative (remove it and add the {noun} again)"),
            );
        }
        let kind_dir = env.kind_dirs.get(&kind).cloned().flatten();
        let lexical = normalize(&folder_path.join(&raw));
        // A target that only climbs, then goes down (clan's `../../../users/alice`) means what
        // it says from the folder opened: resolved from its text, the `..` never go through a
        // folder swapped meanwhile, only the way down is resolved by path (reading no content).
        // Any other target is resolved as the kernel would, the store's way.
        let resolved = if climbs_then_descends(&raw) { fs::canonicalize(&lexical) } else { fs::canonicalize(link) };
        if let Ok(resolved) = resolved {
            // The store's own rule decides what a link grants.
            let granted = crate::links::member_of(link, &resolved, kind_dir.as_deref());
            if let Err(Some(target)) = &granted {
                // Not a member: a removal of `target` would not find it, so it grants nothing.
                let message = format!("named `{name}` but points at {noun} `{target}` ({shown}): it grants nothing, since removing `{target}` would not find it; add `{target}` under its own name if it is meant to read");
                if container.path().parent() == Some(env.root.join("sops").join(Kind::Group.folder()).as_path()) {
                    sink.error("misnamed-link", link, format!("{message}, and remove this link (`git rm`)"));
                } else {
                    sink.fixable("misnamed-link", link, format!("{message}; `secrets check --fix` removes this link"));
                    out.misnamed = true;
                }
            } else if let Ok(member) = granted {
                if kind != Kind::Group && !members.keys.contains_key(&(kind, member.clone())) && !has_key_file(env, kind, &member) {
                    sink.error(
                        "member-without-key",
                        link,
                        format!("{noun} `{member}` has no key.json, so this secret cannot be encrypted for it"),
                    );
                    out.unsafe_links = true;
                    continue;
                }
                out.members.push(member);
            } else if env.sops.as_deref().is_some_and(|s| resolved.starts_with(s)) {
                let rel = resolved.strip_prefix(env.sops.as_deref().unwrap_or(Path::new(""))).unwrap_or(&resolved);
                sink.error(
                    "wrong-kind-link",
                    link,
                    format!("points at sops/{} ({shown}), not at a {noun} in sops/{}/", rel.display(), kind.folder()),
                );
                out.unsafe_links = true;
            } else {
                sink.error(
                    "escaping-link",
                    link,
                    format!("points outside sops/ ({shown}): remove it; links must point at sops/{}/<name>", kind.folder()),
                );
                out.unsafe_links = true;
            }
        } else {
            let expected = env.root.join("sops").join(kind.folder());
            if lexical.parent() == Some(expected.as_path()) {
                let member = lexical.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                sink.fixable(
                    "dangling-link",
                    link,
                    format!("points at {noun} `{member}`, which does not exist; `secrets check --fix` removes it"),
                );
                out.dangling.push(name.clone());
            } else {
                sink.error("escaping-link", link, format!("a dangling link pointing outside sops/{}/ ({shown}): remove it", kind.folder()));
                out.unsafe_links = true;
            }
        }
    }
    out.members.sort();
    out.members.dedup();
    out
}

/// Whether member `name` of `kind` has a `key.json` of any kind (one that is not a regular file
/// is reported with the member), looked up through its folders without following a link.
fn has_key_file(env: &Env, kind: Kind, name: &str) -> bool {
    let dir = env.root.join("sops").join(kind.folder()).join(name);
    matches!(Folder::open(&env.root, &dir), Ok(Some(folder)) if matches!(folder.kind("key.json"), Ok(Some(_))))
}

/// Whether a link target's `..` all come first: then resolving it from the link's folder by its
/// text means what the kernel would make of it, since every folder it climbs out of is real.
fn climbs_then_descends(raw: &Path) -> bool {
    let mut descending = false;
    for part in raw.components() {
        match part {
            Component::ParentDir if descending => return false,
            Component::ParentDir | Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) | Component::Normal(_) => descending = true,
        }
    }
    true
}
