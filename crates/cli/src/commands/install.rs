//! `secrets install`: a machine's secrets into a folder, the way sops-install-secrets does it,
//! from a repository (with an optional overrides manifest) or from a sops-nix manifest.

use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;

use secrets_deploy::plan::RENDERED_DIR;
use secrets_deploy::{DeployError, InstallOptions, KeySources, Manifest, Plan, Report, SecretFs, Source};

use crate::context::{plural, Context};
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::output::{note, say, write_stdout, write_text};

const INSTALL_EXAMPLES: &str = "\
Each run writes a new generation DIR.d/N and switches the symlink DIR to it in one step; a secret
that fails to decrypt fails the run and leaves the previous generation in place. A key path that is
missing or not a usable key is skipped with a warning; the run fails only when no key is left.
Changed secrets are listed on stdout (`adding secret: NAME`, as sops-install-secrets does).
With a sops-nix manifest, NIXOS_ACTION=dry-activate means --dry-run.

Examples:
  secrets --repo /var/lib/secrets-repo install --machine web1 --target /run/secrets
  secrets install --machine web1 --target /run/secrets --manifest overrides.json
  secrets install --machine web1 --target /run/secrets --check
  secrets install --machine web1 --target /run/secrets --dry-run   # what would change
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
    /// Decrypt and say what would change (`would add secret: NAME`), changing nothing
    #[arg(long, conflicts_with_all = ["check", "check_mode"])]
    pub dry_run: bool,
    /// With a sops-nix manifest: no ramfs at its secretsMountPoint (leave the folder's file system)
    #[arg(long)]
    pub no_mount: bool,
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

    // What sops-install-secrets' manifest settings ask of the output; a machine's install
    // from a repository reports its changes.
    let mut style = Style { changes: true, key_import: false, sops_nix: false, mount: None };
    let (mut plan, keys, who) = match manifest {
        Some((Manifest::SopsNix(m), _)) => {
            if args.machine.is_some() {
                return Err(Failure::new(exit::USAGE, "--machine does not go with a sops-nix manifest, which lists the secrets itself"));
            }
            let plan = if check == CheckMode::Off { m.plan(target.as_deref())? } else { m.plan_for_check(target.as_deref())? };
            let keys = if given_keys.is_empty() { m.key_sources() } else { given_keys };
            // The manifest's own mount point gets sops-nix's file system; a --target given
            // instead is the caller's folder, left as it is.
            let fs = if m.use_tmpfs { SecretFs::Tmpfs } else { SecretFs::Ramfs };
            let mount = (target.is_none() && !args.no_mount).then_some(fs);
            style = Style { changes: m.logging.secret_changes, key_import: m.logging.key_import, sops_nix: true, mount };
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
            // Run as sops-nix's `sops.package`, `nixos-rebuild dry-activate` sets NIXOS_ACTION.
            let dry_run = args.dry_run || (style.sops_nix && std::env::var("NIXOS_ACTION").is_ok_and(|a| a == "dry-activate"));
            // A key under the folders being installed came from these secrets: at boot it is
            // not there yet, and it must not be what opens them.
            let (keys, inside) = keys.outside(&[&plan.target, &plan.generations]);
            for path in &inside {
                say!("warning: skipping key {}: it is installed from these secrets, under {}", path.display(), plan.target.display());
            }
            if keys.is_empty() && !inside.is_empty() {
                return Err(Failure::msg("no key to decrypt with: every key given is installed from these secrets")
                    .hint("give the machine's own key: --age-key-file FILE or --ssh-key /etc/ssh/ssh_host_ed25519_key"));
            }
            let loaded = keys.load_available().map_err(|e| deploy_failure(e).hint(unchanged(&plan)))?;
            for skipped in &loaded.skipped {
                say!("warning: skipping {skipped}");
            }
            if style.key_import {
                for (path, recipient) in &loaded.imported {
                    note!("using ssh key {} as age key {recipient}", path.display());
                }
            }
            let options = InstallOptions {
                ignore_passwd: args.ignore_passwd,
                accounts_root: None,
                dry_run,
                // sops-install-secrets replaces a folder at /run/secrets and a file at a
                // secret's path; from a repository, what stands there is refused instead.
                replace_in_the_way: style.sops_nix,
                mount: style.mount.filter(|_| !dry_run),
            };
            let report =
                secrets_deploy::install(&plan, &loaded.identities, &options).map_err(|e| deploy_failure(e).hint(unchanged(&plan)))?;
            // The units are restarted even when the report cannot be printed (its reader went
            // away): the secrets are installed, and the services must see them.
            let printed = print_report(ctx, &plan, &report, &who, style);
            let code = if plan.user_mode { 0 } else { restart_units(&report)? };
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

/// What the output of an install says besides its summary.
#[derive(Clone, Copy)]
struct Style {
    /// The secrets added, changed and removed (sops-nix's `logging.secretChanges`).
    changes: bool,
    /// The ssh host keys used as age keys (sops-nix's `logging.keyImport`).
    key_import: bool,
    /// Installing a sops-nix manifest, as sops-install-secrets.
    sops_nix: bool,
    /// The file system to mount at the generations folder.
    mount: Option<SecretFs>,
}

/// What a failed install left at the target, for its hint: only a target that is a symlink
/// (to a generation) can still point at one.
fn unchanged(plan: &Plan) -> String {
    match std::fs::symlink_metadata(&plan.target) {
        Ok(meta) if meta.file_type().is_symlink() => {
            format!("nothing was changed: {} still points at the previous generation", plan.target.display())
        }
        Ok(_) => format!("nothing was changed: {} is as it was", plan.target.display()),
        Err(_) => format!("nothing was installed: {} was not created", plan.target.display()),
    }
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

fn print_report(ctx: &Context, plan: &Plan, report: &Report, who: &str, style: Style) -> CmdResult<()> {
    if ctx.global.json {
        let json = serde_json::json!({
            "target": plan.target,
            "dry_run": report.dry_run,
            "generation": report.generation,
            "path": report.path,
            "installed": report.installed,
            "added": report.added,
            "modified": report.modified,
            "removed": report.removed,
            "restart_units": report.restart_units,
            "reload_units": report.reload_units,
            "pruned": report.pruned,
        });
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        return write_stdout(format!("{text}\n").as_bytes());
    }
    // As sops-install-secrets: only over a previous generation (at first boot there is
    // nothing to compare with), never in user mode, and only the lists that are not empty.
    if style.changes && report.previous.is_some() && !plan.user_mode {
        write_text(&change_lines(report))?;
    }
    if report.dry_run {
        say!(
            "Would install {} for {who} in {}; nothing was changed (dry run)",
            plural(report.installed.len(), "secret"),
            plan.target.display()
        );
    } else {
        say!(
            "Installed {} for {who} in {} (generation {})",
            plural(report.installed.len(), "secret"),
            plan.target.display(),
            report.generation
        );
    }
    Ok(())
}

/// sops-install-secrets' change lines: `adding secret: a` or `adding secrets: a, b` (then
/// `modifying`, `removing`), the same for templates as `rendered secret`, each list sorted;
/// `would add`, `would modify`, `would remove` in a dry run.
fn change_lines(report: &Report) -> String {
    let prefix = format!("{RENDERED_DIR}/");
    let mut out = String::new();
    for rendered in [false, true] {
        let noun = if rendered { "rendered secret" } else { "secret" };
        for (verb, dry_verb, names) in [
            ("adding", "would add", &report.added),
            ("modifying", "would modify", &report.modified),
            ("removing", "would remove", &report.removed),
        ] {
            let mut names: Vec<&str> = names
                .iter()
                .filter_map(|n| if rendered { n.strip_prefix(&prefix) } else { (!n.starts_with(&prefix)).then_some(n.as_str()) })
                .collect();
            if names.is_empty() {
                continue;
            }
            names.sort_unstable();
            let verb = if report.dry_run { dry_verb } else { verb };
            let s = if names.len() == 1 { "" } else { "s" };
            out.push_str(&format!("{verb} {noun}{s}: {}\n", names.join(", ")));
        }
    }
    out
}

/// Restarts or reloads the units of changed secrets: through systemctl when asked to (as
/// sops-nix's systemd unit does) or on a systemd machine, through NixOS's activation lists
/// during an activation; otherwise they are only named.
fn restart_units(report: &Report) -> CmdResult {
    if report.restart_units.is_empty() && report.reload_units.is_empty() {
        return Ok(0);
    }
    let via_systemctl = std::env::var("SOPS_RESTART_UNITS_VIA_SYSTEMCTL").is_ok_and(|v| v == "1");
    if report.dry_run && (via_systemctl || !Path::new("/run/nixos").is_dir()) {
        for unit in &report.restart_units {
            say!("would restart {unit}");
        }
        for unit in &report.reload_units {
            say!("would reload {unit}");
        }
        return Ok(0);
    }
    if !via_systemctl && Path::new("/run/nixos").is_dir() {
        // A dry activation collects its units in lists of their own, which
        // switch-to-configuration prints and does not act on.
        let list = if report.dry_run { "dry-activation" } else { "activation" };
        let (restart, reload) = (format!("/run/nixos/{list}-restart-list"), format!("/run/nixos/{list}-reload-list"));
        for (units, file) in [(&report.restart_units, restart.as_str()), (&report.reload_units, reload.as_str())] {
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
        DeployError::Unsafe {
            exposure:
                secrets_deploy::error::Exposure::NotAFolder
                | secrets_deploy::error::Exposure::NoFileName
                | secrets_deploy::error::Exposure::WalkLost,
            ..
        } => Some("move what is there away, or give another --target"),
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
