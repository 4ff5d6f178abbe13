//! `secrets check [--fix]`: the repository's health, for people, CI and pre-commit hooks.

use clap::Args;
use secrets_store::check::{self, Options, Report, Severity};
use secrets_store::names::{shown, shown_path};
use secrets_store::ops::Ctx;
use secrets_store::rekey::RekeyOptions;

use crate::context::{plural, Context};
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::output::{write_stdout, write_text};

/// `secrets check`.
#[derive(Args, Debug)]
#[command(
    after_help = "Exits 1 when it finds an error (warnings do not fail). Without a key nothing is decrypted; with one, the MAC of every secret it opens is verified.\n\nExamples:\n  secrets check\n  secrets check --json\n  secrets check --fix   # re-key secrets whose recipients drifted from their links"
)]
pub struct CheckArgs {
    /// Re-key secrets whose recipients differ from their links (needs a key that can read them)
    #[arg(long)]
    pub fix: bool,
    /// With --fix: allow leaving a secret that no user can read
    #[arg(short, long, requires = "fix")]
    pub force: bool,
    /// Pass when there is no sops/ folder yet (otherwise an error, so CI in the wrong folder fails)
    #[arg(long)]
    pub allow_empty: bool,
}

pub fn run(ctx: &Context, args: CheckArgs) -> CmdResult {
    let repo = ctx.repo_for_reading()?;
    let sops_dir = repo.sops_dir();
    if !args.allow_empty && std::fs::symlink_metadata(&sops_dir).is_err() {
        return Err(Failure::new(exit::GENERIC, format!("{}: no such folder: nothing to check", shown_path(&sops_dir))).hint(
            "run it in the repository (or pass --repo PATH); `secrets check --allow-empty` passes a repository without secrets yet",
        ));
    }
    // `--fix` re-keys from what the check finds: both under the lock.
    let _lock = if args.fix { Some(ctx.lock(&repo)?) } else { None };
    let identities = Context::identities();
    let run_check = || check::check(&repo, &Options { identities: Some(&identities) }).map_err(Failure::from);
    let mut report = run_check()?;
    if args.fix && report.needs_fix() {
        let progress = Context::progress();
        let op = Ctx {
            repo: &repo,
            identities: &identities,
            options: RekeyOptions { force: args.force, no_rotate: false },
            progress: &progress,
        };
        let outcome = check::fix(&op, &report)?;
        ctx.report(&repo, &outcome, crate::context::Lost::Unknown);
        let subject =
            if report.drifted.is_empty() { "secrets: remove dangling links" } else { "secrets: re-key secrets to match their links" };
        ctx.commit(&repo, &outcome.paths, subject)?;
        report = run_check()?;
    }
    if ctx.global.json {
        print_json(&report)?;
    } else {
        print_human(&report, args.fix)?;
    }
    Ok(u8::from(!report.is_ok()))
}

fn print_human(report: &Report, fixed: bool) -> CmdResult<()> {
    if report.findings.is_empty() {
        return Ok(());
    }
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!("{}[{}]: {}: {}\n", f.severity.as_str(), f.code, shown_path(&f.path), shown(&f.message)));
    }
    out.push_str(&format!(
        "{}, {} in {}\n",
        plural(report.errors(), "error"),
        plural(report.warnings(), "warning"),
        plural(report.secrets, "secret")
    ));
    let fixable = report.fixable();
    if fixable > 0 && fixed {
        // What is left after a fix is what it could not repair: say so, rather than let the
        // messages above promise a fix that just ran.
        out.push_str(&format!("`secrets check --fix` could not fix {} of these (listed above)\n", plural(fixable, "finding")));
    } else if fixable > 0 {
        out.push_str(&format!("hint: `secrets check --fix` {}\n", fix_scope(report)));
    }
    write_text(&out)
}

/// What `--fix` would do, for the hint.
fn fix_scope(report: &Report) -> String {
    let mut parts = Vec::new();
    if !report.drifted.is_empty() {
        parts.push(format!("re-keys {} (it needs a key that can read them)", plural(report.drifted.len(), "secret")));
    }
    if !report.dangling_group_links.is_empty() {
        parts.push(format!("removes {}", plural(report.dangling_group_links.len(), "dangling group link")));
    }
    parts.join(" and ")
}

fn print_json(report: &Report) -> CmdResult<()> {
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "severity": f.severity.as_str(),
                "code": f.code,
                "path": f.path.display().to_string(),
                "message": f.message,
                "fixable": f.fixable,
            })
        })
        .collect();
    let json = serde_json::json!({
        "ok": report.is_ok(),
        "errors": report.errors(),
        "warnings": report.findings.iter().filter(|f| f.severity == Severity::Warning).count(),
        "secrets": report.secrets,
        "verified": report.verified,
        "unreadable": report.unreadable,
        "drifted": report.drifted.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "findings": findings,
    });
    let text = serde_json::to_string_pretty(&json).map_err(|e| Failure::msg(e.to_string()))?;
    write_stdout(format!("{text}\n").as_bytes())
}
