//! `secrets sops exec-env FILE COMMAND` and `secrets sops exec-file FILE COMMAND`, as sops runs
//! them: COMMAND is one shell command (`/bin/sh -c`), run with the file's top-level values in its
//! environment, or with the decrypted file in a private folder (`{}` in COMMAND is its path),
//! handed over through a named pipe unless `--no-fifo`. The exit code is the command's.
//!
//! Where this differs from sops, it is safer: the keys are zeroized and dropped before the
//! command starts, the command does not inherit the variables that locate private keys
//! (`SOPS_AGE_KEY*`, as `secrets exec`), the private folder lives in memory where possible, and
//! `--filename` is a plain name (no `/`). A command killed by a signal exits 128 + the signal.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use secrets_sops::{Format, MapItem, Value};
use zeroize::Zeroizing;

use super::{display, formats, load, open, plain_bytes, TypeArgs};
use crate::commands::credentials::exit_code;
use crate::commands::exec::remove_key_env;
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::io::{private_tempdir, write_private};
use crate::output::say;

/// sops's name for the decrypted file when `--filename` is not given.
const FALLBACK_FILENAME: &str = "tmp-file";

pub const EXEC_ENV_ABOUT: &str = "Run a command with the file's decrypted values in its environment";
pub const EXEC_ENV_EXAMPLES: &str =
    "Examples:\n  secrets sops exec-env secrets.env './server --port 8080'\n  secrets sops exec-env --pristine secrets.yaml 'env'";
pub const EXEC_FILE_ABOUT: &str = "Run a command with the decrypted file in a private temporary file ({} is its path)";
pub const EXEC_FILE_EXAMPLES: &str =
    "Examples:\n  secrets sops exec-file secrets.yaml 'cat {}'\n  secrets sops exec-file --no-fifo --filename app.conf secrets.ini 'app --config {}'";

/// The arguments of `secrets sops exec-env`.
#[derive(Args, Debug, Clone)]
pub struct ExecEnvArgs {
    /// Start the command and return without waiting for it (deprecated in sops)
    #[arg(long)]
    pub background: bool,
    /// Give the command only the decrypted values, not this environment
    #[arg(long)]
    pub pristine: bool,
    /// Run the command as this user (needs root)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Replace this process with the command instead of starting a child
    #[arg(long)]
    pub same_process: bool,
    /// The encrypted file, then the command (one shell command line)
    #[arg(trailing_var_arg = true, value_names = ["FILE", "COMMAND"])]
    pub args: Vec<String>,
}

/// The arguments of `secrets sops exec-file`.
#[derive(Args, Debug, Clone)]
pub struct ExecFileArgs {
    /// Start the command and return without waiting for it (deprecated in sops)
    #[arg(long)]
    pub background: bool,
    /// Use a regular file instead of a named pipe to hold the decrypted contents
    #[arg(long, overrides_with = "fifo")]
    pub no_fifo: bool,
    /// Use a named pipe (the default)
    #[arg(long, overrides_with = "no_fifo", hide = true)]
    pub fifo: bool,
    /// Run the command as this user (needs root)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The name of the temporary file [default: tmp-file]
    #[arg(long, value_name = "NAME")]
    pub filename: Option<String>,
    #[command(flatten)]
    pub types: TypeArgs,
    /// The encrypted file, then the command (one shell command line)
    #[arg(trailing_var_arg = true, value_names = ["FILE", "COMMAND"])]
    pub args: Vec<String>,
}

/// FILE and COMMAND, exactly two as sops wants them.
fn file_and_command(args: &[String]) -> CmdResult<(PathBuf, &str)> {
    match args {
        [file, command] => Ok((PathBuf::from(file), command.as_str())),
        _ => Err(Failure::new(exit::GENERIC, "missing file to decrypt")
            .hint("give the file and the command as two arguments: 'secrets sops exec-env FILE \"COMMAND ARGS\"'")),
    }
}

fn shell(command: &str) -> Command {
    let mut child = Command::new("/bin/sh");
    child.arg("-c").arg(command);
    child
}

/// The uid and primary gid of `user` from the account database.
fn account(user: &str) -> CmdResult<(u32, u32)> {
    let accounts = secrets_deploy::Accounts::system().map_err(|e| Failure::msg(format!("cannot read the user database: {e}")))?;
    let account = user.parse::<u32>().map_or_else(|_| secrets_deploy::Account::Name(user.to_string()), secrets_deploy::Account::Id);
    match accounts.user(&account) {
        Ok(Some((uid, gid))) => Ok((uid, gid.unwrap_or(uid))),
        Ok(None) | Err(_) => Err(Failure::msg(format!("user: unknown user {user}"))),
    }
}

fn run_as(child: &mut Command, user: Option<&str>) -> CmdResult<()> {
    if let Some(user) = user {
        let (uid, gid) = account(user)?;
        child.uid(uid).gid(gid);
    }
    Ok(())
}

/// Runs `child`: started and left alone with `--background`, else waited for (signals passed
/// on), its exit code returned.
fn finish(child: Command, background: bool, what: &str) -> CmdResult {
    if background {
        let mut child = child;
        child.spawn().map_err(|e| Failure::new(exit::CANNOT_RUN, format!("cannot run the command: {e}")))?;
        return Ok(0);
    }
    let finished = crate::sys::signals::run(child).map_err(|e| Failure::new(exit::CANNOT_RUN, format!("cannot run {what}: {e}")))?;
    Ok(exit_code(finished.status))
}

pub fn run_env(args: ExecEnvArgs) -> CmdResult {
    let (file, command) = file_and_command(&args.args)?;
    if args.background {
        say!("warning: exec-env's --background option is deprecated and will be removed in a future version of sops");
        if args.same_process {
            return Err(Failure::new(exit::CONFLICTING_PARAMETERS, "the --same-process flag cannot be used with --background"));
        }
    }
    let format = Format::from_path(&file);
    let env = decrypted_env(&file, format)?;
    let mut child = shell(command);
    if args.pristine {
        child.env_clear();
    } else {
        remove_key_env(&mut child);
    }
    for (key, value) in &env {
        child.env(key, OsStr::from_bytes(value));
    }
    run_as(&mut child, args.user.as_deref())?;
    // The command holds the values now; this process keeps none of them.
    drop(env);
    if args.same_process {
        let error = child.exec();
        return Err(Failure::new(exit::CANNOT_RUN, format!("cannot run /bin/sh: {error}")));
    }
    finish(child, args.background, "/bin/sh")
}

/// The top-level values of `file` as variables, as sops builds them: comments skipped, nested
/// values and keys holding `=` refused, scalars in Go's text form. The keys and the decrypted
/// tree are dropped (and zeroized) before this returns.
fn decrypted_env(file: &Path, format: Format) -> CmdResult<Vec<(String, Zeroizing<Vec<u8>>)>> {
    let encrypted = load(file, format)?;
    let plain = open(file, &encrypted, false)?;
    drop(encrypted);
    let mut env = Vec::new();
    let Some(branch) = plain.data.branches.first() else { return Ok(env) };
    for item in &branch.0 {
        let MapItem::Entry(key, value) = item else { continue };
        if matches!(value, Value::Map(_) | Value::List(_)) {
            return Err(Failure::msg(format!("cannot use complex value in environment; offending key {key}")));
        }
        if key.contains('=') {
            return Err(Failure::msg(format!("cannot use keys with '=' in environment: {key}")));
        }
        let text = Zeroizing::new(secrets_sops::stores::go_format::val_to_string(value));
        if text.contains(&0) || key.contains('\0') || key.is_empty() {
            return Err(Failure::msg(format!("cannot use key {key} in environment: a NUL byte or an empty name")));
        }
        env.push((key.clone(), text));
    }
    Ok(env)
}

pub fn run_file(args: ExecFileArgs) -> CmdResult {
    let (file, command) = file_and_command(&args.args)?;
    let (input_fmt, output_fmt) = formats(&file, &args.types)?;
    let plaintext = {
        let encrypted = load(&file, input_fmt)?;
        let plain = open(&file, &encrypted, false)?;
        Zeroizing::new(plain_bytes(&file, &plain, output_fmt)?)
    };
    if args.background {
        say!("warning: exec-file's --background option is deprecated and will be removed in a future version of sops");
    }
    if let Some(name) = &args.filename {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." || name.contains('\0') {
            return Err(Failure::new(exit::GENERIC, format!("--filename {name:?}: a plain file name is needed (no `/`)")));
        }
    }
    // sops becomes the user before it makes its folder; here the folder and the file are given
    // to the user instead, so that the command can read them.
    let account = args.user.as_deref().map(account).transpose()?;
    let give = |path: &Path| -> CmdResult<()> {
        match account {
            Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| Failure::new(exit::COULD_NOT_WRITE_OUTPUT_FILE, format!("cannot give {} to the user: {e}", display(path)))),
            None => Ok(()),
        }
    };
    let dir = private_tempdir("exec")?;
    give(dir.path())?;
    let path = if args.no_fifo {
        let name = args.filename.clone().unwrap_or_else(|| format!("{FALLBACK_FILENAME}{}", rand::random::<u32>()));
        let path = dir.path().join(name);
        write_private(dir.path(), &path, &plaintext, 0o600)?;
        drop(plaintext);
        give(&path)?;
        path
    } else {
        let path = dir.path().join(args.filename.as_deref().unwrap_or(FALLBACK_FILENAME));
        crate::sys::fifo::make(&path, 0o600)
            .map_err(|e| Failure::new(exit::COULD_NOT_WRITE_OUTPUT_FILE, format!("cannot create the pipe: {e}")))?;
        give(&path)?;
        feed_pipe(path.clone(), plaintext);
        path
    };
    let shown = path.to_string_lossy();
    let mut child = shell(&command.replace("{}", &shown));
    remove_key_env(&mut child);
    if let Some((uid, gid)) = account {
        child.uid(uid).gid(gid);
    }
    let result = finish(child, args.background, "/bin/sh");
    // The private folder goes before anything else is reported (with --background too, as sops
    // removes its folder once the command has started).
    drop(dir);
    result
}

/// Writes the plaintext into the pipe from a thread, once the command opens it. A command that
/// never reads it leaves the thread blocked until this process ends.
fn feed_pipe(path: PathBuf, plaintext: Zeroizing<Vec<u8>>) {
    std::thread::spawn(move || {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let opened = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NOFOLLOW).open(&path);
        if let Ok(mut pipe) = opened {
            // The reader may stop early; that is its business.
            let _ = pipe.write_all(&plaintext);
        }
        drop(plaintext);
    });
}
