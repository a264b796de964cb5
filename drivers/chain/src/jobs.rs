//! The jobs the chips may still answer for, by chip job id.

use hearth_bm13xx::JobFrame;
use hearth_bm13xx::JobId;

use crate::config::MAX_JOB_HISTORY;

/// A job the chips have been given.
#[derive(Debug, Clone)]
pub(crate) struct ActiveJob {
    /// The host's id.
    pub host_id: u64,
    /// What was sent (its version has the rolled bits cleared).
    pub frame: JobFrame,
    /// The version bits the chips may roll for it.
    pub mask: u32,
    /// BM1397: midstates sent (the nonce's midstate index must be below).
    /// 0 for full-header jobs.
    pub midstates: u8,
    pub heat_only: bool,
    /// Send order, for expiry.
    seq: u64,
}

#[derive(Debug, Clone)]
enum Slot {
    /// Never used since start.
    Empty,
    Active(Box<ActiveJob>),
    /// Used before, now expired or cleaned.
    Retired,
}

/// What a job id from a nonce refers to.
#[derive(Debug)]
pub(crate) enum Lookup<'a> {
    Active(&'a ActiveJob),
    Retired,
    Unknown,
}

/// Up to 16 jobs by 4-bit chip id; ids cycle, the oldest beyond `history`
/// expire.
#[derive(Debug, Clone)]
pub(crate) struct JobTable {
    slots: Vec<Slot>,
    next_id: JobId,
    seq: u64,
    history: u64,
}

impl JobTable {
    pub(crate) fn new(history: usize) -> JobTable {
        JobTable {
            slots: vec![Slot::Empty; MAX_JOB_HISTORY],
            next_id: JobId::default(),
            seq: 0,
            history: u64::try_from(history.clamp(1, MAX_JOB_HISTORY)).unwrap_or(1),
        }
    }

    /// The id the next job will get.
    pub(crate) fn next_id(&self) -> JobId {
        self.next_id
    }

    /// Remember a job under [`JobTable::next_id`] and advance; jobs older
    /// than the history retire.
    pub(crate) fn insert(
        &mut self,
        host_id: u64,
        frame: JobFrame,
        mask: u32,
        midstates: u8,
        heat_only: bool,
    ) {
        let id = self.next_id;
        self.next_id = id.next();
        self.seq += 1;
        let seq = self.seq;
        if let Some(slot) = self.slots.get_mut(usize::from(id.get())) {
            *slot = Slot::Active(Box::new(ActiveJob {
                host_id,
                frame,
                mask,
                midstates,
                heat_only,
                seq,
            }));
        }
        let history = self.history;
        for slot in &mut self.slots {
            if let Slot::Active(job) = slot {
                if job.seq + history <= seq {
                    *slot = Slot::Retired;
                }
            }
        }
    }

    /// Retire every job (a clean job, or stop).
    pub(crate) fn retire_all(&mut self) {
        for slot in &mut self.slots {
            if matches!(slot, Slot::Active(_)) {
                *slot = Slot::Retired;
            }
        }
    }

    pub(crate) fn lookup(&self, chip_job_id: u8) -> Lookup<'_> {
        match self.slots.get(usize::from(chip_job_id)) {
            Some(Slot::Active(job)) => Lookup::Active(job),
            Some(Slot::Retired) => Lookup::Retired,
            Some(Slot::Empty) | None => Lookup::Unknown,
        }
    }

    /// Host ids of the active jobs, oldest first (for tests and debugging).
    #[cfg(test)]
    pub(crate) fn active_host_ids(&self) -> Vec<u64> {
        let mut jobs: Vec<&ActiveJob> = self
            .slots
            .iter()
            .filter_map(|slot| match slot {
                Slot::Active(job) => Some(&**job),
                _ => None,
            })
            .collect();
        jobs.sort_by_key(|job| job.seq);
        jobs.iter().map(|job| job.host_id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: JobId) -> JobFrame {
        JobFrame {
            job_id: id,
            version: 0x2000_0000,
            prev_block_hash: [0; 32],
            merkle_root: [0; 32],
            ntime: 0,
            nbits: 0,
            starting_nonce: 0,
        }
    }

    #[test]
    fn ids_cycle_and_history_expires() {
        let mut table = JobTable::new(3);
        assert!(matches!(table.lookup(0), Lookup::Unknown));
        for host in 0..5u64 {
            let id = table.next_id();
            assert_eq!(u64::from(id.get()), host);
            table.insert(host, frame(id), 0x1FFF_E000, 0, false);
        }
        assert_eq!(table.active_host_ids(), vec![2, 3, 4]);
        assert!(matches!(table.lookup(1), Lookup::Retired));
        assert!(matches!(table.lookup(4), Lookup::Active(job) if job.host_id == 4));
        assert!(matches!(table.lookup(9), Lookup::Unknown));
        assert!(matches!(table.lookup(200), Lookup::Unknown));
        table.retire_all();
        assert!(table.active_host_ids().is_empty());
        assert!(matches!(table.lookup(4), Lookup::Retired));
    }

    #[test]
    fn ids_wrap_after_fifteen() {
        let mut table = JobTable::new(16);
        for host in 0..18u64 {
            let id = table.next_id();
            assert_eq!(u64::from(id.get()), host % 16);
            table.insert(host, frame(id), 0x1FFF_E000, 0, false);
        }
        assert!(matches!(table.lookup(1), Lookup::Active(job) if job.host_id == 17));
        assert_eq!(table.active_host_ids().len(), 16);
    }
}
