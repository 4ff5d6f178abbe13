//! PGP master keys through the user's GnuPG, as sops 3.11 uses them (`pgp/keysource.go`): the
//! data key (or a Shamir share) is an armored PGP message in a key group's `pgp` list, opened by
//! running `gpg -d` with the message on standard input. `SOPS_GPG_EXEC` names another program,
//! `GNUPGHOME` another home, exactly as for sops; the agent and pinentry of the user's GnuPG ask
//! for a passphrase when the key has one.
//!
//! sops first tries its built-in OpenPGP reader on the legacy `secring.gpg`, which GnuPG 2.1
//! and later no longer write; only the `gpg` way is offered here.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::metadata::KeyGroup;
use crate::tree::Value;

/// One PGP master key of a key group: its fingerprint and the armored message it holds.
pub(crate) struct PgpKey<'a> {
    pub fingerprint: &'a str,
    pub enc: &'a str,
}

/// The PGP keys of a group, in file order (entries without a message are skipped).
pub(crate) fn keys_of(group: &KeyGroup) -> Vec<PgpKey<'_>> {
    let Some((_, Value::List(entries))) = group.other.iter().find(|(name, _)| name == "pgp") else {
        return Vec::new();
    };
    entries
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

/// How GnuPG is run: the program (`SOPS_GPG_EXEC`, else `gpg` from `PATH`) and its home
/// (`GNUPGHOME`, else GnuPG's default), given as `--homedir` as sops does.
#[derive(Clone, Debug)]
pub(crate) struct GnuPg {
    pub program: OsString,
    pub home: Option<PathBuf>,
}

impl Default for GnuPg {
    fn default() -> GnuPg {
        GnuPg { program: OsString::from("gpg"), home: None }
    }
}

/// The most PGP keys tried per key group: each try runs GnuPG, and a file's committer chooses
/// how many entries it lists.
pub(crate) const MAX_TRIED: usize = 16;

/// Opens `key`'s message with GnuPG: the payload, or why it did not open (GnuPG's own words,
/// which never hold the payload).
pub(crate) fn decrypt(key: &PgpKey<'_>, gnupg: &GnuPg) -> Result<Zeroizing<Vec<u8>>, String> {
    let program = gnupg.program.to_string_lossy();
    let mut command = Command::new(&gnupg.program);
    if let Some(home) = &gnupg.home {
        command.arg("--homedir").arg(home);
    }
    let mut child = command
        .args(["--batch", "--quiet", "-d"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e} (install GnuPG, or name it in SOPS_GPG_EXEC)"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A GnuPG that exits early closes the pipe; its status says why.
        let _ = stdin.write_all(key.enc.as_bytes());
    }
    let output = child.wait_with_output().map_err(|e| format!("{program} failed: {e}"))?;
    let payload = Zeroizing::new(output.stdout);
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        return Err(format!("gpg could not decrypt it: {}", said.trim()));
    }
    if payload.is_empty() {
        // An older GnuPG meeting an AEAD packet it does not know drops it and succeeds.
        return Err("gpg returned zero bytes".to_string());
    }
    Ok(payload)
}
