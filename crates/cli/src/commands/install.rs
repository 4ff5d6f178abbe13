//! `secrets install`: a machine's secrets into a folder, the way sops-install-secrets does it,
//! from a repository (with an optional overrides manifest) or from a sops-nix manifest.

use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;

use secrets_deploy::{DeployError, InstallOptions, KeySources, Manifest, Plan, Report, Source};

use crate::context::{plural, Context};
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::output::{say, write_stdout, write_text};

const INSTALL_EXAMPLES: &str = "\
Each run writes a new generation DIR.d/N and switches the symlink DIR to it in one step; a secret
that fails to decrypt fails the run and leaves the previous generation in place.

Examples:
  secrets --repo /var/lib/secrets-repo install --machine web1 --target /run/secrets
  secrets install --machine web1 --target /run/secrets --manifest overrides.json
  secrets install --machine web1 --target /run/secrets --check
  secrets install --manifest /nix/store/…-manifest.json    # a sops-nix manifest";

/// `secrets install`.
#[derive(Args, Debug)]
#[command(after_help = INSTALL_EXAMPLES)]
pub struct InstallArgs {
    /// The machine whose secrets to install (linked directly or through its groups, plus its vars)
    #[arg(long, value_name = "MACHINE")]
    pub machine: Option<String>,
    /// The folder to install into: a symlink to the newest generation in DIR.d/
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// The machine's age key file [default: /var/lib/sops-nix/key.txt if present]
    #[arg(long, value_name = "FILE")]
    pub age_key_file: Option<PathBuf>,
    /// An ssh-ed25519 host key, used as an age key (repeatable) [default: /etc/ssh/ssh_host_ed25519_key if present]
    #[arg(long = "ssh-key", value_name = "FILE")]
    pub ssh_keys: Vec<PathBuf>,
    /// Per-secret mode, owner, group, path and units (JSON), or a whole sops-nix manifest
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Generations to keep, the new one included; 0 keeps all [default: 1, or the manifest's]
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Check the manifest and the encrypted files without decrypting or writing anything
    #[arg(long)]
    pub check: bool,
    /// sops-install-secrets' -check-mode: off, manifest or sopsfile
    #[arg(long, value_name = "MODE", hide = true, conflicts_with = "check")]
    pub check_mode: Option<String>,
    /// Own every file by root without looking up users (for secrets needed before users exist)
    #[arg(long)]
    pub ignore_passwd: bool,
}

/// How far `--check`/`--check-mode` goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CheckMode {
    Off,
    Manifest,
    SopsFile,
}

pub fn run(ctx: &Context, args: InstallArgs) -> CmdResult {
    let check = match (args.check, args.check_mode.as_deref()) {
        (true, _) | (false, Some("sopsfile")) => CheckMode::SopsFile,
        (false, Some("manifest")) => CheckMode::Manifest,
        (false, None | Some("off")) => CheckMode::Off,
        (false, Some(other)) => {
            return Err(Failure::new(exit::USAGE, format!("invalid check mode `{other}`")).hint("use off, manifest or sopsfile"))
        }
    };
    let manifest = match &args.manifest {
        Some(path) => Some((Manifest::load(path)?, path.clone())),
        None => None,
    };
    let target = args.target.as_deref().map(absolute).transpose()?;
    let given_keys = KeySources { age_key_files: args.age_key_file.iter().cloned().collect(), ssh_keys: args.ssh_keys.clone() };

    let (mut plan, keys, who) = match manifest {
        Some((Manifest::SopsNix(m), _)) => {
            if args.machine.is_some() {
                return Err(Failure::new(exit::USAGE, "--machine does not go with a sops-nix manifest, which lists the secrets itself"));
            }
            let plan = m.plan(target.as_deref())?;
            let keys = if given_keys.is_empty() { m.key_sources() } else { given_keys };
            (plan, keys, "the manifest".to_string())
        }
        overrides => {
            let machine = args.machine.as_deref().ok_or_else(|| {
                Failure::new(exit::USAGE, "which machine? pass --machine NAME")
                    .hint("or --manifest with a sops-nix manifest, which lists the secrets itself")
            })?;
            let target =
                target.ok_or_else(|| Failure::new(exit::USAGE, "pass --target DIR, the folder to install into (e.g. /run/secrets)"))?;
            let source = source(ctx)?;
            let mut plan = Plan::for_machine(&source, machine, target)?;
            if let Some((Manifest::Overrides(o), path)) = overrides {
                o.apply(&mut plan, &path)?;
            }
            if plan.files.is_empty() {
                // A known machine without secrets: installing an empty generation is what its
                // configuration asks for (an unknown one was refused above).
                say!("warning: machine `{machine}` has no secrets in {}", source.sops_dir().display());
            }
            let keys = if given_keys.is_empty() { KeySources::defaults() } else { given_keys };
            (plan, keys, format!("machine `{machine}`"))
        }
    };
    if let Some(keep) = args.keep {
        plan.keep = keep;
    }

    match check {
        CheckMode::Manifest => {
            plan.validate()?;
            say!("The manifest is valid ({} for {who})", plural(plan.files.len(), "secret"));
            Ok(0)
        }
        CheckMode::SopsFile => {
            secrets_deploy::check(&plan)?;
            print_check(ctx, &plan)?;
            say!("Checked {} for {who}: every file parses and every key exists", plural(plan.files.len(), "secret"));
            Ok(0)
        }
        CheckMode::Off => {
            let identities = keys.load().map_err(|e| deploy_failure(e).hint(unchanged(&plan)))?;
            let options = InstallOptions { ignore_passwd: args.ignore_passwd, accounts_root: None };
            let report = secrets_deploy::install(&plan, &identities, &options).map_err(|e| deploy_failure(e).hint(unchanged(&plan)))?;
            // The units are restarted even when the report cannot be printed (its reader went
            // away): the secrets are installed, and the services must see them.
            let printed = print_report(ctx, &plan, &report, &who);
            let code = restart_units(&report)?;
            printed?;
            Ok(code)
        }
    }
}

/// The repository or deployed `sops/` copy: `--repo` as given (it may be a copy of `sops/`),
/// else found from the working directory.
fn source(ctx: &Context) -> CmdResult<Source> {
    let root = match &ctx.global.repo {
        Some(path) => path.clone(),
        None => ctx.repo()?.root().to_path_buf(),
    };
    Source::open(&root).map_err(|e| deploy_failure(e).hint("--repo takes the repository, or a copy of its sops/ folder"))
}

fn absolute(path: &Path) -> CmdResult<PathBuf> {
    std::path::absolute(path).map_err(|e| Failure::new(exit::USAGE, format!("{}: {e}", path.display())))
}

fn unchanged(plan: &Plan) -> String {
    format!("nothing was changed: {} still points at the previous generation", plan.target.display())
}

fn print_check(ctx: &Context, plan: &Plan) -> CmdResult<()> {
    if ctx.global.json {
        let files: Vec<_> = plan
            .files
            .iter()
            .map(|f| serde_json::json!({"name": f.name, "file": f.source, "format": f.format.name(), "key": f.key}))
            .collect();
        let text = serde_json::to_string_pretty(&serde_json::json!({"target": plan.target, "secrets": files})).unwrap_or_default();
        return write_stdout(format!("{text}\n").as_bytes());
    }
    let mut out = String::new();
    for file in &plan.files {
        out.push_str(&file.name);
        out.push('\n');
    }
    write_text(&out)
}

fn print_report(ctx: &Context, plan: &Plan, report: &Report, who: &str) -> CmdResult<()> {
    if ctx.global.json {
        let json = serde_json::json!({
            "target": plan.target,
            "generation": report.generation,
            "path": report.path,
            "installed": report.installed,
            "added": report.added,
            "modified": report.modified,
            "removed": report.removed,
            "restartUnits": report.restart_units,
            "reloadUnits": report.reload_units,
            "pruned": report.pruned,
        });
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        return write_stdout(format!("{text}\n").as_bytes());
    }
    for (verb, names) in [("adding", &report.added), ("modifying", &report.modified), ("removing", &report.removed)] {
        if !names.is_empty() {
            let noun = if names.len() == 1 { "secret" } else { "secrets" };
            say!("{verb} {noun}: {}", names.join(", "));
        }
    }
    say!(
        "Installed {} for {who} in {} (generation {})",
        plural(report.installed.len(), "secret"),
        plan.target.display(),
        report.generation
    );
    Ok(())
}

/// Restarts or reloads the units of changed secrets: through systemctl when asked to (as
/// sops-nix's systemd unit does) or on a systemd machine, through NixOS's activation lists
/// during an activation; otherwise they are only named.
fn restart_units(report: &Report) -> CmdResult {
    if report.restart_units.is_empty() && report.reload_units.is_empty() {
        return Ok(0);
    }
    let via_systemctl = std::env::var("SOPS_RESTART_UNITS_VIA_SYSTEMCTL").is_ok_and(|v| v == "1");
    if !via_systemctl && Path::new("/run/nixos").is_dir() {
        for (units, file) in
            [(&report.restart_units, "/run/nixos/activation-restart-list"), (&report.reload_units, "/run/nixos/activation-reload-list")]
        {
            append_lines(Path::new(file), units)
                .map_err(|e| Failure::msg(format!("{file}: {e}")).hint("the secrets are installed; restart the units by hand"))?;
        }
        return Ok(0);
    }
    if via_systemctl || Path::new("/run/systemd/system").is_dir() {
        for (verb, units) in [("try-restart", &report.restart_units), ("try-reload-or-restart", &report.reload_units)] {
            if units.is_empty() {
                continue;
            }
            let status = Command::new("systemctl").arg("--no-block").arg(verb).args(units.iter()).status();
            if !status.is_ok_and(|s| s.success()) {
                return Err(Failure::msg(format!("systemctl {verb} {} failed", units.join(" ")))
                    .hint("the secrets are installed; restart the units by hand"));
            }
        }
        return Ok(0);
    }
    if !report.restart_units.is_empty() {
        say!("restart these units to use the new secrets: {}", report.restart_units.join(" "));
    }
    if !report.reload_units.is_empty() {
        say!("reload these units to use the new secrets: {}", report.reload_units.join(" "));
    }
    Ok(0)
}

fn append_lines(path: &Path, lines: &[String]) -> std::io::Result<()> {
    use std::io::Write;
    if lines.is_empty() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    for line in lines {
        writeln!(file, "{line}")?;
    }
    Ok(())
}

/// `?` on a deploy result: the error as [`deploy_failure`] words it.
impl From<DeployError> for Failure {
    fn from(error: DeployError) -> Failure {
        deploy_failure(error)
    }
}

/// A deploy error as a message with a next step.
pub fn deploy_failure(error: DeployError) -> Failure {
    let hint = match &error {
        DeployError::NoIdentity { .. } => Some("give the machine's key: --age-key-file FILE or --ssh-key /etc/ssh/ssh_host_ed25519_key"),
        DeployError::Decrypt { source: secrets_sops::Error::NoKey(_), .. } => Some(
            "the key given is not among its recipients; compare it with `secrets machines get NAME` and re-key with `secrets key update`",
        ),
        DeployError::Store(secrets_store::StoreError::Sops { source: secrets_sops::Error::NoKey(_), .. }) => {
            Some("the key given cannot open this secret; exec uses your keys (SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt)")
        }
        DeployError::UnknownMachine { .. } | DeployError::Store(secrets_store::StoreError::InvalidName { .. }) => {
            Some("`secrets machines list` in the repository shows the machines; nothing was installed or removed")
        }
        DeployError::Unsafe { .. } => Some(
            "another user could change it while root writes there; remove it, or install into a folder of root's \
             (as /run/secrets), whose folders nobody else can write",
        ),
        _ => None,
    };
    let failure = Failure::msg(&error);
    match hint {
        Some(h) => failure.hint(h),
        None => failure,
    }
}
