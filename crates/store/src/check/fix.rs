//! `secrets check --fix`: re-keys the secrets whose recipients drifted from their links (and
//! drops their dangling and misnamed links), as one transaction. Needs a key that can read them.

use crate::error::Result;
use crate::ops::{Ctx, Outcome, RekeySummary};
use crate::tx::Tx;

use super::Report;

/// Re-keys every secret the report lists as drifted.
pub fn fix(ctx: &Ctx<'_>, report: &Report) -> Result<Outcome> {
    if report.drifted.is_empty() {
        return Ok(Outcome::default());
    }
    ctx.progress.start(report.drifted.len());
    let tick = || ctx.progress.tick();
    let planned = Tx::new(ctx.repo).plan_rekey(&report.drifted, ctx.identities, ctx.options, &tick);
    ctx.progress.finish();
    let (tx, plan) = planned?;
    let rekeyed = plan.iter().map(RekeySummary::from).collect();
    let paths = tx.finish(&plan)?;
    Ok(Outcome { paths, rekeyed, ..Outcome::default() })
}
