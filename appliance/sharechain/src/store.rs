//! What the chain needs from storage, as a trait the daemon implements on
//! SQLite (and tests on memory). The chain itself stays in memory; the store
//! is the durable copy a restart reloads from, so no re-sync is needed.

use crate::share::{Share, ShareHash};
use std::collections::{BTreeMap, HashMap};

/// A peer the node has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// `host:port`.
    pub addr: String,
    /// Unix seconds.
    pub last_seen: u64,
}

/// A banned peer address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanRecord {
    /// IP address (no port: a ban is per host).
    pub addr: String,
    /// Unix seconds.
    pub until: u64,
    /// Why.
    pub reason: String,
}

/// Durable sharechain storage.
pub trait ShareStore {
    /// The store's error.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Adds shares (already validated) and records the best tip, in one
    /// transaction; known shares are skipped.
    fn put_shares(&mut self, shares: &[Share], tip: Option<ShareHash>) -> Result<(), Self::Error>;
    /// One stored share (to serve a peer).
    fn get_share(&mut self, hash: &ShareHash) -> Result<Option<Share>, Self::Error>;
    /// One stored share as its encoding (to serve a peer without decoding
    /// it); the default encodes what `get_share` gives.
    fn get_encoded(&mut self, hash: &ShareHash) -> Result<Option<Vec<u8>>, Self::Error> {
        Ok(self.get_share(hash)?.as_ref().map(Share::to_bytes))
    }
    /// Every stored share, by height (parents before children).
    fn load_shares(&mut self) -> Result<Vec<Share>, Self::Error>;
    /// [`ShareStore::load_shares`] as the shares' encodings, each one a
    /// share (a store that keeps bytes returns them without decoding:
    /// [`load_chain`] validates them with the coinbase borrowed). The
    /// default encodes what `load_shares` gives.
    fn load_encoded(&mut self) -> Result<Vec<Vec<u8>>, Self::Error> {
        Ok(self.load_shares()?.iter().map(Share::to_bytes).collect())
    }
    /// Records the best tip.
    fn set_best_tip(&mut self, tip: &ShareHash) -> Result<(), Self::Error>;
    /// The recorded best tip.
    fn best_tip(&mut self) -> Result<Option<ShareHash>, Self::Error>;
    /// Deletes shares below `height`; returns how many.
    fn prune_below(&mut self, height: u64) -> Result<usize, Self::Error>;
    /// Remembers a peer.
    fn put_peer(&mut self, peer: &PeerRecord) -> Result<(), Self::Error>;
    /// Known peers, most recently seen first, at most `limit`.
    fn peers(&mut self, limit: usize) -> Result<Vec<PeerRecord>, Self::Error>;
    /// Bans an address.
    fn put_ban(&mut self, ban: &BanRecord) -> Result<(), Self::Error>;
    /// Bans still in force at `now`.
    fn bans(&mut self, now: u64) -> Result<Vec<BanRecord>, Self::Error>;
}

/// An in-memory store, for tests and the simulator.
#[derive(Debug, Default, Clone)]
pub struct MemStore {
    shares: BTreeMap<(u64, ShareHash), Share>,
    tip: Option<ShareHash>,
    peers: HashMap<String, PeerRecord>,
    bans: HashMap<String, BanRecord>,
}

/// [`MemStore`] never fails.
#[derive(Debug, thiserror::Error)]
#[error("memory store error")]
pub struct MemStoreError;

impl ShareStore for MemStore {
    type Error = MemStoreError;
    fn put_shares(
        &mut self,
        shares: &[Share],
        tip: Option<ShareHash>,
    ) -> Result<(), MemStoreError> {
        for s in shares {
            self.shares.insert((s.info.height, s.hash()), s.clone());
        }
        if tip.is_some() {
            self.tip = tip;
        }
        Ok(())
    }
    fn get_share(&mut self, hash: &ShareHash) -> Result<Option<Share>, MemStoreError> {
        Ok(self.shares.values().find(|s| s.hash() == *hash).cloned())
    }
    fn load_shares(&mut self) -> Result<Vec<Share>, MemStoreError> {
        Ok(self.shares.values().cloned().collect())
    }
    fn set_best_tip(&mut self, tip: &ShareHash) -> Result<(), MemStoreError> {
        self.tip = Some(*tip);
        Ok(())
    }
    fn best_tip(&mut self) -> Result<Option<ShareHash>, MemStoreError> {
        Ok(self.tip)
    }
    fn prune_below(&mut self, height: u64) -> Result<usize, MemStoreError> {
        let before = self.shares.len();
        self.shares.retain(|(h, _), _| *h >= height);
        Ok(before - self.shares.len())
    }
    fn put_peer(&mut self, peer: &PeerRecord) -> Result<(), MemStoreError> {
        self.peers.insert(peer.addr.clone(), peer.clone());
        Ok(())
    }
    fn peers(&mut self, limit: usize) -> Result<Vec<PeerRecord>, MemStoreError> {
        let mut v: Vec<_> = self.peers.values().cloned().collect();
        v.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(a.addr.cmp(&b.addr)));
        v.truncate(limit);
        Ok(v)
    }
    fn put_ban(&mut self, ban: &BanRecord) -> Result<(), MemStoreError> {
        self.bans.insert(ban.addr.clone(), ban.clone());
        Ok(())
    }
    fn bans(&mut self, now: u64) -> Result<Vec<BanRecord>, MemStoreError> {
        Ok(self
            .bans
            .values()
            .filter(|b| b.until > now)
            .cloned()
            .collect())
    }
}

/// Loads a chain from `store`: every stored share is validated again
/// (cheap: a full window in well under a second), so a corrupted store
/// cannot smuggle in a bad share. Returns how many were refused.
pub fn load_chain<S: ShareStore>(
    chain: &mut crate::Chain,
    store: &mut S,
    now: u64,
) -> Result<usize, S::Error> {
    let encoded = store.load_encoded()?;
    let mut refused = 0;
    let mut anchors = 0;
    // A pruned store starts above height 0: its first window is anchors.
    let first_height = encoded
        .first()
        .and_then(|b| crate::share_view::ShareView::parse(b).ok())
        .map(|v| v.info.height);
    if chain.is_empty() && first_height.is_some_and(|h| h > 0) {
        anchors = (chain.params().window_shares as usize).min(encoded.len());
        for b in &encoded[..anchors] {
            let accepted = Share::from_bytes(b)
                .ok()
                .and_then(|s| chain.accept_anchor(s).ok());
            if accepted.is_none() {
                refused += 1;
            }
        }
    }
    // The rest from their bytes: no coinbase decoded (docs/sharechain.md,
    // "Cost, round 5").
    let rest: Vec<&[u8]> = encoded
        .get(anchors..)
        .unwrap_or_default()
        .iter()
        .map(Vec::as_slice)
        .collect();
    refused += chain
        .accept_batch_encoded(&rest, now)
        .iter()
        .filter(|r| r.is_err())
        .count();
    Ok(refused)
}
