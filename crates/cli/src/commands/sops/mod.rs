//! `secrets sops …`: the real sops's commands on any file, in process. The commands that grew
//! beyond a few lines own a module each, with their clap arguments ([`completion`], [`edit`], [`exec`],
//! [`groups`], [`publish`]); the
//! shared pieces (file loading, store choice, output) live here.

mod completion;
mod edit;
mod exec;
mod groups;
mod publish;

pub use completion::complete_if_asked;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use clap::{Args, Parser, Subcommand};
use secrets_sops::keys::{self, Identities};
use secrets_sops::metadata::SelectionRule;
use secrets_sops::stores::Store;
use secrets_sops::{config, treepath, DecryptOptions, EncryptOptions, EncryptedFile, Format, PlainFile, Value};

use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::io::{read_input, write_atomic};
use crate::output::{say, write_stdout};

/// `secrets sops --version`: this tool's version and the sops version it follows (the one it
/// writes in files).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), ", compatible with sops 3.11.0");

/// `--config`/`SOPS_CONFIG`, set once when the command starts.
static CONFIG_PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
/// `--indent`, which overrides the `stores:` indent of the configuration.
static INDENT: OnceLock<Option<usize>> = OnceLock::new();
/// `--decryption-order`/`SOPS_DECRYPTION_ORDER`, set once when the command starts.
static DECRYPTION_ORDER: OnceLock<Vec<String>> = OnceLock::new();
/// The variable sops reads `--decryption-order` from.
const DECRYPTION_ORDER_VAR: &str = "SOPS_DECRYPTION_ORDER";

pub fn run(args: SopsArgs) -> CmdResult {
    let _ = CONFIG_PATH.set(args.config);
    let _ = INDENT.set(args.indent);
    let order = match &args.command {
        // sops gives these no order at all, not even its default: a group's keys are tried as
        // it lists them, PGP keys before age keys, whatever SOPS_DECRYPTION_ORDER says.
        SopsCommand::Updatekeys { .. } | SopsCommand::Groups { .. } => Vec::new(),
        command => decryption_order(command.decryption_order())?,
    };
    let _ = DECRYPTION_ORDER.set(order);
    match args.command {
        SopsCommand::Decrypt(DecryptArgs { file, types, output, extract, ignore_mac, order: _ }) => {
            let file = stdin_or(file);
            must_exist(&file)?;
            decrypt(&file, &types, &output, extract.as_deref(), ignore_mac)
        }
        SopsCommand::Encrypt { file, age, pgp, shamir_secret_sharing_threshold, types, output, selection } => {
            let file = stdin_or(file);
            must_exist(&file)?;
            if is_stdin(&file) {
                if output.in_place {
                    return Err(Failure::new(exit::CONFLICTING_PARAMETERS, "cannot use --in-place when reading from stdin"));
                }
                if types.filename_override.is_none() {
                    return Err(Failure::new(exit::CONFLICTING_PARAMETERS, "must specify --filename-override when reading from stdin"));
                }
            }
            encrypt(&file, KeyFlags { age, pgp }, shamir_secret_sharing_threshold.unwrap_or(0), &types, &output, &selection)
        }
        SopsCommand::Updatekeys { file, age, yes, shamir_secret_sharing_threshold, input_type } => {
            updatekeys(&file, age, yes, shamir_secret_sharing_threshold.unwrap_or(0), input_type.as_deref())
        }
        SopsCommand::Rotate { file, add_age, rm_age, add_pgp, rm_pgp, types, output, order: _ } => {
            rotate(&file, KeyFlags { age: add_age, pgp: add_pgp }, KeyFlags { age: rm_age, pgp: rm_pgp }, &types, &output)
        }
        SopsCommand::Set(args) => {
            let (file, path, json) = set_value(args.args, args.value_file, args.value_stdin)?;
            let formats = SetFormats { input_type: args.input_type.as_deref(), output_type: args.output_type.as_deref() };
            set(&file, &path, &json, args.idempotent, formats, args.ignore_mac)
        }
        SopsCommand::Unset { file, path, idempotent, input_type, output_type, ignore_mac, order: _ } => {
            let formats = SetFormats { input_type: input_type.as_deref(), output_type: output_type.as_deref() };
            unset(&file, &path, idempotent, formats, ignore_mac)
        }
        SopsCommand::Filestatus { file, input_type } => filestatus(&file, input_type.as_deref()),
        SopsCommand::Edit(args) => edit::run(args),
        SopsCommand::ExecEnv(args) => exec::run_env(args),
        SopsCommand::ExecFile(args) => exec::run_file(args),
        SopsCommand::Groups { command } => groups::run(command),
        SopsCommand::Publish(args) => publish::run(&args),
        SopsCommand::Completion(args) => completion::run(&args),
        SopsCommand::Keyservice { .. } => Err(Failure::new(
            exit::GENERIC,
            "sops keyservice (a gRPC server that lends this machine's keys to other sops processes) is not provided by this tool",
        )
        .hint("run the real `sops keyservice` where one is needed; `secrets sops` decrypts with this machine's keys directly")),
    }
}

/// A missing FILE means standard input, as in sops: an empty path stands for it (no file has
/// an empty name), so that `-` stays an ordinary file name.
fn stdin_or(file: Option<PathBuf>) -> PathBuf {
    file.unwrap_or_default()
}

fn is_stdin(file: &Path) -> bool {
    file.as_os_str().is_empty()
}

fn display(path: &Path) -> String {
    if is_stdin(path) {
        "standard input".to_string()
    } else {
        path.display().to_string()
    }
}

/// sops's check before `decrypt` and `encrypt`: a named file that does not exist is code 100.
fn must_exist(file: &Path) -> CmdResult<()> {
    if is_stdin(file) || std::fs::symlink_metadata(file).is_ok() {
        return Ok(());
    }
    let shown = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
    Err(Failure::new(exit::NO_FILE_SPECIFIED, format!("cannot operate on non-existent file \"{}\"", shown.display())))
}

/// The input: the named file (`-` included), or standard input for the empty path.
fn read_source(file: &Path) -> CmdResult<Vec<u8>> {
    if is_stdin(file) {
        read_input(Path::new("-"))
    } else {
        std::fs::read(file)
            .map_err(|e| Failure::new(exit::COULD_NOT_READ_INPUT_FILE, format!("{}: cannot read the file: {e}", display(file))))
    }
}

/// The `.sops.yaml` in use: `--config`/`SOPS_CONFIG`, else the nearest one from the working
/// directory up, as sops looks for it; parsed once.
fn sops_config() -> CmdResult<Option<&'static (PathBuf, config::Config)>> {
    static LOADED: OnceLock<Option<(PathBuf, config::Config)>> = OnceLock::new();
    if let Some(loaded) = LOADED.get() {
        return Ok(loaded.as_ref());
    }
    let path = if let Some(path) = CONFIG_PATH.get().cloned().flatten() {
        Some(path)
    } else {
        let cwd = std::env::current_dir().map_err(|e| Failure::msg(format!("cannot read the working directory: {e}")))?;
        config::find(&cwd)
    };
    let loaded = match path {
        None => None,
        Some(path) => {
            let text = read_input(&path).map_err(|f| Failure::new(exit::GENERIC, f.message))?;
            let parsed = config::Config::parse(&text).map_err(|e| Failure::sops(&display(&path), e))?;
            Some((path, parsed))
        }
    };
    Ok(LOADED.get_or_init(|| loaded).as_ref())
}

/// The store for `format` with the `stores:` settings of `.sops.yaml` (YAML and JSON indent).
fn store_for(format: Format) -> CmdResult<Box<dyn Store + Send + Sync>> {
    use secrets_sops::stores::{json::JsonStore, yaml::YamlStore};
    match (format, INDENT.get().copied().flatten()) {
        (Format::Yaml, Some(indent)) => return Ok(Box::new(YamlStore { indent })),
        (Format::Json, Some(indent)) => return Ok(Box::new(JsonStore { indent: Some(indent) })),
        _ => {}
    }
    let config = match format {
        Format::Yaml | Format::Json => sops_config()?.map(|(_, c)| c),
        _ => None,
    };
    Ok(match (format, config) {
        (Format::Yaml, Some(config)) if config.yaml_indent.is_some() => Box::new(YamlStore { indent: config.yaml_indent.unwrap_or(4) }),
        (Format::Json, Some(config)) if config.json_indent.is_some() => Box::new(JsonStore { indent: config.json_indent }),
        _ => secrets_sops::stores::store(format),
    })
}

/// The decrypted data in `format`'s layout.
fn plain_bytes(file: &Path, plain: &PlainFile, format: Format) -> CmdResult<Vec<u8>> {
    store_for(format)?.emit_plain(&plain.data).map_err(|e| Failure::sops(&display(file), e))
}

/// An encrypted file in `format`'s layout.
fn encrypted_bytes(file: &Path, encrypted: &EncryptedFile, format: Format) -> CmdResult<Vec<u8>> {
    store_for(format)?.emit_encrypted(&encrypted.data, &encrypted.metadata.to_tree(format)).map_err(|e| Failure::sops(&display(file), e))
}

fn parse_type(name: Option<&str>) -> CmdResult<Option<Format>> {
    name.map(|n| {
        Format::from_name(n).ok_or_else(|| {
            Failure::new(exit::GENERIC, format!("unknown store type `{n}`")).hint("use one of: yaml, json, dotenv, ini, binary")
        })
    })
    .transpose()
}

fn input_format(file: &Path, input_type: Option<&str>, name_override: Option<&Path>) -> CmdResult<Format> {
    Ok(parse_type(input_type)?.unwrap_or_else(|| Format::from_path(name_override.unwrap_or(file))))
}

/// The input and output stores. As in sops, each comes from its own flag, else from the file's
/// name (`--filename-override` first): `--input-type` alone does not choose the output's.
fn formats(file: &Path, types: &TypeArgs) -> CmdResult<(Format, Format)> {
    let named = types.filename_override.as_deref().unwrap_or(file);
    let input = input_format(file, types.input_type.as_deref(), types.filename_override.as_deref())?;
    let output = parse_type(types.output_type.as_deref())?.unwrap_or_else(|| Format::from_path(named));
    Ok((input, output))
}

fn load(file: &Path, format: Format) -> CmdResult<EncryptedFile> {
    let bytes = read_source(file)?;
    // Handed over so that the store frees the bytes once read, before the tree is built.
    EncryptedFile::parse_owned(bytes, format).map_err(|e| load_failure(file, e))
}

/// The failure for an error of reading or decrypting `file`.
fn load_failure(file: &Path, e: secrets_sops::Error) -> Failure {
    // sops reads an encrypted file that does not parse with its generic code 1 (a plaintext
    // that does not parse, in `encrypt`, is its code 2).
    let unparsable = matches!(e, secrets_sops::Error::Parse { .. });
    let failure = Failure::sops(&display(file), e);
    if unparsable {
        failure.with_code(exit::GENERIC)
    } else {
        failure
    }
}

fn emit(file: &Path, output: &OutputArgs, bytes: &[u8]) -> CmdResult<()> {
    if output.in_place {
        if is_stdin(file) {
            return Err(Failure::new(exit::CONFLICTING_PARAMETERS, "cannot use --in-place when reading from stdin"));
        }
        write_atomic(file, bytes)
    } else if let Some(target) = &output.output {
        write_atomic(target, bytes)
    } else {
        write_stdout(bytes)
    }
}

fn identities() -> Identities {
    let mut identities = crate::passphrase::local_identities();
    if let Some(order) = DECRYPTION_ORDER.get() {
        identities.set_decryption_order(order);
    }
    identities
}

/// The order in which kinds of master keys are tried, as sops reads it: the flag, else
/// `SOPS_DECRYPTION_ORDER`, split at commas as they are (names it does not know only rank
/// last); empty means the default, age then PGP; a name given twice is sops's error 112.
fn decryption_order(flag: Option<&str>) -> CmdResult<Vec<String>> {
    let given = match flag {
        Some(flag) => flag.to_string(),
        None => std::env::var(DECRYPTION_ORDER_VAR).unwrap_or_default(),
    };
    if given.is_empty() {
        return Ok(vec!["age".to_string(), "pgp".to_string()]);
    }
    let order: Vec<String> = given.split(',').map(str::to_string).collect();
    for (index, name) in order.iter().enumerate() {
        if order[..index].contains(name) {
            return Err(Failure::verbatim(exit::DUPLICATE_DECRYPTION_KEY_TYPE, format!("Duplicate decryption key type: {name}")));
        }
    }
    Ok(order)
}

/// Decrypts with the identities of the environment and prints what decryption noticed, as sops
/// logs it: comments that are not encrypted, which nothing authenticates.
fn open(file: &Path, encrypted: &EncryptedFile, ignore_mac: bool) -> CmdResult<PlainFile> {
    let plain = encrypted.decrypt(&identities(), DecryptOptions { ignore_mac }).map_err(|e| Failure::sops(&display(file), e))?;
    print_warnings(file, &plain);
    Ok(plain)
}

fn print_warnings(file: &Path, plain: &PlainFile) {
    for warning in plain.warnings() {
        say!("warning: {}: {warning}", display(file));
    }
}

fn decrypt(file: &Path, types: &TypeArgs, output: &OutputArgs, extract: Option<&str>, ignore_mac: bool) -> CmdResult {
    let (input_fmt, output_fmt) = formats(file, types)?;
    if extract.is_none() && input_fmt == output_fmt {
        // The whole file in its own layout: decrypted a part at a time where the store can,
        // so that a large file takes little more memory than its size.
        let store = store_for(output_fmt)?;
        let bytes = read_source(file)?;
        let plain = secrets_sops::decrypt_to_plain(bytes, input_fmt, &*store, &identities(), DecryptOptions { ignore_mac })
            .map_err(|e| load_failure(file, e))?;
        for warning in &plain.warnings {
            say!("warning: {}: {warning}", display(file));
        }
        if output.in_place || output.output.is_some() {
            emit(file, output, &plain.into_bytes())?;
        } else {
            // Piece by piece: a large output is never copied into one buffer.
            for piece in plain.pieces() {
                write_stdout(piece)?;
            }
        }
        return Ok(0);
    }
    let encrypted = load(file, input_fmt)?;
    let plain = encrypted.into_decrypted(&identities(), DecryptOptions { ignore_mac }).map_err(|e| Failure::sops(&display(file), e))?;
    print_warnings(file, &plain);
    let bytes = match extract {
        None => plain_bytes(file, &plain, output_fmt)?,
        Some(path) => {
            let steps = treepath::parse(path).map_err(|e| Failure::sops(&display(file), e))?;
            let branch = plain
                .data
                .branches
                .first()
                .ok_or_else(|| Failure::new(exit::INVALID_TREE_PATH_FORMAT, format!("{}: the file has no document", display(file))))?;
            let value = treepath::get(branch, &steps).ok_or_else(|| {
                // sops's generic code, as its "error truncating tree".
                Failure::new(exit::GENERIC, format!("{}: nothing at {path}", display(file)))
                    .hint("check the path with `secrets sops decrypt` first")
            })?;
            extracted(file, value, output_fmt)?
        }
    };
    emit(file, output, &bytes)?;
    Ok(0)
}

/// One value of the tree as `sops decrypt --extract` prints it: a string raw, a mapping as a
/// whole document, anything else the way the output store writes a single value (YAML: its
/// scalar or block with a final newline; JSON: indented, without one; dotenv and binary cannot).
fn extracted(file: &Path, value: &Value, format: Format) -> CmdResult<Vec<u8>> {
    let dump = |message: String| Failure::new(exit::ERROR_DUMPING_TREE, format!("{}: cannot print the value: {message}", display(file)));
    match (value, format) {
        (Value::Str(s), _) => Ok(s.as_bytes().to_vec()),
        (Value::Bytes(b), _) => Ok(b.clone()),
        (Value::Map(m), _) => {
            let doc = secrets_sops::Document { branches: vec![m.clone()] };
            store_for(format)?.emit_plain(&doc).map_err(|e| Failure::sops(&display(file), e).with_code(exit::ERROR_DUMPING_TREE))
        }
        (_, Format::Dotenv) => Err(dump("the dotenv store only prints strings".into())),
        (_, Format::Binary) => Err(dump("a binary file has no structure to take one value from".into())),
        (Value::List(_), Format::Ini) => Err(dump("a list cannot be printed in the INI store".into())),
        // sops's INI store prints a single value as compact JSON: a scalar as JSON writes it.
        (other, format @ (Format::Ini | Format::Yaml | Format::Json)) => {
            let format = if format == Format::Ini { Format::Json } else { format };
            // The store writes the value under a one-letter key; the key is taken off again, so the
            // value reads exactly as the store writes it anywhere else.
            let mut map = secrets_sops::Map::new();
            map.push("k", other.clone());
            let doc = secrets_sops::Document { branches: vec![map] };
            let text =
                store_for(format)?.emit_plain(&doc).map_err(|e| Failure::sops(&display(file), e).with_code(exit::ERROR_DUMPING_TREE))?;
            let text = String::from_utf8_lossy(&text).into_owned();
            Ok(unwrap_single(&text, format).into_bytes())
        }
    }
}

/// The value of the one-entry document `k: VALUE` (YAML) or `{"k": VALUE}` (JSON), dedented
/// to the top level.
fn unwrap_single(text: &str, format: Format) -> String {
    if format == Format::Json {
        let inner = text.strip_prefix('{').unwrap_or(text).trim_end().strip_suffix('}').unwrap_or(text).trim_end_matches('\n');
        let inner = inner.trim_start_matches('\n');
        // The first line's indent is the store's indent unit.
        let unit: String = inner.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
        let body = inner.strip_prefix(&unit).unwrap_or(inner);
        let body = body.strip_prefix("\"k\": ").unwrap_or(body);
        return body
            .lines()
            .enumerate()
            .map(|(i, l)| if i == 0 { l } else { l.strip_prefix(&unit).unwrap_or(l) })
            .collect::<Vec<_>>()
            .join("\n");
    }
    if let Some(block) = text.strip_prefix("k:\n") {
        let unit: String = block.chars().take_while(|c| *c == ' ').collect();
        let mut out = String::new();
        for line in block.lines() {
            out.push_str(line.strip_prefix(&unit).unwrap_or(line));
            out.push('\n');
        }
        return out;
    }
    text.strip_prefix("k: ").unwrap_or(text).to_string()
}

fn split_recipients(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The master keys named on the command line: `--age` and `--pgp`, or their variables
/// `SOPS_AGE_RECIPIENTS` and `SOPS_PGP_FP` (each the default of its own flag, as in sops).
#[derive(Debug, Default, Clone)]
pub(super) struct KeyFlags {
    pub age: Option<String>,
    pub pgp: Option<String>,
}

impl KeyFlags {
    /// The flags with their variables filled in, as sops reads them for `encrypt` and `edit`.
    fn with_env(self) -> KeyFlags {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        KeyFlags { age: self.age.or_else(|| var("SOPS_AGE_RECIPIENTS")), pgp: self.pgp.or_else(|| var("SOPS_PGP_FP")) }
    }

    /// The age recipients, then the PGP fingerprints (spaces removed, as sops stores them);
    /// `None` when neither names a key. A value given to the wrong flag is refused rather than
    /// sent to the other kind of key.
    fn recipients(&self) -> CmdResult<Option<Vec<String>>> {
        let mut out = Vec::new();
        for recipient in self.age.as_deref().map(split_recipients).unwrap_or_default() {
            if keys::is_pgp_fingerprint(&recipient) {
                return Err(Failure::new(exit::GENERIC, format!("{recipient} is a PGP fingerprint, not an age recipient"))
                    .hint("pass PGP fingerprints with --pgp (or SOPS_PGP_FP)"));
            }
            out.push(recipient);
        }
        for fingerprint in self.pgp.as_deref().map(split_recipients).unwrap_or_default() {
            if !keys::is_pgp_fingerprint(&fingerprint) {
                return Err(Failure::new(exit::GENERIC, format!("{fingerprint} is not a PGP fingerprint"))
                    .hint("give the key's fingerprint in hexadecimal, as `gpg --list-keys --with-colons` shows it"));
            }
            out.push(keys::normalize_pgp_fingerprint(&fingerprint));
        }
        Ok(if out.is_empty() { None } else { Some(out) })
    }
}

/// `updatekeys`'s recipients: `--age`, else `SOPS_AGE_RECIPIENTS`.
fn recipients_from(flag: Option<String>) -> CmdResult<Option<Vec<String>>> {
    let age = flag.or_else(|| std::env::var("SOPS_AGE_RECIPIENTS").ok().filter(|v| !v.is_empty()));
    KeyFlags { age, pgp: None }.recipients()
}

fn selection_rule(args: &SelectionArgs) -> Option<SelectionRule> {
    let candidates = [
        args.unencrypted_suffix.clone().map(SelectionRule::UnencryptedSuffix),
        args.encrypted_suffix.clone().map(SelectionRule::EncryptedSuffix),
        args.unencrypted_regex.clone().map(SelectionRule::UnencryptedRegex),
        args.encrypted_regex.clone().map(SelectionRule::EncryptedRegex),
        args.unencrypted_comment_regex.clone().map(SelectionRule::UnencryptedCommentRegex),
        args.encrypted_comment_regex.clone().map(SelectionRule::EncryptedCommentRegex),
    ];
    candidates.into_iter().flatten().next()
}

/// The creation rule of the nearest `.sops.yaml` (looked up from the working directory, as sops
/// does) that matches `file`.
fn creation_rule(file: &Path) -> CmdResult<Option<EncryptOptions>> {
    let Some((path, parsed)) = sops_config()? else { return Ok(None) };
    let dir = path.parent().unwrap_or(Path::new("."));
    match parsed.rule_for(file, dir).map_err(|e| Failure::sops(&display(path), e))? {
        Some(rule) => Ok(Some(rule.options.clone())),
        None => Err(Failure::new(exit::GENERIC, format!("{}: no matching creation rules found in {}", display(file), display(path)))
            .hint("add a rule whose path_regex matches the file, or pass --age or --pgp")),
    }
}

/// The recipients and settings of a new file: `--age`/`SOPS_AGE_RECIPIENTS` and
/// `--pgp`/`SOPS_PGP_FP`, else the matching `.sops.yaml` creation rule; the command line's
/// threshold and selection win. PGP keys are wrapped by `SOPS_GPG_EXEC` (or `gpg`).
fn encrypt_options(named: &Path, keys: KeyFlags, threshold: usize, selection: &SelectionArgs) -> CmdResult<EncryptOptions> {
    let mut options = match keys.with_env().recipients()? {
        Some(recipients) => EncryptOptions { key_groups: vec![recipients], ..EncryptOptions::default() },
        None => creation_rule(named)?.ok_or_else(|| {
            Failure::new(exit::GENERIC, format!("{}: no recipients to encrypt for", display(named))).hint(
                "pass --age age1…[,age1…] or --pgp FINGERPRINT, set SOPS_AGE_RECIPIENTS or SOPS_PGP_FP, or add a .sops.yaml creation rule",
            )
        })?,
    };
    // sops's words and status when a rule gives no key group, or a group without keys.
    if options.key_groups.is_empty() || options.key_groups.iter().any(Vec::is_empty) {
        return Err(Failure::verbatim(exit::GENERIC, "Could not generate data key: [empty key group provided]"));
    }
    options.gnupg = keys::GnuPg::from_env();
    if threshold > 0 {
        options.shamir_threshold = threshold;
    }
    if let Some(rule) = selection_rule(selection) {
        options.selection = Some(rule);
    }
    options.mac_only_encrypted |= selection.mac_only_encrypted;
    Ok(options)
}

fn encrypt(file: &Path, keys: KeyFlags, threshold: usize, types: &TypeArgs, output: &OutputArgs, selection: &SelectionArgs) -> CmdResult {
    let (input_fmt, output_fmt) = formats(file, types)?;
    let named = types.filename_override.as_deref().unwrap_or(file);
    let options = encrypt_options(named, keys, threshold, selection)?;
    let bytes = read_source(file)?;
    if bytes.is_empty() && input_fmt != Format::Binary {
        return Err(Failure::new(
            exit::NEED_AT_LEAST_ONE_DOCUMENT,
            format!("{}: the file is empty; sops files cannot be completely empty", display(file)),
        ));
    }
    let data = secrets_sops::parse_plain(&bytes, input_fmt).map_err(|e| Failure::sops(&display(file), e))?;
    if input_fmt != Format::Binary && data.branches.iter().any(|b| b.get("sops").is_some()) {
        return Err(Failure::sops(&display(file), secrets_sops::Error::AlreadyEncrypted));
    }
    let encrypted = secrets_sops::encrypt(data, input_fmt, &options).map_err(|e| Failure::sops(&display(file), e))?;
    let out = encrypted_bytes(file, &encrypted, output_fmt)?;
    emit(file, output, &out)?;
    Ok(0)
}

fn updatekeys(file: &Path, age: Option<String>, yes: bool, threshold: usize, input_type: Option<&str>) -> CmdResult {
    let format = input_format(file, input_type, None)?;
    let mut encrypted = load(file, format)?;
    let (new_groups, rule_threshold) = match recipients_from(age)? {
        Some(recipients) => (vec![recipients], 0),
        None => match creation_rule(file)? {
            Some(rule) => (rule.key_groups, rule.shamir_threshold),
            None => {
                return Err(Failure::new(
                    // sops's code when updatekeys finds no configuration.
                    exit::GENERIC,
                    format!("{}: no new recipients given and no .sops.yaml found", display(file)),
                )
                .hint("pass --age age1…[,age1…] with the complete new recipient list"));
            }
        },
    };
    let threshold = if threshold > 0 { threshold } else { rule_threshold };
    let old = encrypted.metadata.recipients();
    let old_threshold = encrypted.metadata.shamir_threshold;
    let new_threshold = if threshold > 0 { threshold } else { old_threshold }.min(new_groups.len());
    if old == new_groups && (threshold == 0 || new_threshold == old_threshold) {
        say!("File {} already up to date", display(file));
        return Ok(0);
    }
    write_stdout(key_group_diff(&old, &new_groups, (old_threshold, new_threshold)).as_bytes())?;
    // Asked whether or not standard input is a terminal, as sops asks; the end of the input
    // (or a failed read) is a refusal that changes nothing.
    if !yes {
        loop {
            crate::output::write_stdout(b"Is this okay? (y/n):")?;
            let mut answer = String::new();
            match std::io::stdin().read_line(&mut answer) {
                Ok(0) | Err(_) => return Err(Failure::msg("no answer on standard input; the file is left unchanged")),
                Ok(_) => {}
            }
            match answer.trim() {
                "y" => break,
                "n" => {
                    say!("File {} left unchanged", display(file));
                    return Ok(0);
                }
                _ => {}
            }
        }
    }
    encrypted.update_keys(&identities(), &new_groups, threshold).map_err(|e| Failure::sops(&display(file), e))?;
    let out = encrypted.to_bytes().map_err(|e| Failure::sops(&display(file), e))?;
    write_atomic(file, &out)?;
    say!("File {} synced with new keys", display(file));
    Ok(0)
}

/// The change of recipients, group by group, in sops's layout: kept keys indented, added ones
/// after `+++`, removed ones after `---`.
fn key_group_diff(old: &[Vec<String>], new: &[Vec<String>], (old_threshold, new_threshold): (usize, usize)) -> String {
    use std::fmt::Write;
    let mut text = String::from("The following changes will be made to the file's groups:\n");
    if old_threshold > 0 && old_threshold == new_threshold {
        let _ = writeln!(text, "shamir_threshold: {new_threshold}");
    } else {
        if new_threshold > 0 {
            let _ = writeln!(text, "+++ shamir_threshold: {new_threshold}");
        }
        if old_threshold > 0 {
            let _ = writeln!(text, "--- shamir_threshold: {old_threshold}");
        }
    }
    for i in 0..old.len().max(new.len()) {
        let ours = old.get(i).map_or(&[][..], Vec::as_slice);
        let theirs = new.get(i).map_or(&[][..], Vec::as_slice);
        let _ = writeln!(text, "Group {}", i + 1);
        for key in theirs.iter().filter(|k| ours.contains(k)) {
            let _ = writeln!(text, "    {key}");
        }
        for key in theirs.iter().filter(|k| !ours.contains(k)) {
            let _ = writeln!(text, "+++ {key}");
        }
        for key in ours.iter().filter(|k| !theirs.contains(k)) {
            let _ = writeln!(text, "--- {key}");
        }
    }
    text
}

/// `rotate`: a new data key for the file's recipients, with `--add-age`/`--add-pgp` added to the
/// first group and `--rm-age`/`--rm-pgp` removed from every group, as sops does.
fn rotate(file: &Path, add: KeyFlags, remove: KeyFlags, types: &TypeArgs, output: &OutputArgs) -> CmdResult {
    let (input_fmt, output_fmt) = formats(file, types)?;
    let add = add.recipients()?.unwrap_or_default();
    let remove = remove.recipients()?.unwrap_or_default();
    let encrypted = load(file, input_fmt)?;
    let mut plain = open(file, &encrypted, false)?;
    let mut groups = plain.metadata.recipients();
    if !add.is_empty() && groups.is_empty() {
        groups.push(Vec::new());
    }
    for r in add {
        if !groups[0].contains(&r) {
            groups[0].push(r);
        }
    }
    for group in &mut groups {
        group.retain(|r| !remove.contains(r));
    }
    let rotated = plain.rotate(Some(&groups), 0).map_err(|e| Failure::sops(&display(file), e))?;
    let out = encrypted_bytes(file, &rotated, output_fmt)?;
    emit(file, output, &out)?;
    Ok(0)
}

/// `--input-type` and `--output-type` of `set` and `unset` (the file is rewritten in the output
/// store, as sops does).
#[derive(Clone, Copy)]
struct SetFormats<'a> {
    input_type: Option<&'a str>,
    output_type: Option<&'a str>,
}

impl SetFormats<'_> {
    fn resolve(self, file: &Path) -> CmdResult<(Format, Format)> {
        let input = input_format(file, self.input_type, None)?;
        Ok((input, parse_type(self.output_type)?.unwrap_or_else(|| Format::from_path(file))))
    }
}

/// FILE, INDEX and the JSON value of `set`, as sops takes them: VALUE on the command line, or
/// read from the file VALUE names (`--value-file`), or from standard input (`--value-stdin`,
/// without VALUE).
fn set_value(args: Vec<String>, value_file: bool, value_stdin: bool) -> CmdResult<(PathBuf, String, Vec<u8>)> {
    if value_file && value_stdin {
        return Err(Failure::new(exit::GENERIC, "cannot use both --value-file and --value-stdin"));
    }
    let mut args = args.into_iter();
    match (args.next(), args.next(), args.next(), args.next(), value_stdin) {
        (Some(file), Some(path), None, None, true) => Ok((PathBuf::from(file), path, read_input(Path::new("-"))?)),
        (Some(file), Some(path), Some(value), None, false) => {
            let json = if value_file { read_source(Path::new(&value))? } else { value.into_bytes() };
            Ok((PathBuf::from(file), path, json))
        }
        (.., true) => Err(Failure::new(
            exit::NO_FILE_SPECIFIED,
            "file specified, or index and value are missing. Need precisely 2 positional arguments since --value-stdin is used.",
        )),
        _ => Err(Failure::new(
            exit::NO_FILE_SPECIFIED,
            "no file specified, or index and value are missing. Need precisely 3 positional arguments.",
        )),
    }
}

fn set(file: &Path, path: &str, json: &[u8], idempotent: bool, formats: SetFormats<'_>, ignore_mac: bool) -> CmdResult {
    let (format, output_fmt) = formats.resolve(file)?;
    let steps = treepath::parse(path).map_err(|e| Failure::new(exit::INVALID_SET_FORMAT, e.to_string()))?;
    // The format's own JSON reader, so the value reads exactly as sops reads it (duplicate keys
    // kept, Go's floats and string decoding).
    let value = secrets_sops::stores::json::parse_value(json).map_err(|e| {
        let message = match e {
            secrets_sops::Error::Parse { message, .. } => message,
            other => other.to_string(),
        };
        Failure::new(exit::INVALID_SET_FORMAT, format!("the value is not valid JSON: {message}")).hint("a string needs quotes: '\"value\"'")
    })?;
    if let Value::List(_) = value {
        // sops refuses a whole array as the value (its exit code 7).
        return Err(Failure::new(exit::INVALID_SET_FORMAT, "the value is an array, which sops cannot set in one step")
            .hint("set each element by its index: '[\"list\"][0]', then '[\"list\"][1]'"));
    }
    // Refused before decrypting or writing: a file nested deeper than its reader accepts could
    // not be read back (sops's Go readers accept more, ours stop there).
    treepath::check_set_depth(format, &steps, &value).map_err(|e| Failure::sops(&display(file), e))?;
    let encrypted = load(file, format)?;
    let mut plain = open(file, &encrypted, ignore_mac)?;
    let branch = plain
        .data
        .branches
        .first_mut()
        .ok_or_else(|| Failure::new(exit::INVALID_TREE_PATH_FORMAT, format!("{}: the file has no document", display(file))))?;
    if idempotent && treepath::get(branch, &steps) == Some(&value) {
        return Ok(0);
    }
    treepath::set(branch, &steps, value).map_err(|e| Failure::sops(&display(file), e))?;
    let encrypted = plain.encrypt().map_err(|e| Failure::sops(&display(file), e))?;
    let out = encrypted_bytes(file, &encrypted, output_fmt)?;
    write_atomic(file, &out)?;
    Ok(0)
}

fn unset(file: &Path, path: &str, idempotent: bool, formats: SetFormats<'_>, ignore_mac: bool) -> CmdResult {
    let (format, output_fmt) = formats.resolve(file)?;
    let steps = treepath::parse(path).map_err(|e| Failure::new(exit::INVALID_SET_FORMAT, e.to_string()))?;
    let encrypted = load(file, format)?;
    let mut plain = open(file, &encrypted, ignore_mac)?;
    let branch = plain
        .data
        .branches
        .first_mut()
        .ok_or_else(|| Failure::new(exit::INVALID_TREE_PATH_FORMAT, format!("{}: the file has no document", display(file))))?;
    if !treepath::unset(branch, &steps).map_err(|e| Failure::sops(&display(file), e))? {
        if idempotent {
            return Ok(0);
        }
        return Err(Failure::new(exit::GENERIC, format!("{}: nothing at {path}", display(file)))
            .hint("pass --idempotent to accept a missing value"));
    }
    let encrypted = plain.encrypt().map_err(|e| Failure::sops(&display(file), e))?;
    let out = encrypted_bytes(file, &encrypted, output_fmt)?;
    write_atomic(file, &out)?;
    Ok(0)
}

fn filestatus(file: &Path, input_type: Option<&str>) -> CmdResult {
    let format = input_format(file, input_type, None)?;
    let bytes = read_input(file)?;
    let encrypted = matches!(EncryptedFile::parse(&bytes, format), Ok(f) if f.metadata.mac.is_some());
    write_stdout(format!("{{\"encrypted\":{encrypted}}}\n").as_bytes())?;
    Ok(0)
}

pub const SOPS_EXAMPLES: &str = "Examples:\n  secrets sops encrypt --age age1… app.yaml > app.enc.yaml\n  secrets sops decrypt app.enc.yaml\n  secrets sops updatekeys -y --age age1…,age1new… app.enc.yaml";

/// `secrets sops`: the options every sops command takes, and the command.
#[derive(Args, Debug)]
pub struct SopsArgs {
    /// The .sops.yaml to use instead of the nearest one from the current directory up
    #[arg(long, global = true, value_name = "PATH", env = "SOPS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Spaces to indent YAML and JSON output with (instead of the stores: setting)
    #[arg(long, global = true, value_name = "N", display_order = 100)]
    pub indent: Option<usize>,
    #[command(subcommand)]
    pub command: SopsCommand,
}

/// `secrets sops …` alone. Scripts run `secrets sops decrypt` once per file, and building the
/// whole command tree costs more than decrypting a small file, so these commands get a parser of
/// their own (same flags, help and errors).
#[derive(Parser, Debug)]
#[command(name = "secrets sops", bin_name = "secrets sops", version = VERSION, about = "Work on any sops file, like the real `sops`", after_help = SOPS_EXAMPLES)]
struct SopsCli {
    #[command(flatten)]
    args: SopsArgs,
}

/// `secrets sops decrypt …` alone: the same arguments, help and errors as the subcommand.
#[derive(Parser, Debug)]
#[command(name = "decrypt", bin_name = "secrets sops decrypt", about = DECRYPT_ABOUT, after_help = DECRYPT_EXAMPLES)]
struct SopsDecryptCli {
    /// The .sops.yaml to use instead of the nearest one from the current directory up
    #[arg(long, value_name = "PATH", env = "SOPS_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    args: DecryptArgs,
    /// Spaces to indent YAML and JSON output with (instead of the stores: setting)
    #[arg(long, value_name = "N", display_order = 100)]
    indent: Option<usize>,
}

/// The names of the `secrets sops` subcommands (and clap's `help`), so that anything else in
/// their place is a file to edit, as `sops FILE` is `sops edit FILE`.
const SUBCOMMANDS: [&str; 16] = [
    "decrypt",
    "encrypt",
    "updatekeys",
    "rotate",
    "set",
    "unset",
    "filestatus",
    "edit",
    "exec-env",
    "exec-file",
    "groups",
    "publish",
    "completion",
    "keyservice",
    "help",
    "--",
];

/// The options of sops's top-level (legacy) mode that take a value, so that their value is not
/// mistaken for the file or a mode flag.
const LEGACY_VALUE_FLAGS: [&str; 30] = [
    "--output",
    "--extract",
    "--input-type",
    "--output-type",
    "--age",
    "-a",
    "--add-age",
    "--rm-age",
    "--config",
    "--filename-override",
    "--indent",
    "--unencrypted-suffix",
    "--encrypted-suffix",
    "--unencrypted-regex",
    "--encrypted-regex",
    "--unencrypted-comment-regex",
    "--encrypted-comment-regex",
    "--shamir-secret-sharing-threshold",
    "--decryption-order",
    "--pgp",
    "-p",
    "--kms",
    "-k",
    "--gcp-kms",
    "--azure-kv",
    "--hc-vault-transit",
    "--aws-profile",
    "--encryption-context",
    "--add-pgp",
    "--rm-pgp",
];

/// sops's top-level (legacy) mode, as the subcommand form: `secrets sops FILE` is `edit FILE`,
/// `-d`/`--decrypt`, `-e`/`--encrypt` and `-r`/`--rotate` choose `decrypt`, `encrypt` and
/// `rotate`, and `--set 'INDEX VALUE'` is `set FILE INDEX VALUE`; the other options go to the
/// subcommand as they are. `args` starts at `sops`; nothing changes when a subcommand is named.
pub fn legacy_to_subcommand(args: &mut Vec<OsString>, at: usize) {
    let rest: Vec<String> = args[at + 1..].iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut mode: Option<&str> = None;
    let mut set = None;
    let mut dropped = Vec::new();
    let mut file_seen = false;
    let mut i = 0;
    while i < rest.len() {
        let token = rest[i].as_str();
        if token == "--" {
            break;
        }
        if token.starts_with('-') && token != "-" {
            let (name, inline) = token.split_once('=').map_or((token, false), |(n, _)| (n, true));
            let chosen = match name {
                "-d" | "--decrypt" => Some("decrypt"),
                "-e" | "--encrypt" => Some("encrypt"),
                "-r" | "--rotate" => Some("rotate"),
                "--set" => Some("set"),
                _ => None,
            };
            if let Some(chosen) = chosen {
                if mode.is_some_and(|m| m != chosen) {
                    say!("warning: more than one of --encrypt, --decrypt, --rotate and --set: the last one is used");
                }
                mode = Some(chosen);
                dropped.push(i);
                if chosen == "set" {
                    if inline {
                        set = token.split_once('=').map(|(_, v)| v.to_string());
                    } else if let Some(value) = rest.get(i + 1) {
                        set = Some(value.clone());
                        dropped.push(i + 1);
                        i += 1;
                    }
                }
            } else if matches!(name, "-h" | "--help" | "-V" | "--version") && !file_seen && mode.is_none() {
                return;
            } else if !inline && LEGACY_VALUE_FLAGS.contains(&name) {
                i += 1;
            }
        } else if !file_seen {
            if SUBCOMMANDS.contains(&token) {
                return;
            }
            file_seen = true;
        }
        i += 1;
    }
    if mode.is_none() && !file_seen {
        return;
    }
    let command = mode.unwrap_or("edit");
    let mut kept: Vec<OsString> = Vec::with_capacity(args.len() + 3);
    kept.extend(args[..=at].iter().cloned());
    kept.push(OsString::from(command));
    for (k, token) in args[at + 1..].iter().enumerate() {
        // `edit` and `set` always write the file; sops takes -i with them and ignores it.
        let ignored = (token == "-i" || token == "--in-place") && matches!(command, "edit" | "set");
        if !dropped.contains(&k) && !ignored {
            kept.push(token.clone());
        }
    }
    if let Some(set) = set {
        // sops splits "INDEX VALUE" after the first "] ".
        let (index, value) = set.split_once("] ").map_or((set.clone(), String::new()), |(i, v)| (format!("{i}]"), v.to_string()));
        kept.push(OsString::from(index.trim_end()));
        kept.push(OsString::from(value));
    }
    *args = kept;
}

/// `secrets sops …` parsed on its own, `args` starting at `sops` (see [`SopsCli`]). Help,
/// version and usage errors end the process through [`crate::output::clap_exit`], so that help
/// into a closed pipe ends quietly like any other output.
pub fn parse_alone(args: &[OsString]) -> SopsArgs {
    // The commonest call of all, `secrets sops decrypt FILE`, builds its own command only.
    if args.get(1).is_some_and(|a| a == "decrypt") {
        let parsed = crate::cli::parse_keeping_parser::<SopsDecryptCli>(&args[1..]).unwrap_or_else(|e| crate::output::clap_exit(&e));
        return SopsArgs { config: parsed.config, indent: parsed.indent, command: SopsCommand::Decrypt(parsed.args) };
    }
    crate::cli::parse_keeping_parser::<SopsCli>(args).unwrap_or_else(|e| crate::cli::help_or_exit::<SopsCli>(args, &e)).args
}

const DECRYPT_ABOUT: &str = "Decrypt a file and print it";
const DECRYPT_EXAMPLES: &str = "Examples:\n  secrets sops decrypt secrets.yaml\n  secrets sops decrypt --extract '[\"db\"][\"password\"]' secrets.yaml\n  SOPS_AGE_KEY_FILE=key.txt secrets sops decrypt sops/secrets/db/secret";

#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags, reason = "clap help text, shown as written: not markdown")]
/// The arguments of `secrets sops decrypt`.
#[derive(Args, Debug, Clone)]
pub struct DecryptArgs {
    /// The encrypted file (standard input when omitted; `-` is a file of that name)
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub types: TypeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Print only the value at this path, e.g. '["db"]["password"]' (strings raw, without a newline)
    #[arg(long, value_name = "PATH")]
    pub extract: Option<String>,
    /// Do not verify the MAC (recovery only)
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub order: OrderArg,
}

/// Where a file's store comes from.
#[derive(Args, Debug, Clone)]
pub struct TypeArgs {
    /// Store of the input: yaml, json, dotenv, ini or binary (default: from the file extension)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Store of the output (default: from the file extension)
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Choose the stores and the .sops.yaml rule as if the file had this name (needed for stdin)
    #[arg(long, value_name = "NAME")]
    pub filename_override: Option<PathBuf>,
}

/// Where the result goes.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Write the result back to the file (atomically)
    #[arg(short = 'i', long)]
    pub in_place: bool,
    /// Write the result to this file instead of stdout
    #[arg(long, value_name = "PATH", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
}

/// Which values a new file encrypts (at most one).
#[derive(Args, Debug, Clone, Default)]
pub struct SelectionArgs {
    /// Leave values whose key ends with this suffix in clear text [default: _unencrypted]
    #[arg(long, value_name = "SUFFIX", group = "selection")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values whose key ends with this suffix
    #[arg(long, value_name = "SUFFIX", group = "selection")]
    pub encrypted_suffix: Option<String>,
    /// Leave values whose key matches this regex in clear text
    #[arg(long, value_name = "REGEX", group = "selection")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values whose key matches this regex
    #[arg(long, value_name = "REGEX", group = "selection")]
    pub encrypted_regex: Option<String>,
    /// Leave values after a comment matching this regex in clear text
    #[arg(long, value_name = "REGEX", group = "selection")]
    pub unencrypted_comment_regex: Option<String>,
    /// Encrypt only values after a comment matching this regex
    #[arg(long, value_name = "REGEX", group = "selection")]
    pub encrypted_comment_regex: Option<String>,
    /// Compute the MAC over encrypted values only, so clear values may be edited by hand
    #[arg(long)]
    pub mac_only_encrypted: bool,
}

#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags, reason = "clap help text, shown as written: not markdown")]
#[derive(Subcommand, Debug)]
#[command(defer = true)] // arguments defined only when this command is parsed: see `cli::Command`
pub enum SopsCommand {
    #[command(about = DECRYPT_ABOUT, after_help = DECRYPT_EXAMPLES)]
    Decrypt(DecryptArgs),
    /// Encrypt a plaintext file for age recipients and PGP keys
    #[command(
        after_help = "Examples:\n  secrets sops encrypt --age age1abc…,age1def… secrets.yaml > secrets.enc.yaml\n  secrets sops encrypt --encrypted-regex '^(data|stringData)$' -i k8s-secret.yaml"
    )]
    Encrypt {
        /// The plaintext file (standard input when omitted, with --filename-override)
        file: Option<PathBuf>,
        /// Comma-separated age recipients: age1…, ssh-ed25519 …, ssh-rsa … [env: SOPS_AGE_RECIPIENTS]
        #[arg(short = 'a', long, value_name = "RECIPIENTS")]
        age: Option<String>,
        /// Comma-separated PGP fingerprints, encrypted to with gpg [env: SOPS_PGP_FP]
        #[arg(short = 'p', long, value_name = "FINGERPRINTS")]
        pgp: Option<String>,
        /// Split the data key between key groups; this many groups must open it
        #[arg(long, value_name = "N")]
        shamir_secret_sharing_threshold: Option<usize>,
        #[command(flatten)]
        types: TypeArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        selection: SelectionArgs,
    },
    /// Re-wrap a file's data key for a new set of recipients (values stay as they are)
    #[command(after_help = "Examples:\n  secrets sops updatekeys --age age1new…,age1old… -y secrets.yaml")]
    Updatekeys {
        /// The encrypted file
        file: PathBuf,
        /// The new comma-separated recipients (default: the matching .sops.yaml creation rule)
        #[arg(long, value_name = "RECIPIENTS")]
        age: Option<String>,
        /// Do not ask for confirmation
        #[arg(short = 'y', long)]
        yes: bool,
        /// Key groups needed to decrypt
        #[arg(long, value_name = "N")]
        shamir_secret_sharing_threshold: Option<usize>,
        /// Store of the file (default: from the extension)
        #[arg(long, value_name = "TYPE")]
        input_type: Option<String>,
    },
    /// Generate a new data key and re-encrypt every value with it
    #[command(after_help = "Examples:\n  secrets sops rotate -i secrets.yaml\n  secrets sops rotate -i --rm-age age1gone… secrets.yaml")]
    Rotate {
        /// The encrypted file
        file: PathBuf,
        /// Comma-separated recipients to add (to the first key group)
        #[arg(long, value_name = "RECIPIENTS")]
        add_age: Option<String>,
        /// Comma-separated recipients to remove (from every key group)
        #[arg(long, value_name = "RECIPIENTS")]
        rm_age: Option<String>,
        /// Comma-separated PGP fingerprints to add (to the first key group)
        #[arg(long, value_name = "FINGERPRINTS")]
        add_pgp: Option<String>,
        /// Comma-separated PGP fingerprints to remove (from every key group)
        #[arg(long, value_name = "FINGERPRINTS")]
        rm_pgp: Option<String>,
        #[command(flatten)]
        types: TypeArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        order: OrderArg,
    },
    /// Set one value in an encrypted file, keeping every other ciphertext
    #[command(
        after_help = "Examples:\n  secrets sops set secrets.yaml '[\"db\"][\"password\"]' '\"hunter2\"'\n  echo '\"hunter2\"' | secrets sops set --value-stdin secrets.yaml '[\"db\"][\"password\"]'"
    )]
    Set(SetArgs),
    /// Remove one value from an encrypted file
    Unset {
        /// The encrypted file (changed in place)
        file: PathBuf,
        /// What to remove, e.g. '["db"]["password"]'
        path: String,
        /// Succeed when the value does not exist
        #[arg(long)]
        idempotent: bool,
        /// Store of the file (default: from the extension)
        #[arg(long, value_name = "TYPE")]
        input_type: Option<String>,
        /// Store the file is written back in (default: from the extension)
        #[arg(long, value_name = "TYPE")]
        output_type: Option<String>,
        /// Do not verify the MAC (recovery only)
        #[arg(long)]
        ignore_mac: bool,
        #[command(flatten)]
        order: OrderArg,
    },
    #[command(about = edit::EDIT_ABOUT, after_help = edit::EDIT_EXAMPLES)]
    Edit(edit::EditArgs),
    #[command(about = exec::EXEC_ENV_ABOUT, after_help = exec::EXEC_ENV_EXAMPLES)]
    ExecEnv(exec::ExecEnvArgs),
    #[command(about = exec::EXEC_FILE_ABOUT, after_help = exec::EXEC_FILE_EXAMPLES)]
    ExecFile(exec::ExecFileArgs),
    #[command(about = groups::GROUPS_ABOUT, after_help = groups::GROUPS_EXAMPLES)]
    Groups {
        #[command(subcommand)]
        command: groups::GroupsCommand,
    },
    #[command(about = publish::PUBLISH_ABOUT, after_help = publish::PUBLISH_EXAMPLES)]
    Publish(publish::PublishArgs),
    #[command(about = completion::COMPLETION_ABOUT, after_help = completion::COMPLETION_EXAMPLES)]
    Completion(completion::CompletionArgs),
    /// Not provided here: sops's gRPC key service (answers with an error)
    Keyservice {
        /// sops's options of the key service, refused with the command
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
        args: Vec<OsString>,
    },
    /// Tell whether a file is encrypted, as JSON
    Filestatus {
        /// The file to look at
        file: PathBuf,
        /// Store of the file (default: from the extension)
        #[arg(long, value_name = "TYPE")]
        input_type: Option<String>,
    },
}

#[allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags, reason = "clap help text, shown as written: not markdown")]
/// The arguments of `secrets sops set`, as sops takes them: FILE INDEX VALUE, where VALUE is
/// JSON, or the path of a file holding it (`--value-file`), or left out (`--value-stdin`).
#[derive(Args, Debug)]
pub struct SetArgs {
    /// FILE (changed in place), INDEX (e.g. '["db"]["password"]') and VALUE (JSON: a string needs quotes, '"x"')
    #[arg(value_names = ["FILE", "INDEX", "VALUE"], num_args = 0.., allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// VALUE is the path of a file holding the JSON value (keeps it out of process listings)
    #[arg(long)]
    pub value_file: bool,
    /// Read the JSON value from standard input (no VALUE argument)
    #[arg(long)]
    pub value_stdin: bool,
    /// Do nothing when the value is already set to this
    #[arg(long)]
    pub idempotent: bool,
    /// Store of the file (default: from the extension)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Store the file is written back in (default: from the extension)
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Do not verify the MAC (recovery only)
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub order: OrderArg,
}

/// `--decryption-order`, as the sops commands that decrypt take it.
#[derive(Args, Debug, Clone, Default)]
pub struct OrderArg {
    /// Comma-separated kinds of keys in the order to try them, e.g. pgp,age [env: SOPS_DECRYPTION_ORDER]
    #[arg(long, value_name = "TYPES")]
    pub decryption_order: Option<String>,
}

impl SopsCommand {
    /// The `--decryption-order` of the commands that take it (sops: decrypt, edit, rotate, set
    /// and unset); `exec-env`, `exec-file` and `filestatus` follow `SOPS_DECRYPTION_ORDER` alone.
    fn decryption_order(&self) -> Option<&str> {
        let (SopsCommand::Decrypt(DecryptArgs { order, .. })
        | SopsCommand::Edit(edit::EditArgs { order, .. })
        | SopsCommand::Set(SetArgs { order, .. })
        | SopsCommand::Rotate { order, .. }
        | SopsCommand::Unset { order, .. }) = self
        else {
            return None;
        };
        order.decryption_order.as_deref()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_names_the_sops_version_files_are_written_as() {
        assert!(super::VERSION.ends_with(&format!("compatible with sops {}", secrets_sops::metadata::WRITER_VERSION)));
    }

    fn legacy(args: &[&str]) -> Vec<String> {
        let mut args: Vec<std::ffi::OsString> = args.iter().map(std::ffi::OsString::from).collect();
        super::legacy_to_subcommand(&mut args, 0);
        args.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn legacy_flags_become_subcommands() {
        assert_eq!(legacy(&["sops", "-d", "f.yaml"]), ["sops", "decrypt", "f.yaml"]);
        assert_eq!(legacy(&["sops", "f.yaml", "--encrypt", "-i"]), ["sops", "encrypt", "f.yaml", "-i"]);
        assert_eq!(legacy(&["sops", "-r", "-i", "--add-age", "age1x", "f"]), ["sops", "rotate", "-i", "--add-age", "age1x", "f"]);
        assert_eq!(legacy(&["sops", "-i", "--set", "[\"a\"][0] {\"b\": 1}", "f"]), ["sops", "set", "f", "[\"a\"][0]", "{\"b\": 1}"]);
        assert_eq!(legacy(&["sops", "--set=[\"a\"] 1", "f"]), ["sops", "set", "f", "[\"a\"]", "1"]);
        assert_eq!(legacy(&["sops", "-s", "f.yaml"]), ["sops", "edit", "-s", "f.yaml"]);
        assert_eq!(legacy(&["sops", "decrypt.yaml"]), ["sops", "edit", "decrypt.yaml"]);
        // A value is never taken for the file or a mode, and a subcommand is left alone.
        assert_eq!(legacy(&["sops", "--output", "-e", "-d", "f"]), ["sops", "decrypt", "--output", "-e", "f"]);
        for unchanged in [&["sops", "decrypt", "-d"][..], &["sops", "--config", "c", "encrypt", "f"], &["sops", "--help"], &["sops"]] {
            assert_eq!(legacy(unchanged), unchanged);
        }
    }

    #[test]
    fn only_unknown_words_become_files_to_edit() {
        use clap::Subcommand;
        let command = super::SopsCommand::augment_subcommands(clap::Command::new("sops"));
        let mut names: Vec<&str> = command.get_subcommands().map(clap::Command::get_name).collect();
        names.extend(["help", "--"]);
        names.sort_unstable();
        let mut known = super::SUBCOMMANDS.to_vec();
        known.sort_unstable();
        assert_eq!(names, known);
    }
}
