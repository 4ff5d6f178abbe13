//! The conventions a sops user relies on, next to the real sops: standard input without FILE and
//! `-` as a file name, `--config`/`SOPS_CONFIG`, the `stores:` indent of `.sops.yaml`, `set`'s
//! value flags, `updatekeys`'s question, sops's exit codes, `--version`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{age_keygen, clean_env, ok, secrets, sops_and_keygen, sops_bin, stderr_of, stdout_of};

struct Bench {
    dir: tempfile::TempDir,
    key: PathBuf,
    recipient: String,
    other: String,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let (key, recipient) = age_keygen(dir.path(), "key");
        let (_, other) = age_keygen(dir.path(), "other");
        Bench { dir, key, recipient, other }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    fn command(&self, ours: bool, args: &[&str], envs: &[(&str, &str)]) -> Command {
        let mut cmd = if ours {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_secrets"));
            clean_env(&mut cmd);
            cmd.arg("sops");
            cmd
        } else {
            let mut cmd = Command::new(sops_bin().unwrap());
            clean_env(&mut cmd);
            cmd
        };
        cmd.current_dir(self.dir.path()).env("SOPS_AGE_KEY_FILE", &self.key).args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd
    }

    fn run(&self, ours: bool, args: &[&str], stdin: &[u8], envs: &[(&str, &str)]) -> Output {
        use std::io::Write;
        let mut child = self.command(ours, args, envs).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        // The command may not read it all.
        let _ = input.write_all(stdin);
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// Both, with the same standard input: the same exit code and standard output.
    fn same(&self, args: &[&str], stdin: &[u8], envs: &[(&str, &str)]) -> Output {
        let real = self.run(false, args, stdin, envs);
        let ours = self.run(true, args, stdin, envs);
        assert_eq!(ours.status.code(), real.status.code(), "{args:?}: sops said {} / we said {}", stderr_of(&real), stderr_of(&ours));
        assert_eq!(stdout_of(&ours), stdout_of(&real), "{args:?}");
        ours
    }

    fn encrypted(&self, name: &str, plain: &str) {
        self.write(&format!("plain-{name}"), plain);
        let out = self.run(false, &["encrypt", "--age", &self.recipient, "--output", name, &format!("plain-{name}")], b"", &[]);
        assert!(out.status.success(), "{}", stderr_of(&out));
    }
}

#[test]
fn without_file_standard_input_is_read_and_dash_is_a_file_name() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new();
    b.encrypted("s.yaml", "a: 1\nb: two\n");
    let encrypted = std::fs::read(b.path("s.yaml")).unwrap();
    b.same(&["decrypt", "--filename-override", "x.yaml"], &encrypted, &[]);
    b.same(&["decrypt", "--input-type", "yaml"], &encrypted, &[]);
    // `-` is the file called `-` (here a YAML file, read by its name's store: binary, so JSON).
    std::fs::write(b.path("-"), &encrypted).unwrap();
    b.same(&["decrypt", "--input-type", "yaml", "-"], b"", &[]);
    assert_eq!(b.same(&["decrypt", "-"], b"", &[]).status.code(), Some(1));
    // encrypt from standard input needs the name that chooses the store and the rule.
    let plain = b"a: 1\n";
    assert_eq!(b.same(&["encrypt", "--age", &b.recipient], plain, &[]).status.code(), Some(8));
    let out = b.run(true, &["encrypt", "--age", &b.recipient, "--filename-override", "new.yaml"], plain, &[]);
    std::fs::write(b.path("from-stdin.yaml"), &ok(&out).stdout).unwrap();
    assert_eq!(stdout_of(&b.run(false, &["decrypt", "from-stdin.yaml"], b"", &[])), "a: 1\n");
}

#[test]
fn exit_codes_for_missing_and_unreadable_files_are_sops_codes() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new();
    b.write("bad.yaml", "a: [\n");
    b.write("plain.yaml", "a: 1\n");
    b.encrypted("s.yaml", "a: 1\n");
    for args in [
        &["updatekeys", "-y", "s.yaml"][..],
        &["set", "a"],
        &["exec-env", "s.yaml"],
        &["decrypt", "missing.yaml"],
        &["encrypt", "--age", &b.recipient, "missing.yaml"],
        &["set", "missing.yaml", "[\"a\"]", "1"],
        &["unset", "missing.yaml", "[\"a\"]"],
        &["rotate", "missing.yaml"],
        &["decrypt", "bad.yaml"],
        &["decrypt", "plain.yaml"],
        &["encrypt", "--age", &b.recipient, "bad.yaml"],
        &["set", "plain.yaml", "[\"a\"]"],
    ] {
        b.same(args, b"", &[]);
    }
}

#[test]
fn config_comes_from_the_flag_then_sops_config_then_the_nearest_file() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new();
    std::fs::create_dir(b.path("conf")).unwrap();
    b.write("conf/mine.yaml", &format!("creation_rules:\n  - age: {}\n", b.recipient));
    b.write(".sops.yaml", &format!("creation_rules:\n  - age: {}\n", b.other));
    b.write("plain.yaml", "a: 1\n");
    let config = b.path("conf/mine.yaml");
    let config = config.to_str().unwrap();
    for (args, envs) in
        [(vec!["--config", config, "encrypt", "plain.yaml"], vec![]), (vec!["encrypt", "plain.yaml"], vec![("SOPS_CONFIG", config)])]
    {
        let out = b.run(true, &args, b"", &envs);
        std::fs::write(b.path("enc.yaml"), &ok(&out).stdout).unwrap();
        let back = b.run(false, &["decrypt", "enc.yaml"], b"", &[]);
        assert!(back.status.success(), "{args:?}: encrypted for the rule of the given config: {}", stderr_of(&back));
    }
    // Without either, the nearest .sops.yaml: the other key, which we do not hold.
    let out = b.run(true, &["encrypt", "plain.yaml"], b"", &[]);
    std::fs::write(b.path("enc.yaml"), &ok(&out).stdout).unwrap();
    assert_eq!(b.run(false, &["decrypt", "enc.yaml"], b"", &[]).status.code(), Some(128));
}

#[test]
fn the_stores_indent_of_the_config_shapes_yaml_and_json_output_as_in_sops() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new();
    b.write(".sops.yaml", "stores:\n  yaml:\n    indent: 2\n  json:\n    indent: 3\n");
    b.encrypted("s.yaml", "a:\n    b:\n        - 1\n        - x: 2\n");
    b.same(&["decrypt", "s.yaml"], b"", &[]);
    b.same(&["decrypt", "--output-type", "json", "s.yaml"], b"", &[]);
    let ours = b.run(true, &["encrypt", "--age", &b.recipient, "plain-s.yaml"], b"", &[]);
    assert!(stdout_of(ok(&ours)).contains("\n  b:\n"), "{}", stdout_of(&ours));
}

#[test]
fn set_takes_its_value_from_the_arguments_a_file_or_standard_input_like_sops() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new();
    b.encrypted("theirs.yaml", "a: 1\n");
    std::fs::copy(b.path("theirs.yaml"), b.path("ours.yaml")).unwrap();
    b.write("value.json", "{\"deep\": [1, 2.5e-7, \"x\"]}");
    for (args, stdin) in [
        (vec!["set", "F", "[\"a\"]", "\"plain\""], ""),
        (vec!["set", "--value-file", "F", "[\"b\"]", "value.json"], ""),
        (vec!["set", "--value-stdin", "F", "[\"c\"]"], "7.038531e-26"),
        (vec!["set", "--value-stdin", "F", "[\"d\"]", "extra"], "1"),
        (vec!["set", "--value-file", "--value-stdin", "F", "[\"d\"]"], "1"),
        (vec!["set", "F", "[\"d\"]"], ""),
    ] {
        let with = |name: &'static str| args.iter().map(|a| if *a == "F" { name } else { *a }).collect::<Vec<&str>>();
        let real = b.run(false, &with("theirs.yaml"), stdin.as_bytes(), &[]);
        let ours = b.run(true, &with("ours.yaml"), stdin.as_bytes(), &[]);
        assert_eq!(ours.status.code(), real.status.code(), "{args:?}: {} / {}", stderr_of(&real), stderr_of(&ours));
    }
    assert_eq!(b.same(&["decrypt", "ours.yaml"], b"", &[]).stdout, b.run(false, &["decrypt", "theirs.yaml"], b"", &[]).stdout);
    // --output-type rewrites the file in another store, --ignore-mac is accepted.
    for name in ["theirs.yaml", "ours.yaml"] {
        let ours = name == "ours.yaml";
        assert!(b.run(ours, &["set", "--output-type", "json", "--ignore-mac", name, "[\"e\"]", "true"], b"", &[]).status.success());
    }
    b.same(&["decrypt", "--input-type", "json", "ours.yaml"], b"", &[]);
    assert_eq!(
        stdout_of(&b.run(false, &["decrypt", "--input-type", "json", "ours.yaml"], b"", &[])),
        stdout_of(&b.run(false, &["decrypt", "--input-type", "json", "theirs.yaml"], b"", &[]))
    );
}

#[test]
fn updatekeys_asks_on_standard_input_as_sops_does() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new();
    b.write(".sops.yaml", &format!("creation_rules:\n  - age: {},{}\n", b.recipient, b.other));
    b.encrypted("s.yaml", "a: 1\n");
    let before = std::fs::read(b.path("s.yaml")).unwrap();
    let recipients = |path: &Path| std::fs::read_to_string(path).unwrap().matches("recipient:").count();
    // "n", then the end of the input: nothing changes (exit 0, then 1).
    assert_eq!(b.same(&["updatekeys", "s.yaml"], b"n\n", &[]).status.code(), Some(0));
    assert_eq!(b.same(&["updatekeys", "s.yaml"], b"", &[]).status.code(), Some(1));
    assert_eq!(std::fs::read(b.path("s.yaml")).unwrap(), before);
    // Anything else asks again; "y" applies.
    let out = b.run(true, &["updatekeys", "s.yaml"], b"maybe\ny\n", &[]);
    assert_eq!(stdout_of(ok(&out)).matches("Is this okay? (y/n):").count(), 2);
    assert_eq!(recipients(&b.path("s.yaml")), 2);
    assert_eq!(b.same(&["updatekeys", "-y", "s.yaml"], b"", &[]).status.code(), Some(0));
}

#[test]
fn version_names_this_tool_and_the_sops_version_it_follows() {
    let out = secrets().args(["sops", "--version"]).output().unwrap();
    let text = stdout_of(ok(&out));
    assert!(text.starts_with("secrets sops ") && text.trim_end().ends_with("compatible with sops 3.11.0"), "{text}");
}

#[test]
fn extract_prints_every_kind_of_value_as_sops_does() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new();
    let plain = "l:\n  - 1\n  - x\n  - {a: 1}\n  - [1, [2]]\nf: 1234567890.0\ng: 0.5\nh: 1.0\ni: 42\nb: true\nn: null\n\
                 s: str\nm:\n  k: v\nt: 2024-01-01T00:00:00Z\ne: []\nml: \"a\\nb\"\n";
    b.encrypted("x.yaml", plain);
    let json = b.run(false, &["encrypt", "--age", &b.recipient, "--output-type", "json", "plain-x.yaml"], b"", &[]);
    std::fs::write(b.path("x.json"), &ok(&json).stdout).unwrap();
    for key in ["l", "f", "g", "h", "i", "b", "n", "s", "m", "t", "e", "ml", "missing"] {
        let path = format!("[\"{key}\"]");
        for file in ["x.yaml", "x.json"] {
            for output in ["yaml", "json", "dotenv", "binary", "ini"] {
                // sops's INI store prints a list as Go's internal JSON of its tree; we refuse it.
                if output == "ini" && matches!(key, "l" | "e") {
                    continue;
                }
                b.same(&["decrypt", "--output-type", output, "--extract", &path, file], b"", &[]);
            }
        }
    }
}

#[test]
fn the_legacy_top_level_flags_work_as_in_sops() {
    if !sops_and_keygen() {
        return;
    }
    let b = Bench::new();
    b.write("plain.yaml", "a: 1\ns: str\nm:\n  k: v\n");
    for name in ["theirs.yaml", "ours.yaml"] {
        std::fs::copy(b.path("plain.yaml"), b.path(name)).unwrap();
        let ours = name == "ours.yaml";
        let steps: [&[&str]; 4] = [
            &["-e", "-i", "--age", &b.recipient, name],
            &["--set", "[\"s\"] \"new value\"", name],
            &["-i", "--set", "[\"m\"][\"k\"] 5", name],
            &["-r", "-i", name],
        ];
        for args in steps {
            let out = b.run(ours, args, b"", &[]);
            assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        }
    }
    for args in [
        &["-d", "F"][..],
        &["--decrypt", "--extract", "[\"m\"][\"k\"]", "F"],
        &["--indent", "2", "-d", "F"],
        &["-d", "--output-type", "json", "--indent", "3", "F"],
        &["-d", "missing.yaml"],
        &["--set", "bad", "F"],
    ] {
        let real = b.run(false, &args.iter().map(|a| if *a == "F" { "theirs.yaml" } else { a }).collect::<Vec<_>>(), b"", &[]);
        let ours = b.run(true, &args.iter().map(|a| if *a == "F" { "ours.yaml" } else { a }).collect::<Vec<_>>(), b"", &[]);
        assert_eq!(ours.status.code(), real.status.code(), "{args:?}: {} / {}", stderr_of(&real), stderr_of(&ours));
        assert_eq!(stdout_of(&ours), stdout_of(&real), "{args:?}");
    }
}
