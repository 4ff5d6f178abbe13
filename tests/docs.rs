//! The documentation as tests: every fenced `sh` block of README.md and docs/*.md is run, as
//! written, by bash in a scratch git repository with a fresh HOME, the blocks of one page in
//! order (a reader following the page top to bottom), each with `set -euo pipefail`.
//!
//! Each block is listed in [`PAGES`] by its first line, with what a reader brings to it (a
//! `before` script: a sops file to import, an AWS profile, a conflicting branch), the few
//! placeholders it holds (`age1…`, `root@web1:`) replaced by what stands for them here, and an
//! `after` script that checks what the block did. Every replaced text must occur in the block,
//! and [`every_shell_block_is_run`] fails when a page gains, loses or reorders a block, so the
//! documentation cannot drift from what the commands do.
//!
//! What the documentation reaches beyond this machine is stood in for by small scripts on PATH
//! ([`SHIMS`]): the host `web1` (`ssh-keyscan` prints a fixture's public key, `rsync`/`scp` copy
//! into a folder standing for it), the programs a secret is handed to (`./migrate`, `aws`), and
//! `cargo run`/`cargo build` (the binary under test, already built). A block that cannot run
//! inside the test suite at all (the suite itself, the nightly fuzzers) says why instead.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::common::{clean_env, repo_root, sops_bin, stderr_of, stdout_of};

/// How one block is run.
enum Run {
    /// Run as written, with `subs` (`from`, `to`) applied; `before` and `after` run in the same
    /// shell, around it.
    Shell { before: &'static str, subs: &'static [(&'static str, &'static str)], after: &'static str },
    /// Not run by this test, and why.
    Exempt(&'static str),
}

/// One block of a page: its first line, and how it is run.
struct Block {
    first_line: &'static str,
    run: Run,
}

const fn shell(
    first_line: &'static str,
    before: &'static str,
    subs: &'static [(&'static str, &'static str)],
    after: &'static str,
) -> Block {
    Block { first_line, run: Run::Shell { before, subs, after } }
}

/// A page, its blocks in order, and the folder its blocks run in: the project checkout
/// (read only) for the quick start, else a scratch git repository.
struct Page {
    file: &'static str,
    /// What the reader of the page has before its first block (run in the same shell).
    setup: &'static str,
    blocks: &'static [Block],
}

/// The public key of the host key `web1` answers `ssh-keyscan` with, and the private one the
/// machine installs with.
const WEB1_SSH: &str = "fixtures/sops-vectors/ssh/id_ed25519";

/// Shell functions and variables every block may use: keys, the reader's values, and helpers
/// the `before` scripts share.
const PRELUDE: &str = r#"
export DB_PASSWORD=hunter2 CF_TOKEN=cf-token-123 NEW_VALUE=merged-value
# An editor that changes the value: appends a line to the file it is given.
export EDITOR="$SHIMS/append-edit" SOPS_EDITOR="$SHIMS/append-edit"
my_key() { grep -o 'age1[0-9a-z]*' "$HOME/.config/sops/age/keys.txt" | head -1; }
bob_key() { echo age1y53pe0c3lfwjf2wsc32czh0mvh5ekcams7r3xzjcyel45zny7ansgnel2p; }
"#;

/// Scripts on PATH that stand for what is beyond this machine (see the module docs).
const SHIMS: &[(&str, &str)] = &[
    // `ssh-keyscan -t ed25519 HOST`: the host's key line, as ssh-keyscan prints it.
    ("ssh-keyscan", "#!/bin/sh\nfor host; do :; done\nprintf '%s %s\\n' \"$host\" \"$(cut -d' ' -f1,2 \"$WEB1_SSH.pub\")\"\n"),
    // `rsync -a --delete SRC… root@web1:DIR/`: copies into the folder standing for web1.
    (
        "rsync",
        "#!/bin/bash\nset -e\nsrcs=()\nfor a; do case $a in -*) ;; *) srcs+=(\"$a\");; esac; done\ndest=${srcs[-1]}; unset 'srcs[-1]'\ndest=\"$REMOTE/${dest#*:}\"\nmkdir -p \"$dest\"\nfor s in \"${srcs[@]}\"; do rm -rf \"$dest/$(basename \"$s\")\"; cp -a \"$s\" \"$dest/\"; done\n",
    ),
    // `scp FILE root@web1:PATH`.
    ("scp", "#!/bin/sh\nset -e\nmkdir -p \"$(dirname \"$REMOTE/${2#*:}\")\"\ncp \"$1\" \"$REMOTE/${2#*:}\"\n"),
    // `cargo run [-q] --bin secrets -- ARGS` and `cargo build --bin secrets`: the binary under test.
    (
        "cargo",
        "#!/bin/bash\nset -e\ncase $1 in\n  run) while [ \"$1\" != -- ]; do shift; done; shift; exec \"$SECRETS_BIN\" \"$@\";;\n  build) mkdir -p target/debug; ln -sf \"$SECRETS_BIN\" target/debug/secrets;;\n  *) echo \"cargo $1: not stood in for\" >&2; exit 1;;\nesac\n",
    ),
    // The programs secrets are handed to: they show what they were given.
    ("aws", "#!/bin/sh\ntest -n \"$AWS_ACCESS_KEY_ID\" && test -n \"$AWS_SECRET_ACCESS_KEY\" && echo \"aws $*: ok\"\n"),
    ("nginx", "#!/bin/sh\ntest -r \"$TLS_KEY\" && echo \"nginx: key at $TLS_KEY\"\n"),
    ("app", "#!/bin/sh\ntest \"$1\" = --config && grep -q 'edited: true' \"$2\" && echo 'app: config read'\n"),
    ("append-edit", "#!/bin/sh\nprintf '\\nedited: true\\n' >> \"$1\"\n"),
];

const README: Page = Page {
    file: "README.md",
    setup: "",
    blocks: &[
        shell(
            "SOPS_AGE_KEY_FILE=docs/demo-age-key.txt cargo run --bin secrets -- get demo-password",
            "cd \"$PROJECT\"",
            &[],
            "",
        ),
        Block { first_line: "cargo test --workspace", run: Run::Exempt("the test suite itself: this test is part of it") },
        shell(
            "secrets key generate",
            "",
            &[
                ("secrets users add alice --age-key age1…", "secrets users add alice --age-key \"$(my_key)\""),
                ("secrets users add bob --age-key age1…", "secrets users add bob --age-key \"$(bob_key)\""),
                ("secrets import-sops", "sops encrypt --age \"$(my_key)\" --input-type yaml --output-type yaml <(printf 'legacy_token: abc\\n') > legacy.yaml\nsecrets import-sops"),
            ],
            r#"
test "$(secrets get db-password)" = "$DB_PASSWORD
edited: true"
test "$(secrets list --readable-by bob)" = ""
test "$(secrets get legacy_token)" = abc
secrets check
"#,
        ),
        shell(
            "secrets whoami",
            "",
            &[],
            r"
test -s ~/.local/share/bash-completion/completions/secrets && test -s ~/.local/share/man/man1/secrets-get.1
secrets whoami | grep -qx 'You are: alice (user)'
",
        ),
        shell(
            "secrets git setup --pre-commit",
            "",
            &[],
            "test -x .git/hooks/pre-commit && git log -1 --format=%s | grep -qx 'secrets: git drivers'",
        ),
        shell(
            "git fetch origin feature",
            // A teammate's branch on a remote: bob gets db-password back.
            r#"
git init -q --bare "$SCRATCH/origin.git" && git remote add origin "$SCRATCH/origin.git"
git push -q origin main
git switch -q -c feature
secrets users add-secret bob db-password
git push -q origin feature && git switch -q main && git branch -q -D feature
"#,
            &[],
            "",
        ),
        shell(
            "git merge origin/feature",
            // Both sides changed the value: the merge stops, as the block's comment says.
            r"
git switch -q -c feature2 origin/feature
printf theirs | secrets set db-password
git push -q origin feature2:feature
git switch -q main
printf ours | secrets set db-password
git fetch -q origin
",
            &[("git merge origin/feature", "! git merge origin/feature")],
            "test \"$(secrets get db-password)\" = \"$DB_PASSWORD\" && test -z \"$(git status --porcelain sops)\" && secrets check",
        ),
        shell("secrets check", "", &[], ""),
        shell(
            "secrets credentials store aws --profile prod --name prod --group ops",
            r#"
secrets groups add-user ops alice
mkdir -p ~/.aws ~/.kube
printf '[prod]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n' > ~/.aws/credentials
printf '[profile prod]\nregion = eu-west-1\n' > ~/.aws/config
printf 'apiVersion: v1\nkind: Config\nclusters: []\n' > ~/.kube/config
secrets machines add ci "$(bob_key)"
printf '{"type": "service_account", "project_id": "demo-project", "private_key": "x"}' > sa.json
"#,
            &[],
            "env | grep -qF \"=$CF_TOKEN\"",
        ),
        shell(
            "secrets sops encrypt --age age1…,age1… app.yaml > app.enc.yaml",
            r#"
printf 'db:\n  password: s3cret\n' > app.yaml
printf 'DB_PASSWORD=s3cret\n' | secrets sops encrypt --age "$(my_key)" --input-type dotenv --output-type dotenv /dev/stdin > app.enc.env
printf '#!/bin/sh\ntest "$DB_PASSWORD" = s3cret\n' > server && chmod +x server
"#,
            &[
                ("--age age1…,age1… app.yaml", "--age \"$(my_key)\",\"$(bob_key)\" app.yaml"),
                ("--age age1…,age1new… app.enc.yaml", "--age \"$(my_key)\",\"$(bob_key)\" app.enc.yaml"),
                ("--rm-age age1gone… app.enc.yaml", "--rm-age \"$(bob_key)\" app.enc.yaml"),
            ],
            "secrets sops decrypt app.enc.yaml | grep -q 'edited: true'",
        ),
        shell(
            "# 1. On your computer: register the machine by its ssh host key, and give it secrets.",
            // A section of its own, for a machine not registered yet (the walkthrough registered
            // web1); the release build is stood in for by the binary under test.
            "secrets machines remove web1\nmkdir -p scripts && printf 'echo \"$SECRETS_BIN\"\\n' > scripts/build-release.sh\nprintf '#!/bin/sh\\ntest \"$DB_PASSWORD\" = \"%s\"\\n' \"$DB_PASSWORD\" > migrate && chmod +x migrate\nprintf '#!/bin/sh\\ntest \"$(cat \"$TLS_KEY\")\" = tls\\n' > server && chmod +x server\nmkdir -p \"$REMOTE/etc\" && printf '{\"secrets\": {\"db-password\": {\"mode\": \"0440\"}}}' > \"$REMOTE/etc/secrets-install.json\"",
            &[
                // The secret the block's last command hands over, given once web1 is back.
                ("# 2. Copy", "printf tls | secrets set tls-key --machine web1\n# 2. Copy"),
                ("install --machine web1", "install --ssh-key \"$PROJECT/$WEB1_SSH_REL\" --machine web1"),
                ("--manifest /etc/secrets-install.json", "--manifest \"$REMOTE/etc/secrets-install.json\""),
                (" /var/lib/secrets-repo ", " \"$REMOTE/var/lib/secrets-repo\" "),
                ("--target /run/secrets", "--target \"$REMOTE/run/secrets\""),
            ],
            "test \"$(cat \"$REMOTE/run/secrets/db-password\")\" = \"$DB_PASSWORD\"",
        ),
    ],
};

/// A team's repository, for the pages that start from one: you (alice, with a key), bob, and
/// the secrets `db-password` and `api-token` that alice reads.
const TEAM: &str = r#"
secrets key generate 2>/dev/null
secrets users add alice --age-key "$(my_key)"
secrets users add bob --age-key "$(bob_key)"
printf %s "$DB_PASSWORD" | secrets set db-password --user alice
printf token | secrets set api-token --user alice
"#;

const GIT: Page = Page {
    file: "docs/git.md",
    setup: TEAM,
    blocks: &[
        shell("secrets git setup --pre-commit", "", &[], "test -x .git/hooks/pre-commit && test -z \"$(git status --porcelain sops .gitattributes)\""),
        shell(
            "git merge feature",
            // Both sides changed the value: the merge stops, as the block's comment says.
            "git switch -q -c feature && printf theirs | secrets set db-password && git switch -q main\nprintf ours | secrets set db-password",
            &[("git merge feature", "! git merge feature")],
            "test \"$(secrets get db-password)\" = \"$NEW_VALUE\" && test -z \"$(git status --porcelain sops)\"",
        ),
        shell("secrets check", "", &[], ""),
        shell("secrets access", "secrets users add-secret bob db-password", &[], ""),
        shell("secrets log", "", &[], ""),
    ],
};

const DEPLOYING: Page = Page {
    file: "docs/deploying.md",
    setup: r#"
secrets key generate 2>/dev/null
secrets users add alice --age-key "$(my_key)"
printf token | secrets set api-token --user alice
git init -q --bare "$SCRATCH/origin.git" && git remote add origin "$SCRATCH/origin.git" && git push -q -u origin main
"#,
    blocks: &[
        shell("ssh-keyscan -t ed25519 web1 | secrets machines add web1 --ssh-to-age", "", &[], "test \"$(git ls-remote origin main | cut -c1-40)\" = \"$(git rev-parse HEAD)\""),
        shell(
            "rsync -a --delete sops $(test -d vars && echo vars) root@web1:/var/lib/secrets-repo/",
            // The release build is stood in for by the binary under test.
            "mkdir -p scripts && printf 'echo \"$SECRETS_BIN\"\\n' > scripts/build-release.sh",
            &[],
            "test -d \"$REMOTE/var/lib/secrets-repo/sops/secrets/db-password\" && test -x \"$REMOTE/usr/local/bin/secrets\"",
        ),
        shell(
            "secrets --repo /var/lib/secrets-repo install --machine web1 --target /run/secrets",
            "",
            &[
                ("install --machine web1", "install --ssh-key \"$WEB1_SSH\" --machine web1"),
                ("/var/lib/secrets-repo", "\"$REMOTE/var/lib/secrets-repo\""),
                ("/run/secrets", "\"$REMOTE/run/secrets\""),
            ],
            "test \"$(cat \"$REMOTE/run/secrets/db-password\")\" = \"$DB_PASSWORD\" && test \"$(cat \"$REMOTE/run/secrets/api-token\")\" = token",
        ),
        shell(
            "secrets exec --env DB_PASSWORD=db-password -- ./migrate",
            r#"
printf '#!/bin/sh\ntest "$DB_PASSWORD" = "%s"\n' "$DB_PASSWORD" > migrate && chmod +x migrate
printf '#!/bin/sh\ntest "$DB_PASSWORD" = "%s" && test "$API_TOKEN" = token\n' "$DB_PASSWORD" > server && chmod +x server
openssl genrsa 2048 2>/dev/null | secrets set tls-key --user alice
"#,
            // web1's own key, in the form the block's host would have it.
            &[("SOPS_AGE_KEY_FILE=/var/lib/sops-nix/key.txt", "SOPS_AGE_SSH_PRIVATE_KEY_FILE=\"$WEB1_SSH\"")],
            "",
        ),
        shell(
            "cargo build -q --bin secrets",
            // The project's demo store, copied (the block builds into its target/).
            "mkdir -p \"$SCRATCH/project\" && cp -a \"$PROJECT/sops\" \"$PROJECT/docs\" \"$PROJECT/flake.nix\" \"$SCRATCH/project/\" && cd \"$SCRATCH/project\"",
            &[("/tmp/demo-secrets", "\"$SCRATCH/demo-secrets\"")],
            "test \"$(cat \"$SCRATCH/demo-secrets/demo-password\")\" != \"\"",
        ),
    ],
};

const FUZZING: Page = Page {
    file: "docs/fuzzing.md",
    setup: "",
    blocks: &[
        Block {
            first_line: "cargo install cargo-fuzz",
            run: Run::Exempt("a nightly toolchain and a fuzzing run of minutes; CI runs the fuzzers"),
        },
        Block {
            first_line: "bash fuzz/seed.sh",
            run: Run::Exempt("a nightly toolchain and a fuzzing run of minutes; CI runs the fuzzers"),
        },
    ],
};

/// The pages whose blocks are run.
const PAGES: &[Page] = &[README, DEPLOYING, FUZZING, GIT];

/// Fenced `sh` blocks of a Markdown text: (line of the fence, text).
fn shell_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut open {
            None if line.trim_start().starts_with("```sh") => open = Some((i + 1, String::new())),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => blocks.extend(open.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    blocks
}

/// A line of shell without its trailing comment (a line that is a comment stays whole).
fn command_of(line: &str) -> &str {
    if line.starts_with('#') {
        return line;
    }
    line.find("  #").map_or(line, |end| &line[..end]).trim_end()
}

/// The Markdown files whose blocks must be run: README.md and docs/*.md.
fn documentation() -> Vec<String> {
    let mut files = vec!["README.md".to_string()];
    let mut docs: Vec<String> = fs::read_dir(repo_root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| std::path::Path::new(n).extension().is_some_and(|e| e == "md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn every_shell_block_is_run() {
    for file in documentation() {
        let blocks = shell_blocks(&fs::read_to_string(repo_root().join(&file)).unwrap());
        let listed: &[Block] = PAGES.iter().find(|p| p.file == file).map_or(&[], |p| p.blocks);
        let firsts: Vec<&str> = blocks.iter().map(|(_, text)| command_of(text.lines().next().unwrap_or(""))).collect();
        let expected: Vec<&str> = listed.iter().map(|b| b.first_line).collect();
        assert_eq!(
            firsts, expected,
            "{file}: its shell blocks (first lines) differ from those tests/docs.rs runs: list each new block there"
        );
    }
}

/// Runs the blocks of `page` in order in one scratch repository and HOME.
fn run_page(page: &Page) {
    let Some(sops) = sops_bin() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let scratch = scratch.path().canonicalize().unwrap();
    let (home, work, shims, remote) = (scratch.join("home"), scratch.join("repo"), scratch.join("shims"), scratch.join("web1"));
    for dir in [&home, &work, &shims, &remote] {
        fs::create_dir_all(dir).unwrap();
    }
    for (name, text) in SHIMS {
        let path = shims.join(name);
        fs::write(&path, text).unwrap();
        Command::new("chmod").arg("+x").arg(&path).status().unwrap();
    }
    // The real sops, by its name.
    std::os::unix::fs::symlink(&sops, shims.join("sops")).unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_secrets"));
    let path = format!("{}:{}:/usr/local/bin:/usr/bin:/bin", shims.display(), bin.parent().unwrap().display());
    let base = |cmd: &mut Command| {
        clean_env(cmd);
        // A fresh HOME, as a new user has it: no XDG_CONFIG_HOME either.
        cmd.env_remove("XDG_CONFIG_HOME")
            .env("HOME", &home)
            .env("PATH", &path)
            .env("GIT_AUTHOR_NAME", "Alice")
            .env("GIT_AUTHOR_EMAIL", "alice@example.com")
            .env("GIT_COMMITTER_NAME", "Alice")
            .env("GIT_COMMITTER_EMAIL", "alice@example.com")
            .env("GIT_CONFIG_GLOBAL", home.join(".gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("SECRETS_BIN", &bin)
            .env("SHIMS", &shims)
            .env("REMOTE", &remote)
            .env("SCRATCH", &scratch)
            .env("PROJECT", repo_root())
            .env("WEB1_SSH", repo_root().join(WEB1_SSH))
            .env("WEB1_SSH_REL", WEB1_SSH)
            .current_dir(&work);
    };
    let mut init = Command::new("bash");
    base(&mut init);
    let setup = format!("set -euo pipefail\n{PRELUDE}\ngit init -q -b main && git commit -q --allow-empty -m init\n{}", page.setup);
    let out = init.arg("-c").arg(&setup).output().unwrap();
    assert!(out.status.success(), "{}: the page's setup failed: {}", page.file, stderr_of(&out));

    let text = fs::read_to_string(repo_root().join(page.file)).unwrap();
    let blocks = shell_blocks(&text);
    assert_eq!(blocks.len(), page.blocks.len(), "{}: see every_shell_block_is_run", page.file);
    for ((line, block), listed) in blocks.iter().zip(page.blocks) {
        let (before, subs, after) = match &listed.run {
            Run::Shell { before, subs, after } => (before, subs, after),
            Run::Exempt(why) => {
                eprintln!("{}:{line}: not run: {why}", page.file);
                continue;
            }
        };
        let mut body = block.clone();
        for (from, to) in *subs {
            assert!(body.contains(from), "{}:{line}: the block no longer holds `{from}`: update tests/docs.rs", page.file);
            body = body.replace(from, to);
        }
        // Traced (`set -x` after the prelude): a failure shows the command that failed.
        let script = format!("set -euo pipefail\n{PRELUDE}\nset -x\n{before}\n{body}\n{after}\n");
        let mut cmd = Command::new("bash");
        base(&mut cmd);
        let out = cmd.arg("-c").arg(&script).output().unwrap();
        assert!(
            out.status.success(),
            "{}:{line}: the block failed ({:?})\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            page.file,
            out.status.code(),
            stdout_of(&out),
            stderr_of(&out)
        );
    }
}

#[test]
fn readme_runs_top_to_bottom() {
    run_page(&README);
}

#[test]
fn git_guide_runs_top_to_bottom() {
    run_page(&GIT);
}

#[test]
fn deploying_guide_runs_top_to_bottom() {
    run_page(&DEPLOYING);
}
