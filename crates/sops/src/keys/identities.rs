//! Finding and loading age identities from every place sops looks (spec 4.3).
//!
//! Every source is read and merged; a broken source is recorded in its report and skipped, the
//! others still count. Reports, errors and `Debug` output name sources, line numbers and public
//! keys only, never key material.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use super::openssh::{self, OpensshKey};
use super::prompt::{Callbacks, Prompter};
use super::{armor, command_line, ssh_to_age};
use crate::error::{Error, IdentityProblem, LineProblem, Result, UnusableSsh};

type BoxedIdentity = Box<dyn age::Identity + Send + Sync>;

const SSH_KEY_FILE_VAR: &str = "SOPS_AGE_SSH_PRIVATE_KEY_FILE";
const KEY_VAR: &str = "SOPS_AGE_KEY";
const KEY_FILE_VAR: &str = "SOPS_AGE_KEY_FILE";
const KEY_CMD_VAR: &str = "SOPS_AGE_KEY_CMD";

/// The identities available to decrypt, with a report of every source consulted.
pub struct Identities {
    /// Identities that open files without any interaction.
    local: Vec<BoxedIdentity>,
    /// Public forms of `local`, for display; rendered on first use (see [`PublicKey`]).
    public_keys: Vec<PublicKey>,
    rendered_public_keys: OnceLock<Vec<String>>,
    /// Plugin identities; each runs its `age-plugin-<name>` binary.
    plugins: Vec<age::plugin::Identity>,
    /// Passphrase-protected sources, opened on first need if a prompter is installed.
    locked: Vec<Locked>,
    prompter: Option<Arc<dyn Prompter>>,
    reports: Vec<PendingReport>,
    /// How to run GnuPG for PGP master keys.
    gnupg: super::pgp::GnuPg,
    /// PGP master keys are tried before age keys (see [`Identities::set_decryption_order`]).
    pgp_first: bool,
}

/// A public key as it is shown. An X25519 identity's is derived only when it is shown: that
/// costs a scalar multiplication per identity, about a tenth of the work of a whole
/// `secrets sops decrypt`, which most runs never need.
enum PublicKey {
    Known(String),
    OfX25519(age::x25519::Identity),
}

impl PublicKey {
    fn render(&self) -> String {
        match self {
            PublicKey::Known(text) => text.clone(),
            PublicKey::OfX25519(identity) => identity.to_public().to_string(),
        }
    }
}

/// A source's report before it is shown.
struct PendingReport {
    source: String,
    parts: Vec<ReportPart>,
}

enum ReportPart {
    Text(String),
    /// "N age identities: age1…, …", naming these entries of `public_keys`.
    AgeIdentities(std::ops::Range<usize>),
}

/// What one key source held (for the report when nothing decrypts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceReport {
    /// Where the keys were looked for: a variable's name or a file's path.
    pub source: String,
    /// What came of it: how many keys were found, or why none was.
    pub outcome: String,
}

/// Identities are tried in two rounds so that plugins and passphrase prompts only run when the
/// plain keys cannot open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    Local,
    Interactive,
}

struct Locked {
    /// Index of the source's entry in `reports`.
    report: usize,
    kind: LockedKind,
    unlocked: OnceLock<std::result::Result<Vec<BoxedIdentity>, IdentityProblem>>,
}

enum LockedKind {
    /// A passphrase-encrypted (scrypt) age file holding identity lines, as binary.
    AgeIdentityFile {
        location: String,
        binary: Vec<u8>,
    },
    Ssh {
        location: String,
        key: age::ssh::EncryptedKey,
    },
}

/// The identities one source yielded.
#[derive(Default)]
struct Loaded {
    local: Vec<BoxedIdentity>,
    public_keys: Vec<PublicKey>,
    /// What the local identities are, e.g. "2 age identities"; joined into the outcome. Ranges
    /// index `public_keys`.
    summary: Vec<ReportPart>,
    plugins: Vec<age::plugin::Identity>,
    locked: Vec<LockedKind>,
}

impl Default for Identities {
    fn default() -> Identities {
        Identities::empty()
    }
}

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identities")
            .field("local", &self.local.len())
            .field("public_keys", &self.public_keys())
            .field("plugins", &self.plugins.len())
            .field("locked", &self.locked.len())
            .field("reports", &self.reports())
            // The remaining fields hold key material or wrap-time state: never printed.
            .finish_non_exhaustive()
    }
}

impl Identities {
    /// No identities at all.
    pub fn empty() -> Identities {
        Identities {
            local: Vec::new(),
            public_keys: Vec::new(),
            rendered_public_keys: OnceLock::new(),
            plugins: Vec::new(),
            locked: Vec::new(),
            prompter: None,
            reports: Vec::new(),
            gnupg: super::pgp::GnuPg::default(),
            pgp_first: false,
        }
    }

    /// Runs `program` (instead of `gpg`) with `home` as GnuPG's home (instead of its default)
    /// for PGP master keys: what `SOPS_GPG_EXEC` and `GNUPGHOME` say in [`Identities::discover`].
    pub fn set_gnupg(&mut self, program: Option<std::ffi::OsString>, home: Option<std::path::PathBuf>) {
        self.gnupg = super::pgp::GnuPg { program: program.unwrap_or_else(|| "gpg".into()), home };
    }

    pub(crate) fn gnupg(&self) -> &super::pgp::GnuPg {
        &self.gnupg
    }

    /// Orders the kinds of master keys tried to open a key group, as sops's
    /// `--decryption-order` does: each name's place in `order` ranks its kind, a kind the list
    /// does not name comes after every named one, and kinds of equal rank keep sops's order
    /// inside a group, PGP keys before age keys. The default (no call, or `["age", "pgp"]`)
    /// tries age keys first. Names this library cannot use (`kms`, `gcp_kms`, …) only rank.
    pub fn set_decryption_order<S: AsRef<str>>(&mut self, order: &[S]) {
        let rank = |kind: &str| order.iter().position(|name| name.as_ref() == kind).unwrap_or(order.len());
        self.pgp_first = rank("pgp") <= rank("age");
    }

    /// Whether PGP master keys are tried before age keys.
    pub(crate) fn pgp_first(&self) -> bool {
        self.pgp_first
    }

    /// Loads identities from every place sops looks, using the process environment.
    pub fn from_env() -> Identities {
        let home = home_dir();
        Identities::discover(&|name: &str| std::env::var(name).ok(), home.as_deref())
    }

    /// Loads identities from every place sops looks, reading variables through `env` and taking
    /// `home` as the user's home directory:
    /// 1. `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, and `~/.ssh/id_ed25519` and `~/.ssh/id_rsa` if they
    ///    exist;
    /// 2. `SOPS_AGE_KEY` (identities themselves; also separated by spaces, as sops 3.13 allows);
    /// 3. `SOPS_AGE_KEY_FILE` (a path);
    /// 4. `SOPS_AGE_KEY_CMD` (split like a shell would, run without a shell, stdout parsed);
    /// 5. `<config dir>/sops/age/keys.txt` whenever it exists.
    pub fn discover(env: &impl Fn(&str) -> Option<String>, home: Option<&Path>) -> Identities {
        let mut ids = Identities::empty();
        ids.set_gnupg(
            env("SOPS_GPG_EXEC").filter(|p| !p.is_empty()).map(Into::into),
            env("GNUPGHOME").filter(|h| !h.is_empty()).map(Into::into),
        );

        match env(SSH_KEY_FILE_VAR) {
            Some(path) => {
                let source = format!("{SSH_KEY_FILE_VAR}={path}");
                let loaded = read_file(Path::new(&path)).and_then(|bytes| load_ssh(&bytes, &path));
                ids.absorb(source, loaded);
            }
            None => ids.note(SSH_KEY_FILE_VAR, "not set"),
        }
        match home {
            Some(home) => {
                for name in ["id_ed25519", "id_rsa"] {
                    let path = home.join(".ssh").join(name);
                    let shown = path.display().to_string();
                    // Opened once: a missing key is noted, one that is there is read as opened.
                    match read_key_file(&path) {
                        Ok(None) => ids.note(&shown, "not found"),
                        Ok(Some(bytes)) => {
                            let loaded = load_ssh(&bytes, &shown);
                            ids.absorb(shown, loaded);
                        }
                        Err(refused) => ids.absorb(shown, Err(refused.into())),
                    }
                }
            }
            None => ids.note("~/.ssh", "the home directory is unknown"),
        }

        match env(KEY_VAR) {
            Some(text) => {
                let text = Zeroizing::new(text);
                ids.absorb(KEY_VAR.to_string(), parse_age_keys(text.as_bytes(), true));
            }
            None => ids.note(KEY_VAR, "not set"),
        }

        match env(KEY_FILE_VAR) {
            Some(path) => {
                let loaded = read_file(Path::new(&path)).and_then(|bytes| parse_age_keys(&bytes, false));
                ids.absorb(format!("{KEY_FILE_VAR}={path}"), loaded);
            }
            None => ids.note(KEY_FILE_VAR, "not set"),
        }

        match env(KEY_CMD_VAR) {
            Some(command) => {
                let loaded = run_key_command(&command).and_then(|out| parse_age_keys(&out, false));
                ids.absorb(format!("{KEY_CMD_VAR}={command}"), loaded);
            }
            None => ids.note(KEY_CMD_VAR, "not set"),
        }

        match user_config_dir(env, home) {
            Ok(dir) => {
                let path = dir.join("sops").join("age").join("keys.txt");
                let shown = path.display().to_string();
                match read_key_file(&path) {
                    Ok(None) => ids.note(&shown, "not found"),
                    Ok(Some(bytes)) => {
                        let loaded = parse_age_keys(&bytes, false);
                        ids.absorb(shown, loaded);
                    }
                    Err(refused) => ids.absorb(shown, Err(refused.into())),
                }
            }
            Err(reason) => ids.note("default keys.txt", &reason.to_string()),
        }
        ids
    }

    /// Identities from the text of an age identity file (`# comments`, one identity per line).
    pub fn from_age_key_text(text: &str, source_name: &str) -> Result<Identities> {
        let mut ids = Identities::empty();
        ids.add_age_key_text(text, source_name)?;
        Ok(ids)
    }

    /// Adds the identities in the text of an age identity file.
    pub fn add_age_key_text(&mut self, text: &str, source_name: &str) -> Result<()> {
        let loaded =
            parse_age_keys(text.as_bytes(), false).map_err(|problem| Error::Identity { source_name: source_name.to_string(), problem })?;
        self.absorb(source_name.to_string(), Ok(loaded));
        Ok(())
    }

    /// Adds the identities of an age identity file.
    pub fn add_age_key_file(&mut self, path: &Path) -> Result<()> {
        let shown = path.display().to_string();
        let loaded = read_file(path)
            .and_then(|bytes| parse_age_keys(&bytes, false))
            .map_err(|problem| Error::Identity { source_name: shown.clone(), problem })?;
        self.absorb(shown, Ok(loaded));
        Ok(())
    }

    /// Adds an OpenSSH ed25519 or RSA private key. An ed25519 key also counts as its
    /// `ssh-to-age` X25519 conversion, so it opens files for either recipient form.
    pub fn add_ssh_private_key_file(&mut self, path: &Path) -> Result<()> {
        let shown = path.display().to_string();
        let loaded = read_file(path)
            .and_then(|bytes| load_ssh(&bytes, &shown))
            .map_err(|problem| Error::Identity { source_name: shown.clone(), problem })?;
        self.absorb(shown, Ok(loaded));
        Ok(())
    }

    /// Moves every identity and report of `other` into `self`.
    pub fn extend(&mut self, other: Identities) {
        let offset = self.reports.len();
        let key_offset = self.public_keys.len();
        self.local.extend(other.local);
        self.public_keys.extend(other.public_keys);
        self.rendered_public_keys = OnceLock::new();
        self.plugins.extend(other.plugins);
        self.locked.extend(other.locked.into_iter().map(|mut l| {
            l.report += offset;
            l
        }));
        self.reports.extend(other.reports.into_iter().map(|mut report| {
            report.shift_keys(key_offset);
            report
        }));
        if self.prompter.is_none() {
            self.prompter = other.prompter;
        }
    }

    /// Installs the hook used for passphrases, PINs and plugin messages. Without one,
    /// passphrase-protected sources are skipped and plugins get no answers to their questions.
    pub fn set_prompter(&mut self, prompter: Arc<dyn Prompter>) {
        self.prompter = Some(prompter);
    }

    /// No identity of any kind was loaded.
    pub fn is_empty(&self) -> bool {
        self.local.is_empty() && self.plugins.is_empty() && self.locked.is_empty()
    }

    /// The number of identities loaded (a passphrase-protected source counts once).
    pub fn len(&self) -> usize {
        self.local.len() + self.plugins.len() + self.locked.len()
    }

    /// The public keys of the identities usable without interaction (`age1…`, `ssh-ed25519 …`).
    pub fn public_keys(&self) -> &[String] {
        self.rendered_public_keys.get_or_init(|| self.public_keys.iter().map(PublicKey::render).collect())
    }

    /// One entry per source consulted, in discovery order.
    pub fn reports(&self) -> Vec<SourceReport> {
        let mut reports: Vec<SourceReport> = self.reports.iter().map(|report| report.render(self.public_keys())).collect();
        for locked in &self.locked {
            let Some(report) = reports.get_mut(locked.report) else {
                continue;
            };
            let status = match locked.unlocked.get() {
                Some(Ok(ids)) => format!("unlocked, {} identities", ids.len()),
                Some(Err(reason)) => reason.to_string(),
                None if self.prompter.is_none() => "not used: no way to ask for the passphrase here".to_string(),
                None => "not needed so far".to_string(),
            };
            report.outcome = format!("{} ({status})", report.outcome);
        }
        reports
    }

    /// Calls `f` with each identity of a tier until it returns `true`.
    pub(crate) fn for_each_identity(&self, tier: Tier, f: &mut dyn FnMut(&dyn age::Identity) -> bool) {
        match tier {
            Tier::Local => {
                for identity in &self.local {
                    if f(identity.as_ref()) {
                        return;
                    }
                }
            }
            Tier::Interactive => {
                let callbacks = Callbacks::new(self.prompter.clone());
                let mut names: Vec<&str> = self.plugins.iter().map(age::plugin::Identity::plugin).collect();
                names.sort_unstable();
                names.dedup();
                for name in names {
                    if let Ok(plugin) = age::plugin::IdentityPluginV1::new(name, &self.plugins, callbacks.clone()) {
                        if f(&plugin) {
                            return;
                        }
                    }
                }
                if self.prompter.is_none() {
                    return;
                }
                for locked in &self.locked {
                    let unlocked = locked.unlocked.get_or_init(|| unlock(&locked.kind, &callbacks));
                    if let Ok(ids) = unlocked {
                        for identity in ids {
                            if f(identity.as_ref()) {
                                return;
                            }
                        }
                    }
                }
            }
        }
    }

    fn note(&mut self, source: &str, outcome: &str) {
        self.reports.push(PendingReport { source: source.to_string(), parts: vec![ReportPart::Text(outcome.to_string())] });
    }

    fn absorb(&mut self, source: String, loaded: std::result::Result<Loaded, IdentityProblem>) {
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(reason) => {
                self.reports.push(PendingReport { source, parts: vec![ReportPart::Text(reason.to_string())] });
                return;
            }
        };
        let mut parts = loaded.summary;
        if !loaded.plugins.is_empty() {
            parts.push(ReportPart::Text(describe_plugins(&loaded.plugins)));
        }
        for kind in &loaded.locked {
            parts.push(ReportPart::Text(match kind {
                LockedKind::AgeIdentityFile { .. } => "passphrase-protected identity file".to_string(),
                LockedKind::Ssh { .. } => "passphrase-protected ssh key".to_string(),
            }));
        }
        if parts.is_empty() {
            parts.push(ReportPart::Text("no identities in it".to_string()));
        }
        let report = self.reports.len();
        let mut pending = PendingReport { source, parts };
        pending.shift_keys(self.public_keys.len());
        self.reports.push(pending);
        self.local.extend(loaded.local);
        self.public_keys.extend(loaded.public_keys);
        self.rendered_public_keys = OnceLock::new();
        self.plugins.extend(loaded.plugins);
        let source = &self.reports[report].source;
        self.locked.extend(loaded.locked.into_iter().map(|mut kind| {
            if let LockedKind::AgeIdentityFile { location, .. } = &mut kind {
                location.clone_from(source);
            }
            Locked { report, kind, unlocked: OnceLock::new() }
        }));
    }
}

impl PendingReport {
    /// Moves the report's key ranges by `offset`, for when its keys are appended after others.
    fn shift_keys(&mut self, offset: usize) {
        for part in &mut self.parts {
            if let ReportPart::AgeIdentities(range) = part {
                *range = range.start + offset..range.end + offset;
            }
        }
    }

    fn render(&self, public_keys: &[String]) -> SourceReport {
        let parts: Vec<String> = self
            .parts
            .iter()
            .map(|part| match part {
                ReportPart::Text(text) => text.clone(),
                ReportPart::AgeIdentities(range) => {
                    let noun = if range.len() == 1 { "age identity" } else { "age identities" };
                    format!("{} {noun}: {}", range.len(), public_keys[range.clone()].join(", "))
                }
            })
            .collect();
        SourceReport { source: self.source.clone(), outcome: parts.join("; ") }
    }
}

fn home_dir() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var).filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// Go's `os.UserConfigDir`, with sops' macOS exception for `XDG_CONFIG_HOME`.
fn user_config_dir(env: &impl Fn(&str) -> Option<String>, home: Option<&Path>) -> std::result::Result<PathBuf, IdentityProblem> {
    let unknown_home = || IdentityProblem::NoConfigDir("the home directory is unknown");
    let xdg = env("XDG_CONFIG_HOME").filter(|v| !v.is_empty());
    if cfg!(windows) {
        return env("APPDATA").filter(|v| !v.is_empty()).map(PathBuf::from).ok_or(IdentityProblem::NoConfigDir("%AppData% is not set"));
    }
    if cfg!(target_os = "macos") {
        if let Some(dir) = xdg {
            return Ok(PathBuf::from(dir));
        }
        return home.map(|h| h.join("Library").join("Application Support")).ok_or_else(unknown_home);
    }
    match xdg {
        Some(dir) if Path::new(&dir).is_absolute() => Ok(PathBuf::from(dir)),
        Some(_) => Err(IdentityProblem::NoConfigDir("XDG_CONFIG_HOME is a relative path")),
        None => home.map(|h| h.join(".config")).ok_or_else(unknown_home),
    }
}

/// The largest key file read: an age identity file or an OpenSSH private key takes a few KiB,
/// even with many keys.
pub const MAX_KEY_FILE: u64 = 1 << 20;

/// Reads a key file: see [`read_key_file`]; a missing file is an error.
fn read_file(path: &Path) -> std::result::Result<Zeroizing<Vec<u8>>, IdentityProblem> {
    read_key_file(path)?.ok_or_else(|| IdentityProblem::NotFound(path.to_path_buf()))
}

/// Why [`read_key_file`] refused a key file. Each names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Opening or reading it failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// It is a folder, a FIFO, a device or a socket.
    #[error("{} is {what}, not a key file; give the path of the key file itself", path.display())]
    NotAFile {
        /// The key file.
        path: PathBuf,
        /// What it is instead (`a folder`, `a FIFO, device or socket`).
        what: &'static str,
    },
    /// It is larger than [`MAX_KEY_FILE`].
    #[error("{} is larger than {MAX_KEY_FILE} bytes, more than a key file holds; give the path of the key file itself", path.display())]
    TooLarge {
        /// The key file.
        path: PathBuf,
    },
}

/// Reads a key file once, into memory that is zeroized when dropped; `None` when it does not
/// exist. A symlink is followed (the path is the user's own choice, and home-manager or the nix
/// store link key files), but what is opened must be a regular file of at most
/// [`MAX_KEY_FILE`] bytes: it is opened without blocking, so a FIFO, a device such as
/// `/dev/zero` or a huge file named by mistake is refused by name instead of hanging or
/// filling memory (sops would read whatever it is given).
pub fn read_key_file(path: &Path) -> std::result::Result<Option<Zeroizing<Vec<u8>>>, KeyFileError> {
    let fail = |source: std::io::Error| KeyFileError::Io { path: path.to_path_buf(), source };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(e)),
    };
    let meta = file.metadata().map_err(fail)?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a folder" } else { "a FIFO, device or socket" };
        return Err(KeyFileError::NotAFile { path: path.to_path_buf(), what });
    }
    let too_large = || KeyFileError::TooLarge { path: path.to_path_buf() };
    if meta.len() > MAX_KEY_FILE {
        return Err(too_large());
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(usize::try_from(meta.len()).map_or(0, |n| n + 1)));
    // One byte past the bound, so that a file growing after the check is refused too.
    file.take(MAX_KEY_FILE + 1).read_to_end(&mut bytes).map_err(fail)?;
    if bytes.len() as u64 > MAX_KEY_FILE {
        return Err(too_large());
    }
    Ok(Some(bytes))
}

/// Runs `SOPS_AGE_KEY_CMD` without a shell and returns its stdout.
fn run_key_command(command: &str) -> std::result::Result<Zeroizing<Vec<u8>>, IdentityProblem> {
    let words = command_line::split(command)?;
    let Some((program, args)) = words.split_first() else {
        return Err(IdentityProblem::EmptyCommand);
    };
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| IdentityProblem::CommandNotRun { program: program.clone(), source })?;
    let stdout = Zeroizing::new(output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        let upper = first.to_ascii_uppercase();
        // Show the command's own explanation unless it might be key material.
        let explanation = if first.is_empty() || upper.contains("AGE-") || upper.contains("PRIVATE KEY") {
            None
        } else {
            Some(first.chars().take(200).collect())
        };
        return Err(IdentityProblem::CommandFailed { status: output.status, explanation });
    }
    Ok(stdout)
}

/// Parses the content of an age identity source the way sops does: skip empty and `#` lines,
/// no trimming, CRLF allowed, and one bad line fails the whole source. A passphrase-encrypted
/// identity file is recognised by its first bytes. With `words`, a line may hold several
/// identities separated by whitespace.
fn parse_age_keys(content: &[u8], words: bool) -> std::result::Result<Loaded, IdentityProblem> {
    let mut loaded = Loaded::default();
    if content.starts_with(b"age-encryption") || content.starts_with(b"-----BEGIN AGE") {
        let binary = if content.starts_with(b"-----BEGIN AGE") {
            let text = std::str::from_utf8(content).map_err(|_| IdentityProblem::ArmorNotText)?;
            armor::dearmor(text)?
        } else {
            content.to_vec()
        };
        let scrypt = age::Decryptor::new_buffered(&binary[..]).is_ok_and(|d| d.is_scrypt());
        if !scrypt {
            return Err(IdentityProblem::NotPassphraseProtected);
        }
        loaded.locked.push(LockedKind::AgeIdentityFile { location: String::new(), binary });
        return Ok(loaded);
    }

    let text = std::str::from_utf8(content).map_err(|_| IdentityProblem::NotText)?;
    let mut x25519 = Vec::new();
    let mut post_quantum = 0usize;
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = index + 1;
        let items: Vec<&str> = if words { line.split_whitespace().collect() } else { vec![line] };
        for item in items {
            if item.starts_with("AGE-PLUGIN-") {
                let plugin =
                    item.parse::<age::plugin::Identity>().map_err(|reason| invalid_line(number, item, "plugin identity", reason))?;
                loaded.plugins.push(plugin);
            } else if item.starts_with("AGE-SECRET-KEY-PQ-1") {
                post_quantum += 1;
            } else if item.starts_with("AGE-SECRET-KEY-1") {
                let identity =
                    item.parse::<age::x25519::Identity>().map_err(|reason| invalid_line(number, item, "age secret key", reason))?;
                x25519.push(identity);
            } else {
                return Err(IdentityProblem::Line { number, problem: explain_bad_line(item) });
            }
        }
    }
    if !x25519.is_empty() {
        loaded.summary.push(ReportPart::AgeIdentities(0..x25519.len()));
        for identity in x25519 {
            loaded.public_keys.push(PublicKey::OfX25519(identity.clone()));
            loaded.local.push(Box::new(identity));
        }
    }
    if post_quantum > 0 {
        loaded.summary.push(ReportPart::Text(format!("{post_quantum} post-quantum identities skipped (not supported yet)")));
    }
    Ok(loaded)
}

fn invalid_line(number: usize, item: &str, what: &'static str, reason: &'static str) -> IdentityProblem {
    let problem = if item.ends_with(char::is_whitespace) { LineProblem::TrailingWhitespace } else { LineProblem::Invalid { what, reason } };
    IdentityProblem::Line { number, problem }
}

fn explain_bad_line(item: &str) -> LineProblem {
    let upper = item.trim_start().to_ascii_uppercase();
    if item.starts_with(char::is_whitespace) && upper.starts_with("AGE-") {
        LineProblem::LeadingWhitespace
    } else if upper.starts_with("AGE-SECRET-KEY-1") || upper.starts_with("AGE-PLUGIN-") {
        if item.ends_with(char::is_whitespace) {
            LineProblem::TrailingWhitespace
        } else {
            LineProblem::Lowercase
        }
    } else if item.starts_with("age1") {
        LineProblem::PublicKey
    } else {
        LineProblem::NotAnIdentity
    }
}

fn describe_plugins(plugins: &[age::plugin::Identity]) -> String {
    let mut names: Vec<&str> = plugins.iter().map(age::plugin::Identity::plugin).collect();
    names.sort_unstable();
    names.dedup();
    let described: Vec<String> = names
        .iter()
        .map(|name| {
            let found = age::plugin::IdentityPluginV1::new(name, &[], Callbacks::none()).is_ok();
            if found {
                format!("age-plugin-{name}")
            } else {
                format!("age-plugin-{name} (not found on PATH)")
            }
        })
        .collect();
    let noun = if plugins.len() == 1 { "plugin identity" } else { "plugin identities" };
    format!("{} {noun} for {}", plugins.len(), described.join(", "))
}

/// Loads an ssh private key; `location` names it in messages.
fn load_ssh(bytes: &[u8], location: &str) -> std::result::Result<Loaded, IdentityProblem> {
    let parsed = age::ssh::Identity::from_buffer(bytes, Some(location.to_string())).map_err(|_| IdentityProblem::UnsupportedSsh)?;
    let mut loaded = Loaded::default();
    match parsed {
        age::ssh::Identity::Unencrypted(_) => {
            let public = ssh_public_line(&parsed);
            if public.starts_with("ssh-ed25519 ") {
                // The converted X25519 identity opens files encrypted to the `ssh-to-age`
                // recipient of the same key, as sops-nix hosts use them.
                let converted = match openssh::parse(bytes) {
                    Ok(OpensshKey::Ed25519 { seed, .. }) => ssh_to_age::age_secret_from_ed25519_seed(&seed[..])
                        .ok()
                        .and_then(|secret| secret.parse::<age::x25519::Identity>().ok()),
                    _ => None,
                };
                if let Some(converted) = converted {
                    let converted_public = converted.to_public().to_string();
                    loaded.summary.push(ReportPart::Text(format!("ssh-ed25519 key {public} (also as {converted_public})")));
                    loaded.public_keys.push(PublicKey::Known(public));
                    loaded.public_keys.push(PublicKey::Known(converted_public));
                    loaded.local.push(Box::new(parsed));
                    loaded.local.push(Box::new(converted));
                } else {
                    loaded.summary.push(ReportPart::Text(format!("ssh-ed25519 key {public}")));
                    loaded.public_keys.push(PublicKey::Known(public));
                    loaded.local.push(Box::new(parsed));
                }
            } else {
                loaded.summary.push(ReportPart::Text(format!("ssh key {}", short_ssh(&public))));
                loaded.public_keys.push(PublicKey::Known(public));
                loaded.local.push(Box::new(parsed));
            }
        }
        age::ssh::Identity::Encrypted(key) => loaded.locked.push(LockedKind::Ssh { location: location.to_string(), key }),
        age::ssh::Identity::Unsupported(kind) => return Err(IdentityProblem::UnusableSsh(describe_unsupported_ssh(&kind))),
    }
    Ok(loaded)
}

/// `ssh-ed25519 AAAA…` / `ssh-rsa AAAA…` for an ssh identity.
fn ssh_public_line(identity: &age::ssh::Identity) -> String {
    age::ssh::Recipient::try_from(identity.clone()).map_or_else(|_| "ssh key".to_string(), |r| r.to_string())
}

/// RSA public keys are hundreds of characters; show the type and the first few.
fn short_ssh(public: &str) -> String {
    let mut words = public.split(' ');
    match (words.next(), words.next()) {
        (Some(kind), Some(key)) if key.len() > 40 => {
            format!("{kind} {}…", key.get(..40).unwrap_or(key))
        }
        _ => public.to_string(),
    }
}

pub(crate) fn describe_unsupported_ssh(kind: &age::ssh::UnsupportedKey) -> UnusableSsh {
    match kind {
        age::ssh::UnsupportedKey::EncryptedPem => UnusableSsh::EncryptedPem,
        age::ssh::UnsupportedKey::EncryptedSsh(cipher) => UnusableSsh::Cipher(cipher.clone()),
        age::ssh::UnsupportedKey::Hardware(kind) => UnusableSsh::Hardware(kind.clone()),
        age::ssh::UnsupportedKey::Type(kind) => UnusableSsh::Type(kind.clone()),
    }
}

/// Opens a passphrase-protected source with a passphrase from the prompter.
fn unlock(kind: &LockedKind, callbacks: &Callbacks) -> std::result::Result<Vec<BoxedIdentity>, IdentityProblem> {
    use age::Callbacks as _;
    match kind {
        LockedKind::Ssh { location, key } => {
            let passphrase =
                callbacks.request_passphrase(&format!("Enter passphrase for {location}:")).ok_or(IdentityProblem::NoPassphrase)?;
            let key = key.decrypt(passphrase).map_err(|_| IdentityProblem::WrongPassphrase)?;
            Ok(vec![Box::new(age::ssh::Identity::Unencrypted(key)) as BoxedIdentity])
        }
        LockedKind::AgeIdentityFile { location, binary } => {
            let what = if location.is_empty() { "the identity file".to_string() } else { location.clone() };
            let passphrase: SecretString =
                callbacks.request_passphrase(&format!("Enter passphrase for {what}:")).ok_or(IdentityProblem::NoPassphrase)?;
            let scrypt = age::scrypt::Identity::new(passphrase);
            let decryptor = age::Decryptor::new_buffered(&binary[..])?;
            let mut reader =
                decryptor.decrypt(std::iter::once(&scrypt as &dyn age::Identity)).map_err(|_| IdentityProblem::WrongPassphrase)?;
            let mut content = Zeroizing::new(Vec::new());
            reader.read_to_end(&mut content).map_err(|_| IdentityProblem::Corrupt)?;
            let inner = parse_age_keys(&content, false)?;
            Ok(inner.local)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use crate::test_support::VECTORS;

    #[test]
    fn the_decryption_order_ranks_pgp_against_age_as_sops_sorts_a_group() {
        let pgp_first = |order: &[&str]| {
            let mut ids = Identities::empty();
            ids.set_decryption_order(order);
            ids.pgp_first()
        };
        assert!(!Identities::empty().pgp_first(), "age first by default");
        assert!(!pgp_first(&["age", "pgp"]));
        assert!(!pgp_first(&["age"]));
        assert!(!pgp_first(&["kms", "age"]));
        assert!(pgp_first(&["pgp", "age"]));
        assert!(pgp_first(&["pgp"]));
        assert!(pgp_first(&["kms", "pgp"]));
        // Neither named: both rank last, and sops lists a group's PGP keys before its age keys.
        assert!(pgp_first(&["kms"]));
        assert!(pgp_first(&[" age", "pgp "]), "names are not trimmed, as in sops");
    }

    const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/keys-cases");
    const ALICE: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
    const BOB: &str = "age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p";

    fn vector(path: &str) -> String {
        std::fs::read_to_string(format!("{VECTORS}/{path}")).unwrap()
    }

    fn secret_line(file: &str) -> String {
        vector(file).lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap().to_string()
    }

    fn env_of(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        move |name| map.get(name).cloned()
    }

    fn outcome<'a>(reports: &'a [SourceReport], source_prefix: &str) -> &'a str {
        &reports.iter().find(|r| r.source.starts_with(source_prefix)).unwrap().outcome
    }

    #[test]
    fn parses_identity_files_like_sops() {
        let ids = Identities::from_age_key_text(&vector("keys.txt"), "keys.txt").unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids.public_keys(), [ALICE]);

        let both = format!("# two\r\n\r\n{}\r\n{}", secret_line("keys.txt"), secret_line("keys-b.txt"));
        let ids = Identities::from_age_key_text(&both, "both").unwrap();
        assert_eq!(ids.public_keys(), [ALICE, BOB]);
        assert!(ids.reports()[0].outcome.starts_with("2 age identities"));
    }

    #[test]
    fn merged_sources_name_their_own_keys() {
        let mut ids = Identities::empty();
        ids.add_ssh_private_key_file(Path::new(&format!("{VECTORS}/ssh/id_ed25519"))).unwrap();
        ids.add_age_key_text(&vector("keys.txt"), "first").unwrap();
        assert_eq!(ids.public_keys().len(), 3, "the keys are shown once asked for");
        let mut other = Identities::from_age_key_text(&vector("keys-b.txt"), "second").unwrap();
        other.add_age_key_text(&format!("{}\n{}", secret_line("keys.txt"), secret_line("keys-c.txt")), "third").unwrap();
        ids.extend(other);
        let reports = ids.reports();
        assert_eq!(outcome(&reports, "first"), format!("1 age identity: {ALICE}"));
        assert_eq!(outcome(&reports, "second"), format!("1 age identity: {BOB}"));
        assert!(outcome(&reports, "third").starts_with(&format!("2 age identities: {ALICE}, age1")));
        assert_eq!(ids.public_keys().len(), 6);
        assert_eq!(ids.public_keys()[2..4], [ALICE, BOB]);
    }

    #[test]
    fn one_bad_line_fails_the_source_without_echoing_it() {
        let alice = secret_line("keys.txt");
        let cases = [
            (format!(" {alice}"), "line 1 starts with whitespace"),
            (format!("# c\n{alice} "), "line 2 ends with whitespace"),
            (format!("{alice}\n{}", alice.to_lowercase()), "line 2 is not an age identity"),
            (format!("{ALICE}\n"), "line 1 is an age public key"),
            (format!("{alice}\n\nnonsense"), "line 3 is not an age identity"),
            (format!("{}X", &alice[..alice.len() - 1]), "line 1 is not a valid age secret key"),
        ];
        for (text, expected) in cases {
            match Identities::from_age_key_text(&text, "test") {
                Err(Error::Identity { problem, source_name }) => {
                    let reason = problem.to_string();
                    assert_eq!(source_name, "test");
                    assert!(reason.starts_with(expected), "{reason}");
                    assert!(!reason.to_uppercase().contains(&alice[16..30]), "{reason}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn post_quantum_lines_are_skipped_and_reported() {
        let text = format!("AGE-SECRET-KEY-PQ-1QQQQ\n{}", secret_line("keys.txt"));
        let ids = Identities::from_age_key_text(&text, "pq").unwrap();
        assert_eq!(ids.len(), 1);
        assert!(ids.reports()[0].outcome.contains("1 post-quantum identities skipped"));
    }

    #[test]
    fn plugin_identities_are_kept_and_their_binary_checked() {
        let plugin = age::plugin::Identity::default_for_plugin("zzznotinstalled").unwrap().to_string();
        let ids = Identities::from_age_key_text(&format!("{plugin}\n"), "plugins").unwrap();
        assert_eq!(ids.len(), 1);
        let outcome = &ids.reports()[0].outcome;
        assert!(outcome.contains("age-plugin-zzznotinstalled (not found on PATH)"), "{outcome}");
        assert!(Identities::from_age_key_text("AGE-PLUGIN-", "bad").is_err());
    }

    #[test]
    #[cfg(unix)]
    fn discovery_reads_every_source() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let config = dir.path().join("config");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(config.join("sops/age")).unwrap();
        std::fs::copy(format!("{VECTORS}/ssh/id_ed25519"), home.join(".ssh/id_ed25519")).unwrap();
        std::fs::write(config.join("sops/age/keys.txt"), vector("keys-c.txt")).unwrap();
        let cmd_file = dir.path().join("from-cmd.txt");
        std::fs::write(&cmd_file, vector("keys-b.txt")).unwrap();

        let env = env_of(&[
            ("SOPS_AGE_KEY", format!("{} {}", secret_line("keys.txt"), secret_line("keys-b.txt"))),
            ("SOPS_AGE_KEY_FILE", format!("{VECTORS}/keys.txt")),
            ("SOPS_AGE_KEY_CMD", format!("cat '{}'", cmd_file.display())),
            ("XDG_CONFIG_HOME", config.display().to_string()),
        ]);
        let ids = Identities::discover(&env, Some(&home));
        let reports = ids.reports();
        assert_eq!(outcome(&reports, "SOPS_AGE_SSH_PRIVATE_KEY_FILE"), "not set");
        assert!(outcome(&reports, &home.join(".ssh/id_ed25519").display().to_string()).starts_with("ssh-ed25519 key ssh-ed25519 AAAAC3"));
        assert_eq!(outcome(&reports, &home.join(".ssh/id_rsa").display().to_string()), "not found");
        assert!(outcome(&reports, "SOPS_AGE_KEY").starts_with("2 age identities"));
        assert!(outcome(&reports, "SOPS_AGE_KEY_FILE=").starts_with("1 age identity: age1e9x"));
        assert!(outcome(&reports, "SOPS_AGE_KEY_CMD=").starts_with("1 age identity: age1y53"));
        assert!(outcome(&reports, &config.display().to_string()).starts_with("1 age identity: age1xzz"));
        // ssh identity + its conversion, 2 from SOPS_AGE_KEY, file, command, default file.
        assert_eq!(ids.len(), 7);
        let debug = format!("{ids:?}");
        assert!(!debug.contains("AGE-SECRET-KEY"), "{debug}");
        for report in &reports {
            assert!(!report.outcome.contains("AGE-SECRET-KEY"), "{report:?}");
        }
    }

    #[test]
    #[cfg(unix)]
    fn discovery_records_broken_sources_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_of(&[
            ("SOPS_AGE_SSH_PRIVATE_KEY_FILE", dir.path().join("missing").display().to_string()),
            ("SOPS_AGE_KEY", format!("{}\noops", secret_line("keys.txt"))),
            ("SOPS_AGE_KEY_FILE", format!("{VECTORS}/keys-b.txt")),
            ("SOPS_AGE_KEY_CMD", "false".to_string()),
            ("XDG_CONFIG_HOME", "relative/dir".to_string()),
        ]);
        let ids = Identities::discover(&env, None);
        let reports = ids.reports();
        assert!(outcome(&reports, "SOPS_AGE_SSH_PRIVATE_KEY_FILE").starts_with("file not found"));
        assert_eq!(outcome(&reports, "~/.ssh"), "the home directory is unknown");
        assert_eq!(outcome(&reports, "SOPS_AGE_KEY"), "line 2 is not an age identity");
        assert!(outcome(&reports, "SOPS_AGE_KEY_CMD").starts_with("the command failed"));
        assert_eq!(ids.public_keys(), [BOB]);
        if !cfg!(target_os = "macos") && !cfg!(windows) {
            assert_eq!(outcome(&reports, "default keys.txt"), "XDG_CONFIG_HOME is a relative path");
        }
    }

    #[test]
    fn discovery_with_nothing_set() {
        let dir = tempfile::tempdir().unwrap();
        let ids = Identities::discover(&env_of(&[]), Some(dir.path()));
        assert!(ids.is_empty());
        let reports = ids.reports();
        assert_eq!(reports.len(), 7);
        assert!(reports.iter().all(|r| r.outcome == "not set" || r.outcome == "not found"), "{reports:?}");
        assert!(reports[6].source.ends_with(".config/sops/age/keys.txt"));
    }

    #[test]
    #[cfg(unix)]
    fn key_command_is_split_and_run_without_a_shell() {
        let env = env_of(&[("SOPS_AGE_KEY_CMD", format!("cat \"{VECTORS}/keys.txt\" ; echo"))]);
        let ids = Identities::discover(&env, None);
        // `;` is an argument to cat, not a shell operator, so cat fails.
        assert!(outcome(&ids.reports(), "SOPS_AGE_KEY_CMD").starts_with("the command failed"));
        let env = env_of(&[("SOPS_AGE_KEY_CMD", "'unclosed".to_string())]);
        let ids = Identities::discover(&env, None);
        assert_eq!(outcome(&ids.reports(), "SOPS_AGE_KEY_CMD"), "the command has an unclosed quote");
        let env = env_of(&[("SOPS_AGE_KEY_CMD", "/nonexistent/program".to_string())]);
        let ids = Identities::discover(&env, None);
        assert!(outcome(&ids.reports(), "SOPS_AGE_KEY_CMD").starts_with("cannot run /nonexistent/program"));
    }

    #[test]
    fn ssh_keys_load_with_their_conversion() {
        let mut ids = Identities::empty();
        ids.add_ssh_private_key_file(Path::new(&format!("{VECTORS}/ssh/id_ed25519"))).unwrap();
        assert_eq!(ids.len(), 2);
        let public = vector("ssh/id_ed25519.pub");
        let expected = public.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        assert_eq!(ids.public_keys()[0], expected);
        assert_eq!(ids.public_keys()[1], ssh_to_age::ssh_ed25519_public_to_age(&public).unwrap());

        let mut ids = Identities::empty();
        let err = ids.add_ssh_private_key_file(Path::new(&format!("{VECTORS}/keys.txt"))).unwrap_err();
        assert!(err.to_string().contains("not a supported ssh private key"), "{err}");
    }

    /// Key files are the user's own: a link to one is followed (home-manager and the nix store
    /// link them), but a FIFO named as a key neither blocks nor is read, and a file larger than
    /// any key file is refused by name without reading it whole.
    #[test]
    #[cfg(unix)]
    fn key_files_follow_links_but_never_block_or_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let link = root.join("id_link");
        std::os::unix::fs::symlink(format!("{VECTORS}/ssh/id_ed25519"), &link).unwrap();
        let mut ids = Identities::empty();
        ids.add_ssh_private_key_file(&link).unwrap();
        assert_eq!(ids.len(), 2, "the link was followed");

        // The library forbids unsafe code, tests included: the coreutils tool makes the pipe.
        let mkfifo = |path: &Path| assert!(std::process::Command::new("mkfifo").arg(path).status().unwrap().success());
        let fifo = root.join("fifo");
        mkfifo(&fifo);
        std::fs::create_dir_all(root.join("home/.ssh")).unwrap();
        mkfifo(&root.join("home/.ssh/id_ed25519"));
        let big = root.join("big.txt");
        std::fs::write(&big, "#\n".repeat(usize::try_from(MAX_KEY_FILE).unwrap())).unwrap();
        std::fs::create_dir_all(root.join("config/sops/age")).unwrap();
        std::os::unix::fs::symlink(&big, root.join("config/sops/age/keys.txt")).unwrap();

        let (tx, rx) = std::sync::mpsc::channel();
        let (fifo_shown, big_shown) = (fifo.display().to_string(), big.display().to_string());
        std::thread::spawn(move || {
            let ssh = Identities::empty().add_ssh_private_key_file(&fifo).unwrap_err().to_string();
            let age = Identities::empty().add_age_key_file(&fifo).unwrap_err().to_string();
            let large = Identities::empty().add_age_key_file(&big).unwrap_err().to_string();
            let env = env_of(&[
                (SSH_KEY_FILE_VAR, fifo.display().to_string()),
                (KEY_FILE_VAR, big.display().to_string()),
                ("XDG_CONFIG_HOME", root.join("config").display().to_string()),
            ]);
            let reports = Identities::discover(&env, Some(&root.join("home"))).reports();
            let outcomes: Vec<String> = reports.into_iter().map(|r| format!("{}: {}", r.source, r.outcome)).collect();
            tx.send((ssh, age, large, outcomes)).unwrap();
        });
        let (ssh, age, large, outcomes) =
            rx.recv_timeout(std::time::Duration::from_secs(20)).expect("reading a FIFO named as a key file blocked");
        for err in [&ssh, &age] {
            assert!(err.contains(&fifo_shown) && err.contains("FIFO"), "{err}");
        }
        assert!(large.contains(&big_shown) && large.contains("larger than 1048576 bytes"), "{large}");
        let outcomes = outcomes.join("\n");
        assert_eq!(outcomes.matches("FIFO").count(), 2, "the variable's and ~/.ssh/id_ed25519: {outcomes}");
        assert_eq!(outcomes.matches("larger than").count(), 2, "SOPS_AGE_KEY_FILE's and keys.txt: {outcomes}");
    }

    #[test]
    fn identities_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Identities>();
    }

    struct FixedPassphrase(&'static str);

    impl Prompter for FixedPassphrase {
        fn secret(&self, _: &str) -> Option<SecretString> {
            Some(SecretString::from(self.0.to_string()))
        }
    }

    #[test]
    fn passphrase_protected_ssh_key_needs_a_prompter() {
        let path = format!("{CASES}/ssh-to-age/encrypted");
        let mut ids = Identities::empty();
        ids.add_ssh_private_key_file(Path::new(&path)).unwrap();
        assert_eq!(ids.len(), 1);
        let report = &ids.reports()[0].outcome;
        assert!(report.contains("passphrase-protected ssh key"), "{report}");
        assert!(report.contains("no way to ask"), "{report}");

        let recipient = std::fs::read_to_string(format!("{path}.pub")).unwrap();
        let enc = super::super::age_wrap::wrap(recipient.trim(), &[3u8; 32]).unwrap();
        assert!(matches!(super::super::age_wrap::unwrap(&enc, &ids), super::super::age_wrap::Unwrapped::NoIdentity));

        ids.set_prompter(Arc::new(FixedPassphrase("wrong")));
        assert!(matches!(super::super::age_wrap::unwrap(&enc, &ids), super::super::age_wrap::Unwrapped::NoIdentity));
        assert!(ids.reports()[0].outcome.contains("wrong passphrase"));

        let mut ids = Identities::empty();
        ids.add_ssh_private_key_file(Path::new(&path)).unwrap();
        ids.set_prompter(Arc::new(FixedPassphrase("passphrase")));
        match super::super::age_wrap::unwrap(&enc, &ids) {
            super::super::age_wrap::Unwrapped::Opened(key) => assert_eq!(&key[..], &[3u8; 32]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn passphrase_protected_identity_file() {
        // An identity file encrypted with the passphrase "hunter2", armored.
        let inner = vector("keys.txt");
        let encryptor = age::Encryptor::with_user_passphrase(SecretString::from("hunter2".to_string()));
        let mut binary = Vec::new();
        let mut writer = encryptor.wrap_output(&mut binary).unwrap();
        std::io::Write::write_all(&mut writer, inner.as_bytes()).unwrap();
        writer.finish().unwrap();
        for content in [armor::armor(&binary), String::new()] {
            let mut ids = Identities::empty();
            if content.is_empty() {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("keys.age");
                std::fs::write(&path, &binary).unwrap();
                ids.add_age_key_file(&path).unwrap();
            } else {
                ids.add_age_key_text(&content, "armored").unwrap();
            }
            assert!(ids.reports()[0].outcome.starts_with("passphrase-protected identity file"));
            let enc = super::super::age_wrap::wrap(ALICE, &[9u8; 32]).unwrap();
            assert!(matches!(super::super::age_wrap::unwrap(&enc, &ids), super::super::age_wrap::Unwrapped::NoIdentity));
            ids.set_prompter(Arc::new(FixedPassphrase("hunter2")));
            match super::super::age_wrap::unwrap(&enc, &ids) {
                super::super::age_wrap::Unwrapped::Opened(key) => assert_eq!(&key[..], &[9u8; 32]),
                other => panic!("{other:?}"),
            }
            assert!(ids.reports()[0].outcome.contains("unlocked, 1 identities"));
        }
    }
}
