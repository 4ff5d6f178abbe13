//! `secrets git-diff FILE`: a sops file as text for git's `textconv`, so that `git diff`,
//! `git log -p` and `git show` show who a file is encrypted for (by name), when its values were
//! last encrypted, and whether each value changed, without ever printing a value.
//!
//! Each encrypted value is shown as a fingerprint of its ciphertext: unchanged means the same
//! value under the same data key; changed means the value or the data key changed. With a key
//! and this clone's `secrets.diff.salt` (written by `secrets git setup`), a keyed hash of each
//! decrypted value is shown too, which tells for sure. Values themselves are shown only when
//! asked (`secrets.diff.showValues` or `SECRETS_DIFF_SHOW_VALUES=1`) and a key can read them.

use std::path::Path;

use secrets_sops::{DecryptOptions, EncryptedFile, Format};
use secrets_store::history::summary::{fingerprint, keyed_fingerprints, Summary, ValueView};
use secrets_store::history::KeyIndex;
use zeroize::Zeroizing;

use crate::context::Context;
use crate::exit;
use crate::failure::{CmdResult, Failure};
use crate::output::write_stdout;

/// What this clone allows the diff to show.
struct Settings {
    show_values: bool,
    salt: Option<String>,
}

impl Settings {
    fn load(ctx: &Context) -> Settings {
        let config = super::git_here(ctx).and_then(|g| g.config().ok()).and_then(|mut c| c.snapshot().ok());
        let from_env = std::env::var("SECRETS_DIFF_SHOW_VALUES")
            .ok()
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
        let show_values =
            from_env.unwrap_or_else(|| config.as_ref().and_then(|c| c.get_bool("secrets.diff.showValues").ok()).unwrap_or(false));
        let salt = config.as_ref().and_then(|c| c.get_string("secrets.diff.salt").ok()).filter(|s| !s.is_empty());
        Settings { show_values, salt }
    }
}

pub fn run(ctx: &Context, file: &Path) -> CmdResult {
    let bytes = std::fs::read(file)
        .map_err(|e| Failure::new(exit::COULD_NOT_READ_INPUT_FILE, format!("{}: cannot read the file: {e}", file.display())))?;
    if bytes.is_empty() {
        return Ok(0);
    }
    let settings = Settings::load(ctx);
    let names = ctx.repo().map(|r| KeyIndex::from_repo(&r)).unwrap_or_default();
    let format = Format::from_path(file);
    let text = render(&bytes, format, &names, &settings);
    write_stdout(text.as_bytes())?;
    Ok(0)
}

fn render(bytes: &[u8], format: Format, names: &KeyIndex, settings: &Settings) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    let file = match EncryptedFile::parse(bytes, format) {
        Ok(file) => file,
        Err(e) => {
            out.push_str(&format!("not an encrypted sops file ({e})\n{} bytes, sha256 {}\n", bytes.len(), fingerprint(bytes)));
            if settings.show_values {
                out.push_str("content:\n");
                show_bytes(&mut out, bytes);
            }
            return out;
        }
    };
    let summary = Summary::of(&file);
    out.push_str(&format!("sops {} file, version {}\n", format.name(), summary.version));
    out.push_str(&format!("lastmodified: {}\n", summary.last_modified));
    let many = summary.recipients.len() > 1;
    for (i, group) in summary.recipients.iter().enumerate() {
        out.push_str(&if many { format!("recipients (key group {}):\n", i + 1) } else { "recipients:\n".to_string() });
        let mut rows: Vec<(String, &String)> = group.iter().map(|r| (names.describe(r), r)).collect();
        rows.sort();
        for (who, key) in rows {
            out.push_str(&format!("  {who}: {key}\n"));
        }
    }
    if !summary.other_keys.is_empty() {
        out.push_str(&format!("other master keys: {}\n", summary.other_keys.join(", ")));
    }
    if !summary.has_mac {
        out.push_str("mac: MISSING\n");
    }
    for (path, view) in &summary.values {
        match view {
            ValueView::Encrypted(fp) => out.push_str(&format!("{path}: ciphertext {fp}\n")),
            ValueView::Empty => out.push_str(&format!("{path}: empty\n")),
            ValueView::Clear(text) => out.push_str(&format!("{path}: clear text {text:?}\n")),
        }
    }
    if settings.salt.is_none() && !settings.show_values {
        return out;
    }
    let identities = Context::identities();
    if identities.is_empty() {
        return out;
    }
    match file.decrypt(&identities, DecryptOptions::default()) {
        Ok(plain) => {
            if let Some(salt) = &settings.salt {
                for (path, hash) in keyed_fingerprints(salt.as_bytes(), &plain.data, format) {
                    out.push_str(&format!("{path}: plaintext hash {hash}\n"));
                }
            }
            if settings.show_values {
                match plain.to_plain_bytes(format) {
                    Ok(bytes) => {
                        let bytes = Zeroizing::new(bytes);
                        out.push_str("plaintext:\n");
                        show_bytes(&mut out, &bytes);
                    }
                    Err(e) => out.push_str(&format!("plaintext: cannot be shown ({e})\n")),
                }
            }
        }
        Err(secrets_sops::Error::NoKey(_)) => {}
        Err(e) => out.push_str(&format!("decryption failed: {e}\n")),
    }
    out
}

/// Text line by line; anything else (binary, control characters) as hex.
fn show_bytes(out: &mut String, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).ok().filter(|t| !t.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
    if let Some(text) = text {
        for line in text.split_inclusive('\n') {
            out.push_str("  | ");
            out.push_str(line.trim_end_matches('\n'));
            out.push('\n');
        }
        if !text.is_empty() && !text.ends_with('\n') {
            out.push_str("  (no newline at the end)\n");
        }
    } else {
        out.push_str(&format!("  ({} bytes, not text; hex)\n", bytes.len()));
        for (i, chunk) in bytes.chunks(32).enumerate() {
            out.push_str(&format!("  {:06x}: {}\n", i * 32, hex::encode(chunk)));
        }
    }
}
