//! `secrets import-sops`: every string value of a sops file (any structured store, or stdin)
//! becomes a secret; nested keys are joined with `.`.

use clap::Args;
use std::path::{Path, PathBuf};

use secrets_sops::{DecryptOptions, EncryptedFile, Format, Map, Value};
use secrets_store::ops::{self, Ctx};
use secrets_store::rekey::RekeyOptions;
use secrets_store::{names, Kind};
use zeroize::Zeroizing;

use crate::commands::secrets::{members_with_caller, MemberArgs};
use crate::context::{plural, Context};
use crate::failure::{CmdResult, Failure};
use crate::io::read_input;
use crate::output::{note, say};

/// `secrets import-sops`.
#[derive(Args, Debug)]
#[command(
    after_help = "Nested keys become names joined with `.`: {\"db\": {\"password\": …}} imports db.password.\n\nExamples:\n  secrets import-sops --group admins secrets.yaml\n  cat secrets.json | secrets import-sops --input-type json -"
)]
pub struct ImportArgs {
    /// The sops file (`-` for stdin)
    pub file: PathBuf,
    /// Its store: yaml, json, dotenv or ini (default: from the extension)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Prefix for the secret names
    #[arg(long, default_value = "")]
    pub prefix: String,
    #[command(flatten)]
    pub members: MemberArgs,
    /// Overwrite secrets that exist already
    #[arg(short, long)]
    pub force: bool,
}

/// The separator of nested key names.
const SEPARATOR: &str = ".";

pub fn run(ctx: &Context, args: ImportArgs) -> CmdResult {
    let repo = ctx.repo()?;
    let file = args.file.display().to_string();
    let format = match &args.input_type {
        Some(t) => {
            Format::from_name(t).ok_or_else(|| Failure::msg(format!("unknown store type `{t}`")).hint("use yaml, json, dotenv or ini"))?
        }
        None if args.file.as_os_str() == "-" => Format::Yaml,
        None => Format::from_path(&args.file),
    };
    if format == Format::Binary {
        return Err(Failure::msg(format!("{file}: import-sops reads yaml, json, dotenv or ini files"))
            .hint("pass --input-type if the extension does not say which; use `secrets set` for a single binary value"));
    }
    let members = members_with_caller(&repo, &args.members)?;
    let identities = Context::identities();
    let bytes = read_input(&args.file)?;
    let encrypted = EncryptedFile::parse(&bytes, format).map_err(|e| Failure::sops(&file, e))?;
    let plain = encrypted.decrypt(&identities, DecryptOptions::default()).map_err(|e| Failure::sops(&file, e))?;
    let mut values = Vec::new();
    if let Some(branch) = plain.data.branches.first() {
        flatten(branch, &args.prefix, &mut values);
    }
    let progress = Context::progress();
    let op = Ctx { repo: &repo, identities: &identities, options: RekeyOptions::default(), progress: &progress };
    let _lock = ctx.lock(&repo)?;
    let mut paths = Vec::new();
    let mut imported = 0;
    for (name, value) in values {
        let Some(value) = value else {
            say!("warning: {name} is not a string, skipping");
            continue;
        };
        if let Err(e) = names::validate(Kind::Secret, &name) {
            say!("warning: {e}, skipping");
            continue;
        }
        if repo.exists(Kind::Secret, &name) && !args.force {
            say!("warning: {name} already exists, skipping (use --force to overwrite)");
            continue;
        }
        let outcome = ops::set_secret(&op, &name, &value, &members)?;
        paths.extend(outcome.paths);
        imported += 1;
    }
    note!("Imported {} from {file}", plural(imported, "secret"));
    let source = Path::new(&file).file_name().map_or_else(|| "stdin".into(), |n| n.to_string_lossy().into_owned());
    ctx.commit(&repo, &paths, &format!("secrets: import {} from {source}", plural(imported, "secret")))?;
    Ok(0)
}

/// Every leaf under `map` as (name, string value); non-string leaves give `None`.
fn flatten(map: &Map, prefix: &str, out: &mut Vec<(String, Option<Zeroizing<Vec<u8>>>)>) {
    for (key, value) in map.entries() {
        let name = format!("{prefix}{key}");
        match value {
            Value::Map(inner) => flatten(inner, &format!("{name}{SEPARATOR}"), out),
            Value::Str(s) => out.push((name, Some(Zeroizing::new(s.as_bytes().to_vec())))),
            Value::Bytes(b) => out.push((name, Some(Zeroizing::new(b.clone())))),
            _ => out.push((name, None)),
        }
    }
}
