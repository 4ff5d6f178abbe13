//! One JSON style for every command (docs/json.md): `--json` prints one JSON document on
//! stdout with `snake_case` keys; commands that change the repository print what changed;
//! `get` prints the value (base64 when it is not text); errors are `{"error": {…}}` on stderr.

use crate::common::clan::{Flake, K};
use crate::common::{stderr_of, stdout_of};

fn team() -> Flake {
    let flake = Flake::new();
    flake.all(
        0,
        &[
            &["users", "add", "alice", K[0]],
            &["users", "add", "bob", K[1]],
            &["machines", "add", "web1", K[2]],
            &["groups", "add-user", "ops", "bob"],
        ],
    );
    flake.set(0, &["--group", "ops", "db"], "d");
    flake
}

/// The one document `args` prints on stdout with `--json`.
#[track_caller]
fn json(flake: &Flake, args: &[&str]) -> serde_json::Value {
    let out = flake.as_key(0).arg("--json").args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
    let text = stdout_of(&out);
    // clan's own format is printed as clan prints it, without a final newline.
    let clans = matches!(args, ["users" | "machines", "get", ..] | ["key", "show"]);
    assert!(text.ends_with('\n') || clans, "{args:?}: {text}");
    let mut docs = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
    let value = docs.next().unwrap_or_else(|| panic!("{args:?} printed no JSON")).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"));
    assert!(docs.next().is_none(), "{args:?} printed more than one JSON document: {text}");
    value
}

/// Every key of every object is `snake_case` (this repository's names are too).
#[track_caller]
fn snake_case_keys(value: &serde_json::Value, context: &str) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                assert!(key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{context}: key `{key}`");
                snake_case_keys(inner, context);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| snake_case_keys(item, context)),
        _ => {}
    }
}

#[test]
fn every_command_prints_one_json_document_in_one_style() {
    let flake = team();
    for args in [
        &["list"][..],
        &["list", "--long"],
        &["users", "list"],
        &["machines", "list"],
        &["groups", "list"],
        &["users", "get", "alice"],
        &["key", "show"],
        &["get", "db"],
        &["check"],
        &["access"],
        &["access", "--member", "bob"],
        &["log"],
        &["whoami"],
        &["credentials", "list"],
    ] {
        let value = json(&flake, args);
        snake_case_keys(&value, &args.join(" "));
    }
}

#[test]
fn changes_print_what_changed() {
    let flake = team();
    let out = flake.as_key(0).args(["--json", "set", "api"]).write_stdin("v").output().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["changed"], serde_json::json!(["sops/secrets/api/users/alice", "sops/secrets/api/secret"]));
    assert_eq!(value["commit"], "secrets: update api");
    assert_eq!((&value["reencrypted"], &value["lost_access"]), (&serde_json::json!([]), &serde_json::json!([])));

    let value = json(&flake, &["groups", "remove-user", "ops", "bob", "--force"]);
    assert_eq!(value["lost_access"], serde_json::json!(["db"]));
    assert_eq!(value["reencrypted"], serde_json::json!(["db"]));
    assert_eq!(value["commit"], "secrets: remove user bob from group ops");

    let value = json(&flake, &["rename", "api", "api2"]);
    assert_eq!(value["commit"], "secrets: rename api to api2");
    let value = json(&flake, &["remove", "api2"]);
    assert_eq!(value["changed"], serde_json::json!(["sops/secrets/api2"]));

    let value = json(&flake, &["--no-commit", "users", "add", "carol", K[3]]);
    assert_eq!(value["commit"], serde_json::Value::Null, "not committed: {value}");
}

#[test]
fn get_prints_text_as_a_string_and_bytes_in_base64() {
    let flake = team();
    assert_eq!(json(&flake, &["get", "db"]), serde_json::json!({"name": "db", "value": "d"}));
    flake.as_key(0).args(["set", "bin"]).write_stdin(vec![0xff, 0x00, b'a']).assert().success();
    assert_eq!(json(&flake, &["get", "bin"]), serde_json::json!({"name": "bin", "value_base64": "/wBh"}));
}

#[test]
fn errors_are_json_on_stderr_with_the_same_exit_code() {
    let flake = team();
    let plain = flake.as_key(0).args(["get", "nothing"]).output().unwrap();
    let out = flake.as_key(0).args(["get", "nothing", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), plain.status.code());
    assert_eq!(stdout_of(&out), "");
    let err = stderr_of(&out);
    let value: serde_json::Value = serde_json::from_str(err.trim_end()).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(value["error"]["exit_code"], plain.status.code().unwrap());
    assert!(value["error"]["message"].as_str().unwrap().contains("does not exist"), "{value}");
    assert_eq!(value["error"]["hints"], serde_json::json!(["see `secrets list`"]));
}
