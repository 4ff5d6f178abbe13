//! The command line: every subcommand, flag and help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  secrets key generate
  secrets users add alice --age-key age1…
  secrets machines add web1 age1…
  secrets groups add-user admins alice
  printf %s \"$DB_PASSWORD\" | secrets set db-password --machine web1 --group admins
  secrets get db-password
  secrets sops decrypt secrets.enc.yaml
  secrets completions bash > /etc/bash_completion.d/secrets";

#[derive(Parser, Debug)]
#[command(name = "secrets", version, about = "A git-native secrets manager speaking the SOPS format with age keys", after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// The repository holding sops/ (default: found from the current directory like clan does)
    #[arg(long, global = true, value_name = "PATH", alias = "flake", env = "SECRETS_REPO")]
    pub repo: Option<PathBuf>,
    /// Do not commit changes to git (also: CLAN_NO_COMMIT=1)
    #[arg(long, global = true)]
    pub no_commit: bool,
    /// Print machine-readable JSON
    #[arg(long, global = true)]
    pub json: bool,
}

const SOPS_EXAMPLES: &str = "Examples:\n  secrets sops encrypt --age age1… app.yaml > app.enc.yaml\n  secrets sops decrypt app.enc.yaml\n  secrets sops updatekeys -y --age age1…,age1new… app.enc.yaml";

/// `secrets sops …` alone. Scripts run `secrets sops decrypt` once per file, and building the
/// whole command tree costs more than decrypting a small file, so these commands get a parser of
/// their own (same flags, help and errors).
#[derive(Parser, Debug)]
#[command(name = "sops", bin_name = "secrets sops", version, about = "Work on any sops file, like the real `sops`", after_help = SOPS_EXAMPLES)]
struct SopsCli {
    #[command(subcommand)]
    command: SopsCommand,
}

/// `secrets sops decrypt …` alone: the same arguments, help and errors as the subcommand.
#[derive(Parser, Debug)]
#[command(name = "decrypt", bin_name = "secrets sops decrypt", about = DECRYPT_ABOUT, after_help = DECRYPT_EXAMPLES)]
struct SopsDecryptCli {
    #[command(flatten)]
    args: DecryptArgs,
}

impl Cli {
    /// Parses the process arguments.
    pub fn from_args() -> Cli {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let global_flag = |a: &std::ffi::OsString| {
            let a = a.to_string_lossy();
            ["--repo", "--flake", "--no-commit", "--json"].iter().any(|f| a == *f || a.starts_with(&format!("{f}=")))
        };
        if args.get(1).is_some_and(|a| a == "sops") && !args.iter().any(global_flag) {
            // The commonest call of all, `secrets sops decrypt FILE`, builds its own command only.
            if args.get(2).is_some_and(|a| a == "decrypt") {
                let decrypt = SopsDecryptCli::parse_from(&args[2..]);
                return Cli { global: GlobalArgs::default(), command: Command::Sops(SopsCommand::Decrypt(decrypt.args)) };
            }
            let sops = SopsCli::parse_from(&args[1..]);
            return Cli { global: GlobalArgs::default(), command: Command::Sops(sops.command) };
        }
        Cli::parse()
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Manage your local age key
    #[command(subcommand, after_help = "Examples:\n  secrets key generate\n  secrets key show\n  secrets key update")]
    Key(KeyCommand),
    /// Manage users (admins) and their keys
    #[command(
        subcommand,
        after_help = "Examples:\n  secrets users add alice --age-key age1…\n  secrets users list\n  secrets users add-secret alice db-password\n  secrets users remove bob"
    )]
    Users(MemberCommand),
    /// Manage machines and their keys
    #[command(
        subcommand,
        after_help = "Examples:\n  secrets machines add web1 age1…\n  ssh-keyscan -t ed25519 web1 | secrets machines add web1 --ssh-to-age\n  secrets machines add-secret web1 db-password\n  secrets machines list"
    )]
    Machines(MemberCommand),
    /// Manage groups of users and machines
    #[command(
        subcommand,
        after_help = "Examples:\n  secrets groups add-user admins alice\n  secrets groups add-machine servers web1\n  secrets groups add-secret admins db-password\n  secrets groups list"
    )]
    Groups(GroupCommand),
    /// Set a secret's value (from stdin, a hidden prompt, or --edit) and who can read it
    #[command(
        after_help = "Examples:\n  printf %s \"$TOKEN\" | secrets set api-token --machine web1\n  secrets set db-password --group admins   # prompts for the value on a terminal\n  secrets set --edit db-password"
    )]
    Set {
        /// The secret's name
        secret: String,
        #[command(flatten)]
        members: MemberArgs,
        /// Edit the value in $EDITOR (a private temporary file, removed afterwards)
        #[arg(short, long)]
        edit: bool,
        /// Allow a secret that no user can read (machines only)
        #[arg(short, long)]
        force: bool,
    },
    /// Print a secret's exact bytes
    #[command(after_help = "Examples:\n  secrets get db-password\n  secrets get tls-key > key.pem")]
    Get {
        /// The secret's name
        secret: String,
    },
    /// List secrets, optionally those whose name contains PATTERN
    #[command(after_help = "Examples:\n  secrets list\n  secrets list db   # the names containing `db`\n  secrets list --long")]
    List {
        /// A substring of the names to show
        pattern: Option<String>,
        /// Also show when each secret was created and last changed (from git history)
        #[arg(short, long)]
        long: bool,
    },
    /// Remove a secret
    #[command(after_help = "Examples:\n  secrets remove db-password")]
    Remove {
        /// The secret's name
        secret: String,
    },
    /// Rename a secret
    #[command(after_help = "Examples:\n  secrets rename db-password postgres-password")]
    Rename {
        /// The current name
        secret: String,
        /// The new name
        new_name: String,
    },
    /// Import every string value of a sops file (yaml, json, dotenv, ini) as secrets
    #[command(
        name = "import-sops",
        after_help = "Nested keys become names joined with `.`: {\"db\": {\"password\": …}} imports db.password.\n\nExamples:\n  secrets import-sops --group admins secrets.yaml\n  cat secrets.json | secrets import-sops --input-type json -"
    )]
    ImportSops(ImportArgs),
    /// Store cloud credentials (aws, gcp, azure, cloudflare, kubernetes) and run programs with them
    #[command(
        subcommand,
        after_help = "Examples:\n  secrets credentials store aws --profile prod --name prod --group ops\n  secrets credentials list\n  secrets credentials exec aws/prod -- aws s3 ls"
    )]
    Credentials(CredentialsCommand),
    /// Find a credential: $SERVICE_PURPOSE, then a file, then the secret SERVICE.PURPOSE
    #[command(
        after_help = "Examples:\n  secrets resolve postgres admin --field password\n  SECRETS_CREDENTIALS_DIR=/run/creds secrets resolve api token"
    )]
    Resolve {
        /// The service, e.g. `postgres`
        service: String,
        /// The purpose, e.g. `admin`
        purpose: String,
        /// Print only this field (a plain value is the field `credential`)
        #[arg(long, value_name = "FIELD")]
        field: Option<String>,
        /// Folder of plain credential files (<dir>/<service>/<purpose>)
        #[arg(long, value_name = "DIR", env = "SECRETS_CREDENTIALS_DIR")]
        dir: Option<PathBuf>,
    },
    /// Export secrets for other systems
    #[command(subcommand, after_help = "Examples:\n  secrets export k8s --name app --namespace prod db-password | kubectl apply -f -")]
    Export(ExportCommand),
    /// Work on any sops file, like the real `sops` (same flags, environment and exit codes)
    #[command(subcommand, after_help = SOPS_EXAMPLES)]
    Sops(SopsCommand),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  secrets completions bash > /etc/bash_completion.d/secrets\n  secrets completions zsh > ~/.zfunc/_secrets\n  secrets completions fish > ~/.config/fish/completions/secrets.fish"
    )]
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
    /// Validate the repository without any key: names, keys, links, files and drift (for CI)
    Check(CheckArgs),
    /// Who can read which secret, and how (directly or through which group)
    Access(AccessArgs),
    /// The history of secrets from git: value and recipient changes, by whom and when
    Log(LogArgs),
    /// Set git up for secrets: readable diffs, merges of encrypted files, a pre-commit check
    #[command(subcommand, after_help = "Examples:\n  secrets git setup --pre-commit")]
    Git(GitCommand),
    /// git textconv driver: a sops file as reviewable text, values hidden (see `secrets git setup`)
    #[command(
        name = "git-diff",
        after_help = "Examples:\n  git config diff.secrets.textconv 'secrets git-diff'   # what `secrets git setup` writes\n  secrets git-diff sops/secrets/db-password/secret"
    )]
    GitDiff(GitDiffArgs),
    /// git merge driver: decrypt, merge and re-encrypt sops files (see `secrets git setup`)
    #[command(
        name = "git-merge",
        after_help = "Examples:\n  git config merge.secrets.driver 'secrets git-merge %O %A %B %P'   # what `secrets git setup` writes"
    )]
    GitMerge(GitMergeArgs),
    /// Install a machine's secrets into a folder, as sops-nix does (run on the machine)
    #[command(after_help = INSTALL_EXAMPLES)]
    Install(InstallArgs),
    /// Run a command with secrets in its environment or in private files
    #[command(after_help = EXEC_EXAMPLES)]
    Exec(ExecArgs),
}

const INSTALL_EXAMPLES: &str = "\
Each run writes a new generation DIR.d/N and switches the symlink DIR to it in one step; a secret
that fails to decrypt fails the run and leaves the previous generation in place.

Examples:
  secrets --repo /var/lib/secrets-repo install --machine web1 --target /run/secrets
  secrets install --machine web1 --target /run/secrets --manifest overrides.json
  secrets install --machine web1 --target /run/secrets --check
  secrets install --manifest /nix/store/…-manifest.json    # a sops-nix manifest";

const EXEC_EXAMPLES: &str = "\
Values never appear on the command line; files live in a private folder removed afterwards.
The command does not see SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD or
SOPS_AGE_SSH_PRIVATE_KEY_FILE unless --keep-key-env; --env naming one of them needs it too.
--all-env names variables after secrets, which anyone who commits can choose, so it skips (with a
warning) any variable already set and any that steers how programs run: LD_*, DYLD_*, PATH,
BASH_ENV, ENV, IFS, HOME, SHELL, TMPDIR, NODE_OPTIONS, PYTHON*, PERL5*, RUBYOPT, GCONV_PATH,
MALLOC_*, GLIBC_TUNABLES, JAVA_TOOL_OPTIONS, SSH_*, EDITOR, SOPS_*, GIT_*, SECRETS_* and the like.
Pass such a secret with --env NAME=SECRET, which sets exactly the name you give.

Examples:
  secrets exec --env DB_PASSWORD=db-password -- ./migrate
  secrets exec --env db-password -- ./migrate                 # as $DB_PASSWORD
  secrets exec --file TLS_KEY=tls-key -- nginx -c conf        # $TLS_KEY is the file's path
  secrets exec --file tls-key -- openssl rsa -in {} -noout
  secrets exec --machine web1 --all-env -- ./server";

/// `secrets install`.
#[derive(Args, Debug)]
pub struct InstallArgs {
    /// The machine whose secrets to install (linked directly or through its groups, plus its vars)
    #[arg(long, value_name = "MACHINE")]
    pub machine: Option<String>,
    /// The folder to install into: a symlink to the newest generation in DIR.d/
    #[arg(long, value_name = "DIR")]
    pub target: Option<PathBuf>,
    /// The machine's age key file [default: /var/lib/sops-nix/key.txt if present]
    #[arg(long, value_name = "FILE")]
    pub age_key_file: Option<PathBuf>,
    /// An ssh-ed25519 host key, used as an age key (repeatable) [default: /etc/ssh/ssh_host_ed25519_key if present]
    #[arg(long = "ssh-key", value_name = "FILE")]
    pub ssh_keys: Vec<PathBuf>,
    /// Per-secret mode, owner, group, path and units (JSON), or a whole sops-nix manifest
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Generations to keep, the new one included; 0 keeps all [default: 1, or the manifest's]
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Check the manifest and the encrypted files without decrypting or writing anything
    #[arg(long)]
    pub check: bool,
    /// sops-install-secrets' -check-mode: off, manifest or sopsfile
    #[arg(long, value_name = "MODE", hide = true, conflicts_with = "check")]
    pub check_mode: Option<String>,
    /// Own every file by root without looking up users (for secrets needed before users exist)
    #[arg(long)]
    pub ignore_passwd: bool,
}

/// `secrets exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Put a secret in the environment: NAME=SECRET, or SECRET alone for its upper-cased name (repeatable)
    #[arg(long = "env", value_name = "NAME=SECRET")]
    pub env: Vec<String>,
    /// Write a secret to a private file and put its path in NAME: NAME=SECRET or SECRET (repeatable); `{}` in the command is the path of the only one
    #[arg(long = "file", value_name = "NAME=SECRET")]
    pub files: Vec<String>,
    /// Every secret of the machine or user, in the environment under upper-cased names; never replaces a set variable or one like PATH, LD_* (see below)
    #[arg(long, conflicts_with = "all_files")]
    pub all_env: bool,
    /// Every secret of the machine or user as a file in a private folder named by $SECRETS_DIR
    #[arg(long)]
    pub all_files: bool,
    /// With --all-env/--all-files: the machine's secrets (decrypted with your keys or the machine's)
    #[arg(long, value_name = "MACHINE", conflicts_with = "user")]
    pub machine: Option<String>,
    /// With --all-env/--all-files: the user's secrets [default: you, found by your key]
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Let the command see SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and SOPS_AGE_SSH_PRIVATE_KEY_FILE (removed by default)
    #[arg(long)]
    pub keep_key_env: bool,
    /// The command and its arguments
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Generate an age key in your key file, unless you already have one
    #[command(after_help = "Examples:\n  secrets key generate\n  secrets key generate --new   # another key, appended to the key file")]
    Generate {
        /// Generate a new key even if one exists (it is appended, never overwritten)
        #[arg(long)]
        new: bool,
    },
    /// Show your public keys and where they come from
    #[command(after_help = "Examples:\n  secrets key show\n  SOPS_AGE_KEY_FILE=keys.txt secrets key show")]
    Show,
    /// Re-encrypt every secret for exactly the members its links name
    #[command(after_help = "Examples:\n  secrets key update")]
    Update,
}

/// Who a secret is (also) encrypted for.
#[derive(Args, Debug, Clone, Default)]
pub struct MemberArgs {
    /// Encrypt for this user too (repeatable)
    #[arg(long = "user", value_name = "USER")]
    pub users: Vec<String>,
    /// Encrypt for this machine too (repeatable)
    #[arg(long = "machine", value_name = "MACHINE")]
    pub machines: Vec<String>,
    /// Encrypt for this group too (repeatable)
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
}

/// How keys are given to `add`, `add-key` and `remove-key`.
#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// An age key (age1…), ssh public key, age private key, or a file holding one
    #[arg(conflicts_with = "age_keys")]
    pub key: Option<String>,
    /// The same, as an option (repeatable)
    #[arg(long = "age-key", value_name = "KEY")]
    pub age_keys: Vec<String>,
    /// Read ssh-ed25519 public keys (e.g. `ssh-keyscan HOST` output) from stdin, or convert the
    /// given one, and store the age1 form that sops-nix machines decrypt with their host key
    #[arg(long)]
    pub ssh_to_age: bool,
}

#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// List names
    #[command(after_help = "Examples:\n  secrets users list\n  secrets machines list --json")]
    List,
    /// Add one, with its key(s)
    #[command(
        after_help = "Examples:\n  secrets users add alice --age-key age1…\n  secrets machines add web1 age1…\n  ssh-keyscan -t ed25519 web1 | secrets machines add web1 --ssh-to-age"
    )]
    Add {
        /// The name
        name: String,
        #[command(flatten)]
        keys: KeyArgs,
        /// Replace the keys of an existing one (and re-encrypt its secrets)
        #[arg(short, long)]
        force: bool,
    },
    /// Show the keys
    #[command(after_help = "Examples:\n  secrets users get alice\n  secrets machines get web1")]
    Get {
        /// The name
        name: String,
    },
    /// Remove one: it leaves its groups and its secrets get new data keys
    #[command(after_help = "Examples:\n  secrets users remove bob\n  secrets machines remove web1")]
    Remove {
        /// The name
        name: String,
        /// Allow leaving a secret that no user can read
        #[arg(short, long)]
        force: bool,
    },
    /// Add key(s)
    #[command(
        after_help = "Examples:\n  secrets users add-key alice --age-key age1…\n  secrets users add-key alice ~/.config/sops/age/keys.txt"
    )]
    AddKey {
        /// The name
        name: String,
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Remove key(s)
    #[command(after_help = "Examples:\n  secrets users remove-key alice age1…")]
    RemoveKey {
        /// The name
        name: String,
        #[command(flatten)]
        keys: KeyArgs,
        /// Allow leaving a secret that no user can read
        #[arg(short, long)]
        force: bool,
    },
    /// Give access to a secret
    #[command(after_help = "Examples:\n  secrets users add-secret alice db-password\n  secrets machines add-secret web1 db-password")]
    AddSecret {
        /// The name
        name: String,
        /// The secret
        secret: String,
    },
    /// Take access to a secret away (its data key is rotated)
    #[command(after_help = "Examples:\n  secrets users remove-secret bob db-password\n  secrets machines remove-secret web1 db-password")]
    RemoveSecret {
        /// The name
        name: String,
        /// The secret
        secret: String,
        /// Allow leaving the secret with no user able to read it
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List groups and their members
    #[command(after_help = "Examples:\n  secrets groups list\n  secrets groups list --json")]
    List,
    /// Add a user to a group (created if needed)
    #[command(after_help = "Examples:\n  secrets groups add-user admins alice")]
    AddUser {
        /// The group
        group: String,
        /// The user
        user: String,
    },
    /// Remove a user from a group
    #[command(after_help = "Examples:\n  secrets groups remove-user admins bob")]
    RemoveUser {
        /// The group
        group: String,
        /// The user
        user: String,
        /// Allow leaving a secret that no user can read
        #[arg(short, long)]
        force: bool,
    },
    /// Add a machine to a group (created if needed)
    #[command(after_help = "Examples:\n  secrets groups add-machine servers web1")]
    AddMachine {
        /// The group
        group: String,
        /// The machine
        machine: String,
    },
    /// Remove a machine from a group
    #[command(after_help = "Examples:\n  secrets groups remove-machine servers web1")]
    RemoveMachine {
        /// The group
        group: String,
        /// The machine
        machine: String,
    },
    /// Give a group access to a secret
    #[command(after_help = "Examples:\n  secrets groups add-secret admins db-password")]
    AddSecret {
        /// The group
        group: String,
        /// The secret
        secret: String,
    },
    /// Take a group's access to a secret away (its data key is rotated)
    #[command(after_help = "Examples:\n  secrets groups remove-secret admins db-password")]
    RemoveSecret {
        /// The group
        group: String,
        /// The secret
        secret: String,
        /// Allow leaving the secret with no user able to read it
        #[arg(short, long)]
        force: bool,
    },
}

#[derive(Args, Debug)]
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

#[derive(Subcommand, Debug)]
pub enum CredentialsCommand {
    /// Store (or rotate) a provider's credentials as the secret <provider>.<name>
    #[command(
        after_help = "Examples:\n  secrets credentials store aws --profile prod --name prod --group ops\n  secrets credentials store cloudflare --set account_id=abc --set-stdin api_token < token.txt\n  secrets credentials store kubernetes --kubeconfig ~/.kube/config --machine ci"
    )]
    Store {
        /// aws, gcp, azure, cloudflare or kubernetes
        provider: String,
        /// The profile name [default: default]
        #[arg(long, default_value = "default")]
        name: String,
        /// A field's value, FIELD=VALUE (repeatable; prefer --set-stdin for secret values)
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Read this field's value from standard input
        #[arg(long, value_name = "FIELD")]
        set_stdin: Option<String>,
        /// aws: read the keys and region of this profile from ~/.aws/credentials and ~/.aws/config
        #[arg(long, value_name = "PROFILE")]
        profile: Option<String>,
        /// kubernetes: the kubeconfig file to store
        #[arg(long, value_name = "PATH")]
        kubeconfig: Option<PathBuf>,
        /// gcp: the service account JSON key file (its project_id is used unless --set gives one)
        #[arg(long, value_name = "PATH")]
        service_account_file: Option<PathBuf>,
        #[command(flatten)]
        members: MemberArgs,
    },
    /// List stored credentials with who can read them, dates and masked values
    List,
    /// Delete a stored credential
    Delete {
        /// <provider> or <provider>/<name>
        credential: String,
    },
    /// Run a command with a provider's standard environment
    #[command(
        after_help = "Examples:\n  secrets credentials exec aws/prod -- aws s3 ls\n  eval \"$(secrets credentials exec cloudflare --export)\""
    )]
    Exec {
        /// <provider> or <provider>/<name>
        credential: String,
        /// Print `export` lines for `eval` instead of running a command
        #[arg(long)]
        export: bool,
        /// Let the command see SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD and SOPS_AGE_SSH_PRIVATE_KEY_FILE (removed by default)
        #[arg(long)]
        keep_key_env: bool,
        /// The command and its arguments
        #[arg(last = true)]
        command: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
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

const DECRYPT_ABOUT: &str = "Decrypt a file and print it";
const DECRYPT_EXAMPLES: &str = "Examples:\n  secrets sops decrypt secrets.yaml\n  secrets sops decrypt --extract '[\"db\"][\"password\"]' secrets.yaml\n  SOPS_AGE_KEY_FILE=key.txt secrets sops decrypt sops/secrets/db/secret";

/// The arguments of `secrets sops decrypt`.
#[derive(Args, Debug, Clone)]
pub struct DecryptArgs {
    /// The encrypted file (`-` for stdin)
    pub file: PathBuf,
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
    #[command(about = DECRYPT_ABOUT, after_help = DECRYPT_EXAMPLES)]
    Decrypt(DecryptArgs),
    /// Encrypt a plaintext file for age recipients
    #[command(
        after_help = "Examples:\n  secrets sops encrypt --age age1abc…,age1def… secrets.yaml > secrets.enc.yaml\n  secrets sops encrypt --encrypted-regex '^(data|stringData)$' -i k8s-secret.yaml"
    )]
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
    #[command(
        after_help = "Examples:\n  secrets sops set secrets.yaml '[\"db\"][\"password\"]' '\"hunter2\"'\n  printf %s \"$TOKEN\" | secrets sops set --value-stdin secrets.yaml '[\"token\"]'"
    )]
    Set {
        /// The encrypted file (changed in place)
        file: PathBuf,
        /// Where to set, e.g. '["db"]["password"]'
        path: String,
        /// The value as JSON (a string needs quotes: '"x"'); omit with --value-file or --value-stdin
        #[arg(allow_negative_numbers = true)]
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

#[derive(Args, Debug)]
#[command(
    after_help = "Exits 1 when it finds an error (warnings do not fail). Without a key nothing is decrypted; with one, the MAC of every secret it opens is verified.\n\nExamples:\n  secrets check\n  secrets check --json\n  secrets check --fix   # re-key secrets whose recipients drifted from their links"
)]
pub struct CheckArgs {
    /// Re-key secrets whose recipients differ from their links (needs a key that can read them)
    #[arg(long)]
    pub fix: bool,
    /// With --fix: allow leaving a secret that no user can read
    #[arg(short, long, requires = "fix")]
    pub force: bool,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  secrets access                        # the matrix: secrets x users and machines\n  secrets access db-password            # who can read it, and how\n  secrets access --member bob           # what bob can read, and how\n  secrets access db-password --member bob --explain"
)]
pub struct AccessArgs {
    /// Only this secret
    pub secret: Option<String>,
    /// Only this user or machine (`user:NAME` or `machine:NAME` when both exist)
    #[arg(long, value_name = "NAME")]
    pub member: Option<String>,
    /// Show the links that give (or would give) the member access to the secret
    #[arg(long, requires_all = ["secret", "member"])]
    pub explain: bool,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Without a key, an identical ciphertext proves the value unchanged, and a new one means the value or the data key changed; with a key that reads both versions, values are compared.\n\nExamples:\n  secrets log\n  secrets log db-password -n 5"
)]
pub struct LogArgs {
    /// Only this secret
    pub secret: Option<String>,
    /// Show at most this many commits
    #[arg(short = 'n', long, value_name = "N")]
    pub max_count: Option<usize>,
}

#[derive(Subcommand, Debug)]
pub enum GitCommand {
    /// Configure this clone: .gitattributes, the diff and merge drivers, optionally a pre-commit check
    #[command(
        after_help = "Idempotent. Writes .gitattributes lines for sops/secrets/*/secret and vars/**/secret, and local git config (diff.secrets.textconv, merge.secrets.driver, merge.secrets.name).\n\nExamples:\n  secrets git setup --pre-commit\n  secrets git setup --pattern 'deploy/*.sops.yaml'"
    )]
    Setup {
        /// Also install pre-commit and pre-merge-commit hooks running `secrets check`
        #[arg(long)]
        pre_commit: bool,
        /// Also use the drivers for other sops files matching this .gitattributes pattern (repeatable)
        #[arg(long = "pattern", value_name = "PATTERN")]
        patterns: Vec<String>,
        /// The command git runs (default: `secrets` when it is on PATH, else this program's path)
        #[arg(long, value_name = "COMMAND")]
        command: Option<String>,
    },
}

#[derive(Args, Debug)]
#[command(
    after_help = "Values are never shown unless `git config secrets.diff.showValues true` or SECRETS_DIFF_SHOW_VALUES=1, and a key can read them."
)]
pub struct GitDiffArgs {
    /// The file git asks to convert
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct GitMergeArgs {
    /// %O: the common ancestor's version
    pub base: PathBuf,
    /// %A: our version; the result is written here
    pub ours: PathBuf,
    /// %B: their version
    pub theirs: PathBuf,
    /// %P: the path of the file in the repository
    pub path: Option<PathBuf>,
}
