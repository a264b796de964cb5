//! SQLite writes off the node task: the p2p node task hands every write
//! (shares and tip, bans, peers, pruning) to a bounded queue drained by one
//! blocking thread that owns its own `sharechain.db` connection (WAL, so
//! the node task's reads go on meanwhile). A slow disk then delays only the
//! store, not validation, relay or status.
//!
//! Shares queued and not yet written are kept in a map the node task reads
//! first when a peer asks for shares, so a share is served from the moment
//! it is accepted (a sync from a node that just mined must not stall).
//!
//! Bounded: the queue holds [`STORE_QUEUE`] writes. When it is full the node
//! task stops taking peer events ([`StoreWriter::has_room`]; peers are then
//! held back by their own bounded queues and TCP) until the writer catches
//! up, so memory stays bounded and no write is lost. Writes that come from
//! local commands while it is full wait in a short overflow list, flushed
//! first.

use super::store::{ShareDb, ShareDbError};
use hearth_sharechain::store::{BanRecord, PeerRecord, ShareStore};
use hearth_sharechain::{ReceivedShare, ShareHash};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};

/// Writes queued to the store thread.
pub const STORE_QUEUE: usize = 16;

/// One write.
#[derive(Debug)]
pub enum WriteOp {
    /// New shares (one transaction) and the best tip.
    Shares {
        /// The shares (`Action::Store`'s): stored as their bytes, a peer's
        /// as received, under the ids validation hashed.
        shares: Vec<ReceivedShare>,
        /// The best tip after them.
        tip: Option<ShareHash>,
    },
    /// A ban.
    Ban(BanRecord),
    /// A peer address.
    Peer(PeerRecord),
    /// Forget shares below this height.
    PruneBelow(u64),
}

fn apply(db: &mut ShareDb, op: WriteOp) -> Result<(), ShareDbError> {
    match op {
        WriteOp::Shares { shares, tip } => {
            // As received: no re-encoding, no header hashed again.
            let rows: Vec<(ShareHash, u64, &[u8])> = shares
                .iter()
                .map(|s| (s.hash(), s.info().height, s.bytes()))
                .collect();
            db.put_encoded(&rows, tip)
        }
        WriteOp::Ban(b) => db.put_ban(&b),
        WriteOp::Peer(p) => db.put_peer(&p),
        WriteOp::PruneBelow(h) => db.prune_below(h).map(|_| ()),
    }
}

/// The node task's end of the store queue.
#[derive(Debug)]
pub struct StoreWriter {
    tx: mpsc::Sender<WriteOp>,
    overflow: VecDeque<WriteOp>,
    backlog: Arc<AtomicUsize>,
    /// Shares queued, not yet committed.
    pending: Arc<Mutex<HashMap<ShareHash, ReceivedShare>>>,
}

impl StoreWriter {
    /// Opens `path` on a new thread that applies writes in order.
    /// `delay_per_write` slows every write down (tests of a slow disk; zero
    /// otherwise).
    pub fn spawn(path: &Path, delay_per_write: Duration) -> Result<StoreWriter, ShareDbError> {
        let mut db = ShareDb::open(path)?;
        let (tx, mut rx) = mpsc::channel::<WriteOp>(STORE_QUEUE);
        let backlog = Arc::new(AtomicUsize::new(0));
        let left = backlog.clone();
        let pending: Arc<Mutex<HashMap<ShareHash, ReceivedShare>>> = Arc::default();
        let written = pending.clone();
        // A plain thread: it ends when the node task (the sender) is gone,
        // and never holds up a runtime shutting down.
        let spawned = std::thread::Builder::new()
            .name("sharechain-store".into())
            .spawn(move || {
                while let Some(op) = rx.blocking_recv() {
                    if !delay_per_write.is_zero() {
                        std::thread::sleep(delay_per_write);
                    }
                    let hashes: Vec<ShareHash> = match &op {
                        WriteOp::Shares { shares, .. } => {
                            shares.iter().map(ReceivedShare::hash).collect()
                        }
                        _ => Vec::new(),
                    };
                    if let Err(e) = apply(&mut db, op) {
                        tracing::error!("sharechain store write: {e}");
                    }
                    if let Ok(mut p) = written.lock() {
                        for h in &hashes {
                            p.remove(h);
                        }
                    }
                    left.fetch_sub(1, Ordering::AcqRel);
                }
            });
        if let Err(e) = spawned {
            tracing::error!("sharechain store thread not started: {e}");
        }
        Ok(StoreWriter {
            tx,
            overflow: VecDeque::new(),
            backlog,
            pending,
        })
    }

    /// Queues a write (in order after every earlier one).
    pub fn write(&mut self, op: WriteOp) {
        self.backlog.fetch_add(1, Ordering::AcqRel);
        if let WriteOp::Shares { shares, .. } = &op {
            if let Ok(mut p) = self.pending.lock() {
                for s in shares {
                    p.insert(s.hash(), s.clone());
                }
            }
        }
        if !self.overflow.is_empty() {
            self.overflow.push_back(op);
            return;
        }
        match self.tx.try_send(op) {
            Ok(()) => {}
            Err(TrySendError::Full(op)) => self.overflow.push_back(op),
            Err(TrySendError::Closed(_)) => {
                self.backlog.fetch_sub(1, Ordering::AcqRel);
                tracing::error!("sharechain store thread gone; write dropped");
            }
        }
    }

    /// Moves overflowed writes into the queue while it has room.
    pub fn flush_overflow(&mut self) {
        while let Some(op) = self.overflow.pop_front() {
            match self.tx.try_send(op) {
                Ok(()) => {}
                Err(TrySendError::Full(op)) => {
                    self.overflow.push_front(op);
                    break;
                }
                Err(TrySendError::Closed(_)) => {
                    self.backlog.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }

    /// A share queued and not yet committed.
    pub fn pending_share(&self, hash: &ShareHash) -> Option<ReceivedShare> {
        self.pending.lock().ok().and_then(|p| p.get(hash).cloned())
    }

    /// Whether more writes fit without waiting.
    pub fn has_room(&self) -> bool {
        self.overflow.is_empty() && self.tx.capacity() > 0
    }

    /// Writes queued and not yet applied (shared counter).
    pub fn backlog(&self) -> Arc<AtomicUsize> {
        self.backlog.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_sharechain::Share;
    use std::sync::atomic::Ordering;

    /// Shares are stored as the bytes they were received as, under the ids
    /// they carry (validation's: not hashed again), our own (encoded once)
    /// the same way; queued ones are served from the pending map until
    /// written.
    #[test]
    fn received_shares_are_stored_as_received() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sharechain.db");
        let bytes = crate::sharechain::bench::generate(6, 2).expect("generate");
        let received: Vec<ReceivedShare> = bytes
            .iter()
            .map(|b| ReceivedShare::from_bytes(b.clone()).expect("share"))
            .collect();
        let ours = Share::from_bytes(&bytes[5]).expect("share");
        let mut w = StoreWriter::spawn(&path, Duration::from_millis(200)).expect("spawn");
        w.write(WriteOp::Shares {
            shares: received[..5].to_vec(),
            tip: Some(received[4].hash()),
        });
        assert_eq!(
            w.pending_share(&received[2].hash()).as_ref(),
            Some(&received[2])
        );
        w.write(WriteOp::Shares {
            shares: vec![ReceivedShare::from(&ours)],
            tip: Some(ours.hash()),
        });
        let backlog = w.backlog();
        let t0 = std::time::Instant::now();
        while backlog.load(Ordering::Acquire) > 0 {
            assert!(t0.elapsed() < Duration::from_secs(20), "writer stuck");
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut db = ShareDb::open(&path).expect("open");
        assert_eq!(db.share_count().expect("count"), 6);
        assert_eq!(db.best_tip().expect("tip"), Some(ours.hash()));
        for (r, b) in received.iter().zip(&bytes) {
            assert_eq!(db.get_encoded(&r.hash()).expect("get").as_ref(), Some(b));
            assert_eq!(
                db.get_share(&r.hash()).expect("get"),
                Some(Share::from_bytes(b).expect("share"))
            );
        }
        assert_eq!(db.get_share(&ours.hash()).expect("get"), Some(ours));
        assert!(w.pending_share(&received[0].hash()).is_none());
    }
}
