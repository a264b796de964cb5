//! LAN miners mining into our sharechain under their own payout address.
//!
//! While our sharechain is the active source, a LAN miner that authorized
//! with a payout address valid for the sharechain's network gets its own
//! jobs: the same node template as our chains' unit, but the sharechain job
//! (`P2pHandle::job`) is asked for with the miner's payout script, so the
//! share it finds names that script in its `ShareInfo` and credits the
//! miner in the PPLNS window. The coinbase split is the same as for the
//! shared unit (the session's extranonce1 with the LAN bit and its slot,
//! then the miner's extranonce2), so no two miners do the same work.
//!
//! The per-miner jobs are kept here (at most [`JOBS_PER_MINER`] per slot;
//! the server's connection limit bounds the slots) so the own source's
//! `found` assembles the sharechain share from the job the miner hashed;
//! a slot's jobs go when its connection closes.

use super::own::{self, shares_from, timed, work_on};
use hearth_work::{Share, TemplateWork, WorkUnit};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Jobs remembered per LAN miner for its submits.
pub const JOBS_PER_MINER: usize = 8;
/// Templates of our own recent units a miner's job can be built from.
const TEMPLATES: usize = 4;

struct MinerJob {
    work: TemplateWork,
    job: hearth_sharechain::ShareJob,
}

struct Jobs {
    /// (the shared unit's job id, its work (template and merkle branch),
    /// its version mask).
    templates: VecDeque<(String, TemplateWork, u32)>,
    miners: BTreeMap<usize, VecDeque<MinerJob>>,
}

static JOBS: Mutex<Jobs> = Mutex::new(Jobs {
    templates: VecDeque::new(),
    miners: BTreeMap::new(),
});

fn jobs() -> MutexGuard<'static, Jobs> {
    JOBS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The own source built `work`: LAN miners' jobs for it use its template.
pub(super) fn remember_template(work: &TemplateWork, version_mask: u32) {
    let entry = (
        work.unit().source_job_id.clone(),
        work.clone(),
        version_mask,
    );
    keep_last(&mut jobs().templates, entry, TEMPLATES);
}

/// Appends `item`, dropping the oldest so at most `max` are kept.
fn keep_last<T>(queue: &mut VecDeque<T>, item: T, max: usize) {
    while queue.len() >= max.max(1) {
        queue.pop_front();
    }
    queue.push_back(item);
}

/// The network LAN miners' addresses must be valid for: our sharechain's
/// (`None` without an installed sharechain source).
pub fn network() -> Option<bitcoin::Network> {
    let status = own::link()?.handle.status();
    Some(
        match hearth_sharechain::Network::from_name(&status.network)? {
            hearth_sharechain::Network::Mainnet => bitcoin::Network::Bitcoin,
            hearth_sharechain::Network::Testnet4 => bitcoin::Network::Testnet4,
            hearth_sharechain::Network::Signet => bitcoin::Network::Signet,
            hearth_sharechain::Network::Regtest => bitcoin::Network::Regtest,
        },
    )
}

/// Miner `slot`'s own version of `base` (our sharechain's unit) paying
/// `script`; `serial` makes its job id unique across the slot's
/// connections.
pub async fn miner_unit(
    slot: usize,
    serial: u64,
    script: bitcoin::ScriptBuf,
    base: &WorkUnit,
) -> anyhow::Result<WorkUnit> {
    let link = own::link().ok_or_else(|| anyhow::anyhow!("no sharechain source installed"))?;
    let (shared, version_mask) = jobs()
        .templates
        .iter()
        .find(|(id, _, _)| *id == base.source_job_id)
        .map(|(_, w, m)| (w.clone(), *m))
        .ok_or_else(|| anyhow::anyhow!("template {} no longer remembered", base.source_job_id))?;
    let template = shared.template();
    let job = timed(
        "sharechain job",
        link.handle
            .job(script, template.coinbase_value.to_sat(), template.bits),
    )
    .await?;
    let id = format!("{}l{slot:x}n{serial:x}", base.source_job_id);
    // The shared unit's merkle branch and template, this miner's coinbase.
    let work = work_on(&shared, &id, &job, version_mask, base.clean)?;
    let unit = work.unit().clone();
    let mut j = jobs();
    keep_last(
        j.miners.entry(slot).or_default(),
        MinerJob { work, job },
        JOBS_PER_MINER,
    );
    Ok(unit)
}

/// Slot `slot`'s connection closed: its jobs go.
pub fn forget(slot: usize) {
    jobs().miners.remove(&slot);
}

/// Jobs held for LAN miners right now (status, tests of the bound).
pub fn held_jobs() -> usize {
    jobs().miners.values().map(VecDeque::len).sum()
}

/// The sharechain share (and block) a LAN miner's share on its own job
/// makes; `None` when the share is not on a remembered miner job.
pub(super) fn lan_shares_from(
    share: &Share,
) -> Option<anyhow::Result<(hearth_sharechain::Share, bitcoin::Block)>> {
    let j = jobs();
    let found = j
        .miners
        .values()
        .flat_map(|q| q.iter())
        .find(|m| m.work.unit().source_job_id == share.source_job_id)?;
    Some(shares_from(&found.work, &found.job, share))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_keeps_only_the_newest() {
        let mut q = VecDeque::new();
        for i in 0..20 {
            keep_last(&mut q, i, JOBS_PER_MINER);
            assert!(q.len() <= JOBS_PER_MINER);
        }
        assert_eq!(q.len(), JOBS_PER_MINER);
        assert_eq!(q.front(), Some(&(20 - JOBS_PER_MINER)));
        assert_eq!(q.back(), Some(&19));
        // A zero bound still keeps the newest (never an empty queue to
        // look a just-made job up in).
        keep_last(&mut q, 99, 0);
        assert_eq!(q, VecDeque::from([99]));
    }
}
