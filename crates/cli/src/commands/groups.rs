//! `secrets groups …`.

use clap::Subcommand;
use secrets_store::links;
use secrets_store::ops::{self, Ctx};
use secrets_store::rekey::RekeyOptions;
use secrets_store::{names, Kind, StoreError};

use crate::context::{Context, Lost};
use crate::failure::{CmdResult, Failure};
use crate::output::{say, write_text};

#[derive(Subcommand, Debug)]
#[command(defer = true)] // arguments defined only when this command is parsed: see `cli::Command`
pub enum GroupCommand {
    /// List groups and their members
    #[command(after_help = "Examples:\n  secrets groups list\n  secrets groups list --json")]
    List,
    /// Add a user to a group (created if needed)
    #[command(after_help = "Examples:\n  secrets groups add-user admins alice")]
    AddUser {
        /// The group
        group: String,
        /// The user
        user: String,
    },
    /// Remove a user from a group
    #[command(after_help = "Examples:\n  secrets groups remove-user admins bob")]
    RemoveUser {
        /// The group
        group: String,
        /// The user
        user: String,
        /// Allow leaving a secret that no user can read, or removing the group's last member
        #[arg(short, long)]
        force: bool,
    },
    /// Add a machine to a group (created if needed)
    #[command(after_help = "Examples:\n  secrets groups add-machine servers web1")]
    AddMachine {
        /// The group
        group: String,
        /// The machine
        machine: String,
    },
    /// Remove a machine from a group
    #[command(after_help = "Examples:\n  secrets groups remove-machine servers web1")]
    RemoveMachine {
        /// The group
        group: String,
        /// The machine
        machine: String,
        /// Allow removing the group's last member (the group and its access go with it)
        #[arg(short, long)]
        force: bool,
    },
    /// Give a group access to a secret
    #[command(after_help = "Examples:\n  secrets groups add-secret admins db-password")]
    AddSecret {
        /// The group
        group: String,
        /// The secret
        secret: String,
    },
    /// Take a group's access to a secret away (its data key is rotated)
    #[command(after_help = "Examples:\n  secrets groups remove-secret admins db-password")]
    RemoveSecret {
        /// The group
        group: String,
        /// The secret
        secret: String,
        /// Allow leaving the secret with no user able to read it
        #[arg(short, long)]
        force: bool,
    },
}

pub fn run(ctx: &Context, cmd: GroupCommand) -> CmdResult {
    let repo = ctx.repo_for_reading()?;
    let identities = Context::identities();
    let progress = Context::progress();
    let op =
        |force: bool| Ctx { repo: &repo, identities: &identities, options: RekeyOptions { force, no_rotate: false }, progress: &progress };
    if let GroupCommand::List = cmd {
        return list(ctx, &repo);
    }
    let _lock = ctx.lock(&repo)?;
    let (outcome, subject, lost) = match cmd {
        GroupCommand::List => return list(ctx, &repo),
        GroupCommand::AddUser { group, user } => {
            (ops::group_add(&op(false), &group, Kind::User, &user), format!("secrets: add user {user} to group {group}"), None)
        }
        GroupCommand::RemoveUser { group, user, force } => (
            ops::group_remove(&op(force), &group, Kind::User, &user),
            format!("secrets: remove user {user} from group {group}"),
            Some((Kind::User, user, group)),
        ),
        GroupCommand::AddMachine { group, machine } => {
            (ops::group_add(&op(false), &group, Kind::Machine, &machine), format!("secrets: add machine {machine} to group {group}"), None)
        }
        GroupCommand::RemoveMachine { group, machine, force } => (
            ops::group_remove(&op(force), &group, Kind::Machine, &machine),
            format!("secrets: remove machine {machine} from group {group}"),
            Some((Kind::Machine, machine, group)),
        ),
        GroupCommand::AddSecret { group, secret } => {
            names::validate(Kind::Group, &group)?;
            repo.secret(&secret)?;
            if !repo.exists(Kind::Group, &group) {
                let path = repo.member_dir(Kind::Group, &group);
                return Err(Failure::msg(StoreError::MemberMissing { secret, kind: Kind::Group, name: group.clone(), path })
                    .hint(format!("create it by adding a member: secrets groups add-user {group} USER")));
            }
            (ops::grant(&op(false), &secret, Kind::Group, &group), format!("secrets: add group {group} to secret {secret}"), None)
        }
        GroupCommand::RemoveSecret { group, secret, force } => (
            ops::revoke(&op(force), &secret, Kind::Group, &group),
            format!("secrets: remove group {group} from secret {secret}"),
            Some((Kind::Group, group, String::new())),
        ),
    };
    let outcome = outcome?;
    let lost = match &lost {
        Some((Kind::Group, group, _)) => Lost::Member { kind: Kind::Group, name: group },
        Some((kind, name, group)) => Lost::ThroughGroup { kind: *kind, name, group },
        None => Lost::Unknown,
    };
    ctx.report(&repo, &outcome, lost);
    if let Lost::ThroughGroup { group, .. } = lost {
        if !repo.exists(Kind::Group, group) {
            say!("group {} had no member left and was removed (git keeps no empty folder)", names::shown(group));
        }
    }
    ctx.commit(&repo, &outcome.paths, &subject)?;
    Ok(0)
}

fn list(ctx: &Context, repo: &secrets_store::Repo) -> CmdResult {
    let mut text = String::new();
    let mut json = serde_json::Map::new();
    for group in repo.list(Kind::Group)? {
        let dir = repo.member_dir(Kind::Group, &group);
        let machines = links::members(repo, &dir, Kind::Machine)?;
        let users = links::members(repo, &dir, Kind::User)?;
        text.push_str(&group);
        text.push('\n');
        for (label, members) in [("machines", &machines), ("users", &users)] {
            if !members.is_empty() {
                text.push_str(label);
                text.push_str(":\n");
                for m in members {
                    text.push_str("  ");
                    text.push_str(m);
                    text.push('\n');
                }
            }
        }
        text.push('\n');
        json.insert(group, serde_json::json!({ "machines": machines, "users": users }));
    }
    if ctx.global.json {
        text = format!("{}\n", serde_json::Value::Object(json));
    }
    write_text(&text)?;
    Ok(0)
}
