//! Membership commands run at the same time on one repository: the repository lock makes them
//! take turns, so no re-key computed from an outdated membership is written last (a removed
//! member put back into the files), no key added under a name is silently lost, and every
//! command either succeeds and commits or fails saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{git, init_git_repo, ok, secrets_process, stderr_of, vectors};

const ADMIN: &str = "age1e9xplsq098whkdsvugpwhmh65hvjzend6kh3pcpuvsswew43jf6smxepjg";
const SECRETS: usize = 3;
const POOL: usize = 10;

struct Member {
    name: String,
    public: String,
    identity_file: PathBuf,
}

fn fresh_key(dir: &Path, name: &str) -> (String, PathBuf) {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let file = dir.join(format!("{name}.key"));
    std::fs::write(&file, format!("{}\n", identity.to_string().expose_secret())).unwrap();
    (identity.to_public().to_string(), file)
}

fn command(repo: &Path, args: &[String]) -> Command {
    let mut cmd = secrets_process();
    cmd.current_dir(repo).env("SOPS_AGE_KEY_FILE", vectors().join("keys.txt")).args(args);
    cmd
}

fn run(repo: &Path, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    command(repo, &args).output().unwrap()
}

fn recipients(repo: &Path, secret: usize) -> BTreeSet<String> {
    let file = repo.join(format!("sops/secrets/s{secret}/secret"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    json["sops"]["age"].as_array().unwrap().iter().map(|e| e["recipient"].as_str().unwrap().to_string()).collect()
}

/// Starts every command at once and waits for all of them.
fn all_at_once(repo: &Path, commands: &[Vec<String>]) -> Vec<Output> {
    let children: Vec<_> = commands
        .iter()
        .map(|args| command(repo, args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    children.into_iter().map(|c| c.wait_with_output().unwrap()).collect()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

#[test]
fn concurrent_membership_commands_never_lose_a_revocation_or_a_key() {
    let scratch = tempfile::tempdir().unwrap();
    let keys = scratch.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let repo = scratch.path().join("repo");
    init_git_repo(&repo);

    ok(&run(&repo, &["users", "add", "admin", ADMIN]));
    ok(&run(&repo, &["groups", "add-user", "team", "admin"]));
    let members: Vec<Member> = (0..POOL)
        .map(|i| {
            let name = format!("m{i}");
            let (public, identity_file) = fresh_key(&keys, &name);
            ok(&run(&repo, &["users", "add", &name, &public]));
            Member { name, public, identity_file }
        })
        .collect();
    // Half of the pool starts in the team.
    let mut team: BTreeSet<usize> = BTreeSet::new();
    for (i, member) in members.iter().enumerate().take(POOL / 2) {
        ok(&run(&repo, &["groups", "add-user", "team", &member.name]));
        team.insert(i);
    }
    for s in 0..SECRETS {
        let out = command(&repo, &args(&["set", "--group", "team", &format!("s{s}")])).env("SOPS_NIX_SECRET", format!("v{s}")).output();
        ok(&out.unwrap());
    }
    let mut z_keys: BTreeMap<String, String> = BTreeMap::new();

    let mut round = 0;
    for (concurrent, rounds) in [(3usize, 34usize), (10, 16)] {
        for _ in 0..rounds {
            round += 1;
            // Two additions of the same new user with different keys, and membership changes of
            // distinct members: as many removals from the team as additions to it.
            let z = format!("z{round}");
            let (key_a, _) = fresh_key(&keys, &format!("{z}a"));
            let (key_b, _) = fresh_key(&keys, &format!("{z}b"));
            let mut commands = vec![args(&["users", "add", &z, &key_a]), args(&["users", "add", &z, &key_b])];
            let inside: Vec<usize> = team.iter().copied().collect();
            let outside: Vec<usize> = (0..POOL).filter(|i| !team.contains(i)).collect();
            let mut changes = Vec::new();
            for slot in 0..concurrent - 2 {
                let (remove, pick) = if (slot + round) % 2 == 0 { (true, &inside) } else { (false, &outside) };
                let Some(&who) = pick.get(slot / 2 + round % 2) else { continue };
                if changes.iter().any(|(_, w)| *w == who) {
                    continue;
                }
                let verb = if remove { "remove-user" } else { "add-user" };
                commands.push(args(&["groups", verb, "team", &members[who].name]));
                changes.push((remove, who));
            }
            let outputs = all_at_once(&repo, &commands);

            for (cmd, out) in commands.iter().zip(&outputs) {
                if !out.status.success() {
                    assert!(stderr_of(out).contains("error:"), "{cmd:?} failed without saying so: {}", stderr_of(out));
                }
            }
            // Exactly one of the two additions of z won, and its key is the one stored.
            let z_ok: Vec<&str> =
                [&key_a, &key_b].iter().zip(&outputs[..2]).filter(|(_, o)| o.status.success()).map(|(k, _)| k.as_str()).collect();
            assert_eq!(z_ok.len(), 1, "round {round}: two `users add {z}` with different keys: {} succeeded", z_ok.len());
            let loser = outputs[..2].iter().find(|o| !o.status.success()).unwrap();
            assert!(stderr_of(loser).contains("already exists"), "round {round}: {}", stderr_of(loser));
            let stored = std::fs::read_to_string(repo.join(format!("sops/users/{z}/key.json"))).unwrap();
            assert!(stored.contains(z_ok[0]), "round {round}: the key of the successful `users add {z}` is stored");
            z_keys.insert(z, z_ok[0].to_string());

            for ((remove, who), out) in changes.iter().zip(&outputs[2..]) {
                assert!(out.status.success(), "round {round}: {:?}: {}", commands, stderr_of(out));
                if *remove {
                    team.remove(who);
                } else {
                    team.insert(*who);
                }
            }
            // The files say exactly what the membership says: no removed member left in.
            let mut wanted: BTreeSet<String> = team.iter().map(|i| members[*i].public.clone()).collect();
            wanted.insert(ADMIN.to_string());
            for s in 0..SECRETS {
                assert_eq!(recipients(&repo, s), wanted, "round {round}: s{s} is encrypted for another set than the team");
            }
            let status = git(&repo, &["status", "--porcelain"]);
            assert!(status.stdout.is_empty(), "round {round}: uncommitted changes: {}", String::from_utf8_lossy(&status.stdout));
        }
    }
    assert!(round >= 50);
    // Removed members cannot read any secret; members can.
    for (i, member) in members.iter().enumerate() {
        let out = command(&repo, &args(&["get", "s0"])).env("SOPS_AGE_KEY_FILE", &member.identity_file).output().unwrap();
        assert_eq!(out.status.success(), team.contains(&i), "{}: {}", member.name, stderr_of(&out));
    }
    ok(&run(&repo, &["check"]));
    for (z, key) in &z_keys {
        let stored = std::fs::read_to_string(repo.join(format!("sops/users/{z}/key.json"))).unwrap();
        assert!(stored.contains(key.as_str()), "{z}");
    }
}
