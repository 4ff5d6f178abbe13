//! The command line: every subcommand, flag and help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  secrets sops encrypt --age age1… secrets.yaml > secrets.enc.yaml
  secrets sops decrypt secrets.enc.yaml
  secrets sops set secrets.enc.yaml '[\"db\"][\"password\"]' '\"hunter2\"'
  secrets completions bash > /etc/bash_completion.d/secrets";

#[derive(Parser, Debug)]
#[command(name = "secrets", version, about = "A git-native secrets manager speaking the SOPS format with age keys", after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Work on any sops file, like the real `sops` (same flags, environment and exit codes)
    #[command(subcommand)]
    Sops(SopsCommand),
    /// Print a shell completion script
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}

/// Where a file's store comes from.
#[derive(Args, Debug, Clone)]
pub struct TypeArgs {
    /// Store of the input: yaml, json, dotenv, ini or binary (default: from the file extension)
    #[arg(long, value_name = "TYPE")]
    pub input_type: Option<String>,
    /// Store of the output (default: the input's)
    #[arg(long, value_name = "TYPE")]
    pub output_type: Option<String>,
    /// Choose the store as if the file had this name (useful with `-` for stdin)
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

#[derive(Subcommand, Debug)]
pub enum SopsCommand {
    /// Decrypt a file and print it
    #[command(after_help = "Examples:\n  secrets sops decrypt secrets.yaml\n  secrets sops decrypt --extract '[\"db\"][\"password\"]' secrets.yaml\n  SOPS_AGE_KEY_FILE=key.txt secrets sops decrypt sops/secrets/db/secret")]
    Decrypt {
        /// The encrypted file (`-` for stdin)
        file: PathBuf,
        #[command(flatten)]
        types: TypeArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// Print only the value at this path, e.g. '["db"]["password"]' (strings raw, without a newline)
        #[arg(long, value_name = "PATH")]
        extract: Option<String>,
        /// Do not verify the MAC (recovery only)
        #[arg(long)]
        ignore_mac: bool,
    },
    /// Encrypt a plaintext file for age recipients
    #[command(after_help = "Examples:\n  secrets sops encrypt --age age1abc…,age1def… secrets.yaml > secrets.enc.yaml\n  secrets sops encrypt --encrypted-regex '^(data|stringData)$' -i k8s-secret.yaml")]
    Encrypt {
        /// The plaintext file (`-` for stdin)
        file: PathBuf,
        /// Comma-separated age recipients: age1…, ssh-ed25519 …, ssh-rsa … [env: SOPS_AGE_RECIPIENTS]
        #[arg(long, value_name = "RECIPIENTS")]
        age: Option<String>,
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
        #[command(flatten)]
        types: TypeArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Set one value in an encrypted file, keeping every other ciphertext
    #[command(after_help = "Examples:\n  secrets sops set secrets.yaml '[\"db\"][\"password\"]' '\"hunter2\"'\n  printf %s \"$TOKEN\" | secrets sops set --value-stdin secrets.yaml '[\"token\"]'")]
    Set {
        /// The encrypted file (changed in place)
        file: PathBuf,
        /// Where to set, e.g. '["db"]["password"]'
        path: String,
        /// The value as JSON (a string needs quotes: '"x"'); omit with --value-file or --value-stdin
        value: Option<String>,
        /// Read the JSON value from this file
        #[arg(long, value_name = "PATH", conflicts_with_all = ["value", "value_stdin"])]
        value_file: Option<PathBuf>,
        /// Read the JSON value from standard input
        #[arg(long, conflicts_with = "value")]
        value_stdin: bool,
        /// Do nothing when the value is already set to this
        #[arg(long)]
        idempotent: bool,
        /// Store of the file (default: from the extension)
        #[arg(long, value_name = "TYPE")]
        input_type: Option<String>,
    },
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
