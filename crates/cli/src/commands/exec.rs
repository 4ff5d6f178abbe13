//! `secrets exec`: run a command with secrets in its environment or as files in a private
//! folder that is removed when it exits (like `sops exec-env` and `sops exec-file`). Values are
//! never put on a command line; the exit code is the command's (128 + the signal if killed).
//! The command does not inherit the variables that locate private keys (`SOPS_AGE_KEY*`) unless
//! `--keep-key-env` (removed after the secrets are added, so no secret brings one back); the keys
//! themselves are dropped before it starts. `--all-env` takes variable names from secret names,
//! which whoever commits chooses: it never replaces a variable already set nor fills one that
//! steers how programs load and run ([`STEERING_ENV`]); it skips those secrets with a warning. Termination signals are
//! passed on to it and the private folder is removed whatever ends the run (see
//! [`crate::sys::signals`]).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use secrets_deploy::Source;
use secrets_store::{ops, Repo, SecretRef};
use zeroize::Zeroizing;

use super::credentials::exit_code;
use crate::context::{store_failure, Context};
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::io::{private_tempdir, write_private};
use crate::output::say;

/// Where a value goes.
enum Sink {
    /// An environment variable holding the value.
    Env(String),
    /// A file; the variable (if any) holds its path.
    File { var: Option<String>, name: String },
}

struct Wanted {
    secret: SecretRef,
    sink: Sink,
}

const EXEC_EXAMPLES: &str = "\
Values never appear on the command line; files live in a private folder removed afterwards.
The command does not see SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD or
SOPS_AGE_SSH_PRIVATE_KEY_FILE unless --keep-key-env; --env naming one of them needs it too.
--all-env names variables after secrets, which anyone who commits can choose, so it skips (with a
warning) any variable already set and any that steers how programs run: LD_*, PATH, BASH_ENV,
ENV, IFS, HOME, SHELL, TMPDIR, XDG_*, PAGER, LESS*, EDITOR, *_PROXY, OPENSSL_*, SSL_*, LC_*,
TZ*, TERMINFO*, NODE_*, PYTHON*, PERL5*, GCONV_PATH, MALLOC_*, SSH_*, SOPS_*, GIT_* and more.
Pass such a secret with --env NAME=SECRET, which sets exactly the name you give.

Examples:
  secrets exec --env DB_PASSWORD=db-password -- ./migrate
  secrets exec --env db-password -- ./migrate                 # as $DB_PASSWORD
  secrets exec --file TLS_KEY=tls-key -- nginx -c conf        # $TLS_KEY is the file's path
  secrets exec --file tls-key -- openssl rsa -in {} -noout
  secrets exec --machine web1 --all-env -- ./server";

/// `secrets exec`.
#[derive(Args, Debug)]
#[command(after_help = EXEC_EXAMPLES)]
pub struct ExecArgs {
    /// Put a secret in the environment: NAME=SECRET, or SECRET alone for its upper-cased name (repeatable)
    #[arg(long = "env", value_name = "NAME=SECRET")]
    pub env: Vec<String>,
    /// Write a secret to a private file and put its path in NAME: NAME=SECRET or SECRET (repeatable); `{}` in the command is the path of the only one
    #[arg(long = "file", value_name = "NAME=SECRET")]
    pub files: Vec<String>,
    /// Every secret of the machine or user, in the environment under upper-cased names; never replaces a set variable or one like PATH, LD_* (see below)
    #[arg(long, conflicts_with = "all_files")]
    pub all_env: bool,
    /// Every secret of the machine or user as a file in a private folder named by $SECRETS_DIR
    #[arg(long)]
    pub all_files: bool,
    /// With --all-env/--all-files: the machine's secrets (decrypted with your keys or the machine's)
    #[arg(long, value_name = "MACHINE", conflicts_with = "user")]
    pub machine: Option<String>,
    /// With --all-env/--all-files: the user's secrets [default: you, found by your key]
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Let the command see SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and SOPS_AGE_SSH_PRIVATE_KEY_FILE (removed by default)
    #[arg(long)]
    pub keep_key_env: bool,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

pub fn run(ctx: &Context, args: ExecArgs) -> CmdResult {
    if args.env.is_empty() && args.files.is_empty() && !args.all_env && !args.all_files {
        return Err(Failure::new(exit::USAGE, "which secrets? pass --env, --file, --all-env or --all-files"));
    }
    if (args.machine.is_some() || args.user.is_some()) && !(args.all_env || args.all_files) {
        return Err(Failure::new(exit::USAGE, "--machine and --user choose whose secrets --all-env/--all-files take"));
    }
    let repo = ctx.repo_for_reading()?;
    let mut wanted = Vec::new();
    for spec in &args.env {
        let (var, secret) = split_spec(spec)?;
        // A name the user chose is theirs, but a secret never becomes a key variable behind
        // --keep-key-env's back: key variables are stripped from the command unless it is given.
        if !args.keep_key_env && KEY_ENV.contains(&var.as_str()) {
            return Err(Failure::new(exit::USAGE, format!("`{spec}`: ${var} locates private keys and is removed from the command"))
                .hint("add --keep-key-env to pass it on purpose"));
        }
        wanted.push(Wanted { sink: Sink::Env(var), secret: find(&repo, &secret)? });
    }
    let explicit_files = args.files.len();
    for spec in &args.files {
        let (var, secret) = split_spec(spec)?;
        wanted.push(Wanted { sink: Sink::File { name: var.clone(), var: Some(var) }, secret: find(&repo, &secret)? });
    }
    if args.all_env || args.all_files {
        for secret in owned_secrets(&repo, args.machine.as_deref(), args.user.as_deref())? {
            let sink = if args.all_env {
                let var = env_name(&secret.name);
                // Secret names are chosen by whoever commits to the repository: they may fill
                // variables but never replace one this run already has or one that steers how
                // the command (or its loader, shell or tools) runs.
                if let Some(why) = all_env_refusal(&var, |v| std::env::var_os(v).is_some()) {
                    say!(
                        "warning: secret `{}` is not passed as ${var}: {why}; use --env NAME={} to choose a name",
                        secret.name,
                        secret.name
                    );
                    continue;
                }
                Sink::Env(var)
            } else {
                Sink::File { var: None, name: secret.name.clone() }
            };
            wanted.push(Wanted { secret, sink });
        }
    }
    let mut vars: Vec<&str> = wanted.iter().filter_map(|w| w.var()).collect();
    vars.sort_unstable();
    if let Some([twice, _]) = vars.windows(2).find(|p| p[0] == p[1]) {
        return Err(Failure::new(exit::USAGE, format!("the variable {twice} is given twice")));
    }

    // Everything is decrypted before anything is written or run; the identities are dropped
    // (their keys zeroized) as soon as they are no longer needed, before the command starts.
    let identities = crate::passphrase::local_identities();
    let mut values = Vec::with_capacity(wanted.len());
    for w in &wanted {
        values.push(ops::decrypt_secret(&repo, &w.secret, &identities).map_err(|e| {
            store_failure(e).hint("exec decrypts with your keys (SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt, ~/.ssh/id_ed25519)")
        })?);
    }
    drop(identities);

    let needs_dir = wanted.iter().any(|w| matches!(w.sink, Sink::File { .. }));
    let dir = if needs_dir { Some(private_tempdir("exec")?) } else { None };
    let mut command_env: Vec<(String, Zeroizing<Vec<u8>>)> = Vec::new();
    let mut file_paths = Vec::new();
    for (w, value) in wanted.iter().zip(values) {
        match &w.sink {
            Sink::Env(var) => {
                if value.contains(&0) {
                    return Err(Failure::msg(format!("secret `{}` holds a NUL byte, which an environment variable cannot", w.secret.name))
                        .hint("pass it with --file instead"));
                }
                command_env.push((var.clone(), value));
            }
            Sink::File { var, name } => {
                let Some(root) = dir.as_ref().map(super::super::io::PrivateDir::path) else { continue };
                let path = root.join(name);
                write_private(root, &path, &value, 0o400)?;
                drop(value);
                if let Some(var) = var {
                    command_env.push((var.clone(), Zeroizing::new(path.as_os_str().as_bytes().to_vec())));
                }
                file_paths.push(path);
            }
        }
    }
    if args.all_files {
        if let Some(root) = dir.as_ref().map(super::super::io::PrivateDir::path) {
            command_env.push(("SECRETS_DIR".into(), Zeroizing::new(root.as_os_str().as_bytes().to_vec())));
        }
    }

    let argv = substitute(&args.command, if explicit_files == 1 { file_paths.first() } else { None }, explicit_files)?;
    let mut child = Command::new(&argv[0]);
    child.args(&argv[1..]);
    for (var, value) in &command_env {
        child.env(var, OsStr::from_bytes(value));
    }
    // After the secrets, so that none of them can put a key variable back.
    if !args.keep_key_env {
        remove_key_env(&mut child);
    }
    // The command holds the values in its environment now; this process keeps none of them
    // while it waits.
    drop(command_env);
    let finished = crate::sys::signals::run(child);
    // The private folder goes before anything else is reported.
    drop(dir);
    let finished = finished.map_err(|e| Failure::new(exit::CANNOT_RUN, format!("cannot run `{}`: {e}", args.command[0])))?;
    Ok(exit_code(finished.status))
}

/// The variables that hold or point to private keys (sops' names), which the command does not
/// get unless asked (`--keep-key-env`): it needs the values, not the keys that open every secret.
pub const KEY_ENV: [&str; 4] = ["SOPS_AGE_KEY", "SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE"];

/// Removes [`KEY_ENV`] from a command's environment.
pub fn remove_key_env(command: &mut Command) {
    for var in KEY_ENV {
        command.env_remove(var);
    }
}

/// Variables (or prefixes ending in `*`, or suffixes starting with `*`) that change how a
/// program is loaded or run, or what the shell, interpreters, pagers and tools it starts read
/// and run: `--all-env` never fills them from secret names, which anyone who commits chooses.
pub const STEERING_ENV: &[&str] = &[
    // The loader and the C library.
    "LD_*",
    "DYLD_*",
    "GCONV_PATH",
    "LOCPATH",
    "NLSPATH",
    "MALLOC_*",
    "GLIBC_TUNABLES",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    "TZ*",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TERM",
    "TERMINFO*",
    "TERMCAP",
    // Shells and the programs a shell session starts.
    "PATH",
    "BASH_ENV",
    "BASH_FUNC_*",
    "ENV",
    "IFS",
    "CDPATH",
    "PS1",
    "PS2",
    "PS3",
    "PS4",
    "PROMPT_COMMAND",
    "SHELLOPTS",
    "BASHOPTS",
    "ZDOTDIR",
    "HISTFILE",
    "INPUTRC",
    "HOME",
    "SHELL",
    "TMPDIR",
    "XDG_*",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "MANPAGER",
    "MANOPT",
    "MANPATH",
    "LESS*",
    "BROWSER",
    // Interpreters and build tools.
    "NODE_*",
    "NPM_CONFIG_*",
    "PYTHON*",
    "PIP_*",
    "PERL5*",
    "PERLLIB",
    "RUBYOPT",
    "RUBYLIB",
    "GEM_*",
    "LUA_*",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "CARGO_*",
    "RUSTC*",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "GOFLAGS",
    "GOPATH",
    "GOROOT",
    "GOBIN",
    "GOENV",
    "GOTOOLCHAIN",
    "GOPROXY",
    "PSQLRC",
    "MYSQL_HOME",
    "KUBECONFIG",
    "DOCKER_HOST",
    "DOCKER_CONFIG",
    "DOCKER_CERT_PATH",
    // Where tools find certificates, proxies and credentials' keys.
    "OPENSSL_*",
    "SSL_*",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "*_PROXY",
    "GNUPGHOME",
    "GPG_*",
    "SSH_*",
    "SOPS_*",
    "GIT_*",
    "SECRETS_*",
];

/// Why `--all-env` does not set `var` from a secret, if it does not: the variable is already set
/// (`is_set`), or it is one of [`STEERING_ENV`].
fn all_env_refusal(var: &str, is_set: impl Fn(&str) -> bool) -> Option<&'static str> {
    let steering = STEERING_ENV.iter().any(|pattern| {
        if let Some(prefix) = pattern.strip_suffix('*') {
            var.starts_with(prefix)
        } else if let Some(suffix) = pattern.strip_prefix('*') {
            var.ends_with(suffix)
        } else {
            var == *pattern
        }
    });
    if steering {
        Some("it would change how the command runs")
    } else if is_set(var) {
        Some("it is already set in the environment")
    } else {
        None
    }
}

impl Wanted {
    fn var(&self) -> Option<&str> {
        match &self.sink {
            Sink::Env(var) => Some(var),
            Sink::File { var, .. } => var.as_deref(),
        }
    }
}

/// `NAME=SECRET`, or `SECRET` alone with its environment name.
fn split_spec(spec: &str) -> CmdResult<(String, String)> {
    let (var, secret) = match spec.split_once('=') {
        Some((var, secret)) => (var.to_string(), secret.to_string()),
        None => (env_name(spec), spec.to_string()),
    };
    if var.is_empty() || var.contains('\0') || secret.is_empty() {
        return Err(Failure::new(exit::USAGE, format!("`{spec}`: expected NAME=SECRET or SECRET")));
    }
    Ok((var, secret))
}

/// A secret's name as an environment variable: upper case, anything but letters and digits
/// as `_` (`db-password` → `DB_PASSWORD`, `vars/shared/gen/key` → `VARS_SHARED_GEN_KEY`).
pub fn env_name(secret: &str) -> String {
    let mut out: String = secret.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// A secret by the name `secrets list` shows (vars secrets by their repository path).
fn find(repo: &Repo, name: &str) -> CmdResult<SecretRef> {
    if let Ok(secret) = repo.secret(name) {
        if secret.file().is_file() {
            return Ok(secret);
        }
    }
    let all = repo.all_secrets()?;
    all.into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Failure::msg(format!("no secret `{name}` in {}", repo.root().display())).hint("see `secrets list`"))
}

/// The secrets a machine gets, or those linked to a user (directly or through groups).
fn owned_secrets(repo: &Repo, machine: Option<&str>, user: Option<&str>) -> CmdResult<Vec<SecretRef>> {
    if let Some(machine) = machine {
        let source = Source::open(repo.root())?;
        let secrets = source.machine_secrets(machine)?;
        return Ok(secrets
            .into_iter()
            .map(|s| SecretRef { name: s.name, dir: s.file.parent().map(Path::to_path_buf).unwrap_or_default() })
            .collect());
    }
    let user = match user {
        Some(u) => u.to_string(),
        None => super::secrets::caller(repo)?,
    };
    let mut out = Vec::new();
    for secret in repo.all_secrets()? {
        if repo.access(&secret)?.users.contains_key(&user) {
            out.push(secret);
        }
    }
    Ok(out)
}

/// Replaces `{}` in the arguments with the path of the only `--file`.
fn substitute(command: &[String], only_file: Option<&PathBuf>, explicit_files: usize) -> CmdResult<Vec<OsString>> {
    let mut out = Vec::with_capacity(command.len());
    for (i, arg) in command.iter().enumerate() {
        if i > 0 && arg.contains("{}") {
            let Some(path) = only_file else {
                return Err(Failure::new(
                    exit::USAGE,
                    format!("`{{}}` stands for the file of exactly one --file, and {explicit_files} were given"),
                )
                .hint("use the variables instead: --file NAME=SECRET puts the path in $NAME"));
            };
            out.push(OsString::from(arg.replace("{}", &path.to_string_lossy())));
        } else {
            out.push(OsString::from(arg));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names() {
        assert_eq!(env_name("db-password"), "DB_PASSWORD");
        assert_eq!(env_name("api.token"), "API_TOKEN");
        assert_eq!(env_name("vars/shared/gen/key"), "VARS_SHARED_GEN_KEY");
        assert_eq!(env_name("1st"), "_1ST");
    }

    #[test]
    fn all_env_keeps_off_steering_and_set_variables() {
        let unset = |_: &str| false;
        for var in [
            "LD_PRELOAD",
            "DYLD_INSERT_LIBRARIES",
            "PATH",
            "BASH_ENV",
            "ENV",
            "IFS",
            "PYTHONPATH",
            "PERL5OPT",
            "SOPS_AGE_KEY_CMD",
            "GIT_SSH_COMMAND",
            "HOME",
            "XDG_CONFIG_HOME",
            "LESSOPEN",
            "HTTPS_PROXY",
            "PAGER",
            "OPENSSL_CONF",
            "PROMPT_COMMAND",
            "TERMINFO_DIRS",
            "TZDIR",
            "ZDOTDIR",
        ] {
            assert!(all_env_refusal(var, unset).is_some(), "{var}");
        }
        assert!(all_env_refusal("DB_PASSWORD", unset).is_none());
        assert!(all_env_refusal("GOOGLE_API_KEY", unset).is_none());
        assert!(all_env_refusal("AWS_SECRET_ACCESS_KEY", unset).is_none());
        assert!(all_env_refusal("PATHS", unset).is_none(), "exact names match exactly");
        assert!(all_env_refusal("DB_PASSWORD", |v| v == "DB_PASSWORD").is_some());
    }

    #[test]
    fn specs() {
        assert_eq!(split_spec("X=db").ok().unwrap(), ("X".into(), "db".into()));
        assert_eq!(split_spec("db-password").ok().unwrap(), ("DB_PASSWORD".into(), "db-password".into()));
        assert!(split_spec("=db").is_err());
        assert!(split_spec("X=").is_err());
    }

    #[test]
    fn placeholder_needs_exactly_one_file() {
        let cmd: Vec<String> = ["cat", "{}", "x{}y"].map(String::from).to_vec();
        let path = PathBuf::from("/p");
        assert_eq!(substitute(&cmd, Some(&path), 1).ok().unwrap(), ["cat", "/p", "x/py"].map(OsString::from));
        assert!(substitute(&cmd, None, 2).is_err());
        let plain: Vec<String> = ["{}", "a"].map(String::from).to_vec();
        assert!(substitute(&plain, None, 0).is_ok(), "the program name is left alone");
    }
}
