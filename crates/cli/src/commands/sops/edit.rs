//! `secrets sops edit FILE` (and the bare `secrets sops FILE`): decrypt into a private file,
//! open the user's editor, encrypt what comes back with the same data key, as `sops edit` does.
//! A file that does not exist yet starts from sops's example document for its store and is
//! encrypted for the recipients of `--age`/`SOPS_AGE_RECIPIENTS` or of the matching `.sops.yaml`
//! creation rule. An unchanged result writes nothing and exits with sops's code 200 ("File has
//! not changed, exiting."); a result that does not parse re-opens the editor after a key press,
//! as sops does (at the end of standard input it stops instead of looping). With
//! `--show-master-keys` the editor also sees the `sops` metadata, and what comes back replaces it.
//! The private file is handled by [`crate::editor`].

use std::path::{Path, PathBuf};

use clap::Args;
use secrets_sops::metadata::WRITER_VERSION;
use secrets_sops::{Document, EncryptedFile, Format, Map, MapItem, Value};
use sha2::{Digest, Sha256};

use super::{display, encrypted_bytes, formats, load, open, plain_bytes, store_for, OrderArg, SelectionArgs, TypeArgs};
use crate::editor::Session;
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::io::write_atomic;
use crate::output::say;

pub const EDIT_ABOUT: &str = "Edit an encrypted file in $SOPS_EDITOR or $EDITOR (a new file starts from an example)";
pub const EDIT_EXAMPLES: &str = "Examples:\n  secrets sops edit secrets.yaml\n  secrets sops secrets.yaml\n  EDITOR='code --wait' secrets sops edit --age age1… new.yaml";

/// The arguments of `secrets sops edit`.
#[derive(Args, Debug, Clone)]
pub struct EditArgs {
    /// The encrypted file (created when it does not exist)
    pub file: PathBuf,
    /// For a new file: comma-separated age recipients [env: SOPS_AGE_RECIPIENTS]
    #[arg(short = 'a', long, value_name = "RECIPIENTS")]
    pub age: Option<String>,
    /// For a new file: comma-separated PGP fingerprints [env: SOPS_PGP_FP]
    #[arg(short = 'p', long, value_name = "FINGERPRINTS")]
    pub pgp: Option<String>,
    /// For a new file: split the data key between key groups; this many groups must open it
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
    #[command(flatten)]
    pub types: TypeArgs,
    #[command(flatten)]
    pub selection: SelectionArgs,
    /// Show the sops metadata (master keys) in the editor too
    #[arg(short = 's', long)]
    pub show_master_keys: bool,
    /// Do not verify the MAC (recovery only)
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub order: OrderArg,
}

pub fn run(args: EditArgs) -> CmdResult {
    let file = std::path::absolute(&args.file).map_err(|e| Failure::msg(format!("{}: {e}", display(&args.file))))?;
    let (input_fmt, output_fmt) = formats(&file, &args.types)?;
    let name = file.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let exists = std::fs::metadata(&file).is_ok();
    let edited = if exists {
        edit_existing(&file, &name, input_fmt, output_fmt, &args)?
    } else {
        edit_new(&file, &name, input_fmt, output_fmt, &args)?
    };
    let Some(out) = edited else {
        // sops's words and code, not an error line: scripts test for 200.
        say!("File has not changed, exiting.");
        return Ok(exit::FILE_HAS_NOT_BEEN_MODIFIED);
    };
    // Quietly, as sops (its "File written successfully" is an info log it does not show).
    write_atomic(&file, &out)?;
    Ok(0)
}

/// The new encrypted file, or `None` when the editor changed nothing.
fn edit_existing(file: &Path, name: &str, input_fmt: Format, output_fmt: Format, args: &EditArgs) -> CmdResult<Option<Vec<u8>>> {
    let encrypted = load(file, input_fmt)?;
    let mut plain = open(file, &encrypted, args.ignore_mac)?;
    drop(encrypted);
    let shown = zeroize::Zeroizing::new(if args.show_master_keys {
        store_for(output_fmt)?
            .emit_encrypted(&plain.data, &plain.metadata.to_tree(output_fmt))
            .map_err(|e| Failure::sops(&display(file), e))?
    } else {
        plain_bytes(file, &plain, output_fmt)?
    });
    let Some(edited) = edit_until_valid(name, &shown, input_fmt, args.show_master_keys)? else { return Ok(None) };
    plain.data = edited.data;
    if let Some(metadata) = edited.metadata {
        plain.metadata = metadata;
    }
    if older_than_writer(&plain.metadata.version) {
        WRITER_VERSION.clone_into(&mut plain.metadata.version);
    }
    let encrypted = plain.encrypt().map_err(|e| Failure::sops(&display(file), e))?;
    encrypted_bytes(file, &encrypted, output_fmt).map(Some)
}

fn edit_new(file: &Path, name: &str, input_fmt: Format, output_fmt: Format, args: &EditArgs) -> CmdResult<Option<Vec<u8>>> {
    // The recipients are settled before the editor opens: nothing typed is lost to a missing rule.
    let options = super::encrypt_options(
        file,
        super::KeyFlags { age: args.age.clone(), pgp: args.pgp.clone() },
        args.shamir_secret_sharing_threshold.unwrap_or(0),
        &args.selection,
    )?;
    let example = example(input_fmt);
    let shown = zeroize::Zeroizing::new(store_for(output_fmt)?.emit_plain(&example).map_err(|e| Failure::sops(&display(file), e))?);
    let Some(edited) = edit_until_valid(name, &shown, input_fmt, false)? else { return Ok(None) };
    let encrypted = secrets_sops::encrypt(edited.data, input_fmt, &options).map_err(|e| Failure::sops(&display(file), e))?;
    encrypted_bytes(file, &encrypted, output_fmt).map(Some)
}

/// What the editor gave back, parsed.
struct Edited {
    data: Document,
    metadata: Option<secrets_sops::metadata::Metadata>,
}

/// Opens the editor until the result parses (after a key press on standard input, as sops
/// waits); `None` when the file was left unchanged.
fn edit_until_valid(name: &str, shown: &[u8], input_fmt: Format, with_metadata: bool) -> CmdResult<Option<Edited>> {
    let original = Sha256::digest(shown);
    let mut session = Session::new(name, shown)?;
    loop {
        session.run(exit::NO_EDITOR_FOUND)?;
        let edited = session.read()?;
        if Sha256::digest(edited.as_slice()) == original {
            return Ok(None);
        }
        let parsed = if with_metadata {
            EncryptedFile::parse(&edited, input_fmt).map(|f| Edited { data: f.data, metadata: Some(f.metadata) })
        } else {
            secrets_sops::parse_plain(&edited, input_fmt).map(|data| Edited { data, metadata: None })
        };
        match parsed {
            Ok(parsed) if parsed.metadata.as_ref().is_some_and(|m| m.key_groups.iter().all(|g| g.age.is_empty() && g.other.is_empty())) => {
                say!("error: no master keys were provided, so the file cannot be encrypted");
            }
            Ok(parsed) => return Ok(Some(parsed)),
            Err(e) => say!("error: could not load the edited file, probably due to invalid syntax: {e}"),
        }
        crate::output::prompt("Press a key to return to the editor, or Ctrl+C to exit. ");
        if !wait_for_key() {
            return Err(Failure::new(exit::GENERIC, "standard input is closed: the edit cannot be resumed; nothing was changed"));
        }
    }
}

/// Waits for one byte on standard input; false at its end.
fn wait_for_key() -> bool {
    use std::io::Read;
    let mut byte = [0u8; 1];
    matches!(std::io::stdin().read(&mut byte), Ok(1))
}

/// Whether a file's `sops.version` is older than the version this tool writes (sops then
/// records its own version on edit).
fn older_than_writer(version: &str) -> bool {
    fn parts(v: &str) -> Option<Vec<u64>> {
        v.split('.').map(|p| p.parse().ok()).collect()
    }
    match (parts(version), parts(WRITER_VERSION)) {
        (Some(old), Some(new)) => old < new,
        _ => false,
    }
}

const WELCOME: &str = "Welcome to SOPS! Edit this file as you please!";

/// sops's example document for a new file of this store: YAML and JSON get a nested example,
/// INI one section, dotenv flat keys, binary one line of text.
fn example(format: Format) -> Document {
    let branch = match format {
        Format::Yaml | Format::Json => {
            let mut m = Map::new();
            m.push("hello", Value::str(WELCOME));
            m.push("example_key", Value::str("example_value"));
            m.0.push(MapItem::Comment(" Example comment".into()));
            m.push("example_array", Value::List(vec![Value::str("example_value1"), Value::str("example_value2")]));
            m.push("example_number", Value::Float(1234.56789));
            m.push("example_booleans", Value::List(vec![Value::Bool(true), Value::Bool(false)]));
            m
        }
        Format::Ini => {
            let mut section = Map::new();
            // sops's INI writer trims the comment it is given; ours writes it as it is.
            section.0.push(MapItem::Comment("This is an example file.".into()));
            section.push("hello", Value::str(WELCOME));
            section.push("example_key", Value::str("example_value"));
            let mut m = Map::new();
            m.push("Welcome!", Value::Map(section));
            m
        }
        Format::Dotenv => {
            let mut m = Map::new();
            m.0.push(MapItem::Comment(" This is an example file.".into()));
            m.push("hello", Value::str(WELCOME));
            m.push("example_key", Value::str("example_value"));
            m.push("example_multiline", Value::str("foo\nbar\nbaz"));
            m
        }
        Format::Binary => {
            let mut m = Map::new();
            m.push("data", Value::str(WELCOME));
            m
        }
    };
    Document { branches: vec![branch] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_number() {
        assert!(older_than_writer("3.9.4"));
        assert!(older_than_writer("3.10.0"));
        assert!(!older_than_writer(WRITER_VERSION));
        assert!(!older_than_writer("3.12.0"));
        assert!(!older_than_writer("not a version"));
    }

    #[test]
    fn every_store_writes_its_example() {
        for format in [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini, Format::Binary] {
            let bytes = secrets_sops::stores::store(format).emit_plain(&example(format)).unwrap();
            assert!(String::from_utf8(bytes).unwrap().contains(WELCOME), "{format:?}");
        }
    }
}
