//! `secrets export k8s`: chosen secrets as a Kubernetes `v1/Secret` manifest, in clear for
//! `kubectl apply -f -`, or sops-encrypted (only `data`/`stringData`, as Flux and ksops users
//! write them) for the secrets' own readers or the `--age` recipients given. The manifest is
//! built by [`secrets_store::export`]; this module reads the secrets and chooses the recipients.

use clap::Subcommand;

use secrets_store::export;
use secrets_store::ops;

use crate::context::Context;
use crate::failure::CmdResult;
use crate::output::write_stdout;

#[derive(Subcommand, Debug)]
#[command(defer = true)] // arguments defined only when this command is parsed: see `cli::Command`
pub enum ExportCommand {
    /// A Kubernetes v1/Secret manifest of chosen secrets (for `kubectl apply -f -`)
    #[command(
        after_help = "Examples:\n  secrets export k8s --name app --namespace prod db-password api-token | kubectl apply -f -\n  secrets export k8s --name app --encrypted --age age1… db-password > app.sops.yaml"
    )]
    K8s {
        /// metadata.name of the Secret
        #[arg(long)]
        name: String,
        /// metadata.namespace of the Secret
        #[arg(long)]
        namespace: Option<String>,
        /// Write it sops-encrypted (only data/stringData), for Flux or ksops
        #[arg(long)]
        encrypted: bool,
        /// Recipients of the encrypted manifest (comma-separated; default: the secrets' own)
        #[arg(long, value_name = "RECIPIENTS", requires = "encrypted")]
        age: Option<String>,
        /// The secrets to include (their names become the data keys)
        #[arg(required = true)]
        secrets: Vec<String>,
    },
}

pub fn run(ctx: &Context, cmd: ExportCommand) -> CmdResult {
    let ExportCommand::K8s { name, namespace, encrypted, age, secrets } = cmd;
    let repo = ctx.repo_for_reading()?;
    let identities = Context::identities();
    let mut entries = Vec::new();
    let mut recipients: Vec<String> = Vec::new();
    for secret in &secrets {
        entries.push((secret.clone(), ops::get_secret(&repo, &identities, secret)?));
        if encrypted && age.is_none() {
            let reference = repo.secret(secret)?;
            let keys = repo.recipients(&repo.access(&reference)?)?;
            for key in keys {
                if !recipients.contains(&key.key) {
                    recipients.push(key.key);
                }
            }
        }
    }
    if let Some(list) = &age {
        recipients = list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
    }
    let doc = export::k8s_secret(&name, namespace.as_deref(), &entries);
    if encrypted {
        let bytes = export::render_encrypted(doc, recipients)?;
        write_stdout(&bytes)?;
    } else {
        let bytes = export::render_plain(&doc)?;
        write_stdout(&bytes)?;
    }
    Ok(0)
}
