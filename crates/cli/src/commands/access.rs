//! `secrets access`: who can read what, and how — the matrix of secrets × users and machines,
//! one secret, one member, or the links between one member and one secret.
//!
//! The answer comes from the links, but a secret is readable by whoever its file is encrypted
//! for: when the two differ (a re-key that did not happen, a file edited by hand), every view
//! says so, so that a revocation the file does not enforce is never reported as done.

use clap::Args;
use std::collections::BTreeSet;
use std::path::Path;

use secrets_sops::{EncryptedFile, Format};
use secrets_store::history::keyindex::{normalize, KeyIndex};
use secrets_store::links;
use secrets_store::{Access, Kind, Lookups, Repo, SecretRef, Via};

use crate::context::Context;
use crate::failure::{CmdResult, Failure};
use crate::output::write_text;
use secrets_store::names::shown;

/// `secrets access`.
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

pub fn run(ctx: &Context, args: AccessArgs) -> CmdResult {
    let repo = ctx.repo_for_reading()?;
    let member = args.member.as_deref().map(|m| find_member(&repo, m)).transpose()?;
    let secret = args.secret.as_deref().map(|s| find_secret(&repo, s)).transpose()?;
    let text = match (secret, member) {
        (Some(secret), Some(member)) if args.explain => explain(ctx, &repo, &secret, &member)?,
        (Some(secret), Some(member)) => one_secret(ctx, &repo, &secret, Some(&member))?,
        (Some(secret), None) => one_secret(ctx, &repo, &secret, None)?,
        (None, Some(member)) => one_member(ctx, &repo, &member)?,
        (None, None) => matrix(ctx, &repo)?,
    };
    write_text(&text)?;
    Ok(0)
}

/// A user or machine.
struct Member {
    kind: Kind,
    name: String,
}

fn find_member(repo: &Repo, text: &str) -> CmdResult<Member> {
    let (kinds, name): (&[Kind], &str) = match text.split_once(':') {
        Some(("user", name)) => (&[Kind::User], name),
        Some(("machine", name)) => (&[Kind::Machine], name),
        _ => (&[Kind::User, Kind::Machine], text),
    };
    let found: Vec<Kind> = kinds.iter().copied().filter(|k| repo.exists(*k, name)).collect();
    match found.as_slice() {
        [kind] => Ok(Member { kind: *kind, name: name.to_string() }),
        [] => Err(Failure::msg(format!("no user or machine named `{name}`")).hint("see `secrets users list` and `secrets machines list`")),
        _ => Err(Failure::msg(format!("`{name}` is both a user and a machine"))
            .hint(format!("say which: --member user:{name} or --member machine:{name}"))),
    }
}

fn find_secret(repo: &Repo, name: &str) -> CmdResult<SecretRef> {
    if name.starts_with("vars/") {
        let all = repo.all_secrets()?;
        return all
            .into_iter()
            .find(|s| s.name == name.trim_end_matches('/'))
            .ok_or_else(|| Failure::msg(format!("no vars secret `{name}`")));
    }
    let secret = repo.secret(name)?;
    if !repo.exists(Kind::Secret, name) {
        return Err(Failure::msg(format!("secret `{name}` does not exist")).hint("see `secrets list`"));
    }
    Ok(secret)
}

fn via_text(via: &Via) -> String {
    let mut parts = Vec::new();
    if via.direct {
        parts.push("direct".to_string());
    }
    match via.groups.as_slice() {
        [] => {}
        [group] => parts.push(format!("through group {}", shown(group))),
        groups => parts.push(format!("through groups {}", groups.iter().map(|g| shown(g)).collect::<Vec<_>>().join(", "))),
    }
    parts.join(", ")
}

fn via_json(via: &Via) -> serde_json::Value {
    serde_json::json!({ "direct": via.direct, "groups": via.groups })
}

/// How a secret's file differs from its links.
#[derive(Default)]
struct Drift {
    /// Recipients of the file that no link calls for (normalized keys): readers the links say
    /// are gone.
    file_only: BTreeSet<String>,
    /// Keys the links call for that the file is not encrypted for.
    links_only: BTreeSet<String>,
    /// The file could not be read or parsed: nothing can be said of its readers.
    unreadable: bool,
}

impl Drift {
    fn of(repo: &Repo, secret: &SecretRef, access: &Access) -> Drift {
        let wanted: BTreeSet<String> = match repo.recipients(access) {
            Ok(keys) => keys.iter().map(|k| normalize(&k.key)).collect(),
            Err(_) => return Drift { unreadable: true, ..Drift::default() },
        };
        let Some(in_file) = file_recipients(repo, &secret.file()) else { return Drift { unreadable: true, ..Drift::default() } };
        Drift {
            file_only: in_file.difference(&wanted).cloned().collect(),
            links_only: wanted.difference(&in_file).cloned().collect(),
            unreadable: false,
        }
    }

    fn any(&self) -> bool {
        self.unreadable || !self.file_only.is_empty() || !self.links_only.is_empty()
    }

    fn json(&self, index: &KeyIndex) -> serde_json::Value {
        let describe = |keys: &BTreeSet<String>| keys.iter().map(|k| index.describe(k)).collect::<Vec<_>>();
        serde_json::json!({
            "drift": self.any(),
            "file_unreadable": self.unreadable,
            "still_in_file": describe(&self.file_only),
            "missing_from_file": describe(&self.links_only),
        })
    }

    /// One line per difference, for the text views.
    fn lines(&self, secret: &str, index: &KeyIndex) -> Vec<String> {
        let mut out = Vec::new();
        if self.unreadable {
            out.push(format!("! {secret}: its file cannot be read, so who can decrypt it is unknown (`secrets check` says why)"));
        }
        for key in &self.file_only {
            out.push(format!(
                "! {secret}: the file is STILL encrypted for {}, which its links no longer name: `secrets check --fix` re-keys it",
                shown(&index.describe(key))
            ));
        }
        for key in &self.links_only {
            out.push(format!(
                "! {secret}: the file is not yet encrypted for {}: `secrets check --fix` re-keys it",
                shown(&index.describe(key))
            ));
        }
        out
    }
}

/// The recipients a `secret` file is encrypted for, normalized; `None` when it cannot be read.
/// Read like every repository file: never through a link, a FIFO or past the size bound.
fn file_recipients(repo: &Repo, path: &Path) -> Option<BTreeSet<String>> {
    let bytes = secrets_store::untrusted::read(repo.root(), path, secrets_store::untrusted::Limit::Secret).ok()?;
    let file = EncryptedFile::parse(&bytes, Format::Binary).ok()?;
    Some(file.metadata.recipients().into_iter().flatten().map(|r| normalize(&r)).collect())
}

fn access_json(access: &Access) -> serde_json::Value {
    let map = |m: &std::collections::BTreeMap<String, Via>| -> serde_json::Map<String, serde_json::Value> {
        m.iter().map(|(k, v)| (k.clone(), via_json(v))).collect()
    };
    serde_json::json!({ "users": map(&access.users), "machines": map(&access.machines), "groups": access.groups })
}

/// Adds the fields of `extra` (an object) to `json` (an object).
fn merge(json: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(target), serde_json::Value::Object(fields)) = (json.as_object_mut(), extra) {
        target.extend(fields);
    }
}

fn to_text(json: &serde_json::Value) -> CmdResult<String> {
    serde_json::to_string_pretty(json).map(|t| format!("{t}\n")).map_err(|e| Failure::msg(e.to_string()))
}

fn matrix(ctx: &Context, repo: &Repo) -> CmdResult<String> {
    let secrets = repo.all_secrets()?;
    let users = repo.list(Kind::User)?;
    let machines = repo.list(Kind::Machine)?;
    let lookups = Lookups::default();
    let rows: Vec<(SecretRef, Access)> =
        secrets.into_iter().map(|s| repo.access_with(&s, &lookups).map(|a| (s, a))).collect::<Result<_, _>>()?;
    let drifts: Vec<Drift> = rows.iter().map(|(s, a)| Drift::of(repo, s, a)).collect();
    let index = KeyIndex::from_repo(repo);
    if ctx.global.json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .zip(&drifts)
            .map(|((s, a), d)| {
                let mut entry = access_json(a);
                entry["name"] = serde_json::Value::String(s.name.clone());
                merge(&mut entry, d.json(&index));
                entry
            })
            .collect();
        return to_text(&serde_json::json!({ "users": users, "machines": machines, "secrets": list }));
    }
    if rows.is_empty() {
        return Ok(String::new());
    }
    // A member's keys, to mark where the file disagrees with the links.
    let keys_of = |kind: Kind, name: &str| -> Vec<String> {
        repo.read_keys(kind, name).map(|keys| keys.iter().map(|k| normalize(&k.key)).collect()).unwrap_or_default()
    };
    let member_keys: Vec<Vec<String>> =
        users.iter().map(|u| keys_of(Kind::User, u)).chain(machines.iter().map(|m| keys_of(Kind::Machine, m))).collect();
    let cell = |via: Option<&Via>, keys: &[String], drift: &Drift| {
        let still_in_file = keys.iter().any(|k| drift.file_only.contains(k));
        let not_yet = keys.iter().any(|k| drift.links_only.contains(k));
        match via {
            None if still_in_file => "!",
            Some(_) if not_yet => "?",
            Some(v) if v.direct => "x",
            Some(_) => "g",
            None => "-",
        }
    };
    let first = rows.iter().map(|(s, _)| shown(&s.name).len()).max().unwrap_or(0).max("SECRET".len());
    let mut widths: Vec<usize> = users.iter().chain(&machines).map(|n| shown(n).len().max(1)).collect();
    // A first header line says which columns are users and which machines; each block is made
    // at least as wide as its label.
    let (user_widths, machine_widths) = widths.split_at_mut(users.len());
    widen(user_widths, "users".len());
    widen(machine_widths, "machines".len());
    let block = |ws: &[usize]| ws.iter().sum::<usize>() + 2 * ws.len().saturating_sub(1);
    let mut out = String::new();
    let mut kinds = format!("{:first$}", "");
    if !users.is_empty() {
        kinds.push_str(&format!("  {:w$}", "users", w = block(&widths[..users.len()])));
    }
    if !machines.is_empty() {
        kinds.push_str("  machines");
    }
    out.push_str(kinds.trim_end());
    out.push('\n');
    let mut header = format!("{:first$}", "SECRET");
    for (name, w) in users.iter().chain(&machines).zip(&widths) {
        header.push_str(&format!("  {:w$}", shown(name)));
    }
    out.push_str(header.trim_end());
    out.push('\n');
    for ((secret, access), drift) in rows.iter().zip(&drifts) {
        let mut line = format!("{:first$}", shown(&secret.name));
        let cells = users.iter().map(|u| access.users.get(u)).chain(machines.iter().map(|m| access.machines.get(m)));
        for ((via, keys), w) in cells.zip(&member_keys).zip(&widths) {
            line.push_str(&format!("  {:w$}", cell(via, keys, drift)));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str("x: direct, g: through a group (`secrets access SECRET` says which), -: no access\n");
    if drifts.iter().any(Drift::any) {
        out.push_str("!: no access by the links, but the file is STILL encrypted for them; ?: access by the links, but the file is not encrypted for them yet\n");
        for ((secret, _), drift) in rows.iter().zip(&drifts) {
            for line in drift.lines(&shown(&secret.name), &index) {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// Widens the last column so that the columns together are at least `min` wide.
fn widen(widths: &mut [usize], min: usize) {
    let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
    if let Some(last) = widths.last_mut() {
        *last += min.saturating_sub(total);
    }
}

fn one_secret(ctx: &Context, repo: &Repo, secret: &SecretRef, only: Option<&Member>) -> CmdResult<String> {
    let access = repo.access(secret)?;
    let drift = Drift::of(repo, secret, &access);
    let index = KeyIndex::from_repo(repo);
    let keep = |kind: Kind, name: &str| only.is_none_or(|m| m.kind == kind && m.name == name);
    if ctx.global.json {
        let mut json = access_json(&access);
        json["name"] = serde_json::Value::String(secret.name.clone());
        merge(&mut json, drift.json(&index));
        if let Some(m) = only {
            let via = match m.kind {
                Kind::User => access.users.get(&m.name),
                _ => access.machines.get(&m.name),
            };
            json = serde_json::json!({ "secret": secret.name, "member": m.name, "kind": m.kind.noun(), "can_read": via.is_some(), "via": via.map(via_json) });
            merge(&mut json, drift.json(&index));
        }
        return to_text(&json);
    }
    let mut rows: Vec<(String, &str, String)> = Vec::new();
    for (kind, map) in [(Kind::User, &access.users), (Kind::Machine, &access.machines)] {
        for (name, via) in map {
            if keep(kind, name) {
                rows.push((shown(name).into_owned(), kind.noun(), via_text(via)));
            }
        }
    }
    let mut out = format!("{}\n", shown(&secret.name));
    if rows.is_empty() {
        match only {
            Some(m) => out.push_str(&format!("  {} ({}) cannot read it; `--explain` shows why\n", shown(&m.name), m.kind.noun())),
            None => out.push_str("  nobody is linked to it\n"),
        }
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (name, noun, how) in rows {
        out.push_str(&format!("  {name:width$}  {noun:7}  {how}\n"));
    }
    if !access.dangling.is_empty() {
        out.push_str(&format!("  ({} dangling links: `secrets check --fix` removes them)\n", access.dangling.len()));
    }
    for line in drift.lines(&shown(&secret.name), &index) {
        out.push_str(&format!("  {line}\n"));
    }
    Ok(out)
}

fn one_member(ctx: &Context, repo: &Repo, member: &Member) -> CmdResult<String> {
    let mut readable: Vec<(String, Via)> = Vec::new();
    // Secrets the links no longer give the member but whose files are still encrypted for them.
    let mut still_in_file: Vec<String> = Vec::new();
    let keys: Vec<String> = repo.read_keys(member.kind, &member.name)?.iter().map(|k| normalize(&k.key)).collect();
    for secret in repo.all_secrets()? {
        let access = repo.access(&secret)?;
        let map = if member.kind == Kind::User { &access.users } else { &access.machines };
        if let Some(via) = map.get(&member.name) {
            readable.push((secret.name.clone(), via.clone()));
        } else if Drift::of(repo, &secret, &access).file_only.iter().any(|k| keys.contains(k)) {
            still_in_file.push(secret.name.clone());
        }
    }
    if ctx.global.json {
        let list: Vec<serde_json::Value> =
            readable.iter().map(|(name, via)| serde_json::json!({ "name": name, "direct": via.direct, "groups": via.groups })).collect();
        let mut json = serde_json::json!({ "member": member.name, "kind": member.kind.noun(), "secrets": list });
        // Only when there is drift, so that a clean answer keeps its shape.
        if !still_in_file.is_empty() {
            json["still_in_file"] = serde_json::json!(still_in_file);
        }
        return to_text(&json);
    }
    let mut out = format!(
        "{} ({}) can read {}\n",
        shown(&member.name),
        member.kind.noun(),
        match (readable.is_empty(), still_in_file.is_empty()) {
            (false, _) => "these secrets:",
            (true, true) => "no secret",
            (true, false) => "no secret by its links:",
        }
    );
    let width = readable.iter().map(|r| shown(&r.0).len()).max().unwrap_or(0);
    for (name, via) in &readable {
        out.push_str(&format!("  {:width$}  {}\n", shown(name), via_text(via)));
    }
    for name in &still_in_file {
        out.push_str(&format!(
            "  ! {}: no link, but its file is STILL encrypted for {}: `secrets check --fix` re-keys it\n",
            shown(name),
            shown(&member.name)
        ));
    }
    Ok(out)
}

/// The links from a secret to a member, and whether the file is encrypted accordingly.
fn explain(ctx: &Context, repo: &Repo, secret: &SecretRef, member: &Member) -> CmdResult<String> {
    let rel = |p: &Path| p.strip_prefix(repo.root()).unwrap_or(p).display().to_string();
    let link_line =
        |path: &Path| format!("{} -> {}", rel(path), std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default());
    let access = repo.access(secret)?;
    let via = if member.kind == Kind::User { access.users.get(&member.name) } else { access.machines.get(&member.name) };
    let mut paths: Vec<(String, Vec<String>)> = Vec::new();
    if let Some(via) = via {
        if via.direct {
            paths.push(("directly".into(), vec![link_line(&links::link_path(&secret.dir, member.kind, &member.name))]));
        }
        for group in &via.groups {
            let group_dir = repo.member_dir(Kind::Group, group);
            paths.push((
                format!("through group {group}"),
                vec![
                    link_line(&links::link_path(&secret.dir, Kind::Group, group)),
                    link_line(&links::link_path(&group_dir, member.kind, &member.name)),
                ],
            ));
        }
    }
    let keys = repo.read_keys(member.kind, &member.name)?;
    let recipients: BTreeSet<String> = secrets_store::untrusted::read(repo.root(), &secret.file(), secrets_store::untrusted::Limit::Secret)
        .ok()
        .and_then(|b| EncryptedFile::parse(&b, Format::Binary).ok())
        .map(|f| f.metadata.recipients().into_iter().flatten().map(|r| normalize(&r)).collect())
        .unwrap_or_default();
    let key_rows: Vec<(String, bool)> = keys.iter().map(|k| (k.key.clone(), recipients.contains(&normalize(&k.key)))).collect();

    if ctx.global.json {
        let json = serde_json::json!({
            "secret": secret.name,
            "member": member.name,
            "kind": member.kind.noun(),
            "can_read": via.is_some(),
            "paths": paths.iter().map(|(how, links)| serde_json::json!({ "via": how, "links": links })).collect::<Vec<_>>(),
            "keys": key_rows.iter().map(|(k, inside)| serde_json::json!({ "key": k, "in_file": inside })).collect::<Vec<_>>(),
        });
        return to_text(&json);
    }
    let who = format!("{} ({})", shown(&member.name), member.kind.noun());
    let mut out = String::new();
    if paths.is_empty() {
        out.push_str(&format!("{who} cannot read {} by its links:\n", shown(&secret.name)));
        out.push_str(&format!("  no link {}\n", shown(&rel(&links::link_path(&secret.dir, member.kind, &member.name)))));
        if access.groups.is_empty() {
            out.push_str("  and the secret is shared with no group\n");
        } else {
            let groups = access.groups.iter().map(|g| shown(g)).collect::<Vec<_>>().join(", ");
            out.push_str(&format!("  and none of its groups ({groups}) has {}\n", shown(&member.name)));
        }
    } else {
        out.push_str(&format!("{who} can read {}:\n", shown(&secret.name)));
        // The JSON keeps the names and link targets as they are; the text shows them escaped.
        for (how, links) in &paths {
            out.push_str(&format!("  {}:\n", shown(how)));
            for link in links {
                out.push_str(&format!("    {}\n", shown(link)));
            }
        }
    }
    out.push_str(&format!("  keys ({}):\n", shown(&rel(&repo.key_file(member.kind, &member.name)))));
    for (key, inside) in &key_rows {
        let state = match (inside, via.is_some()) {
            (true, true) => "the file is encrypted for it",
            (false, false) => "the file is not encrypted for it",
            (false, true) => "the file is NOT encrypted for it yet: `secrets check --fix` re-keys it",
            (true, false) => "the file is STILL encrypted for it: `secrets check --fix` re-keys it",
        };
        out.push_str(&format!("    {}: {state}\n", shown(key)));
    }
    Ok(out)
}
