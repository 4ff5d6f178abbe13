//! `secrets sops publish FILE`: a sops file (or, with `--recursive`, every file of a folder)
//! sent to the destination of the first `.sops.yaml` destination rule that matches its path,
//! as sops 3.11's `publish` (`cmd/sops/subcommand/publish`) does it: the rule's
//! `recreation_rule`, when it names keys, re-encrypts the copy for them under a new data key
//! (the key changes are shown first); without keys the file goes as it is. Each file is asked
//! about (`uploading FILE to DESTINATION ? (y/n): `) unless `--yes`; "n" cancels it (exit 1, or
//! the next file with `--recursive`). The published name is the file's name, or with
//! `--recursive` its path below the folder, without its extension with `--omit-extensions` or
//! the rule's `omit_extensions`.
//!
//! sops publishes to S3, GCS and Vault; none of them is reached from here: such a rule is
//! refused, naming the destination and what to do instead. This implementation adds a
//! destination of its own, `local_path: FOLDER` (relative to the `.sops.yaml`'s folder unless
//! absolute), where the copy is written atomically. The repository is hostile input: the
//! source is read without following a symlink (bounded in size), a walked folder must hold
//! only real folders and regular files, a published name only goes down, and the folders below
//! the destination are opened and created without following a link.

use std::io::BufRead;
use std::path::{Component, Path, PathBuf};

use clap::Args;
use secrets_sops::config::{Destination, DestinationRule};
use secrets_sops::{EncryptedFile, Format};
use secrets_store::untrusted::{self, EntryKind, Folder, Limit};

use super::{display, encrypted_bytes, key_group_diff, load_failure, open, sops_config};
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::output::write_stdout;

pub const PUBLISH_ABOUT: &str = "Publish a sops file or folder to the destination .sops.yaml names for it";
pub const PUBLISH_EXAMPLES: &str = "The destination is the first of the .sops.yaml destination_rules whose path_regex matches the path;\nlocal_path: FOLDER (this tool's own) is written to, S3, GCS and Vault destinations are refused.\n\nExamples:\n  secrets sops publish secrets/prod.yaml\n  secrets sops publish --yes --recursive secrets/";

/// The most folders deep a `--recursive` walk goes, and the most files it publishes: a
/// repository cannot make it run without end.
const MAX_DEPTH: usize = 64;
const MAX_FILES: usize = 100_000;

/// The mode of a newly published file: what it holds is encrypted, for others to fetch.
const NEW_FILE_MODE: u32 = 0o644;

/// `secrets sops publish`.
#[derive(Args, Debug)]
pub struct PublishArgs {
    /// The sops file to publish (a folder with --recursive)
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Publish without asking about each file
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Leave the file's extension out of the published name
    #[arg(long)]
    pub omit_extensions: bool,
    /// Publish every file below the folder FILE, keeping their paths below it
    #[arg(long)]
    pub recursive: bool,
}

/// What the files of one run share.
struct Run<'a> {
    args: &'a PublishArgs,
    config_path: &'a Path,
    config: &'a secrets_sops::config::Config,
}

pub fn run(args: &PublishArgs) -> CmdResult {
    // sops's order: the configuration, then the argument, then the file.
    let Some((config_path, config)) = sops_config()? else {
        return Err(Failure::new(exit::GENERIC, "no .sops.yaml found from the current folder up (nor given by --config or SOPS_CONFIG)")
            .hint("publish reads its destination_rules from .sops.yaml"));
    };
    let Some(file) = args.file.as_deref() else {
        return Err(Failure::new(exit::NO_FILE_SPECIFIED, "no file specified"));
    };
    let run = Run { args, config_path, config };
    let meta = std::fs::metadata(file).map_err(|e| Failure::new(exit::GENERIC, format!("{}: {e}", display(file))))?;
    if !meta.is_dir() {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        publish_one(&run, &file.to_string_lossy(), &name, || untrusted::read_file(file, Limit::Secret))?;
        return Ok(0);
    }
    if !args.recursive {
        return Err(Failure::new(exit::GENERIC, format!("{}: is a folder", display(file))).hint("publish a folder with --recursive"));
    }
    let root = file.to_string_lossy();
    for relative in walk(file)? {
        // The path sops matches the rules against: the folder joined with the file's path
        // below it, cleaned as Go's filepath.Join cleans it.
        let input = clean(&format!("{root}/{}", relative.to_string_lossy()));
        publish_one(&run, &input, &relative.to_string_lossy(), || untrusted::read(file, &file.join(&relative), Limit::Secret))?;
    }
    Ok(0)
}

/// Publishes the file `input` (the path rules are matched against) as `name`, its bytes read by
/// `read` once its destination is known to be usable.
fn publish_one(run: &Run<'_>, input: &str, name: &str, read: impl FnOnce() -> Result<Vec<u8>, untrusted::UntrustedError>) -> CmdResult<()> {
    let shown_input = display(Path::new(input));
    let config_shown = display(run.config_path);
    let rule =
        run.config.destination_for(input).map_err(|e| Failure::sops(&config_shown, e).with_code(exit::GENERIC))?.ok_or_else(|| {
            Failure::new(exit::GENERIC, format!("{shown_input}: no destination rule of {config_shown} matches this path"))
                .hint("add a destination_rules entry whose path_regex matches it")
        })?;
    let destination = rule.destination().map_err(|e| Failure::sops(&config_shown, e).with_code(exit::GENERIC))?.ok_or_else(|| {
        Failure::new(exit::GENERIC, format!("{shown_input}: destination_rules[{}] of {config_shown} names no destination", rule.index))
            .hint("add local_path: FOLDER to the rule")
    })?;
    let name = published_name(name, input, run.args.omit_extensions || rule.omit_extensions);
    let Destination::Local { path } = destination else {
        return Err(unsupported(destination, &name, &shown_input));
    };
    let relative = going_down(&name).ok_or_else(|| {
        Failure::new(
            exit::GENERIC,
            format!("{shown_input}: refusing to publish it as {name:?}, which is not a path below the destination folder"),
        )
    })?;
    let config_dir = run.config_path.parent().unwrap_or(Path::new("."));
    let folder = config_dir.join(path);
    let target = folder.join(&relative);

    let bytes = read().map_err(|e| Failure::new(exit::COULD_NOT_READ_INPUT_FILE, e))?;
    let format = Format::from_path(Path::new(input));
    let file = Path::new(input);
    let encrypted = EncryptedFile::parse(&bytes, format).map_err(|e| load_failure(file, e).with_code(exit::GENERIC))?;
    let contents = if rule.recreation.key_groups.first().is_some_and(|group| !group.is_empty()) {
        recreated(file, &encrypted, rule, format)?
    } else {
        bytes
    };

    let absolute = clean(&std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf()).to_string_lossy());
    let location = clean(&std::path::absolute(&target).unwrap_or_else(|_| target.clone()).to_string_lossy());
    if !run.args.yes && !approved(&absolute, &location)? {
        let message = format!("Publication of {absolute} canceled");
        // sops cancels one file of a folder and goes on with the next.
        if run.args.recursive {
            write_stdout(format!("{message}\n").as_bytes())?;
            return Ok(());
        }
        return Err(Failure::verbatim(exit::GENERIC, message));
    }
    write_into(&folder, &relative, &contents)?;
    Ok(())
}

/// The refusal of a destination this tool cannot reach, naming it and the way out.
fn unsupported(destination: &Destination, name: &str, input: &str) -> Failure {
    let what = match destination {
        Destination::S3 { .. } => "S3",
        Destination::Gcs { .. } => "GCS",
        Destination::Vault { .. } => "Vault",
        Destination::Local { .. } => "a local folder",
    };
    Failure::new(
        exit::GENERIC,
        format!("{input}: publishing to {what} ({}) is not supported by this tool; nothing was published", destination.location(name)),
    )
    .hint(format!(
        "publish this file with the real sops, or give the rule local_path: FOLDER instead and copy that folder to {what} with its own tools"
    ))
}

/// The file re-encrypted for the recreation rule's keys under a new data key, as sops does
/// before publishing; the changes of keys are shown first, in sops's layout.
fn recreated(file: &Path, encrypted: &EncryptedFile, rule: &DestinationRule, format: Format) -> CmdResult<Vec<u8>> {
    let mut plain = open(file, encrypted, false)?;
    let old = plain.metadata.recipients();
    let new = &rule.recreation.key_groups;
    let changes =
        old.len() != new.len() || old.iter().zip(new).any(|(a, b)| a.iter().any(|k| !b.contains(k)) || b.iter().any(|k| !a.contains(k)));
    if changes {
        // The updatekeys layout without its threshold lines, under publish's own title.
        let diff = key_group_diff(&old, new, (0, 0)).replacen("file's groups", "file's key groups", 1);
        write_stdout(diff.as_bytes())?;
    }
    // The rule's selection when it names one; otherwise the file keeps its own (sops keeps
    // only a suffix rule, and then encrypts every value).
    if let Some(selection) = &rule.recreation.selection {
        plain.metadata.selection = Some(selection.clone());
    }
    plain.set_gnupg(secrets_sops::keys::GnuPg::from_env());
    let rotated = plain.rotate(Some(new), rule.recreation.shamir_threshold).map_err(|e| Failure::sops(&display(file), e))?;
    encrypted_bytes(file, &rotated, format)
}

/// Asks on standard output and reads the answer from standard input, as sops does whether or
/// not it is a terminal: "y" or "n", anything else asks again; an empty line or the end of the
/// input stops (sops's scan fails on both).
fn approved(file: &str, location: &str) -> CmdResult<bool> {
    let stdin = std::io::stdin();
    loop {
        write_stdout(format!("uploading {file} to {location} ? (y/n): ").as_bytes())?;
        let mut answer = String::new();
        match stdin.lock().read_line(&mut answer) {
            Ok(0) | Err(_) => return Err(Failure::msg("no answer on standard input; nothing was published")),
            Ok(_) => {}
        }
        match answer.trim() {
            "" => return Err(Failure::msg("an empty answer; nothing was published")),
            "y" => return Ok(true),
            "n" => return Ok(false),
            _ => {}
        }
    }
}

/// Writes `bytes` as `relative` below the destination `folder` (which must exist): the folders
/// on the way are opened, or made, without following a link, and the file replaced atomically.
fn write_into(folder: &Path, relative: &Path, bytes: &[u8]) -> CmdResult<()> {
    match std::fs::metadata(folder) {
        Ok(meta) if meta.is_dir() => {}
        _ => {
            return Err(Failure::new(exit::GENERIC, format!("the destination folder {} does not exist", folder.display()))
                .hint("create it, or correct local_path in .sops.yaml"));
        }
    }
    let (Some(parent), Some(name)) = (relative.parent(), relative.file_name()) else {
        return Err(Failure::msg(format!("{}: not a file name", relative.display())));
    };
    let fail =
        |e: &dyn std::fmt::Display| Failure::new(exit::GENERIC, format!("cannot publish to {}: {e}", folder.join(relative).display()));
    let dir = Folder::open_or_create(folder, &folder.join(parent)).map_err(|e| fail(&e))?;
    dir.write_atomic(name, bytes, NEW_FILE_MODE).map_err(|e| fail(&e))
}

/// The files below `root`, as paths relative to it, sorted by name at each level as sops's walk
/// visits them. Only real folders and regular files are accepted: a symlink or a special file
/// stops the walk, naming it.
fn walk(root: &Path) -> CmdResult<Vec<PathBuf>> {
    let refuse = |e: untrusted::UntrustedError| Failure::new(exit::GENERIC, e);
    let folder = Folder::open(root, root)
        .map_err(refuse)?
        .ok_or_else(|| Failure::new(exit::GENERIC, format!("{}: no such folder", root.display())))?;
    let mut found = Vec::new();
    walk_into(&folder, &PathBuf::new(), 0, &mut found)?;
    Ok(found)
}

fn walk_into(folder: &Folder, below: &Path, depth: usize, found: &mut Vec<PathBuf>) -> CmdResult<()> {
    let refuse = |e: untrusted::UntrustedError| Failure::new(exit::GENERIC, e);
    if depth > MAX_DEPTH {
        return Err(Failure::new(exit::GENERIC, format!("{}: more than {MAX_DEPTH} folders deep", folder.path().display())));
    }
    for (name, kind) in folder.entries().map_err(refuse)? {
        let path = below.join(&name);
        match kind {
            EntryKind::File => {
                if found.len() >= MAX_FILES {
                    return Err(Failure::new(exit::GENERIC, format!("{}: more than {MAX_FILES} files", folder.path().display())));
                }
                found.push(path);
            }
            EntryKind::Folder => {
                let inner = folder.open_dir(&name).map_err(refuse)?;
                // Gone meanwhile: nothing to publish there.
                if let Some(inner) = inner {
                    walk_into(&inner, &path, depth + 1, found)?;
                }
            }
            EntryKind::Symlink | EntryKind::Other => {
                return Err(Failure::new(
                    exit::GENERIC,
                    format!("{}: not a regular file or folder; refusing to publish through it", folder.path().join(&name).display()),
                )
                .hint("publish only real files: remove the link, or publish its target by its own path"));
            }
        }
    }
    Ok(())
}

/// The published name: `name`, without the extension of `input`'s last component when `omit`
/// (Go's `filepath.Ext`: from its last dot).
fn published_name(name: &str, input: &str, omit: bool) -> String {
    if !omit {
        return name.to_string();
    }
    let last = input.rsplit('/').next().unwrap_or(input);
    match last.rfind('.') {
        Some(dot) => name.strip_suffix(&last[dot..]).unwrap_or(name).to_string(),
        None => name.to_string(),
    }
}

/// `name` as a relative path that only goes down (no root, no `..`, at least one component),
/// `.` components dropped; `None` otherwise.
fn going_down(name: &str) -> Option<PathBuf> {
    let mut path = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (path.file_name().is_some()).then_some(path)
}

/// A path cleaned as Go's `filepath.Clean` does it, by its text alone: no empty or `.`
/// components, `..` applied where it can be, `.` for nothing.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_as_go_cleans_them() {
        assert_eq!(clean("./d/"), "d");
        assert_eq!(clean("d//e/./t.yaml"), "d/e/t.yaml");
        assert_eq!(clean("../d/../x"), "../x");
        assert_eq!(clean("/a/../../b"), "/b");
        assert_eq!(clean(""), ".");
    }

    #[test]
    fn published_names_only_go_down() {
        assert_eq!(going_down("e/t.yaml"), Some(PathBuf::from("e/t.yaml")));
        assert_eq!(going_down("./t"), Some(PathBuf::from("t")));
        assert_eq!(going_down("../t"), None);
        assert_eq!(going_down("/etc/passwd"), None);
        assert_eq!(going_down(""), None);
        assert_eq!(going_down("."), None);
    }

    #[test]
    fn extensions_are_left_out_as_sops_does() {
        assert_eq!(published_name("a.enc.yaml", "d/a.enc.yaml", true), "a.enc");
        assert_eq!(published_name("e/t.yaml", "d/e/t.yaml", true), "e/t");
        assert_eq!(published_name("noext", "d.x/noext", true), "noext");
        assert_eq!(published_name("a.yaml", "a.yaml", false), "a.yaml");
    }
}
