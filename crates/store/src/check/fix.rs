//! `secrets check --fix`: re-keys the secrets whose recipients drifted from their links (and
//! drops their dangling and misnamed links), and removes the links of groups to members that
//! no longer exist, as one transaction. Needs a key that can read the secrets it re-keys.
//!
//! clan's `machines remove` and `users remove` delete the member's folder and clean the
//! secrets' links to it, but leave `sops/groups/<g>/<kind>s/<member>` dangling. Such a link
//! grants nothing, so removing it changes no recipient; a group left with no member at all is
//! removed with its links from secrets, as `groups remove-user` removes an emptied group (git
//! keeps no empty folder), and those secrets are re-keyed.

use crate::error::Result;
use crate::links;
use crate::names::Kind;
use crate::ops::{remove_group_if_empty, Ctx, Outcome, RekeySummary};
use crate::secrets::SecretRef;
use crate::tx::Tx;

use super::Report;

/// Re-keys every secret the report lists as drifted and removes the dangling group links it
/// lists.
pub fn fix(ctx: &Ctx<'_>, report: &Report) -> Result<Outcome> {
    if !report.needs_fix() {
        return Ok(Outcome::default());
    }
    let mut tx = Tx::new(ctx.repo);
    let mut secrets: Vec<SecretRef> = report.drifted.clone();
    let mut emptied: Vec<String> = Vec::new();
    for link in &report.dangling_group_links {
        let group_dir = ctx.repo.member_dir(Kind::Group, &link.group);
        // An error returns early, and the dropped transaction undoes what it did.
        tx.remove_link(&group_dir, link.kind, &link.member)?;
        let left =
            [Kind::User, Kind::Machine].into_iter().any(|kind| links::members(ctx.repo, &group_dir, kind).is_ok_and(|m| !m.is_empty()));
        if !left && !emptied.contains(&link.group) {
            emptied.push(link.group.clone());
        }
    }
    for group in &emptied {
        let group_dir = ctx.repo.member_dir(Kind::Group, group);
        for secret in ctx.repo.secrets_referencing(Kind::Group, group)? {
            tx.remove_link(&secret.dir, Kind::Group, group)?;
            if !secrets.iter().any(|s| s.dir == secret.dir) {
                secrets.push(secret);
            }
        }
        remove_group_if_empty(&mut tx, &group_dir);
    }
    ctx.progress.start(secrets.len());
    let tick = || ctx.progress.tick();
    let planned = tx.plan_rekey(&secrets, ctx.identities, ctx.options, &tick);
    ctx.progress.finish();
    let (tx, plan) = planned?;
    let rekeyed = plan.iter().map(RekeySummary::from).collect();
    let paths = tx.finish(&plan)?;
    Ok(Outcome { paths, rekeyed, ..Outcome::default() })
}
