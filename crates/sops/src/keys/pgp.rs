//! PGP master keys through the user's GnuPG, as sops 3.11 uses them (`pgp/keysource.go`): the
//! data key (or a Shamir share) is an armored PGP message in a key group's `pgp` list, opened by
//! running `gpg -d` with the message on standard input, and made by running `gpg --encrypt -a`
//! to the key's fingerprint with sops's arguments. `SOPS_GPG_EXEC` names another program,
//! `GNUPGHOME` another home, exactly as for sops; the agent and pinentry of the user's GnuPG ask
//! for a passphrase when the key has one.
//!
//! Each entry is written as sops writes it: `created_at` (RFC 3339, UTC, seconds), `enc` (the
//! armored message without its final newline) and `fp` (the fingerprint as given, spaces
//! removed), in that order.
//!
//! sops first tries its built-in OpenPGP reader and writer on the legacy `pubring.gpg` and
//! `secring.gpg`, which GnuPG 2.1 and later no longer write; only the `gpg` way is offered here.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::metadata::KeyGroup;
use crate::tree::{Map, Value};

/// One PGP master key of a key group: its fingerprint and the armored message it holds.
pub(crate) struct PgpKey<'a> {
    pub fingerprint: &'a str,
    pub enc: &'a str,
}

/// The entries of a group's `pgp` list (none when it has no such list).
fn pgp_list(group: &KeyGroup) -> &[Value] {
    match group.other.iter().find(|(name, _)| name == "pgp") {
        Some((_, Value::List(entries))) => entries,
        _ => &[],
    }
}

/// The PGP keys of a group, in file order (entries without a message are skipped).
pub(crate) fn keys_of(group: &KeyGroup) -> Vec<PgpKey<'_>> {
    pgp_list(group)
        .iter()
        .filter_map(|entry| {
            let Value::Map(map) = entry else { return None };
            let text = |key: &str| match map.get(key) {
                Some(Value::Str(s)) => Some(s.as_str()),
                _ => None,
            };
            Some(PgpKey { fingerprint: text("fp").unwrap_or(""), enc: text("enc")? })
        })
        .collect()
}

/// How GnuPG is run for PGP master keys: the program (`SOPS_GPG_EXEC`, else `gpg` from `PATH`)
/// and its home (`GNUPGHOME`, else GnuPG's default), given as `--homedir`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GnuPg {
    /// The GnuPG program.
    pub program: OsString,
    /// GnuPG's home directory; `None` leaves it to GnuPG (and to the environment it inherits).
    pub home: Option<PathBuf>,
}

impl Default for GnuPg {
    fn default() -> GnuPg {
        GnuPg { program: OsString::from("gpg"), home: None }
    }
}

impl GnuPg {
    /// What the process environment says, as sops reads it: `SOPS_GPG_EXEC` and `GNUPGHOME`
    /// (empty values count as unset).
    #[must_use]
    pub fn from_env() -> GnuPg {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        GnuPg { program: var("SOPS_GPG_EXEC").unwrap_or_else(|| OsString::from("gpg")), home: var("GNUPGHOME").map(PathBuf::from) }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        if let Some(home) = &self.home {
            command.arg("--homedir").arg(home);
        }
        command
    }
}

/// Whether a recipient string names a PGP key: a whole hexadecimal fingerprint, 40 digits (v4
/// keys) or 64 (v5 and v6), spaces allowed as sops removes them, optionally with GnuPG's
/// trailing `!`. Key IDs and other lengths are not taken: GnuPG reads them as a search of the
/// keys' names, where a key someone else made can answer. No age recipient (`age1…`, `ssh-…`)
/// has that shape, so recipient lists can hold both kinds.
#[must_use]
pub fn is_fingerprint(recipient: &str) -> bool {
    let compact: String = recipient.chars().filter(|c| *c != ' ').collect();
    let hex = compact.strip_suffix('!').unwrap_or(&compact);
    matches!(hex.len(), 40 | 64) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fingerprint read from a file, as messages show it: at most 80 characters, control
/// characters escaped (a committer chooses it).
pub(crate) fn shown(fingerprint: &str) -> String {
    let mut out: String = fingerprint.chars().take(80).flat_map(char::escape_default).collect();
    if fingerprint.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// A fingerprint as sops stores it: spaces removed.
#[must_use]
pub fn normalize_fingerprint(recipient: &str) -> String {
    recipient.chars().filter(|c| *c != ' ').collect()
}

/// The key ID sops gives `--trusted-key`: the last 16 hex digits (with a trailing `!` kept).
fn short_id(fingerprint: &str) -> &str {
    let keep = if fingerprint.ends_with('!') { 17 } else { 16 };
    let start = fingerprint.len().saturating_sub(keep);
    fingerprint.get(start..).unwrap_or(fingerprint)
}

/// Wraps `payload` (the data key or a Shamir share) for the PGP key `fingerprint`: the `pgp`
/// list entry sops writes, from `gpg --no-default-recipient --yes --encrypt -a -r FP
/// --trusted-key ID --no-encrypt-to` with the payload on standard input. `--batch --no-tty`
/// are added: GnuPG must fail rather than ask on the terminal whether to use a key.
pub(crate) fn encrypt(fingerprint: &str, payload: &[u8], gnupg: &GnuPg, created_at: &str) -> Result<Value> {
    let fingerprint = normalize_fingerprint(fingerprint);
    let program = gnupg.program.to_string_lossy().into_owned();
    let mut child = gnupg
        .command()
        .args(["--batch", "--no-tty", "--no-default-recipient", "--yes", "--encrypt", "-a", "-r", &fingerprint])
        .args(["--trusted-key", short_id(&fingerprint)])
        .arg("--no-encrypt-to")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::GnuPgRun { program: program.clone(), source })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A GnuPG that exits early closes the pipe; its status says why.
        let _ = stdin.write_all(payload);
    }
    let output = child.wait_with_output().map_err(|source| Error::GnuPgRun { program, source })?;
    let armored = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if !output.status.success() || !armored.starts_with("-----BEGIN PGP MESSAGE-----") {
        return Err(Error::PgpEncrypt { fingerprint, said: gnupg_said(&output.stderr) });
    }
    Ok(entry(created_at, armored, fingerprint))
}

/// GnuPG's complaint on one line: its lines without the `gpg: ` prefix and without the notes
/// about the home or keybox it just created, joined with `; `.
fn gnupg_said(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim().strip_prefix("gpg: ").unwrap_or(l.trim()))
        .filter(|l| !l.is_empty() && !l.ends_with(" created"))
        .collect();
    if lines.is_empty() {
        "gpg failed without saying why".to_string()
    } else {
        shown_text(&lines.join("; "))
    }
}

/// One `pgp` list entry, in sops's field order.
fn entry(created_at: &str, enc: String, fingerprint: String) -> Value {
    let mut map = Map::new();
    map.push("created_at", Value::str(created_at));
    map.push("enc", Value::Str(enc));
    map.push("fp", Value::Str(fingerprint));
    Value::Map(map)
}

/// The entries of a group's `pgp` list, with their fingerprints: for keeping those of keys
/// that stay when the data key does not change.
pub(crate) fn entries_of(group: &KeyGroup) -> Vec<(String, Value)> {
    pgp_list(group)
        .iter()
        .filter_map(|entry| {
            let Value::Map(map) = entry else { return None };
            match map.get("fp") {
                Some(Value::Str(fp)) => Some((fp.clone(), entry.clone())),
                _ => None,
            }
        })
        .collect()
}

/// GnuPG's words, shortened to what a message line holds, control characters escaped.
fn shown_text(text: &str) -> String {
    let mut out: String =
        text.chars().take(400).flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect();
    if text.chars().count() > 400 {
        out.push('…');
    }
    out
}

/// The most PGP keys tried per key group: each try runs GnuPG, and a file's committer chooses
/// how many entries it lists.
pub(crate) const MAX_TRIED: usize = 16;

/// The most PGP keys tried for one file, over all its key groups (which a committer may also
/// multiply).
pub(crate) const MAX_TRIED_PER_FILE: usize = 64;

/// The most bytes read from GnuPG when it opens an entry: a data key is 32, a Shamir share 33.
/// A committer can make a tiny entry that decompresses to gigabytes (or a plain literal packet
/// that needs no key at all): GnuPG is stopped past this.
const MAX_PAYLOAD: usize = 64;

/// Opens `key`'s message with GnuPG: the payload, or why it did not open (GnuPG's own words,
/// which never hold the payload). The message is fed and GnuPG's complaints are read on their
/// own threads, so that neither pipe can block the other.
pub(crate) fn decrypt(key: &PgpKey<'_>, gnupg: &GnuPg) -> Result<Zeroizing<Vec<u8>>, String> {
    let program = gnupg.program.to_string_lossy();
    let mut child = gnupg
        .command()
        .args(["--batch", "--no-tty", "--quiet", "-d"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e} (install GnuPG, or name it in SOPS_GPG_EXEC)"))?;
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let message = key.enc.as_bytes();
    let (said, payload) = std::thread::scope(|scope| {
        scope.spawn(move || {
            if let Some(mut stdin) = stdin {
                // A GnuPG that exits early closes the pipe; its status says why.
                let _ = stdin.write_all(message);
            }
        });
        let said = scope.spawn(move || {
            let mut said = Vec::new();
            if let Some(mut stderr) = stderr {
                let _ = (&mut stderr).take(16 * 1024).read_to_end(&mut said);
                let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            }
            said
        });
        let mut payload = Zeroizing::new(Vec::with_capacity(MAX_PAYLOAD + 1));
        if let Some(stdout) = stdout {
            let _ = stdout.take(MAX_PAYLOAD as u64 + 1).read_to_end(&mut payload);
        }
        if payload.len() > MAX_PAYLOAD {
            // Stopped here, before it writes the rest; its pipes close with it.
            let _ = child.kill();
        }
        (said.join().unwrap_or_default(), payload)
    });
    let status = child.wait().map_err(|e| format!("{program} failed: {e}"))?;
    if payload.len() > MAX_PAYLOAD {
        return Err(format!("gpg's output is longer than {MAX_PAYLOAD} bytes: this entry holds no data key"));
    }
    if !status.success() {
        return Err(format!("gpg could not decrypt it: {}", gnupg_said(&said)));
    }
    if payload.is_empty() {
        // An older GnuPG meeting an AEAD packet it does not know drops it and succeeds.
        return Err("gpg returned zero bytes".to_string());
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_told_from_age_recipients() {
        assert!(is_fingerprint("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"));
        assert!(is_fingerprint("FBC7 B9E2 A4F9 289A C0C1  D484 3D16 CEE4 A273 81B4"));
        assert!(is_fingerprint("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4!"));
        assert!(is_fingerprint(&"AB".repeat(32)), "a v5 fingerprint");
        for id in ["3D16CEE4A27381B4", "3D16CEE4A27381B4!", "A27381B4", &"A".repeat(36), &"A".repeat(41)] {
            assert!(!is_fingerprint(id), "{id}: not a whole fingerprint, gpg would search names for it");
        }
        assert!(!is_fingerprint("age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg"));
        assert!(!is_fingerprint("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"));
        assert!(!is_fingerprint("ABCDEF"), "too short for a key ID");
        assert_eq!(normalize_fingerprint("FBC7 B9E2"), "FBC7B9E2");
    }

    #[test]
    fn the_trusted_key_is_the_long_key_id_as_sops_gives_it() {
        assert_eq!(short_id("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"), "3D16CEE4A27381B4");
        assert_eq!(short_id("FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4!"), "3D16CEE4A27381B4!");
        assert_eq!(short_id("A27381B4"), "A27381B4");
    }

    #[test]
    fn gnupg_complaints_fit_on_one_line() {
        let said = gnupg_said(
            b"gpg: keybox '/h/pubring.kbx' created\ngpg: FP: skipped: No public key\ngpg: [stdin]: encryption failed: No public key\n",
        );
        assert_eq!(said, "FP: skipped: No public key; [stdin]: encryption failed: No public key");
        assert_eq!(gnupg_said(b""), "gpg failed without saying why");
        assert_eq!(gnupg_said(b"gpg: a\x1b[31mred\n"), "a\\u{1b}[31mred");
        assert_eq!(shown("AB\ninjected"), "AB\\ninjected");
        assert_eq!(shown(&"A".repeat(100)).chars().count(), 81);
    }
}
