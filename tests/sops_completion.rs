//! `secrets sops completion bash|zsh` against the real sops: the script completes the word
//! `sops` (for a `sops` wrapper or alias running `secrets sops`), the real bash completes
//! subcommands and flags with it, and a missing or unknown shell ends as sops ends.

use std::process::Command;

use crate::common::{clean_env, secrets, sops, sops_bin, stderr_of, stdout_of};

/// What the installed bash script offers for `words` (the last being completed).
fn bash_completes(script: &str, words: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sops.bash");
    std::fs::write(&file, script).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let cword = words.len() - 1;
    let previous = if cword > 0 { words[cword - 1] } else { "" };
    let mut bash = Command::new("bash");
    clean_env(&mut bash);
    let out = bash
        .current_dir(dir.path())
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p sops >/dev/null && COMP_WORDS=({}) && COMP_CWORD={cword} && COMP_TYPE=9 && _clap_complete_sops sops '{}' '{previous}' && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display(),
            quoted.join(" "),
            words[cword],
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{words:?}: {}", stderr_of(&out));
    stdout_of(&out).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

#[test]
fn the_bash_script_completes_sops_commands_and_flags() {
    let out = secrets().args(["sops", "completion", "bash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let script = stdout_of(&out);
    assert!(script.contains("-F _clap_complete_sops sops\n"), "registered for the word sops: {script}");
    assert_eq!(bash_completes(&script, &["sops", "dec"]), ["decrypt"]);
    assert_eq!(bash_completes(&script, &["sops", "pu"]), ["publish"]);
    assert_eq!(bash_completes(&script, &["sops", "decrypt", "--ext"]), ["--extract"]);
    assert!(bash_completes(&script, &["sops", "publish", "--"]).contains(&"--omit-extensions".to_string()));
    assert!(bash_completes(&script, &["sops", "groups", ""]).contains(&"add".to_string()));
    // The commands of `secrets` itself are not offered: this is sops's word.
    assert!(!bash_completes(&script, &["sops", ""]).contains(&"users".to_string()));
}

#[test]
fn the_zsh_script_registers_the_word_sops() {
    let out = secrets().args(["sops", "completion", "zsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let script = stdout_of(&out);
    assert!(script.starts_with("#compdef sops\n"), "{script}");
    assert!(script.contains("SECRETS_COMPLETE_SOPS=\"zsh\""), "{script}");
    assert!(script.trim_end().ends_with("compdef _clap_dynamic_completer_sops sops"), "{script}");
    // Its requests are answered from the sops commands, as zsh makes them.
    let answer = secrets()
        .env("SECRETS_COMPLETE_SOPS", "zsh")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .args(["--", "sops", "exec-env", "--pri"])
        .output()
        .unwrap();
    assert!(stdout_of(&answer).contains("--pristine"), "{}", stdout_of(&answer));
}

#[test]
fn missing_and_unknown_shells_end_as_sops_ends() {
    if sops_bin().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for shell in [&[][..], &["bash"], &["zsh"], &["fish"], &["powershell"], &["bash", "extra"]] {
        let mut args = vec!["completion"];
        args.extend_from_slice(shell);
        let theirs = sops(&args, &[], dir.path());
        let mut all = vec!["sops"];
        all.extend_from_slice(&args);
        let ours = secrets().args(&all).output().unwrap();
        assert_eq!(ours.status.code(), theirs.status.code(), "{shell:?}: {}", stderr_of(&ours));
        assert_eq!(ours.stdout.is_empty(), theirs.stdout.is_empty(), "{shell:?}");
        if let Some(name) = shell.first().filter(|s| !matches!(**s, "bash" | "zsh")) {
            let line = format!("No help topic for '{name}'");
            assert_eq!(stderr_of(&ours).trim_end(), line);
            assert!(stderr_of(&theirs).contains(&line), "{}", stderr_of(&theirs));
        }
        if shell.first() == Some(&"bash") {
            // Both register their function for the word `sops`.
            assert!(stdout_of(&theirs).trim_end().ends_with(" sops") && stdout_of(&ours).contains(" sops\n"));
        }
    }
}

/// `keyservice` is a command here too, so that `secrets sops keyservice` is never taken for
/// the legacy `sops FILE` (an edit of a new file named keyservice): it says what is missing.
#[test]
fn keyservice_is_refused_by_name_and_makes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = secrets().current_dir(dir.path()).args(["sops", "keyservice", "--network", "tcp"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_of(&out).contains("sops keyservice"), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("not provided by this tool"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing was written");
}
