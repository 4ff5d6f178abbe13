//! `-q/--quiet` and `-v/--verbose`, for every command: quiet drops notes and progress but
//! keeps results, warnings, errors and what the reader must act on (who lost access);
//! verbose says what `--debug` says.

use crate::common::clan::{Flake, K};
use crate::common::stderr_of;

fn team() -> Flake {
    let flake = Flake::new();
    flake.all(
        0,
        &[
            &["users", "add", "alice", K[0]],
            &["users", "add", "bob", K[1]],
            &["groups", "add-user", "admins", "alice"],
            &["groups", "add-user", "admins", "bob"],
        ],
    );
    flake.set(0, &["--group", "admins", "db"], "d");
    flake
}

#[test]
fn quiet_drops_notes_and_keeps_results_and_what_to_act_on() {
    let flake = team();
    let loud = flake.as_key(0).args(["set", "db"]).write_stdin("v1").assert().success();
    assert_eq!(stderr_of(loud.get_output()), "Committed 1 path to git: secrets: update db\n");
    for quiet in ["-q", "--quiet"] {
        let out = flake.as_key(0).args([quiet, "set", "db"]).write_stdin("v2").assert().success();
        assert_eq!(stderr_of(out.get_output()), "", "{quiet}");
    }
    // After the command too, as every global flag.
    flake.as_key(0).args(["get", "db", "-q"]).assert().success().stdout("v2").stderr("");

    // Who lost access is not a note: the values must be changed.
    let out = flake.as_key(0).args(["-q", "groups", "remove-user", "admins", "bob"]).assert().success();
    let err = stderr_of(out.get_output());
    assert!(err.starts_with("bob (user) lost access to db"), "{err}");
    assert!(!err.contains("Committed") && !err.contains("Re-encrypted"), "{err}");

    // Errors stay.
    let out = flake.as_key(0).args(["-q", "get", "nothing"]).assert().failure();
    assert!(stderr_of(out.get_output()).contains("error:"), "{}", stderr_of(out.get_output()));
}

#[test]
fn verbose_is_debug() {
    let flake = team();
    let debug = stderr_of(flake.as_key(0).args(["--debug", "set", "db"]).write_stdin("a").assert().success().get_output());
    assert!(debug.contains("debug: repository "), "{debug}");
    for verbose in ["-v", "--verbose"] {
        let out = flake.as_key(0).args([verbose, "set", "db"]).write_stdin(verbose).assert().success();
        assert_eq!(stderr_of(out.get_output()), debug, "{verbose}");
    }
    let out = flake.as_key(0).args(["-q", "-v", "list"]).assert().code(2);
    assert!(stderr_of(out.get_output()).contains("cannot be used with"), "{}", stderr_of(out.get_output()));
}
