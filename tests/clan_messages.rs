//! `clan secrets`' message catalogue (spec §6 and §7) as `secrets` keeps it: each error's text
//! (clan's wording, or its stable part), its exit code (1 for errors, 2 for usage errors), one or
//! two lines and never a panic. Where `secrets` diverges on purpose (spec §12.2), the test says so.

use crate::common::clan::{fails, key_file, keys, no_panic, private_key, usage, Flake, K};
use crate::common::stderr_of;
use predicates::str::contains;

const SECRET_CHARS: &str = "Invalid character in secret name. Allowed characters are a-z, A-Z, 0-9, ., -, and _";
const MACHINE_CHARS: &str = "Invalid character in machine name. Allowed characters are a-z, 0-9, and -. Must not start or end with a dash";
const MACHINE_LENGTH: &str = "Machine name must be less than 63 characters long";

fn user_chars(noun: &str) -> String {
    format!("Invalid character in {noun} name. Allowed characters are a-z, 0-9, -, and _. Must start with a letter or _")
}

/// A flake with user `admin` (k0) who owns secret `s`.
fn with_admin_secret() -> Flake {
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "admin", K[0]]);
    flake.set(0, &["s"], "v");
    flake
}

/// Every command naming a member of `what` (users or machines), with `NAME` for the name:
/// its own seven, and the two `groups` commands taking one (`add-<singular>`/`remove-<singular>`).
fn member_commands(what: &'static str, singular: &str) -> Vec<Vec<String>> {
    let commands: [&[&str]; 9] = [
        &[what, "add", "NAME", K[1]],
        &[what, "get", "NAME"],
        &[what, "remove", "NAME"],
        &[what, "add-key", "NAME", K[1]],
        &[what, "remove-key", "NAME", K[1]],
        &[what, "add-secret", "NAME", "s"],
        &[what, "remove-secret", "NAME", "s"],
        &["groups", &format!("add-{singular}"), "g", "NAME"],
        &["groups", &format!("remove-{singular}"), "g", "NAME"],
    ];
    commands.iter().map(|c| c.iter().map(ToString::to_string).collect()).collect()
}

/// Runs each command (with `NAME` replaced by `name`) as k0 and asserts a usage error with `text`.
#[track_caller]
fn bad_name<C: AsRef<[S]>, S: AsRef<str>>(flake: &Flake, commands: &[C], name: &str, text: &str) {
    for args in commands {
        let args: Vec<&str> = args.as_ref().iter().map(AsRef::as_ref).collect();
        let args: Vec<&str> = args.iter().map(|a| if *a == "NAME" { name } else { a }).collect();
        let err = fails(flake.as_key(0).args(&args), 2, text);
        assert!(err.contains(&format!("name `{name}`")), "{args:?}: {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// §7.1 name rules

#[test]
fn secret_names_are_checked_by_every_command_that_takes_one() {
    let flake = with_admin_secret();
    flake.ok(0, &["machines", "add", "m", K[1]]);
    flake.ok(0, &["groups", "add-user", "g", "admin"]);
    let commands: &[&[&str]] = &[
        &["get", "NAME"],
        &["set", "NAME"],
        &["remove", "NAME"],
        &["rename", "NAME", "new"],
        &["users", "add-secret", "admin", "NAME"],
        &["users", "remove-secret", "admin", "NAME"],
        &["machines", "add-secret", "m", "NAME"],
        &["machines", "remove-secret", "m", "NAME"],
        &["groups", "add-secret", "g", "NAME"],
        &["groups", "remove-secret", "g", "NAME"],
    ];
    for name in ["a b", "a/b", "é", "x:y"] {
        bad_name(&flake, commands, name, SECRET_CHARS);
    }
    // Diverges on purpose: `.`, `..` and hidden names would escape or hide in sops/secrets.
    for name in [".", "..", ".hidden"] {
        bad_name(&flake, commands, name, "a secret name must not start with a dot");
    }
    // As is `rename`'s new name, which clan does not check.
    fails(flake.as_key(0).args(["rename", "s", ".."]), 2, "invalid secret name `..`");
    fails(flake.as_key(0).args(["rename", "s", "a/b"]), 2, SECRET_CHARS);
    assert_eq!(flake.ok(0, &["list"]), "s\n");
    assert!(!flake.sops("secret").exists() && !flake.sops("secrets/users").exists(), "`set .` wrote nothing");
    // Every other character is fine.
    flake.set(0, &["A.b_c-9"], "v");
}

#[test]
fn user_and_group_names_follow_clans_rule_and_length() {
    let flake = with_admin_secret();
    let user_commands = member_commands("users", "user");
    let group_commands: &[&[&str]] = &[
        &["groups", "add-user", "NAME", "admin"],
        &["groups", "remove-user", "NAME", "admin"],
        &["groups", "add-machine", "NAME", "m"],
        &["groups", "remove-machine", "NAME", "m"],
        &["groups", "add-secret", "NAME", "s"],
        &["groups", "remove-secret", "NAME", "s"],
    ];
    for name in ["Alice", "1abc", "a.b", "a b", "é"] {
        bad_name(&flake, &user_commands, name, &user_chars("user"));
        bad_name(&flake, group_commands, name, &user_chars("group"));
    }
    let long = "a".repeat(33);
    bad_name(&flake, &user_commands, &long, "User name must be less than 32 characters long");
    bad_name(&flake, group_commands, &long, "Group name must be less than 32 characters long");
    let longest = "a".repeat(32);
    flake.all(0, &[&["users", "add", &longest, K[1]], &["groups", "add-user", &longest, "admin"], &["users", "add", "_x-9", K[2]]]);
}

#[test]
fn machine_names_follow_clans_rule_case_insensitively() {
    let flake = with_admin_secret();
    flake.ok(0, &["groups", "add-user", "g", "admin"]);
    let commands = member_commands("machines", "machine");
    for name in ["a_b", "web-", "a.b", "web 1"] {
        bad_name(&flake, &commands, name, MACHINE_CHARS);
    }
    fails(flake.as_key(0).args(["machines", "add", "--", "-web", K[1]]), 2, MACHINE_CHARS);
    bad_name(&flake, &commands, &"a".repeat(64), MACHINE_LENGTH);
    flake.all(0, &[&["machines", "add", &"a".repeat(63), K[1]], &["machines", "add", "M3", K[2]], &["machines", "add", "0web-1", K[3]]]);
    assert_eq!(flake.ok(0, &["machines", "list"]).lines().next(), Some("0web-1"));
    assert!(flake.ok(0, &["machines", "list"]).contains("M3\n"));
}

// ---------------------------------------------------------------------------------------------
// Key arguments

#[test]
fn missing_and_mixed_key_arguments_are_usage_errors() {
    let flake = Flake::new();
    fails(
        flake.cmd().args(["users", "add", "bob"]),
        2,
        "give the user's key: an age key (age1…), an ssh public key, an age private key or a file",
    );
    fails(flake.cmd().args(["machines", "add", "web1"]), 2, "give the machine's key");
    fails(flake.cmd().args(["users", "add-key", "bob"]), 2, "give the user's key");
    fails(flake.cmd().args(["users", "remove-key", "bob"]), 2, "give the user's key");
    usage(flake.cmd().args(["users", "add", "bob", K[0], "--age-key", K[1]]), "the argument '[KEY]' cannot be used with '--age-key <KEY>'");
    usage(flake.cmd().args(["users", "add-key", "bob", K[0], "--age-key", K[1]]), "cannot be used with");
    usage(flake.cmd().args(["users", "add", "--pgp-key", "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4", "bob", K[0]]), "cannot be used with");
    fails(flake.cmd().args(["users", "add", "--pgp-key", "FP", "bob"]), 2, "FP is not a PGP fingerprint");
    usage(flake.cmd().args(["users", "add"]), "the following required arguments were not provided");
    usage(flake.cmd().args(["groups", "add-user", "g"]), "the following required arguments were not provided");
    usage(flake.cmd().args(["users", "frobnicate"]), "unrecognized subcommand 'frobnicate'");
    assert!(!flake.sops("users").exists());
}

/// Diverges on purpose: a bad key value is a usage error (exit 2); clan crashes with a traceback.
#[test]
fn a_key_value_must_hold_exactly_one_key() {
    let flake = Flake::new();
    let dir = tempfile::tempdir().unwrap();
    let no_key =
        "Please provide an age public key starting with age1 or an age private key starting with AGE-SECRET-KEY- or AGE-PLUGIN-, got: ";
    fails(flake.cmd().args(["users", "add", "x", "hello"]), 2, &format!("{no_key}'hello'"));
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "# nothing but a comment\n").unwrap();
    fails(flake.cmd().arg("machines").arg("add").arg("x").arg(&empty), 2, &format!("{no_key}'{}'", empty.display()));
    let two = dir.path().join("two.txt");
    std::fs::write(&two, std::fs::read_to_string(key_file(1)).unwrap() + &std::fs::read_to_string(key_file(2)).unwrap()).unwrap();
    fails(
        flake.cmd().arg("users").arg("add").arg("x").arg(&two),
        2,
        &format!("2 age keys were provided, please provide only 1: '{}'", two.display()),
    );
    fails(flake.cmd().args(["users", "add", "x", "age1notvalid"]), 2, "not a valid age recipient: 'age1notvalid'");
    fails(flake.cmd().args(["users", "add", "x", "ssh-ed25519 AAAAbad"]), 2, "not a valid ssh public key: 'ssh-ed25519 AAAAbad'");
    // A private key is never repeated, even a broken one.
    let broken = format!("{}X", private_key(1));
    let err = fails(flake.cmd().args(["users", "add", "x", &broken]), 2, "not a valid age private key: '<private key>'");
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
    assert!(!flake.sops("users").exists() && !flake.sops("machines").exists());
}

// ---------------------------------------------------------------------------------------------
// §7.2 existence and overwrite

#[test]
fn existence_errors_name_clans_folders() {
    let flake = with_admin_secret();
    flake.ok(0, &["machines", "add", "m", K[1]]);
    flake.ok(0, &["groups", "add-user", "g", "admin"]);
    let users = flake.sops_str("users");
    let machines = flake.sops_str("machines");
    let groups = flake.sops_str("groups");
    let e = |args: &[&str], text: &str| fails(flake.as_key(0).args(args), 1, text);

    e(&["users", "add", "admin", K[2]], &format!("admin already exists in {users}/admin. Use --force to overwrite."));
    e(&["machines", "add", "m", K[2]], &format!("m already exists in {machines}/m. Use --force to overwrite."));
    e(&["users", "remove", "nobody"], &format!("nobody not found in {users}"));
    e(&["machines", "remove", "nobody"], &format!("nobody not found in {machines}"));
    e(&["groups", "add-user", "g", "nobody"], &format!("nobody does not exist in {users}"));
    e(&["groups", "add-machine", "g", "nobody"], &format!("nobody does not exist in {machines}"));
    e(&["groups", "add-secret", "nog", "s"], &format!("Cannot encrypt s for 'nog'. 'nog' does not exist in {groups}"));
    e(&["users", "add-secret", "nobody", "s"], &format!("Cannot encrypt s for 'nobody'. 'nobody' does not exist in {users}"));
    e(&["machines", "add-secret", "nobody", "s"], &format!("Cannot encrypt s for 'nobody'. 'nobody' does not exist in {machines}"));
    for (flag, folder) in [("--user", &users), ("--machine", &machines), ("--group", &groups)] {
        let err =
            fails(flake.as_key(0).args(["set", flag, "nobody", "new"]).env("SOPS_NIX_SECRET", "v"), 1, "Cannot encrypt new for 'nobody'. ");
        assert!(err.contains(&format!("'nobody' does not exist in {folder}")), "{err}");
    }
    // Diverges on purpose: clan crashes (users/machines get) or leaves an empty user folder behind
    // (add-key/remove-key).
    e(&["users", "get", "nobody"], &format!("nobody does not exist in {users}"));
    e(&["machines", "get", "nobody"], &format!("nobody does not exist in {machines}"));
    e(&["users", "add-key", "nobody", K[2]], &format!("nobody does not exist in {users}"));
    e(&["users", "remove-key", "nobody", K[2]], &format!("nobody does not exist in {users}"));
    assert!(!flake.sops("users/nobody").exists() && !flake.sops("secrets/new").exists(), "nothing is left behind");

    // Removing a membership that is not there.
    e(&["groups", "remove-user", "g", "nobody"], &format!("nobody does not exist in group in {groups}/g/users"));
    e(&["groups", "remove-machine", "g", "m"], &format!("m does not exist in group in {groups}/g/machines"));
    let s = flake.sops_str("secrets/s");
    e(&["machines", "remove-secret", "m", "s"], &format!("m does not exist in group in {s}/machines"));
    e(&["groups", "remove-secret", "g", "s"], &format!("g does not exist in group in {s}/groups"));
    flake.ok(0, &["users", "add", "bob", K[2]]);
    e(&["users", "remove-secret", "bob", "s"], &format!("bob does not exist in group in {s}/users"));

    // A member entry that is a file, not a link.
    std::fs::write(flake.sops("groups/g/users/bob"), "").unwrap();
    e(&["groups", "add-user", "g", "bob"], &format!("Cannot add user bob. {groups}/g/users/bob exists but is not a symlink"));
    assert_eq!(flake.uncommitted(), "?? sops/groups/g/users/bob\n");
}

#[test]
fn secret_commands_name_the_missing_or_existing_secret() {
    let flake = with_admin_secret();
    flake.set(0, &["t"], "w");
    flake.ok(0, &["users", "add", "bob", K[1]]);
    fails(flake.as_key(0).args(["get", "nope"]), 1, &format!("Secret '{}' does not exist", flake.sops_str("secrets/nope")));
    fails(flake.as_key(0).args(["remove", "nope"]), 1, "Secret 'nope' does not exist");
    fails(flake.as_key(0).args(["rename", "nope", "x"]), 1, "Secret 'nope' does not exist");
    fails(flake.as_key(0).args(["rename", "s", "t"]), 1, "Secret 't' already exists");
    // Diverges on purpose: add-secret on a missing secret fails before creating anything.
    flake.ok(0, &["machines", "add", "m", K[2]]);
    flake.ok(0, &["groups", "add-user", "g", "bob"]);
    for args in [["users", "add-secret", "bob", "nope"], ["machines", "add-secret", "m", "nope"], ["groups", "add-secret", "g", "nope"]] {
        fails(flake.as_key(0).args(args), 1, "Secret 'nope' does not exist");
    }
    fails(flake.as_key(0).args(["users", "remove-secret", "bob", "nope"]), 1, "Secret 'nope' does not exist");
    assert!(!flake.sops("secrets/nope").exists());
    assert_eq!(flake.ok(0, &["get", "s"]), "v", "nothing changed");
    assert_eq!(flake.uncommitted(), "");
}

// ---------------------------------------------------------------------------------------------
// §7.3 guards

#[test]
fn a_user_keeps_at_least_one_key() {
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "admin", "--age-key", K[0], "--age-key", K[1]]);
    flake.ok(0, &["users", "remove-key", "admin", K[1]]);
    let dir = flake.sops_str("users/admin");
    fails(
        flake.as_key(0).args(["users", "remove-key", "admin", K[0]]),
        1,
        &format!("No keys would remain in {dir}. At least one key is required. Aborting."),
    );
    fails(flake.as_key(0).args(["users", "remove-key", "admin", "--age-key", K[0], "--age-key", K[2]]), 1, "No keys would remain in");
    flake.ok(0, &["machines", "add", "m", K[2]]);
    fails(
        flake.as_key(0).args(["machines", "remove-key", "m", K[2]]),
        1,
        &format!("No keys would remain in {}", flake.sops_str("machines/m")),
    );
    assert_eq!(flake.uncommitted(), "");
}

/// clan refuses when fewer than two keys would be left; its message names the member. Ours names
/// the secret, and holds with `--force` too.
#[test]
fn the_last_recipient_of_a_secret_cannot_be_removed() {
    let flake = with_admin_secret();
    let before = std::fs::read(flake.sops("secrets/s/secret")).unwrap();
    let no_keys = "Cannot remove the last recipient of s. No keys left. Use 'secrets remove s' to remove the secret.";
    fails(flake.as_key(0).args(["users", "remove-secret", "admin", "s"]), 1, no_keys);
    fails(flake.as_key(0).args(["users", "remove-secret", "--force", "admin", "s"]), 1, no_keys);
    // Diverges on purpose (spec §5.8): clan deletes the user, then fails halfway; we change nothing.
    fails(flake.as_key(0).args(["users", "remove", "--force", "admin"]), 1, no_keys);
    assert!(flake.sops("users/admin/key.json").is_file() && flake.has_link("secrets/s/users/admin"));
    assert_eq!(std::fs::read(flake.sops("secrets/s/secret")).unwrap(), before);
    // A sole member with two keys passes clan's key count, then fails in sops; we refuse first.
    flake.ok(0, &["users", "add-key", "admin", K[1]]);
    let before = std::fs::read(flake.sops("secrets/s/secret")).unwrap();
    fails(flake.as_key(0).args(["users", "remove-secret", "admin", "s"]), 1, no_keys);
    assert_eq!(std::fs::read(flake.sops("secrets/s/secret")).unwrap(), before);
    assert_eq!(flake.uncommitted(), "");
}

/// Diverges on purpose: a real lock-out guard. clan lets a secret lose its last user as long as a
/// machine remains; we refuse unless `--force`, for every command that could do it.
#[test]
fn no_secret_is_left_without_a_user_unless_forced() {
    let flake = with_admin_secret();
    flake.all(
        0,
        &[
            &["machines", "add", "m", K[1]],
            &["machines", "add-secret", "m", "s"],
            &["users", "add", "bob", K[2]],
            &["groups", "add-user", "g", "bob"],
        ],
    );
    flake.set(0, &["--group", "g", "--machine", "m", "t"], "w");
    flake.ok(0, &["users", "remove-secret", "admin", "t"]);
    let guard =
        |secret: &str| format!("refusing to leave {secret} with no user able to read it; add another user or group first, or pass --force");
    let hint = "hint: every secret should stay readable by at least one user";
    let err = fails(flake.as_key(0).args(["users", "remove-secret", "admin", "s"]), 1, &guard("s"));
    assert!(err.contains(hint), "{err}");
    fails(flake.as_key(0).args(["users", "remove", "admin"]), 1, &guard("s"));
    fails(flake.as_key(2).args(["groups", "remove-user", "g", "bob"]), 1, &guard("t"));
    fails(flake.as_key(2).args(["groups", "remove-secret", "g", "t"]), 1, &guard("t"));
    assert_eq!(flake.uncommitted(), "");
    assert_eq!((flake.recipients("s"), flake.recipients("t")), (keys(&[0, 1]), keys(&[1, 2])), "nothing changed");

    flake.ok(2, &["groups", "remove-user", "--force", "g", "bob"]);
    assert_eq!(flake.recipients("t"), keys(&[1]));
    flake.ok(0, &["users", "remove-secret", "-f", "admin", "s"]);
    assert_eq!(flake.recipients("s"), keys(&[1]));
    flake.sops_reads("s", 1, "v");
}

/// Diverges on purpose: clan follows any link (an outsider got access) and skips a link of the
/// wrong kind with a warning; we refuse both and change nothing.
#[test]
fn links_pointing_outside_sops_or_at_the_wrong_kind_are_refused() {
    let flake = with_admin_secret();
    flake.ok(0, &["users", "add", "bob", K[1]]);
    flake.ok(0, &["groups", "add-user", "g", "bob"]);
    let outside = flake.path().join("elsewhere/users/eve");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("key.json"), crate::common::clan::clan_key_json(&[K[2]])).unwrap();
    std::os::unix::fs::symlink(&outside, flake.sops("groups/g/users/eve")).unwrap();
    let refused = "the link points outside sops/ or at the wrong kind of member";
    let err = fails(flake.as_key(0).args(["set", "--group", "g", "x"]).env("SOPS_NIX_SECRET", "v"), 1, refused);
    assert!(err.contains(&flake.sops_str("groups/g/users/eve")) && err.contains("hint: membership links must point into sops/"), "{err}");
    fails(flake.as_key(0).args(["groups", "list"]), 1, refused);
    assert!(!flake.sops("secrets/x").exists());
    std::fs::remove_file(flake.sops("groups/g/users/eve")).unwrap();

    std::fs::create_dir_all(flake.sops("secrets/s/machines")).unwrap();
    std::os::unix::fs::symlink("../../../users/bob", flake.sops("secrets/s/machines/bob")).unwrap();
    fails(flake.as_key(0).args(["key", "update"]), 1, &format!("{}: {refused}", flake.sops_str("secrets/s/machines/bob")));
    assert_eq!(flake.recipients("s"), keys(&[0]), "bob got nothing");
}

// ---------------------------------------------------------------------------------------------
// §4.3 and §7.4: identity and crypto errors

#[test]
fn set_names_the_missing_or_unknown_identity() {
    let flake = with_admin_secret();
    let err = fails(
        flake.cmd().args(["set", "x"]).env("SOPS_NIX_SECRET", "v"),
        1,
        "No SOPS key found. Please generate one with `secrets key generate`.",
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let err = stderr_of(flake.as_key(3).args(["set", "x"]).env("SOPS_NIX_SECRET", "v").assert().code(1).get_output());
    assert_eq!(
        err.lines().take(2).collect::<Vec<_>>(),
        [
            "error: We could not figure out which Clan secrets user you are with the SOPS keys we found:".to_string(),
            format!("- age: {}", K[3]),
        ]
    );
    assert!(err.ends_with("hint: add yourself with `secrets users add NAME --age-key <your public key>`\n"), "{err}");
    fails(flake.cmd().args(["key", "show"]), 1, "No public key found");
    assert!(!flake.sops("secrets/x").exists());
}

#[test]
fn crypto_errors_are_reported_without_changing_anything() {
    let flake = with_admin_secret();
    flake.ok(0, &["users", "add", "bob", K[1]]);
    // Re-keying needs a key that opens the secret.
    let err = stderr_of(flake.as_key(1).args(["users", "add-secret", "bob", "s"]).assert().code(1).get_output());
    no_panic(&err);
    assert!(err.contains("s/secret: cannot decrypt the data key: no identity at hand opens it.") && err.contains(K[0]), "{err}");
    assert!(
        err.ends_with("hint: re-keying needs a key that can read the secret: set SOPS_AGE_KEY_FILE to one of its recipients' keys\n"),
        "{err}"
    );
    assert!(!flake.has_link("secrets/s/users/bob"), "the link is undone");

    // A changed ciphertext fails authentication.
    let path = flake.sops("secrets/s/secret");
    let mut file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let data = file["data"].as_str().unwrap().to_string();
    let at = data.find("data:").unwrap() + 5;
    let flipped = if &data[at..=at] == "A" { "B" } else { "A" };
    file["data"] = format!("{}{flipped}{}", &data[..at], &data[at + 1..]).into();
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    fails(flake.as_key(0).args(["get", "s"]), 1, "the value at `data` failed to decrypt: it was tampered with");
}

// ---------------------------------------------------------------------------------------------
// §6.6 import-sops

#[test]
fn import_sops_reports_what_it_cannot_import() {
    let flake = Flake::new();
    flake.ok(0, &["users", "add", "admin", K[0]]);
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    fails(flake.as_key(0).arg("import-sops").arg(&missing), 2, &format!("{}: cannot read the file", missing.display()));
    // Diverges on purpose: clan silently imports nothing from a file not named .yaml.
    let binary = dir.path().join("value.bin");
    std::fs::write(&binary, "x").unwrap();
    fails(
        flake.as_key(0).arg("import-sops").arg(&binary),
        1,
        &format!("{}: import-sops reads yaml, json, dotenv or ini files", binary.display()),
    );
    fails(flake.as_key(0).args(["import-sops", "--input-type", "toml"]).arg(&binary), 1, "unknown store type `toml`");
    // A file this key cannot open: sops' exit code, and the report of what was tried.
    let yaml = crate::common::clan::clan_keys().join("secrets.yaml");
    let err = stderr_of(flake.as_key(0).arg("import-sops").arg(&yaml).assert().code(128).get_output());
    assert!(err.starts_with(&format!("error: {}: cannot decrypt the data key: no identity at hand opens it.\n", yaml.display())), "{err}");
    no_panic(&err);
    // An unknown member, before anything is imported.
    let err = stderr_of(flake.as_key(1).args(["import-sops", "--user", "nobody"]).arg(&yaml).assert().code(1).get_output());
    assert!(err.contains("We could not figure out which Clan secrets user you are"), "{err}");
    flake.ok(0, &["users", "add", "k1", K[1]]);
    flake
        .as_key(1)
        .args(["import-sops", "--user", "nobody"])
        .arg(&yaml)
        .assert()
        .code(1)
        .stderr(contains("Cannot encrypt secret-key for 'nobody'."));
    assert_eq!(flake.ok(0, &["list"]), "");
    flake.as_key(1).arg("import-sops").arg(&yaml).assert().success();
    flake
        .as_key(1)
        .arg("import-sops")
        .arg(&yaml)
        .assert()
        .success()
        .stderr(contains("warning: secret-key already exists, skipping"))
        .stderr(contains("warning: nested.secret-key already exists, skipping"))
        .stderr(contains("Imported 0 secrets"));
}
