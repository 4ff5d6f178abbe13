//! `secrets git setup`: wires the drivers into this clone. `.gitattributes` (committed, shared)
//! maps secret files to the `secrets` drivers; the local git config (per clone, never shared)
//! says what the drivers run, and holds the salt of the diff's plaintext hashes. Optional hooks
//! run `secrets check` before each commit. Running it again changes nothing.

use std::path::{Path, PathBuf};

use crate::context::Context;
use crate::failure::{CmdResult, Failure};
use crate::output::{note, say};

const ATTRIBUTES_HEADER: &str = "# sops files: readable diffs and merges of encrypted values (`secrets git setup`)";
const HOOK_MARKER: &str = "# installed by `secrets git setup --pre-commit`";

pub fn run(ctx: &Context, pre_commit: bool, patterns: &[String], command: Option<String>) -> CmdResult {
    let repo = ctx.repo()?;
    let git = git2::Repository::discover(repo.root())
        .map_err(|_| Failure::msg(format!("{} is not in a git repository", repo.root().display())).hint("run `git init` first"))?;
    let workdir = git.workdir().ok_or_else(|| Failure::msg("the git repository has no work tree"))?.to_path_buf();
    let workdir = workdir.canonicalize().unwrap_or(workdir);
    let root = repo.root().canonicalize().unwrap_or_else(|_| repo.root().to_path_buf());
    let prefix = root.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default();
    let mut program = command.unwrap_or_else(default_command);
    if !prefix.as_os_str().is_empty() {
        program = format!("{program} --repo {}", quote(&prefix.to_string_lossy()));
    }
    let mut changes: Vec<String> = Vec::new();

    let dir = if prefix.as_os_str().is_empty() { String::new() } else { format!("{}/", prefix.to_string_lossy()) };
    let mut lines =
        vec![format!("{dir}sops/secrets/*/secret diff=secrets merge=secrets"), format!("{dir}vars/**/secret diff=secrets merge=secrets")];
    lines.extend(patterns.iter().map(|p| format!("{p} diff=secrets merge=secrets")));
    if add_attributes(&workdir.join(".gitattributes"), &lines)? {
        changes.push("updated .gitattributes (commit it, so every clone uses the drivers)".into());
    }

    let mut config = git
        .config()
        .and_then(|c| c.open_level(git2::ConfigLevel::Local))
        .map_err(|e| Failure::msg(format!("cannot open the git config: {}", e.message())))?;
    let settings = [
        ("diff.secrets.textconv", format!("{program} git-diff")),
        ("merge.secrets.name", "secrets: decrypt, merge and re-encrypt sops files".to_string()),
        ("merge.secrets.driver", format!("{program} git-merge %O %A %B %P")),
    ];
    for (name, value) in settings {
        if config.get_string(name).ok().as_deref() != Some(value.as_str()) {
            config.set_str(name, &value).map_err(|e| Failure::msg(format!("cannot set {name}: {}", e.message())))?;
            changes.push(format!("git config {name} = {value}"));
        }
    }
    if config.get_string("secrets.diff.salt").is_err() {
        use rand::RngCore;
        let mut salt = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        config
            .set_str("secrets.diff.salt", &hex::encode(salt))
            .map_err(|e| Failure::msg(format!("cannot set secrets.diff.salt: {}", e.message())))?;
        changes.push("git config secrets.diff.salt (a random key for the diff's plaintext hashes, local to this clone)".into());
    }

    if pre_commit {
        let hooks = hooks_dir(&git, &workdir);
        for name in ["pre-commit", "pre-merge-commit"] {
            match install_hook(&hooks.join(name), &program)? {
                Hook::Installed => changes.push(format!("installed the {name} hook (runs `secrets check`)")),
                Hook::Current => {}
                Hook::Foreign => say!("warning: {} exists and is not ours; add `{program} check` to it", hooks.join(name).display()),
            }
        }
    }

    if changes.is_empty() {
        note!("git is already set up for secrets");
    }
    for change in changes {
        note!("{change}");
    }
    Ok(0)
}

/// `secrets` when that is this program on PATH, else this program's absolute path.
fn default_command() -> String {
    let exe = std::env::current_exe().ok().and_then(|p| p.canonicalize().ok());
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("secrets")).find(|p| p.is_file()))
        .and_then(|p| p.canonicalize().ok());
    match exe {
        Some(exe) if on_path.as_ref() != Some(&exe) => quote(&exe.to_string_lossy()),
        _ => "secrets".to_string(),
    }
}

/// Quotes a word for the shell git runs drivers and hooks with.
fn quote(word: &str) -> String {
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:=@".contains(&b)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// Appends the lines `.gitattributes` lacks. Returns whether it changed.
fn add_attributes(path: &Path, lines: &[String]) -> CmdResult<bool> {
    let current = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Failure::msg(format!("{}: cannot read it: {e}", path.display()))),
    };
    let present: Vec<&str> = current.lines().map(str::trim).collect();
    let missing: Vec<&String> = lines.iter().filter(|l| !present.contains(&l.as_str())).collect();
    if missing.is_empty() {
        return Ok(false);
    }
    let mut text = current.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !present.contains(&ATTRIBUTES_HEADER) {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(ATTRIBUTES_HEADER);
        text.push('\n');
    }
    for line in missing {
        text.push_str(line);
        text.push('\n');
    }
    secrets_store::fsutil::write_atomic(path, text.as_bytes(), 0o644).map_err(|e| Failure::msg(e.to_string()))?;
    Ok(true)
}

fn hooks_dir(git: &git2::Repository, workdir: &Path) -> PathBuf {
    match git.config().and_then(|c| c.get_path("core.hooksPath")) {
        Ok(path) if path.is_absolute() => path,
        Ok(path) => workdir.join(path),
        Err(_) => git.path().join("hooks"),
    }
}

enum Hook {
    Installed,
    Current,
    Foreign,
}

fn install_hook(path: &Path, program: &str) -> CmdResult<Hook> {
    let script = format!(
        "#!/bin/sh\n{HOOK_MARKER}: refuse commits that leave the secrets repository inconsistent.\nexec {program} check --allow-empty\n"
    );
    match std::fs::read_to_string(path) {
        Ok(existing) if existing == script => return Ok(Hook::Current),
        Ok(existing) if !existing.contains(HOOK_MARKER) => return Ok(Hook::Foreign),
        _ => {}
    }
    secrets_store::fsutil::write_atomic(path, script.as_bytes(), 0o755).map_err(|e| Failure::msg(e.to_string()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Failure::msg(format!("{}: {e}", path.display())))?;
    }
    Ok(Hook::Installed)
}
