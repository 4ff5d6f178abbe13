//! `secrets credentials …` and `secrets resolve`.

use clap::{Args, Subcommand};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use secrets_sops::{EncryptedFile, Format};
use secrets_store::credentials::{self, aws_files, mask, resolve, Credential, Exposure, Provider};
use secrets_store::ops::{self, Ctx};
use secrets_store::rekey::RekeyOptions;
use secrets_store::{Kind, Repo};
use zeroize::Zeroizing;

use crate::commands::secrets::{members_with_caller, MemberArgs};
use crate::context::{store_failure, Context};
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::io::{lasting_private_dir, private_tempdir, write_private};
use crate::output::{note, say, write_stdout, write_text};

#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags, reason = "clap help text, shown as written: not markdown")]
#[derive(Subcommand, Debug)]
#[command(defer = true)] // arguments defined only when this command is parsed: see `cli::Command`
pub enum CredentialsCommand {
    /// Store (or rotate) a provider's credentials as the secret <provider>.<name>
    #[command(
        after_help = "Examples:\n  secrets credentials store aws --profile prod --name prod --group ops\n  secrets credentials store cloudflare --set account_id=abc --set-stdin api_token < token.txt\n  secrets credentials store kubernetes --kubeconfig ~/.kube/config --machine ci"
    )]
    Store {
        /// aws, gcp, azure, cloudflare or kubernetes
        provider: String,
        /// The profile name [default: default]
        #[arg(long, default_value = "default")]
        name: String,
        /// A field's value, FIELD=VALUE (repeatable; prefer --set-stdin for secret values)
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Read this field's value from standard input
        #[arg(long, value_name = "FIELD")]
        set_stdin: Option<String>,
        /// aws: read the keys and region of this profile from ~/.aws/credentials and ~/.aws/config
        #[arg(long, value_name = "PROFILE")]
        profile: Option<String>,
        /// kubernetes: the kubeconfig file to store
        #[arg(long, value_name = "PATH")]
        kubeconfig: Option<PathBuf>,
        /// gcp: the service account JSON key file (its project_id is used unless --set gives one)
        #[arg(long, value_name = "PATH")]
        service_account_file: Option<PathBuf>,
        #[command(flatten)]
        members: MemberArgs,
    },
    /// List stored credentials with who can read them, dates and masked values
    List,
    /// Delete a stored credential
    Delete {
        /// <provider> or <provider>/<name>
        credential: String,
    },
    /// Run a command with a provider's standard environment
    #[command(
        after_help = "Examples:\n  secrets credentials exec aws/prod -- aws s3 ls\n  eval \"$(secrets credentials exec cloudflare --export)\""
    )]
    Exec {
        /// <provider> or <provider>/<name>
        credential: String,
        /// Print `export` lines for `eval` instead of running a command
        #[arg(long)]
        export: bool,
        /// Let the command see SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and SOPS_AGE_SSH_PRIVATE_KEY_FILE (removed by default)
        #[arg(long)]
        keep_key_env: bool,
        /// The command and its arguments
        #[arg(last = true)]
        command: Vec<String>,
    },
}

/// `secrets resolve`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  secrets resolve postgres admin --field password\n  SECRETS_CREDENTIALS_DIR=/run/creds secrets resolve api token"
)]
#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags, reason = "clap help text, shown as written: not markdown")]
pub struct ResolveArgs {
    /// The service, e.g. `postgres`
    pub service: String,
    /// The purpose, e.g. `admin`
    pub purpose: String,
    /// Print only this field (a plain value is the field `credential`)
    #[arg(long, value_name = "FIELD")]
    pub field: Option<String>,
    /// Folder of plain credential files (<dir>/<service>/<purpose>)
    #[arg(long, value_name = "DIR", env = "SECRETS_CREDENTIALS_DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(ctx: &Context, cmd: CredentialsCommand) -> CmdResult {
    match cmd {
        CredentialsCommand::Store { provider, name, set, set_stdin, profile, kubeconfig, service_account_file, members } => {
            let provider = Provider::from_name(&provider).ok_or_else(|| store_failure(credentials::parse_ref(&provider).unwrap_err()))?;
            let sources = Sources { set, set_stdin, profile, kubeconfig, service_account_file };
            let fields = gather_fields(provider, &sources)?;
            let credential = Credential::new(provider, &name, fields.to_vec())?;
            let repo = ctx.repo()?;
            let members = members_with_caller(&repo, &members)?;
            let identities = Context::identities();
            let progress = Context::progress();
            let op = Ctx { repo: &repo, identities: &identities, options: RekeyOptions::default(), progress: &progress };
            let secret = credentials::secret_name(provider, &name);
            let _lock = ctx.lock(&repo)?;
            let outcome = ops::set_secret(&op, &secret, &credential.to_json(), &members)?;
            note!("Stored {provider} credentials `{name}` as secret {secret}");
            ctx.commit(&repo, &outcome.paths, &format!("secrets: update {secret}"))?;
            Ok(0)
        }
        CredentialsCommand::List => list(ctx),
        CredentialsCommand::Delete { credential } => {
            let (provider, name) = credentials::parse_ref(&credential)?;
            let repo = ctx.repo()?;
            let secret = credentials::secret_name(provider, &name);
            let _lock = ctx.lock(&repo)?;
            let outcome = ops::remove_secret(&repo, &secret)?;
            ctx.commit(&repo, &outcome.paths, &format!("secrets: remove {secret}"))?;
            Ok(0)
        }
        CredentialsCommand::Exec { credential, export, keep_key_env, command } => {
            let (provider, name) = credentials::parse_ref(&credential)?;
            let repo = ctx.repo_for_reading()?;
            let credential = load(&repo, provider, &name)?;
            if export {
                return export_lines(&credential);
            }
            if command.is_empty() {
                return Err(
                    Failure::new(exit::USAGE, "give the command after `--`").hint("for example: secrets credentials exec aws -- aws s3 ls")
                );
            }
            run_with(credential, &command, keep_key_env)
        }
    }
}

struct Sources {
    set: Vec<String>,
    set_stdin: Option<String>,
    profile: Option<String>,
    kubeconfig: Option<PathBuf>,
    service_account_file: Option<PathBuf>,
}

/// The fields from every source given; later sources override earlier ones, flags last.
fn gather_fields(provider: Provider, sources: &Sources) -> CmdResult<Zeroizing<Vec<(String, String)>>> {
    let mut fields = Zeroizing::new(Vec::new());
    let only = |flag: &str, wanted: Provider| -> CmdResult<()> {
        if provider == wanted {
            Ok(())
        } else {
            Err(Failure::new(exit::USAGE, format!("{flag} is for {wanted} credentials")))
        }
    };
    if let Some(profile) = &sources.profile {
        only("--profile", Provider::Aws)?;
        let env = |n: &str| std::env::var(n).ok();
        let (creds, config) = aws_files::files(&env).ok_or_else(|| Failure::msg("cannot find the AWS files: HOME is not set"))?;
        fields.extend(aws_files::read_profile(&creds, &config, profile)?);
    }
    if let Some(path) = &sources.kubeconfig {
        only("--kubeconfig", Provider::Kubernetes)?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(exit::COULD_NOT_READ_INPUT_FILE, format!("{}: cannot read the kubeconfig: {e}", path.display())))?;
        if let Some(context) = text.lines().find_map(|l| l.strip_prefix("current-context:")).map(|c| c.trim().trim_matches('"').to_string())
        {
            if !context.is_empty() {
                fields.push(("context_name".to_string(), context));
            }
        }
        fields.push(("kubeconfig_content".to_string(), text));
    }
    if let Some(path) = &sources.service_account_file {
        only("--service-account-file", Provider::Gcp)?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(exit::COULD_NOT_READ_INPUT_FILE, format!("{}: cannot read the key file: {e}", path.display())))?;
        let project = serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|_| Failure::new(exit::USAGE, format!("{}: not a JSON service account key", path.display())))?
            .get("project_id")
            .and_then(|p| p.as_str().map(str::to_string));
        if let Some(project) = project {
            fields.push(("project_id".to_string(), project));
        }
        fields.push(("service_account_json".to_string(), text));
    }
    for pair in &sources.set {
        let (field, value) = pair.split_once('=').ok_or_else(|| Failure::new(exit::USAGE, "--set takes FIELD=VALUE"))?;
        fields.push((field.to_string(), value.to_string()));
    }
    if let Some(field) = &sources.set_stdin {
        let mut value = String::new();
        std::io::stdin()
            .read_to_string(&mut value)
            .map_err(|e| Failure::new(exit::COULD_NOT_READ_INPUT_FILE, format!("cannot read standard input: {e}")))?;
        let trimmed = value.strip_suffix('\n').unwrap_or(&value).to_string();
        value.clear();
        fields.push((field.clone(), trimmed));
    }
    // On a terminal, ask for what is still missing, hidden when it is secret.
    if std::io::stdin().is_terminal() {
        for field in provider.fields().iter().filter(|f| f.required) {
            if !fields.iter().any(|(n, v)| n == field.name && !v.is_empty()) {
                let prompt = format!("{provider} {}: ", field.name);
                let value = if field.secret { rpassword::prompt_password(&prompt) } else { prompt_line(&prompt) }
                    .map_err(|e| Failure::msg(format!("cannot read {}: {e}", field.name)))?;
                fields.push((field.name.to_string(), value));
            }
        }
    }
    Ok(fields)
}

fn prompt_line(prompt: &str) -> std::io::Result<String> {
    crate::output::prompt(prompt);
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn load(repo: &Repo, provider: Provider, name: &str) -> CmdResult<Credential> {
    let secret = credentials::secret_name(provider, name);
    if !repo.exists(Kind::Secret, &secret) {
        return Err(Failure::msg(format!("no {provider} credentials named `{name}` (secret {secret})"))
            .hint(format!("store them with `secrets credentials store {provider} --name {name}`")));
    }
    let bytes = ops::get_secret(repo, &Context::identities(), &secret)?;
    Ok(Credential::from_json(provider, name, &bytes)?)
}

fn list(ctx: &Context) -> CmdResult {
    let repo = ctx.repo_for_reading()?;
    let identities = Context::identities();
    // Created and updated dates come from git history where there is one.
    let dates = match secrets_store::history::GitRepo::open(&repo)? {
        Some(git) => secrets_store::history::log::dates(&git)?,
        None => std::collections::HashMap::default(),
    };
    let mut rows = Vec::new();
    for (provider, name) in credentials::list(&repo)? {
        let secret = repo.secret(&credentials::secret_name(provider, &name))?;
        let access = repo.access(&secret)?;
        let readers: Vec<String> =
            access.users.keys().map(|u| format!("user:{u}")).chain(access.machines.keys().map(|m| format!("machine:{m}"))).collect();
        let history = dates.get(&secret.name);
        let created = history.and_then(|d| d.created.as_ref()).map(secrets_store::history::log::CommitInfo::date);
        let updated = history.and_then(|d| d.updated.as_ref()).map_or_else(
            || {
                secrets_store::untrusted::read(repo.root(), &secret.file(), secrets_store::untrusted::Limit::Secret)
                    .ok()
                    .and_then(|b| EncryptedFile::parse(&b, Format::Binary).ok())
                    .map(|f| f.metadata.last_modified)
                    .unwrap_or_default()
            },
            secrets_store::history::log::CommitInfo::date,
        );
        let values: serde_json::Map<String, serde_json::Value> = match ops::get_secret(&repo, &identities, &secret.name)
            .ok()
            .and_then(|bytes| Credential::from_json(provider, &name, &bytes).ok())
        {
            Some(credential) => credential
                .fields()
                .iter()
                .map(|(field, value)| {
                    let secret_field = provider.field(field).is_none_or(|f| f.secret);
                    let shown = if secret_field { mask::mask(value) } else { value.clone() };
                    (field.clone(), serde_json::Value::String(shown))
                })
                .collect(),
            None => serde_json::Map::new(),
        };
        rows.push(serde_json::json!({
            "provider": provider.name(), "name": name, "secret": secret.name,
            "readers": readers, "created": created, "updated": updated, "values": values,
        }));
    }
    if ctx.global.json {
        write_stdout(format!("{}\n", serde_json::Value::Array(rows)).as_bytes())?;
        return Ok(0);
    }
    let mut text = String::new();
    for row in &rows {
        text.push_str(&format!(
            "{}/{}  created {}  updated {}  readers: {}\n",
            row["provider"].as_str().unwrap_or(""),
            row["name"].as_str().unwrap_or(""),
            row["created"].as_str().unwrap_or("-"),
            row["updated"].as_str().unwrap_or("?"),
            row["readers"].as_array().map(|r| r.iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default(),
        ));
        match row["values"].as_object() {
            Some(values) if !values.is_empty() => {
                for (k, v) in values {
                    text.push_str(&format!("    {k}: {}\n", v.as_str().unwrap_or("")));
                }
            }
            _ => text.push_str("    (values hidden: no key here can read it)\n"),
        }
    }
    write_text(&text)?;
    Ok(0)
}

/// The environment and files a credential becomes. Files go into `dir`.
fn materialize(credential: &Credential, dir: &Path) -> CmdResult<Vec<(String, Zeroizing<String>)>> {
    let mut env = Vec::new();
    for exposure in credential.provider.exposures() {
        match exposure {
            Exposure::Env { var, field } => {
                if let Some(value) = credential.get(field) {
                    env.push((var.to_string(), Zeroizing::new(value.to_string())));
                }
            }
            Exposure::File { var, field, file_name } => {
                if let Some(value) = credential.get(field) {
                    let path = dir.join(file_name);
                    write_private(dir, &path, value.as_bytes(), 0o600)?;
                    env.push((var.to_string(), Zeroizing::new(path.display().to_string())));
                }
            }
        }
    }
    Ok(env)
}

/// Runs the command with the credential; like `secrets exec`, the command does not see the
/// private-key variables unless `keep_key_env`, and termination signals reach it.
fn run_with(credential: Credential, command: &[String], keep_key_env: bool) -> CmdResult {
    let dir = private_tempdir("cred")?;
    let env = materialize(&credential, dir.path())?;
    drop(credential);
    let mut child = Command::new(&command[0]);
    child.args(&command[1..]);
    for (var, value) in &env {
        child.env(var, value.as_str());
    }
    // Last, as in `secrets exec`, so that nothing added above brings a key variable back.
    if !keep_key_env {
        super::exec::remove_key_env(&mut child);
    }
    drop(env);
    let finished = crate::sys::signals::run(child);
    drop(dir);
    let finished = finished.map_err(|e| Failure::new(exit::CANNOT_RUN, format!("cannot run `{}`: {e}", command[0])))?;
    Ok(exit_code(finished.status))
}

/// The child's exit code; 128 + the signal when it was killed.
pub fn exit_code(status: std::process::ExitStatus) -> u8 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return u8::try_from(128 + signal).unwrap_or(u8::MAX);
        }
    }
    // On Unix a code is the low byte of the status, 0 to 255.
    status.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(1)
}

fn export_lines(credential: &Credential) -> CmdResult {
    if crate::output::stdout_is_terminal() {
        say!("warning: these lines hold secrets; use them with eval \"$(secrets credentials exec … --export)\" rather than printing them");
    }
    let needs_files = credential.provider.exposures().iter().any(|e| matches!(e, Exposure::File { .. }));
    let dir = if needs_files {
        let path = lasting_private_dir("secrets-credentials-")?;
        say!("note: the credential files are in {} (mode 0600); remove it when done", path.display());
        path
    } else {
        std::env::temp_dir()
    };
    let env = materialize(credential, &dir)?;
    let mut text = Zeroizing::new(String::new());
    for (var, value) in &env {
        text.push_str(&format!("export {var}={}\n", shell_quote(value)));
    }
    write_stdout(text.as_bytes())?;
    Ok(0)
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

pub fn resolve_cmd(ctx: &Context, service: &str, purpose: &str, field: Option<&str>, dir: Option<PathBuf>) -> CmdResult {
    let repo = ctx.repo().ok();
    let identities = Context::identities();
    let env = |n: &str| std::env::var(n).ok();
    let resolver = resolve::Resolver { env: &env, dir, store: repo.as_ref().map(|r| (r, &identities)) };
    let found =
        resolver.resolve(service, purpose).map_err(|e| Failure::msg(e).hint("set the variable, add the file, or store the secret"))?;
    if let Some(field) = field {
        let value = found.field(field).ok_or_else(|| {
            let names: Vec<&str> = found.fields.iter().map(|(n, _)| n.as_str()).collect();
            Failure::msg(format!("{service}/{purpose} (from {}) has no field `{field}`; it has: {}", found.source, names.join(", ")))
        })?;
        write_stdout(value.as_bytes())?;
    } else {
        let object: serde_json::Map<String, serde_json::Value> =
            found.fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string()))).collect();
        let text = Zeroizing::new(format!("{}\n", serde_json::Value::Object(object)));
        write_stdout(text.as_bytes())?;
    }
    Ok(0)
}
