//! `secrets access`: who can read what, and how — the matrix of secrets × users and machines,
//! one secret, one member, or the links between one member and one secret.

use std::collections::BTreeSet;
use std::path::Path;

use secrets_sops::{EncryptedFile, Format};
use secrets_store::history::keyindex::normalize;
use secrets_store::links;
use secrets_store::{Access, Kind, Lookups, Repo, SecretRef, Via};

use crate::cli::AccessArgs;
use crate::context::{store_failure, Context};
use crate::failure::{CmdResult, Failure};
use crate::io::write_stdout;

pub fn run(ctx: &Context, args: AccessArgs) -> CmdResult {
    let repo = ctx.repo()?;
    let member = args.member.as_deref().map(|m| find_member(&repo, m)).transpose()?;
    let secret = args.secret.as_deref().map(|s| find_secret(&repo, s)).transpose()?;
    let text = match (secret, member) {
        (Some(secret), Some(member)) if args.explain => explain(ctx, &repo, &secret, &member)?,
        (Some(secret), Some(member)) => one_secret(ctx, &repo, &secret, Some(&member))?,
        (Some(secret), None) => one_secret(ctx, &repo, &secret, None)?,
        (None, Some(member)) => one_member(ctx, &repo, &member)?,
        (None, None) => matrix(ctx, &repo)?,
    };
    write_stdout(text.as_bytes())?;
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
        let all = repo.all_secrets().map_err(store_failure)?;
        return all
            .into_iter()
            .find(|s| s.name == name.trim_end_matches('/'))
            .ok_or_else(|| Failure::msg(format!("no vars secret `{name}`")));
    }
    let secret = repo.secret(name).map_err(store_failure)?;
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
        [group] => parts.push(format!("through group {group}")),
        groups => parts.push(format!("through groups {}", groups.join(", "))),
    }
    parts.join(", ")
}

fn via_json(via: &Via) -> serde_json::Value {
    serde_json::json!({ "direct": via.direct, "groups": via.groups })
}

fn access_json(access: &Access) -> serde_json::Value {
    let map = |m: &std::collections::BTreeMap<String, Via>| -> serde_json::Map<String, serde_json::Value> {
        m.iter().map(|(k, v)| (k.clone(), via_json(v))).collect()
    };
    serde_json::json!({ "users": map(&access.users), "machines": map(&access.machines), "groups": access.groups })
}

fn to_text(json: &serde_json::Value) -> CmdResult<String> {
    serde_json::to_string_pretty(json).map(|t| format!("{t}\n")).map_err(|e| Failure::msg(e.to_string()))
}

fn matrix(ctx: &Context, repo: &Repo) -> CmdResult<String> {
    let secrets = repo.all_secrets().map_err(store_failure)?;
    let users = repo.list(Kind::User).map_err(store_failure)?;
    let machines = repo.list(Kind::Machine).map_err(store_failure)?;
    let lookups = Lookups::default();
    let rows: Vec<(SecretRef, Access)> =
        secrets.into_iter().map(|s| repo.access_with(&s, &lookups).map(|a| (s, a))).collect::<Result<_, _>>().map_err(store_failure)?;
    if ctx.global.json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(s, a)| {
                let mut entry = access_json(a);
                entry["name"] = serde_json::Value::String(s.name.clone());
                entry
            })
            .collect();
        return to_text(&serde_json::json!({ "users": users, "machines": machines, "secrets": list }));
    }
    if rows.is_empty() {
        return Ok(String::new());
    }
    let cell = |via: Option<&Via>| match via {
        Some(v) if v.direct => "x",
        Some(_) => "g",
        None => "-",
    };
    let first = rows.iter().map(|(s, _)| s.name.len()).max().unwrap_or(0).max("SECRET".len());
    let mut widths: Vec<usize> = users.iter().chain(&machines).map(|n| n.len().max(1)).collect();
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
        header.push_str(&format!("  {name:w$}"));
    }
    out.push_str(header.trim_end());
    out.push('\n');
    for (secret, access) in &rows {
        let mut line = format!("{:first$}", secret.name);
        let cells = users.iter().map(|u| access.users.get(u)).chain(machines.iter().map(|m| access.machines.get(m)));
        for (via, w) in cells.zip(&widths) {
            line.push_str(&format!("  {:w$}", cell(via)));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str("x: direct, g: through a group (`secrets access SECRET` says which), -: no access\n");
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
    let access = repo.access(secret).map_err(store_failure)?;
    let keep = |kind: Kind, name: &str| only.is_none_or(|m| m.kind == kind && m.name == name);
    if ctx.global.json {
        let mut json = access_json(&access);
        json["name"] = serde_json::Value::String(secret.name.clone());
        if let Some(m) = only {
            let via = match m.kind {
                Kind::User => access.users.get(&m.name),
                _ => access.machines.get(&m.name),
            };
            json = serde_json::json!({ "secret": secret.name, "member": m.name, "kind": m.kind.noun(), "can_read": via.is_some(), "via": via.map(via_json) });
        }
        return to_text(&json);
    }
    let mut rows: Vec<(String, &str, String)> = Vec::new();
    for (kind, map) in [(Kind::User, &access.users), (Kind::Machine, &access.machines)] {
        for (name, via) in map {
            if keep(kind, name) {
                rows.push((name.clone(), kind.noun(), via_text(via)));
            }
        }
    }
    let mut out = format!("{}\n", secret.name);
    if rows.is_empty() {
        match only {
            Some(m) => out.push_str(&format!("  {} ({}) cannot read it; `--explain` shows why\n", m.name, m.kind.noun())),
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
    Ok(out)
}

fn one_member(ctx: &Context, repo: &Repo, member: &Member) -> CmdResult<String> {
    let mut readable: Vec<(String, Via)> = Vec::new();
    for secret in repo.all_secrets().map_err(store_failure)? {
        let access = repo.access(&secret).map_err(store_failure)?;
        let map = if member.kind == Kind::User { &access.users } else { &access.machines };
        if let Some(via) = map.get(&member.name) {
            readable.push((secret.name.clone(), via.clone()));
        }
    }
    if ctx.global.json {
        let list: Vec<serde_json::Value> =
            readable.iter().map(|(name, via)| serde_json::json!({ "name": name, "direct": via.direct, "groups": via.groups })).collect();
        return to_text(&serde_json::json!({ "member": member.name, "kind": member.kind.noun(), "secrets": list }));
    }
    let mut out =
        format!("{} ({}) can read {}\n", member.name, member.kind.noun(), if readable.is_empty() { "no secret" } else { "these secrets:" });
    let width = readable.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (name, via) in &readable {
        out.push_str(&format!("  {name:width$}  {}\n", via_text(via)));
    }
    Ok(out)
}

/// The links from a secret to a member, and whether the file is encrypted accordingly.
fn explain(ctx: &Context, repo: &Repo, secret: &SecretRef, member: &Member) -> CmdResult<String> {
    let rel = |p: &Path| p.strip_prefix(repo.root()).unwrap_or(p).display().to_string();
    let link_line =
        |path: &Path| format!("{} -> {}", rel(path), std::fs::read_link(path).map(|t| t.display().to_string()).unwrap_or_default());
    let access = repo.access(secret).map_err(store_failure)?;
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
    let keys = repo.read_keys(member.kind, &member.name).map_err(store_failure)?;
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
    let who = format!("{} ({})", member.name, member.kind.noun());
    let mut out = String::new();
    if paths.is_empty() {
        out.push_str(&format!("{who} cannot read {} by its links:\n", secret.name));
        out.push_str(&format!("  no link {}\n", rel(&links::link_path(&secret.dir, member.kind, &member.name))));
        if access.groups.is_empty() {
            out.push_str("  and the secret is shared with no group\n");
        } else {
            out.push_str(&format!("  and none of its groups ({}) has {}\n", access.groups.join(", "), member.name));
        }
    } else {
        out.push_str(&format!("{who} can read {}:\n", secret.name));
        for (how, links) in &paths {
            out.push_str(&format!("  {how}:\n"));
            for link in links {
                out.push_str(&format!("    {link}\n"));
            }
        }
    }
    out.push_str(&format!("  keys ({}):\n", rel(&repo.key_file(member.kind, &member.name))));
    for (key, inside) in &key_rows {
        let state = match (inside, via.is_some()) {
            (true, true) => "the file is encrypted for it",
            (false, false) => "the file is not encrypted for it",
            (false, true) => "the file is NOT encrypted for it yet: `secrets check --fix` re-keys it",
            (true, false) => "the file is STILL encrypted for it: `secrets check --fix` re-keys it",
        };
        out.push_str(&format!("    {key}: {state}\n"));
    }
    Ok(out)
}
