//! `secrets log` and `secrets list --long`: the history of secrets from git.

use clap::Args;
use std::path::PathBuf;

use secrets_store::history::log::{self, Change, Entry, LogOptions, Recipient, ValueChange};
use secrets_store::history::{GitRepo, KeyIndex};
use secrets_store::Repo;

use crate::context::Context;
use crate::failure::{CmdResult, Failure};
use crate::output::{write_stdout, write_text};

/// `secrets log`.
#[derive(Args, Debug)]
#[command(
    after_help = "Without a key, an identical ciphertext proves the value unchanged, and a new one means the value or the data key changed; with a key that reads both versions, values are compared.\n\nExamples:\n  secrets log\n  secrets log db-password -n 5"
)]
pub struct LogArgs {
    /// Only this secret
    pub secret: Option<String>,
    /// Show at most this many commits
    #[arg(short = 'n', long, value_name = "N")]
    pub max_count: Option<usize>,
}

fn open_git(repo: &Repo) -> CmdResult<GitRepo> {
    GitRepo::open(repo)?.ok_or_else(|| {
        Failure::msg(format!("{} is not in a git repository", repo.root().display()))
            .hint("history comes from git: run this in a git work tree")
    })
}

/// The directory of a secret named on the command line, relative to the repository.
fn secret_dir(repo: &Repo, name: &str) -> CmdResult<PathBuf> {
    if name.starts_with("vars/") {
        return Ok(PathBuf::from(name.trim_end_matches('/')));
    }
    repo.secret(name)?;
    Ok(PathBuf::from("sops/secrets").join(name))
}

pub fn run(ctx: &Context, args: LogArgs) -> CmdResult {
    let repo = ctx.repo_for_reading()?;
    let git = open_git(&repo)?;
    let only = args.secret.as_deref().map(|s| secret_dir(&repo, s)).transpose()?;
    let identities = Context::identities();
    let fallback = KeyIndex::from_repo(&repo);
    let options = LogOptions {
        only: only.as_deref(),
        identities: (!identities.is_empty()).then_some(&identities),
        fallback_names: Some(&fallback),
        max_count: args.max_count,
    };
    let entries = log::log(&git, &options)?;
    let text = if ctx.global.json { to_json(&entries)? } else { to_text(&entries) };
    write_text(&text)?;
    Ok(0)
}

fn who(recipient: &Recipient) -> String {
    match recipient.owners.as_slice() {
        [] => format!("{} (unknown key)", secrets_store::history::keyindex::short_key(&recipient.key)),
        owners => owners.iter().map(secrets_store::history::Owner::label).collect::<Vec<_>>().join(", "),
    }
}

/// One line for one secret's change.
pub fn describe(change: &Change) -> String {
    let list = |rs: &[Recipient]| {
        let mut names: Vec<String> = rs.iter().map(who).collect();
        names.sort();
        names.join(", ")
    };
    match change.value {
        ValueChange::Created => return format!("created, readable by {}", list(&change.added)),
        ValueChange::Removed => return "removed".to_string(),
        ValueChange::Unreadable => return "changed (a version is not a readable sops file)".to_string(),
        _ => {}
    }
    let mut parts = Vec::new();
    let recipients_changed = !change.added.is_empty() || !change.removed.is_empty();
    if recipients_changed {
        let mut who_changed = Vec::new();
        who_changed.extend(change.added.iter().map(|r| format!("+{}", who(r))));
        who_changed.extend(change.removed.iter().map(|r| format!("-{}", who(r))));
        parts.push(format!("recipients {}", who_changed.join(", ")));
    }
    parts.push(
        match change.value {
            ValueChange::Changed => "value changed",
            ValueChange::Unchanged if recipients_changed => "value unchanged",
            ValueChange::Unchanged => "re-encrypted, value unchanged",
            _ if recipients_changed => "value or data key changed (no key here reads both versions)",
            _ => "value changed (or re-encrypted with a new data key; no key here reads both versions)",
        }
        .to_string(),
    );
    parts.join("; ")
}

fn to_text(entries: &[Entry]) -> String {
    let mut out = String::new();
    for entry in entries {
        let c = &entry.commit;
        out.push_str(&format!("{}  {}  {} <{}>\n", c.short_id(), c.date(), c.author, c.email));
        out.push_str(&format!("    {}\n", c.subject));
        for change in &entry.changes {
            out.push_str(&format!("  {}: {}\n", change.secret, describe(change)));
        }
        out.push('\n');
    }
    out
}

fn recipients_json(rs: &[Recipient]) -> Vec<serde_json::Value> {
    rs.iter()
        .map(|r| {
            let owners: Vec<serde_json::Value> =
                r.owners.iter().map(|o| serde_json::json!({ "kind": o.kind.noun(), "name": o.name })).collect();
            serde_json::json!({ "key": r.key, "owners": owners })
        })
        .collect()
}

fn to_json(entries: &[Entry]) -> CmdResult<String> {
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let changes: Vec<serde_json::Value> = e
                .changes
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "secret": c.secret,
                        "value": c.value.as_str(),
                        "recipients_added": recipients_json(&c.added),
                        "recipients_removed": recipients_json(&c.removed),
                    })
                })
                .collect();
            serde_json::json!({
                "commit": e.commit.id,
                "date": e.commit.date(),
                "author": e.commit.author,
                "email": e.commit.email,
                "subject": e.commit.subject,
                "changes": changes,
            })
        })
        .collect();
    serde_json::to_string_pretty(&list).map(|t| format!("{t}\n")).map_err(|e| Failure::msg(e.to_string()))
}

/// `secrets list --long`: names with the day each secret was created and last changed.
pub fn print_long(ctx: &Context, repo: &Repo, names: &[String]) -> CmdResult {
    let dates = match GitRepo::open(repo)? {
        Some(git) => log::dates(&git)?,
        None => std::collections::HashMap::default(),
    };
    if ctx.global.json {
        let list: Vec<serde_json::Value> = names
            .iter()
            .map(|n| {
                let d = dates.get(n);
                let created = d.and_then(|d| d.created.as_ref());
                let updated = d.and_then(|d| d.updated.as_ref());
                serde_json::json!({
                    "name": n,
                    "created": created.map(log::CommitInfo::date),
                    "updated": updated.map(log::CommitInfo::date),
                    "updated_by": updated.map(|c| c.author.clone()),
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&list).map_err(|e| Failure::msg(e.to_string()))?;
        write_stdout(format!("{text}\n").as_bytes())?;
        return Ok(0);
    }
    let width = names.iter().map(String::len).max().unwrap_or(0).max(4);
    let mut out = String::new();
    if !names.is_empty() {
        out.push_str(&format!("{:width$}  {:10}  {:10}  BY\n", "NAME", "CREATED", "UPDATED"));
    }
    for name in names {
        let d = dates.get(name);
        let day = |c: Option<&log::CommitInfo>| c.map_or_else(|| "-".into(), log::CommitInfo::day);
        let created = d.and_then(|d| d.created.as_ref());
        let updated = d.and_then(|d| d.updated.as_ref());
        let by = updated.map_or(if d.is_none() { "(not committed)" } else { "" }, |c| c.author.as_str());
        out.push_str(format!("{name:width$}  {:10}  {:10}  {by}", day(created), day(updated)).trim_end());
        out.push('\n');
    }
    write_text(&out)?;
    Ok(0)
}
