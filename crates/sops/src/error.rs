//! Typed errors of the format library. Messages never contain plaintext: parse errors name a
//! position, decryption errors name a path of mapping keys.

use crate::format::Format;

/// The exit statuses of the real `sops` binary, by name (its `cmd/sops/codes` package): scripts
/// written for sops test these numbers, so `secrets sops` exits with the same ones.
pub mod codes {
    /// Any failure without a more specific status.
    pub const ERROR_GENERIC: i32 = 1;
    /// The input file is missing, unreadable or does not parse in its format.
    pub const COULD_NOT_READ_INPUT_FILE: i32 = 2;
    /// The output file cannot be written.
    pub const COULD_NOT_WRITE_OUTPUT_FILE: i32 = 3;
    /// The document cannot be written back in the output format.
    pub const ERROR_DUMPING_TREE: i32 = 4;
    /// The `.sops.yaml` found is unreadable or invalid.
    pub const ERROR_READING_CONFIG: i32 = 5;
    /// A KMS encryption context is malformed (sops' number; KMS is not supported here).
    pub const ERROR_INVALID_KMS_ENCRYPTION_CONTEXT_FORMAT: i32 = 6;
    /// The value given to `set` is not valid JSON.
    pub const ERROR_INVALID_SET_FORMAT: i32 = 7;
    /// Options that exclude each other were given together.
    pub const ERROR_CONFLICTING_PARAMETERS: i32 = 8;
    /// The MAC cannot be encrypted.
    pub const ERROR_ENCRYPTING_MAC: i32 = 21;
    /// A value or the data key cannot be encrypted.
    pub const ERROR_ENCRYPTING_TREE: i32 = 23;
    /// The MAC cannot be decrypted.
    pub const ERROR_DECRYPTING_MAC: i32 = 24;
    /// A value does not decrypt (tampered with, moved, or under another data key).
    pub const ERROR_DECRYPTING_TREE: i32 = 25;
    /// `updatekeys` or `rotate` was given a file that does not exist.
    pub const CANNOT_CHANGE_KEYS_FROM_NON_EXISTENT_FILE: i32 = 49;
    /// The file's MAC does not match its content.
    pub const MAC_MISMATCH: i32 = 51;
    /// The file has no MAC.
    pub const MAC_NOT_FOUND: i32 = 52;
    /// No `.sops.yaml` was found where one is required.
    pub const CONFIG_FILE_NOT_FOUND: i32 = 61;
    /// The user interrupted the command.
    pub const KEYBOARD_INTERRUPT: i32 = 85;
    /// A `--extract` or `set` path such as `["a"][0]` does not parse or does not match.
    pub const INVALID_TREE_PATH_FORMAT: i32 = 91;
    /// The input holds no document at all.
    pub const NEED_AT_LEAST_ONE_DOCUMENT: i32 = 92;
    /// No file name was given.
    pub const NO_FILE_SPECIFIED: i32 = 100;
    /// Encrypting a new file without any recipient.
    pub const NO_ENCRYPTION_KEY_FOUND: i32 = 111;
    /// `--decryption-order` names a kind of key twice.
    pub const DUPLICATE_DECRYPTION_KEY_TYPE: i32 = 112;
    /// No identity at hand unwraps the file's data key.
    pub const COULD_NOT_RETRIEVE_KEY: i32 = 128;
    /// The editor closed without changing the file.
    pub const FILE_HAS_NOT_BEEN_MODIFIED: i32 = 200;
    /// No editor could be started.
    pub const NO_EDITOR_FOUND: i32 = 201;
    /// The file's sops version cannot be compared with ours.
    pub const FAILED_TO_COMPARE_VERSIONS: i32 = 202;
    /// Encrypting a file that already has sops metadata.
    pub const FILE_ALREADY_ENCRYPTED: i32 = 203;
}

/// The result of every fallible function of the format library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why reading, decrypting, encrypting or writing a sops file failed. [`Error::sops_exit_code`]
/// maps each to the status the real sops exits with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not valid text of its store (bad YAML, JSON, INI or dotenv syntax).
    #[error("cannot parse the input as {format}: {message}")]
    Parse {
        /// The store the input was read as.
        format: Format,
        /// What is wrong and where (line and column), never a value.
        message: String,
    },

    /// The input holds no document (an empty file), which sops refuses to encrypt or read.
    #[error("the input is empty; sops files cannot be completely empty")]
    EmptyInput,

    /// The tree cannot be written in the requested store (for example nested data as dotenv).
    #[error("cannot write the document as {format}: {message}")]
    Emit {
        /// The store the document was to be written as.
        format: Format,
        /// Which part of the tree that store cannot hold.
        message: String,
    },

    /// Decrypting a file that has no `sops` section.
    #[error("sops metadata not found: the file is not encrypted with sops")]
    MetadataNotFound,

    /// Encrypting a file that already has a `sops` section.
    #[error("the file already has sops metadata: it is already encrypted")]
    AlreadyEncrypted,

    /// The `sops` section is there but malformed: a missing or mistyped field; the text says which.
    #[error("invalid sops metadata: {0}")]
    Metadata(String),

    /// A key given twice in one mapping of the metadata, which sops refuses (its YAML decoder
    /// reports "mapping key already defined") rather than picking one of the values.
    #[error("invalid sops metadata: `{path}` is given more than once; remove the extra entry (sops refuses duplicate keys)")]
    DuplicateMetadataKey {
        /// The dotted path of the repeated key, as `sops.key_groups[0].age`.
        path: String,
    },

    /// A value is not a well-formed `ENC[AES256_GCM,…]` string, or decrypts to bytes that do
    /// not fit its declared type.
    #[error("invalid encrypted value at `{path}`: {problem}")]
    BadValue {
        /// Where the value is, as a path of mapping keys.
        path: String,
        /// What is malformed about it.
        #[source]
        problem: ValueProblem,
    },

    /// A value fails AES-GCM authentication with the file's data key.
    #[error("the value at `{path}` failed to decrypt: it was tampered with, moved to another key, or encrypted with another data key")]
    ValueDecrypt {
        /// Where the value is, as a path of mapping keys.
        path: String,
    },

    /// The encrypted MAC does not open with the data key and `lastmodified` as its associated data.
    #[error("cannot decrypt the MAC: the file was tampered with or its lastmodified changed")]
    MacDecrypt,

    /// The file has no `mac` field, and the caller did not ask to ignore the MAC.
    #[error("MAC mismatch: the file has no MAC")]
    MacMissing,

    /// The MAC recomputed over the decrypted values differs from the stored one.
    #[error("MAC mismatch: the file's content does not match its MAC (a value was edited outside sops, or the file was tampered with)")]
    MacMismatch,

    /// No identity at hand unwraps the data key; the report lists what was tried for each
    /// recipient.
    #[error("{0}")]
    NoKey(Box<crate::keys::DecryptFailure>),

    /// A recipient given for encryption is not an age, ssh-ed25519, ssh-rsa or plugin recipient.
    #[error("invalid age recipient `{recipient}`: {problem}")]
    Recipient {
        /// The recipient as given.
        recipient: String,
        /// Why it is refused.
        #[source]
        problem: RecipientProblem,
    },

    /// A private key (age key file, `SOPS_AGE_KEY`, an SSH key) cannot be read or parsed.
    #[error("invalid identity in {source_name}: {problem}")]
    Identity {
        /// Where the key came from: a file name or the variable's name, never the key.
        source_name: String,
        /// Why it cannot be used.
        #[source]
        problem: IdentityProblem,
    },

    /// age failed to wrap the data key for the recipients.
    #[error("age encryption failed: {0}")]
    Wrap(#[source] WrapError),

    /// The data key would change (a rotation, or new Shamir shares) while master keys this
    /// library cannot encrypt to (pgp, kms, …) hold the old one: they would silently lose
    /// access, so the change is refused (sops, too, fails when it cannot reach a master key).
    #[error(
        "cannot give a new data key to the file's {} master keys: this tool cannot encrypt to them, and they would keep the old key and lose access; remove them from the file first, or use sops",
        .kinds.join(", ")
    )]
    ForeignMasterKeys {
        /// The metadata names of those keys (`pgp`, `kms`, …), once each.
        kinds: Vec<String>,
    },

    /// GnuPG could not be started (or waited for) to wrap the data key for a PGP key.
    #[error("cannot run {program} to encrypt the data key for a PGP key (install GnuPG, or name it in SOPS_GPG_EXEC)")]
    GnuPgRun {
        /// The program run (`SOPS_GPG_EXEC`, else `gpg`).
        program: String,
        /// Why it could not be run.
        #[source]
        source: std::io::Error,
    },

    /// GnuPG refused to encrypt the data key for a PGP key (not in the keyring, expired, not
    /// for encryption, …).
    #[error("could not encrypt the data key with PGP key {fingerprint}: {said}")]
    PgpEncrypt {
        /// The key's fingerprint (public).
        fingerprint: String,
        /// What GnuPG said on its standard error (it never holds the data key).
        said: String,
    },

    /// The key groups' shares are too few or inconsistent to recombine the data key.
    #[error("the data key cannot be recombined from its Shamir shares: {0}")]
    Shamir(#[source] ShamirProblem),

    /// A tree path (`["a"][0]`) does not parse, or does not lead to a value of the document.
    #[error("invalid path {path}: {problem}")]
    TreePath {
        /// The path as given.
        path: String,
        /// Why it does not parse or where it stops matching.
        #[source]
        problem: TreePathProblem,
    },

    /// `set` would nest the document deeper than the format's reader accepts (the file could not
    /// be read back).
    #[error("the value and its path nest {depth} levels deep; a {format} file may nest at most {limit} (its reader refuses deeper files)")]
    TooDeep {
        /// The format of the file.
        format: Format,
        /// How deep the value and its path would nest.
        depth: usize,
        /// The most its reader accepts.
        limit: usize,
    },

    /// `.sops.yaml` does not parse, or one of its creation rules is malformed.
    #[error(".sops.yaml: {problem}")]
    Config {
        /// What is wrong, and where in the file.
        #[source]
        problem: ConfigError,
    },

    /// Encrypting for no recipient at all.
    #[error("no recipients: give at least one age recipient")]
    NoRecipients,

    /// One of several key groups has no recipient (each group must be able to give its share).
    #[error("key group {group} has no recipients")]
    EmptyKeyGroup {
        /// The group's number, from 1.
        group: usize,
    },

    /// A Shamir threshold that the key groups cannot meet, or that splits nothing.
    #[error("shamir_threshold {threshold} is invalid for {groups} key groups: it must be at least 2 and at most the number of groups")]
    InvalidThreshold {
        /// The threshold asked for.
        threshold: usize,
        /// How many key groups there are.
        groups: usize,
    },

    /// A path regex of `.sops.yaml` or an encryption selection rule does not compile.
    #[error("invalid regular expression `{regex}`: {source}")]
    Regex {
        /// The expression as written.
        regex: String,
        /// The regex engine's complaint.
        #[source]
        source: regex::Error,
    },

    /// A file of a store whose cargo feature is off in this build (see [`crate::stores`]).
    #[error("this build has no {format} store: build secrets-sops with its `{format}` feature")]
    StoreNotBuilt {
        /// The store asked for.
        format: Format,
    },

    /// A sops feature this implementation does not have (KMS, PGP, Vault keys and the like).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// What is wrong with a `.sops.yaml` file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file is not valid YAML.
    #[error("{0}")]
    Parse(#[source] Box<Error>),

    /// `creation_rules` is there but not a list.
    #[error("creation_rules is not a list")]
    RulesNotAList,

    /// A creation rule that is not a mapping.
    #[error("creation_rules[{index}] is not a mapping")]
    RuleNotAMapping {
        /// The rule's index in the list, from 0.
        index: usize,
    },

    /// A field of a creation rule with a value of the wrong type.
    #[error("{field} must be {expected}")]
    FieldType {
        /// The field, as `creation_rules[0].age`.
        field: String,
        /// What it must be (`a string`, `strings`, `a string or a list`).
        expected: &'static str,
    },

    /// Something else than a whole PGP fingerprint under `pgp:` (an age recipient, a key ID).
    #[error("{field}: {key} is not a PGP fingerprint (40 or 64 hex digits); age recipients go under age:")]
    NotAPgpFingerprint {
        /// The field, as `creation_rules[0].pgp`.
        field: String,
        /// The key as written (a public key or fingerprint).
        key: String,
    },

    /// A whole PGP fingerprint under `age:`.
    #[error("{field}: {key} is a PGP fingerprint, not an age recipient; PGP keys go under pgp:")]
    FingerprintUnderAge {
        /// The field, as `creation_rules[0].age`.
        field: String,
        /// The fingerprint as written.
        key: String,
    },

    /// A creation rule with more than one rule for what to encrypt.
    #[error("{rule} sets more than one of {}", crate::metadata::SelectionRule::FIELDS.join(", "))]
    SeveralSelectionRules {
        /// The rule, as `creation_rules[0]` or `destination_rules[1].recreation_rule`.
        rule: String,
    },

    /// `destination_rules` is there but not a list.
    #[error("destination_rules is not a list")]
    DestinationRulesNotAList,

    /// A destination rule that is not a mapping.
    #[error("destination_rules[{index}] is not a mapping")]
    DestinationRuleNotAMapping {
        /// The rule's index in the list, from 0.
        index: usize,
    },

    /// A destination rule naming more than one destination (sops's words).
    #[error(
        "more than one destinations were found in a single destination rule (destination_rules[{index}]), you can only use one per rule"
    )]
    SeveralDestinations {
        /// The rule's index in the list, from 0.
        index: usize,
    },
}

impl From<ConfigError> for Error {
    fn from(problem: ConfigError) -> Error {
        Error::Config { problem }
    }
}

impl Error {
    /// The exit code the real `sops` uses for the same failure (`cmd/sops/codes`).
    pub fn sops_exit_code(&self) -> i32 {
        match self {
            Error::Parse { .. } => codes::COULD_NOT_READ_INPUT_FILE,
            Error::EmptyInput => codes::NEED_AT_LEAST_ONE_DOCUMENT,
            Error::Emit { .. } => codes::ERROR_DUMPING_TREE,
            Error::AlreadyEncrypted => codes::FILE_ALREADY_ENCRYPTED,
            Error::ValueDecrypt { .. } | Error::BadValue { .. } => codes::ERROR_DECRYPTING_TREE,
            Error::MacDecrypt | Error::MacMissing | Error::MacMismatch => codes::MAC_MISMATCH,
            Error::NoKey(_) | Error::Shamir(_) => codes::COULD_NOT_RETRIEVE_KEY,
            Error::TreePath { .. } => codes::INVALID_TREE_PATH_FORMAT,
            Error::TooDeep { .. } => codes::ERROR_INVALID_SET_FORMAT,
            Error::Wrap(_) => codes::ERROR_ENCRYPTING_TREE,
            _ => codes::ERROR_GENERIC,
        }
    }

    pub(crate) fn parse(format: Format, message: impl Into<String>) -> Error {
        Error::Parse { format, message: message.into() }
    }

    pub(crate) fn metadata(message: impl Into<String>) -> Error {
        Error::Metadata(message.into())
    }
}

/// What is wrong with an encrypted value ([`Error::BadValue`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueProblem {
    /// A value that must be encrypted is stored as plain text.
    #[error("a value that must be encrypted is stored in clear text")]
    Cleartext,
    /// The `ENC[…]` string does not parse.
    #[error(transparent)]
    Syntax(#[from] crate::cipher::SyntaxError),
    /// It decrypts to bytes that do not fit its declared type.
    #[error(transparent)]
    Type(#[from] crate::cipher::TypeError),
}

/// Why a recipient cannot be encrypted to ([`Error::Recipient`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecipientProblem {
    /// Not `age1…`, `ssh-ed25519 …` or `ssh-rsa …`.
    #[error("unknown recipient type: expected age1…, ssh-ed25519 … or ssh-rsa …")]
    UnknownType,
    /// An `age1pq1…` hybrid recipient, which the age crate cannot encrypt to yet.
    #[error("post-quantum hybrid recipients (age1pq1…) are not supported yet")]
    PostQuantum,
    /// `age1…` that does not decode to an X25519 public key.
    #[error("not a valid age X25519 public key ({0})")]
    InvalidX25519(&'static str),
    /// An ssh-rsa key above age's limit.
    #[error("the ssh-rsa key is larger than 4096 bits")]
    RsaTooLarge,
    /// An ssh-rsa key below age's limit.
    #[error("the ssh-rsa key is smaller than 2048 bits")]
    RsaTooSmall,
    /// An ssh key type age cannot encrypt to.
    #[error("ssh key type {0} is not supported (only ssh-ed25519 and ssh-rsa)")]
    UnsupportedSsh(String),
    /// An ssh public key line that does not parse.
    #[error("not a valid ssh-ed25519 or ssh-rsa public key")]
    InvalidSsh,
    /// `age1<name>1…` that does not decode as a plugin recipient.
    #[error("not a valid age plugin recipient ({0})")]
    InvalidPlugin(&'static str),
    /// A plugin recipient whose `age-plugin-<name>` binary is not on `PATH`.
    #[error("this is a plugin recipient and age-plugin-{plugin} was not found on PATH")]
    PluginNotFound {
        /// The plugin's name.
        plugin: String,
    },
    /// Converting an ssh key of another type than ssh-ed25519 to an age recipient.
    #[error("only ssh-ed25519 keys can be converted to age keys")]
    NotConvertible,
    /// Converting a line that holds no ssh key at all.
    #[error("not an ssh-ed25519 public key line")]
    NotAnSshLine,
    /// The key's base64 does not decode.
    #[error("the ssh-ed25519 key is not valid base64")]
    InvalidBase64,
    /// The decoded key blob is not an ssh-ed25519 public key.
    #[error("malformed ssh-ed25519 public key")]
    MalformedEd25519,
    /// The public key is not a point of the curve.
    #[error("the ssh-ed25519 key is not a valid curve point")]
    NotACurvePoint,
}

/// Why a private key source cannot be used ([`Error::Identity`], and the outcome of a source in
/// the discovery report). Never holds key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityProblem {
    /// The key file is refused or unreadable.
    #[error(transparent)]
    KeyFile(#[from] crate::keys::identities::KeyFileError),
    /// The key file does not exist.
    #[error("file not found: {}", .0.display())]
    NotFound(std::path::PathBuf),
    /// An armored age file that does not decode.
    #[error(transparent)]
    Armor(#[from] crate::keys::armor::ArmorError),
    /// An armored age file that is not UTF-8 text.
    #[error("invalid age armor")]
    ArmorNotText,
    /// An age-encrypted file that an identity file would be, but not protected by a passphrase.
    #[error("an age-encrypted file that is not protected by a passphrase")]
    NotPassphraseProtected,
    /// The source is not UTF-8 text.
    #[error("the content is not valid UTF-8")]
    NotText,
    /// A line that is not an identity (the line itself is never shown).
    #[error("line {number} {problem}")]
    Line {
        /// The line number, from 1.
        number: usize,
        /// What is wrong with it.
        problem: LineProblem,
    },
    /// An ssh private key the age crate cannot read.
    #[error("not a supported ssh private key (OpenSSH ed25519 or RSA)")]
    UnsupportedSsh,
    /// An ssh private key of a kind age cannot use.
    #[error("{0}")]
    UnusableSsh(UnusableSsh),
    /// An OpenSSH private key file that does not parse.
    #[error(transparent)]
    Openssh(#[from] OpensshError),
    /// Converting a passphrase-protected ssh key to an age identity.
    #[error("the key is passphrase-protected; remove the passphrase from a copy (ssh-keygen -p) to convert it")]
    PassphraseProtected,
    /// Converting an ssh key of another type than ed25519 to an age identity.
    #[error("only ssh-ed25519 keys can be converted to age keys, this is {0}")]
    NotEd25519(String),
    /// The converted key does not encode (cannot happen for 32 bytes; kept rather than a panic).
    #[error("cannot encode the converted key")]
    Encoding,
    /// `SOPS_AGE_KEY_CMD` does not split into words.
    #[error(transparent)]
    CommandLine(#[from] CommandLineError),
    /// `SOPS_AGE_KEY_CMD` is empty.
    #[error("the command is empty")]
    EmptyCommand,
    /// `SOPS_AGE_KEY_CMD` cannot be started.
    #[error("cannot run {program}: {source}")]
    CommandNotRun {
        /// The program.
        program: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// `SOPS_AGE_KEY_CMD` exited unsuccessfully.
    #[error("the command failed ({status}){}", .explanation.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
    CommandFailed {
        /// How it ended.
        status: std::process::ExitStatus,
        /// The first line of its stderr, unless it might be key material.
        explanation: Option<String>,
    },
    /// No way to find the user's config folder.
    #[error("{0}")]
    NoConfigDir(&'static str),
    /// No passphrase was given for a protected source.
    #[error("no passphrase given")]
    NoPassphrase,
    /// The passphrase does not open the source.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// The protected identity file does not read after its passphrase opened it.
    #[error("the identity file is corrupt")]
    Corrupt,
    /// The protected identity file is not a readable age file.
    #[error(transparent)]
    Age(#[from] age::DecryptError),
}

/// What is wrong with one line of an age identity source ([`IdentityProblem::Line`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineProblem {
    /// Leading whitespace before an identity.
    #[error("starts with whitespace (identity lines are not trimmed)")]
    LeadingWhitespace,
    /// Trailing whitespace after an identity.
    #[error("ends with whitespace (identity lines are not trimmed)")]
    TrailingWhitespace,
    /// An identity in lowercase.
    #[error("is not an age identity (identities are written in uppercase)")]
    Lowercase,
    /// A public key where an identity belongs.
    #[error("is an age public key (a recipient), not an identity")]
    PublicKey,
    /// Anything else.
    #[error("is not an age identity")]
    NotAnIdentity,
    /// `AGE-SECRET-KEY-1…` or `AGE-PLUGIN-…` that does not decode.
    #[error("is not a valid {what} ({reason})")]
    Invalid {
        /// `age secret key` or `plugin identity`.
        what: &'static str,
        /// The age crate's reason.
        reason: &'static str,
    },
}

/// An ssh private key age cannot use ([`IdentityProblem::UnusableSsh`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnusableSsh {
    /// A PEM key encrypted the old way.
    #[error("an encrypted PEM key, which is not supported (convert it with ssh-keygen -o -p)")]
    EncryptedPem,
    /// An OpenSSH key encrypted with a cipher age does not know.
    #[error("an ssh key encrypted with {0}, which is not supported")]
    Cipher(String),
    /// A key held by a hardware token.
    #[error("a hardware ssh key ({0}); use an age plugin such as age-plugin-yubikey instead")]
    Hardware(String),
    /// A key of another type.
    #[error("an ssh key of type {0}; only ssh-ed25519 and ssh-rsa work with age")]
    Type(String),
}

/// Why age could not wrap the data key ([`Error::Wrap`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WrapError {
    /// The recipient set is refused by age (for example mixed recipient kinds). Boxed: age's
    /// error is large and this one is rare.
    #[error(transparent)]
    Encrypt(Box<age::EncryptError>),
    /// Writing the age file into memory failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<age::EncryptError> for WrapError {
    fn from(error: age::EncryptError) -> WrapError {
        WrapError::Encrypt(Box::new(error))
    }
}

/// Why the Shamir shares cannot make or recombine the data key ([`Error::Shamir`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShamirProblem {
    /// Fewer shares than the threshold.
    #[error("the number of shares cannot be less than the threshold")]
    FewerSharesThanThreshold,
    /// More shares than GF(2^8) has x coordinates.
    #[error("the number of shares cannot exceed 255")]
    TooManyShares,
    /// A threshold below 2.
    #[error("the threshold must be at least 2")]
    ThresholdTooLow,
    /// Nothing to split.
    #[error("cannot split an empty secret")]
    EmptySecret,
    /// Fewer than two shares to combine.
    #[error("at least two shares are needed")]
    TooFewShares,
    /// A share without data.
    #[error("a share must be at least two bytes long")]
    ShareTooShort,
    /// Shares of different lengths.
    #[error("the shares do not all have the same length")]
    UnevenShares,
    /// Two shares for one point.
    #[error("two shares have the same x coordinate")]
    DuplicateShare,
    /// The recombined key is not a data key.
    #[error("the recombined key has {0} bytes instead of 32")]
    KeyLength(usize),
}

/// Why a tree path (`["a"][0]`) is refused ([`Error::TreePath`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreePathProblem {
    /// Nothing was given.
    #[error("the path is empty; write it as [\"key\"][0]")]
    Empty,
    /// A character where a bracket belongs.
    #[error("expected `{0}`")]
    Expected(char),
    /// A quoted key without its closing quote.
    #[error("unterminated string")]
    UnterminatedString,
    /// A double-quoted key with a bad escape.
    #[error("invalid string escape")]
    InvalidEscape,
    /// An index that is not a whole number.
    #[error("a list index must be a whole number")]
    NotAnIndex,
    /// A path for a document whose top level is a mapping that starts with an index.
    #[error("the top level is a mapping: start with a key")]
    StartsWithIndex,
}

/// Why an OpenSSH private key file does not parse ([`IdentityProblem::Openssh`]). Never holds
/// its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpensshError {
    /// No `-----BEGIN OPENSSH PRIVATE KEY-----` line, or not text.
    #[error("not an OpenSSH private key")]
    NotOpenssh,
    /// No END line.
    #[error("the OpenSSH private key has no END line")]
    NoEnd,
    /// The body is not base64.
    #[error("the OpenSSH private key is not valid base64")]
    InvalidBase64,
    /// More or fewer than one key in the file.
    #[error("the OpenSSH file must hold exactly one key")]
    NotOneKey,
    /// A field is missing or inconsistent.
    #[error("malformed OpenSSH private key")]
    Malformed,
}

/// Why `SOPS_AGE_KEY_CMD` does not split into words ([`IdentityProblem::CommandLine`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandLineError {
    /// A `\` at the very end.
    #[error("the command ends with an unfinished escape (\\)")]
    UnfinishedEscape,
    /// A quote that is never closed.
    #[error("the command has an unclosed quote")]
    UnclosedQuote,
}
