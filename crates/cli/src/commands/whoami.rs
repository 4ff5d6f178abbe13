//! `secrets whoami` (also `secrets doctor`): what this account brings to the repository. The
//! key sources sops would read (`SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`, `SOPS_AGE_KEY_CMD`,
//! `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, `~/.config/sops/age/keys.txt`, `~/.ssh/id_ed25519`,
//! `~/.ssh/id_rsa`) and what each gave; which users and machines of this repository hold those
//! keys (an ssh key also in its `ssh-to-age` form, as clan and sops-nix register machines);
//! how many secrets the keys open (each decrypted and its MAC checked, as `secrets check` does);
//! and whether this clone's git drivers and pre-commit hook are set up and can run `secrets`.
//! Nothing here needs a repository but the member and secret lines, and nothing is changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Args;
use secrets_store::check::{self, Options};
use secrets_store::history::KeyIndex;
use secrets_store::names::shown;
use secrets_store::repo::Repo;

use crate::context::{plural, Context};
use crate::failure::{CmdResult, Failure};
use crate::output::{write_stdout, write_text};

/// `secrets whoami`.
#[derive(Args, Debug)]
#[command(
    after_help = "Reads and decrypts, changes nothing. Exits 0 when a key opens at least one secret (or there is no secret yet), 1 otherwise.\n\nExamples:\n  secrets whoami\n  secrets doctor --json"
)]
pub struct WhoamiArgs {}

/// One user or machine holding one of the keys found.
struct Member {
    kind: &'static str,
    name: String,
    key: String,
}

/// The git side of this clone.
#[derive(Default)]
struct GitSetup {
    /// `diff.secrets.textconv`, when set.
    diff: Option<String>,
    /// `merge.secrets.driver`, when set.
    merge: Option<String>,
    /// The pre-commit hook, when it runs `secrets check`.
    hook: Option<PathBuf>,
    /// Whether the program the drivers and hook name can be run.
    runnable: bool,
}

pub fn run(ctx: &Context, _args: &WhoamiArgs) -> CmdResult {
    let identities = Context::identities();
    let sources = identities.reports();
    let keys: Vec<String> = identities.public_keys().to_vec();
    let repo = ctx.repo().ok();
    let members = repo.as_ref().map(|repo| members_of(repo, &keys)).unwrap_or_default();
    let counts = match &repo {
        Some(repo) => {
            let report = check::check(repo, &Options { identities: Some(&identities) }).map_err(Failure::from)?;
            Some((report.verified, report.secrets))
        }
        None => None,
    };
    let git = repo.as_ref().map(|repo| git_setup(repo.root()));
    let on_path = find_on_path("secrets");
    let ok = counts.is_none_or(|(readable, total)| readable > 0 || total == 0);

    if ctx.global.json {
        let json = serde_json::json!({
            "key_sources": sources.iter().map(|s| serde_json::json!({"source": s.source, "outcome": s.outcome})).collect::<Vec<_>>(),
            "public_keys": keys,
            "repository": repo.as_ref().map(|r| r.root().display().to_string()),
            "members": members.iter().map(|m| serde_json::json!({"kind": m.kind, "name": m.name, "key": m.key})).collect::<Vec<_>>(),
            "secrets": counts.map(|(readable, total)| serde_json::json!({"readable": readable, "total": total})),
            "git": git.as_ref().map(|g| serde_json::json!({
                "diff_driver": g.diff,
                "merge_driver": g.merge,
                "pre_commit_hook": g.hook.as_ref().map(|h| h.display().to_string()),
                "drivers_runnable": g.runnable,
            })),
            "secrets_on_path": on_path.as_ref().map(|p| p.display().to_string()),
        });
        let text = serde_json::to_string_pretty(&json).map_err(|e| Failure::msg(e.to_string()))?;
        write_stdout(format!("{text}\n").as_bytes())?;
        return Ok(u8::from(!ok));
    }

    let mut out = String::from("Key sources:\n");
    for source in &sources {
        out.push_str(&format!("  {}: {}\n", source.source, source.outcome));
    }
    match &repo {
        None => out.push_str("Repository: none here (run it in one, or pass --repo PATH)\n"),
        Some(repo) => {
            out.push_str(&format!("Repository: {}\n", repo.root().display()));
            if members.is_empty() {
                out.push_str("You are: no user or machine of this repository holds your keys\n");
                if let Some(key) = keys.iter().find(|k| k.starts_with("age1")) {
                    out.push_str(&format!("  hint: register yourself with `secrets users add NAME --age-key {key}`\n"));
                } else if keys.is_empty() {
                    out.push_str("  hint: generate a key with `secrets key generate`\n");
                }
            } else {
                let names: Vec<String> =
                    members.iter().map(|m| format!("{} ({})", shown(&m.name), m.kind)).collect::<BTreeSet<_>>().into_iter().collect();
                out.push_str(&format!("You are: {}\n", names.join(", ")));
            }
            if let Some((readable, total)) = counts {
                out.push_str(&format!("Secrets: you can read {readable} of {}\n", plural(total, "secret")));
            }
        }
    }
    if let Some(git) = &git {
        let state =
            |value: &Option<String>| value.as_ref().map_or_else(|| "not set (`secrets git setup`)".to_string(), |v| format!("`{v}`"));
        out.push_str(&format!("Git diff driver: {}\n", state(&git.diff)));
        out.push_str(&format!("Git merge driver: {}\n", state(&git.merge)));
        out.push_str(&format!(
            "Pre-commit hook: {}\n",
            git.hook.as_ref().map_or_else(|| "not installed (`secrets git setup --pre-commit`)".to_string(), |h| h.display().to_string())
        ));
        if (git.diff.is_some() || git.merge.is_some() || git.hook.is_some()) && !git.runnable {
            out.push_str("  warning: the program the drivers run is not found; run `secrets git setup` again\n");
        }
    }
    out.push_str(&format!(
        "secrets on PATH: {}\n",
        on_path
            .as_ref()
            .map_or_else(|| "no (git runs the drivers by the path they were set up with)".to_string(), |p| p.display().to_string())
    ));
    write_text(&out)?;
    Ok(u8::from(!ok))
}

/// The users and machines whose `key.json` holds one of `keys`, or the `ssh-to-age` form of one.
fn members_of(repo: &Repo, keys: &[String]) -> Vec<Member> {
    let index = KeyIndex::from_repo(repo);
    let mut found = Vec::new();
    for key in keys {
        let mut forms = vec![key.clone()];
        if key.starts_with("ssh-ed25519 ") {
            forms.extend(secrets_sops::keys::ssh_to_age::ssh_ed25519_public_to_age(key).ok());
        }
        for form in &forms {
            for owner in index.owners(form) {
                // An ssh identity lists its age form too: one line per member and key.
                if !found.iter().any(|m: &Member| m.kind == owner.kind.noun() && m.name == owner.name && &m.key == form) {
                    found.push(Member { kind: owner.kind.noun(), name: owner.name.clone(), key: form.clone() });
                }
            }
        }
    }
    found
}

/// What `secrets git setup` configured in this clone.
fn git_setup(root: &Path) -> GitSetup {
    let Ok(git) = git2::Repository::discover(root) else { return GitSetup::default() };
    let config = git.config().ok();
    let get = |name: &str| config.as_ref().and_then(|c| c.get_string(name).ok()).filter(|v| !v.is_empty());
    let (diff, merge) = (get("diff.secrets.textconv"), get("merge.secrets.driver"));
    let hooks = match config.as_ref().and_then(|c| c.get_path("core.hooksPath").ok()) {
        Some(path) if path.is_absolute() => path,
        Some(path) => git.workdir().unwrap_or(root).join(path),
        None => git.path().join("hooks"),
    };
    let hook_path = hooks.join("pre-commit");
    let hook = std::fs::read_to_string(&hook_path).ok().filter(|text| text.contains(" check")).map(|_| hook_path);
    let program = diff.as_deref().or(merge.as_deref()).and_then(shlex::split).and_then(|words| words.into_iter().next());
    let runnable = program.is_some_and(|p| if p.contains('/') { is_executable(Path::new(&p)) } else { find_on_path(&p).is_some() });
    GitSetup { diff, merge, hook, runnable }
}

/// The first executable file `name` in `$PATH`.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
