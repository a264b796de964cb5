//! Consensus rules and the chain of shares: validation (context-free, then
//! against the parent), best chain by cumulative work, reorgs, the tip's
//! PPLNS window, pruning. Sans-IO: `now` is an argument.

use crate::digests::{share_digests, ShareDigests};
use crate::params::{ChainParams, ConsensusId};
use crate::pplns::{Window, WindowEntry};
use crate::received::ReceivedShare;
use crate::retarget::next_share_bits;
use crate::share::{
    Share, ShareHash, ShareIdMap, ShareInfo, COMMITMENT_SCRIPT_LEN, COMMITMENT_TAG,
    MAX_PAYOUT_SCRIPT_BYTES, SHARE_VERSION,
};
use crate::share_view::{header_bytes, ShareView};
use crate::txview::{OutputRef, Outputs};
use crate::work::target_work;
use bitcoin::{ScriptBuf, Target, TxOut, Work};
use hearth_shacheck::{Checker, Targets};

/// Timestamps of this many ancestors make the median-time-past.
pub const MEDIAN_TIME_SPAN: usize = 11;

/// Why a share is refused. Every variant names its reason;
/// [`ShareError::misbehaviour`] says how much it counts against the peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    /// Already known.
    #[error("duplicate share {0}")]
    Duplicate(String),
    /// Known to be invalid (or built on an invalid share).
    #[error("share {0} is known invalid")]
    KnownInvalid(String),
    /// Parent unknown: ask the peer for it.
    #[error("parent {0} unknown")]
    Orphan(String),
    /// Unknown format version.
    #[error("share version {0} is not {SHARE_VERSION}")]
    Version(u32),
    /// Payout script empty or too long.
    #[error("payout script of {0} bytes (1..={MAX_PAYOUT_SCRIPT_BYTES})")]
    PayoutScript(usize),
    /// Not a coinbase transaction.
    #[error("coinbase transaction is not a coinbase")]
    NotCoinbase,
    /// The coinbase lacks exactly one commitment to the share info.
    #[error("coinbase does not commit to the share info (exactly one HRTH output)")]
    Commitment,
    /// The merkle branch does not lead to the header's merkle root.
    #[error("merkle branch does not reach the header's merkle root")]
    MerkleRoot,
    /// Header hash above the share target.
    #[error("proof of work above the share target")]
    ProofOfWork,
    /// Height not parent + 1.
    #[error("height {got}, expected {expected}")]
    Height {
        /// Claimed.
        got: u64,
        /// Parent + 1.
        expected: u64,
    },
    /// Share target not the retarget rule's.
    #[error("share bits {got:#010x}, expected {expected:#010x}")]
    Bits {
        /// Claimed.
        got: u32,
        /// Computed.
        expected: u32,
    },
    /// Timestamp not after the median of the last 11 shares.
    #[error("timestamp {got} not after median-time-past {mtp}")]
    TimeTooOld {
        /// Claimed.
        got: u32,
        /// Median-time-past.
        mtp: u32,
    },
    /// Timestamp too far in the future.
    #[error("timestamp {got} more than {max_future_s} s after now ({now})")]
    TimeTooNew {
        /// Claimed.
        got: u32,
        /// Our clock.
        now: u64,
        /// Allowed.
        max_future_s: u32,
    },
    /// Cumulative work not parent's + this share's.
    #[error("cumulative work does not add up")]
    CumulativeWork,
    /// On a fork deeper than a window below our tip: cheap to make at
    /// minimum difficulty, never able to win, so not kept.
    #[error("share at height {height} forks more than a window below our tip {tip}")]
    TooDeep {
        /// Its height.
        height: u64,
        /// Our tip's.
        tip: u64,
    },
    /// Payout outputs not the ones the window requires.
    #[error("coinbase payouts differ from the PPLNS window's")]
    Payouts,
    /// Not a share's encoding ([`Chain::accept_batch_encoded`]), or a
    /// share built in memory that does not round-trip its encoding.
    #[error("malformed share: {0}")]
    Malformed(String),
}

impl ShareError {
    /// Misbehaviour points against the peer that sent it (100 = ban).
    pub fn misbehaviour(&self) -> u32 {
        match self {
            ShareError::Duplicate(_) | ShareError::Orphan(_) => 0,
            // Clock skew is possible; a little.
            ShareError::TimeTooNew { .. } => 5,
            ShareError::TooDeep { .. } => 10,
            ShareError::KnownInvalid(_) => 20,
            // Work was spent on a share with wrong payouts: deliberate.
            _ => 50,
        }
    }
}

/// What the index keeps of a share: its header and committed info. The
/// coinbase and branch are checked on arrival and then live only in the
/// store; the payout outputs are kept until checked against the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareMeta {
    /// The share id.
    pub hash: ShareHash,
    /// Its Bitcoin header.
    pub header: bitcoin::block::Header,
    /// Its committed data.
    pub info: ShareInfo,
}

/// A coinbase's outputs kept until checked against the window: their bytes
/// as received, in one allocation (not one per output script).
#[derive(Debug, Clone)]
struct KeptOutputs {
    count: usize,
    bytes: Box<[u8]>,
}

impl KeptOutputs {
    fn iter(&self) -> Outputs<'_> {
        Outputs::checked(&self.bytes, self.count)
    }
}

/// A share in the index.
#[derive(Debug, Clone)]
struct Entry {
    meta: ShareMeta,
    /// Coinbase outputs, until checked against the window.
    outputs: Option<KeptOutputs>,
    weight: u128,
    /// Payouts checked against the window (done when it joins the best chain).
    payouts_checked: bool,
}

/// What accepting a share did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The share.
    pub hash: ShareHash,
    /// It is the new best tip.
    pub new_tip: bool,
    /// Its header also meets the Bitcoin block target: submit it as a block.
    pub is_block: bool,
    /// Shares that left the best chain in a reorg (0 when extending).
    pub reorged: usize,
}

/// The chain state of one node.
#[derive(Debug)]
pub struct Chain {
    params: ChainParams,
    id: ConsensusId,
    checker: Checker,
    index: ShareIdMap<Entry>,
    invalid: ShareIdMap<()>,
    /// Best chain by height: `best[h - best_base]`.
    best: Vec<ShareHash>,
    best_base: u64,
    window: Window,
}

/// What the next share on the tip must carry; a job for the work pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareJob {
    /// Committed data.
    pub info: ShareInfo,
    /// The payout outputs, in order, first in the coinbase.
    pub payout_outputs: Vec<TxOut>,
    /// `OP_RETURN "HRTH" <ref hash>`: exactly one such output, after the
    /// payouts (before or after the segwit witness commitment).
    pub commitment_output: TxOut,
    /// The share target to hash against.
    pub share_target: Target,
}

impl Chain {
    /// An empty chain.
    pub fn new(params: ChainParams, checker: Checker) -> Chain {
        let id = params.consensus_id();
        let mut window = Window::new(params.window_shares as usize);
        window.set_hasher(checker);
        Chain {
            params,
            id,
            checker,
            index: ShareIdMap::default(),
            invalid: ShareIdMap::default(),
            best: Vec::new(),
            best_base: 0,
            window,
        }
    }

    /// Parameters.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// Consensus id.
    pub fn consensus_id(&self) -> ConsensusId {
        self.id
    }

    /// The best tip.
    pub fn tip(&self) -> Option<&ShareMeta> {
        self.best
            .last()
            .and_then(|h| self.index.get(h))
            .map(|e| &e.meta)
    }

    /// Height of the best tip.
    pub fn height(&self) -> Option<u64> {
        self.tip().map(|s| s.info.height)
    }

    /// Cumulative work of the best tip.
    pub fn tip_work(&self) -> Work {
        self.tip()
            .map(|s| s.info.cumulative_work)
            .unwrap_or(Work::from_le_bytes([0; 32]))
    }

    /// Shares in memory.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// No shares.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Known (valid, in memory)?
    pub fn contains(&self, hash: &ShareHash) -> bool {
        self.index.contains_key(hash)
    }

    /// A known share.
    pub fn get(&self, hash: &ShareHash) -> Option<&ShareMeta> {
        self.index.get(hash).map(|e| &e.meta)
    }

    /// The best-chain share at `height`.
    pub fn best_at(&self, height: u64) -> Option<ShareHash> {
        let i = usize::try_from(height.checked_sub(self.best_base)?).ok()?;
        self.best.get(i).copied()
    }

    /// The tip's PPLNS window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Whether `hash` is on the best chain.
    pub fn is_best(&self, hash: &ShareHash) -> bool {
        self.index
            .get(hash)
            .and_then(|e| self.best_at(e.meta.info.height))
            == Some(*hash)
    }

    /// Best-chain hashes after `from` (exclusive; `None` = from the oldest
    /// kept), at most `limit`: what headers-first sync sends.
    pub fn best_after(&self, from: Option<ShareHash>, limit: usize) -> Vec<ShareHash> {
        let start = match from.and_then(|h| self.index.get(&h)) {
            Some(e) if self.is_best(&e.meta.hash) => {
                (e.meta.info.height + 1).saturating_sub(self.best_base) as usize
            }
            _ => 0,
        };
        self.best.iter().skip(start).take(limit).copied().collect()
    }

    /// A block locator: best-chain hashes from the tip back, spaced
    /// exponentially, for a peer to find the fork point.
    pub fn locator(&self) -> Vec<ShareHash> {
        let mut out = Vec::new();
        let mut step = 1usize;
        let mut i = self.best.len();
        while i > 0 {
            i -= 1;
            out.push(self.best[i]);
            if out.len() >= 10 {
                step *= 2;
            }
            if i < step {
                if i > 0 {
                    out.push(self.best[0]);
                }
                break;
            }
            i = i + 1 - step;
        }
        out
    }

    /// The first locator hash we have on our best chain.
    pub fn fork_point(&self, locator: &[ShareHash]) -> Option<ShareHash> {
        locator.iter().find(|h| self.is_best(h)).copied()
    }

    fn work_cap(&self, header: &bitcoin::block::Header) -> Option<u128> {
        if self.params.window_block_multiple == 0 {
            return None;
        }
        let block = target_work(Target::from_compact(header.bits));
        Some(block.saturating_mul(u128::from(self.params.window_block_multiple)))
    }

    fn median_time_past(&self, parent: &ShareHash) -> Option<u32> {
        let mut times = Vec::with_capacity(MEDIAN_TIME_SPAN);
        let mut cur = Some(*parent);
        while let Some(h) = cur {
            if times.len() == MEDIAN_TIME_SPAN {
                break;
            }
            let Some(e) = self.index.get(&h) else { break };
            times.push(e.meta.info.timestamp);
            cur = (e.meta.info.height > 0).then_some(e.meta.info.prev_share);
        }
        if times.is_empty() {
            return None;
        }
        times.sort_unstable();
        Some(times[times.len() / 2])
    }

    /// Rules that need no other share: format, commitment, merkle branch.
    /// (Proof of work is [`Chain::check_pow`], batched; the payouts are
    /// checked against the window when the share joins the best chain.)
    pub fn check_context_free(&self, share: &Share) -> Result<(), ShareError> {
        let bytes = share.to_bytes();
        let view = view_of(&bytes)?;
        let digests = share_digests(&self.checker, &self.id, &[&view]);
        match digests.first() {
            Some(d) => self.check_context_free_with(&view, d),
            None => Err(ShareError::MerkleRoot),
        }
    }

    /// [`Chain::check_context_free`] with the share's hashes already
    /// computed (for a batch at once, by [`share_digests`]).
    fn check_context_free_with(
        &self,
        share: &ShareView<'_>,
        digests: &ShareDigests,
    ) -> Result<(), ShareError> {
        let info = &share.info;
        if info.version != SHARE_VERSION {
            return Err(ShareError::Version(info.version));
        }
        let len = info.payout_script.len();
        if len == 0 || len > MAX_PAYOUT_SCRIPT_BYTES {
            return Err(ShareError::PayoutScript(len));
        }
        if !share.coinbase.is_coinbase() {
            return Err(ShareError::NotCoinbase);
        }
        // Exactly one commitment output, anywhere (the segwit witness
        // commitment may come after it).
        let mut commits = share.coinbase.outputs().filter_map(commitment_of);
        let commit = commits.next();
        if commit != Some(digests.ref_hash) || commits.next().is_some() {
            return Err(ShareError::Commitment);
        }
        if digests.merkle_root != share.header.merkle_root {
            return Err(ShareError::MerkleRoot);
        }
        Ok(())
    }

    /// Proof of work of many shares at once through the share checker:
    /// `Ok` per share, or why not. Also says which meet the block target.
    pub fn check_pow(&self, shares: &[Share]) -> Vec<Result<bool, ShareError>> {
        self.check_pow_hashed(shares)
            .into_iter()
            .map(|r| r.map(|(_, is_block)| is_block))
            .collect()
    }

    /// [`Chain::check_pow`], also giving each share's id: the checker has
    /// just hashed the header, so the id is not hashed a second time.
    fn check_pow_hashed(&self, shares: &[Share]) -> Vec<Result<(ShareHash, bool), ShareError>> {
        let parts: Vec<(&bitcoin::block::Header, &ShareInfo)> =
            shares.iter().map(|s| (&s.header, &s.info)).collect();
        self.check_pow_parts(&parts)
    }

    /// [`Chain::check_pow_hashed`] of headers and their share infos.
    fn check_pow_parts(
        &self,
        shares: &[(&bitcoin::block::Header, &ShareInfo)],
    ) -> Vec<Result<(ShareHash, bool), ShareError>> {
        let headers: Vec<[u8; 80]> = shares.iter().map(|(h, _)| header_bytes(h)).collect();
        let targets: Vec<hearth_shacheck::Target> = shares
            .iter()
            .map(|(_, info)| {
                hearth_shacheck::Target::from_le_bytes(
                    Target::from_compact(info.share_bits).to_le_bytes(),
                )
            })
            .collect();
        match self
            .checker
            .check_headers(&headers, Targets::Each(&targets))
        {
            Ok(checked) => checked
                .iter()
                .zip(shares)
                .map(|(c, (header, _))| {
                    if !c.ok {
                        return Err(ShareError::ProofOfWork);
                    }
                    let block = Target::from_compact(header.bits);
                    let hash = Target::from_le_bytes(c.hash.as_target().to_le_bytes());
                    Ok((ShareHash(c.hash.0), hash <= block))
                })
                .collect(),
            Err(_) => shares
                .iter()
                .map(|_| Err(ShareError::ProofOfWork))
                .collect(),
        }
    }

    /// Adds a share whose ancestors are pruned away, trusting its place in
    /// the chain (height, target, cumulative work, payouts) but checking its
    /// proof of work and commitment. Only for the first window of shares
    /// reloaded from our own pruned store or from a pruned peer during a
    /// first sync (docs/sharechain.md, "Pruned starts"); it must extend the
    /// anchors already given, or start an empty chain.
    pub fn accept_anchor(&mut self, share: Share) -> Result<Accepted, ShareError> {
        let (hash, is_block) = self
            .check_pow_hashed(std::slice::from_ref(&share))
            .pop()
            .unwrap_or(Err(ShareError::ProofOfWork))?;
        if self.index.contains_key(&hash) {
            return Err(ShareError::Duplicate(hash.to_hex()));
        }
        self.check_context_free(&share)?;
        let extends = match self.tip() {
            None => true,
            Some(t) => t.hash == share.info.prev_share && t.info.height + 1 == share.info.height,
        };
        if !extends {
            return Err(ShareError::Orphan(share.info.prev_share.to_hex()));
        }
        let weight = target_work(Target::from_compact(share.info.share_bits));
        let cap = self.work_cap(&share.header);
        self.window.push(
            WindowEntry {
                hash,
                script: share.info.payout_script.clone(),
                weight,
            },
            cap,
        );
        if self.best.is_empty() {
            self.best_base = share.info.height;
        }
        self.best.push(hash);
        self.index.insert(
            hash,
            Entry {
                meta: ShareMeta {
                    hash,
                    header: share.header,
                    info: share.info,
                },
                outputs: None,
                weight,
                // Trusted: the window below an anchor is not known.
                payouts_checked: true,
            },
        );
        Ok(Accepted {
            hash,
            new_tip: true,
            is_block,
            reorged: 0,
        })
    }

    /// The oldest best-chain height kept.
    pub fn base_height(&self) -> u64 {
        self.best_base
    }

    /// Validates and adds one share.
    pub fn accept(&mut self, share: Share, now: u64) -> Result<Accepted, ShareError> {
        self.accept_batch(vec![share], now)
            .pop()
            .unwrap_or(Err(ShareError::ProofOfWork))
    }

    /// Validates and adds shares in order (a batch from a peer), checking
    /// their proof of work in one call to the share checker. Each share is
    /// encoded and checked as [`Chain::accept_batch_encoded`] checks
    /// received bytes (one validation path).
    pub fn accept_batch(
        &mut self,
        shares: Vec<Share>,
        now: u64,
    ) -> Vec<Result<Accepted, ShareError>> {
        // One buffer for the batch, sized up front: no growth per share.
        let mut buf = Vec::with_capacity(
            shares
                .iter()
                .map(|s| s.coinbase.output.len() * 44 + 512)
                .sum(),
        );
        let ranges: Vec<std::ops::Range<usize>> = shares
            .iter()
            .map(|s| {
                let start = buf.len();
                // Writing into a Vec cannot fail.
                let _ = bitcoin::consensus::Encodable::consensus_encode(s, &mut buf);
                start..buf.len()
            })
            .collect();
        let bytes: Vec<&[u8]> = ranges.iter().filter_map(|r| buf.get(r.clone())).collect();
        self.accept_batch_encoded(&bytes, now)
    }

    /// Validates and adds shares in order as a peer sent them
    /// ([`ReceivedShare`]): from their bytes, as
    /// [`Chain::accept_batch_encoded`], except that the proof of work is
    /// checked against the id the share carries, hashed from its header
    /// when it was received (the header is not hashed a second time).
    pub fn accept_received(
        &mut self,
        shares: &[ReceivedShare],
        now: u64,
    ) -> Vec<Result<Accepted, ShareError>> {
        let parsed: Vec<Result<ShareView<'_>, ShareError>> = shares
            .iter()
            .map(|s| s.view().map_err(|e| ShareError::Malformed(e.to_string())))
            .collect();
        let pow = shares
            .iter()
            .zip(&parsed)
            .map(|(s, v)| match v {
                Ok(_) => pow_of_id(s.hash(), s.header(), s.info()),
                Err(e) => Err(e.clone()),
            })
            .collect();
        self.accept_parsed(parsed, pow, now)
    }

    /// Validates and adds shares in order from their encodings (as
    /// received from a peer or read from the store), without decoding the
    /// coinbases: their outputs are checked where they lie in the bytes
    /// and their txids hashed from those bytes ([`ShareView`]). Bytes that
    /// are not a share give [`ShareError::Malformed`] and change nothing.
    pub fn accept_batch_encoded(
        &mut self,
        shares: &[&[u8]],
        now: u64,
    ) -> Vec<Result<Accepted, ShareError>> {
        let parsed: Vec<Result<ShareView<'_>, ShareError>> =
            shares.iter().map(|b| view_of(b)).collect();
        let views: Vec<&ShareView<'_>> = parsed.iter().filter_map(|v| v.as_ref().ok()).collect();
        let parts: Vec<(&bitcoin::block::Header, &ShareInfo)> =
            views.iter().map(|v| (&v.header, &v.info)).collect();
        let mut pow_of_views = self.check_pow_parts(&parts).into_iter();
        let pow: Vec<Result<(ShareHash, bool), ShareError>> = parsed
            .iter()
            .map(|v| match v {
                Ok(_) => pow_of_views.next().unwrap_or(Err(ShareError::ProofOfWork)),
                Err(e) => Err(e.clone()),
            })
            .collect();
        self.accept_parsed(parsed, pow, now)
    }

    /// The rest of [`Chain::accept_batch_encoded`] once each share is
    /// parsed and its proof of work checked (`pow`: id and whether it is a
    /// block, per share).
    fn accept_parsed(
        &mut self,
        parsed: Vec<Result<ShareView<'_>, ShareError>>,
        pow: Vec<Result<(ShareHash, bool), ShareError>>,
        now: u64,
    ) -> Vec<Result<Accepted, ShareError>> {
        let shares = parsed;
        // The coinbase txids, ref hashes and merkle branches of the shares
        // whose proof of work holds, hashed side by side (share checker
        // lanes). Only those: the header check stays the cheap gate, so a
        // flood of shares without work costs no coinbase hashing.
        let worked: Vec<&ShareView<'_>> = shares
            .iter()
            .zip(&pow)
            .filter(|(_, p)| p.is_ok())
            .filter_map(|(s, _)| s.as_ref().ok())
            .collect();
        let mut digests = share_digests(&self.checker, &self.id, &worked).into_iter();
        shares
            .into_iter()
            .zip(pow)
            .map(|(s, p)| {
                p.and_then(|(hash, is_block)| {
                    let s = s?;
                    let d = digests.next().ok_or(ShareError::MerkleRoot)?;
                    self.accept_checked_pow(s, hash, is_block, &d, now)
                })
            })
            .collect()
    }

    /// The rules after proof of work; `hash` is the share's id as the
    /// share checker computed it.
    fn accept_checked_pow(
        &mut self,
        share: ShareView<'_>,
        hash: ShareHash,
        is_block: bool,
        digests: &ShareDigests,
        now: u64,
    ) -> Result<Accepted, ShareError> {
        if self.index.contains_key(&hash) {
            return Err(ShareError::Duplicate(hash.to_hex()));
        }
        if self.invalid.contains_key(&hash) || self.invalid.contains_key(&share.info.prev_share) {
            self.mark_invalid(hash);
            return Err(ShareError::KnownInvalid(hash.to_hex()));
        }
        self.check_context_free_with(&share, digests)?;
        let info = &share.info;
        if let Some(tip) = self.height() {
            if info
                .height
                .saturating_add(u64::from(self.params.window_shares))
                < tip
            {
                return Err(ShareError::TooDeep {
                    height: info.height,
                    tip,
                });
            }
        }
        let weight = target_work(Target::from_compact(info.share_bits));
        let (expected_height, expected_bits, parent_work) =
            if info.height == 0 && info.prev_share == ShareHash::GENESIS_PARENT {
                (0, self.params.max_share_bits, Work::from_le_bytes([0; 32]))
            } else {
                let parent = self
                    .index
                    .get(&info.prev_share)
                    .ok_or_else(|| ShareError::Orphan(info.prev_share.to_hex()))?;
                let grand_interval = if parent.meta.info.height == 0 {
                    None
                } else {
                    self.index.get(&parent.meta.info.prev_share).map(|g| {
                        i64::from(parent.meta.info.timestamp) - i64::from(g.meta.info.timestamp)
                    })
                };
                (
                    parent.meta.info.height + 1,
                    next_share_bits(&self.params, parent.meta.info.share_bits, grand_interval),
                    parent.meta.info.cumulative_work,
                )
            };
        if info.height != expected_height {
            return Err(ShareError::Height {
                got: info.height,
                expected: expected_height,
            });
        }
        if info.share_bits != expected_bits {
            return Err(ShareError::Bits {
                got: info.share_bits.to_consensus(),
                expected: expected_bits.to_consensus(),
            });
        }
        if info.height > 0 {
            if let Some(mtp) = self.median_time_past(&info.prev_share) {
                if info.timestamp <= mtp {
                    return Err(ShareError::TimeTooOld {
                        got: info.timestamp,
                        mtp,
                    });
                }
            }
        }
        if u64::from(info.timestamp) > now.saturating_add(u64::from(self.params.max_future_s)) {
            return Err(ShareError::TimeTooNew {
                got: info.timestamp,
                now,
                max_future_s: self.params.max_future_s,
            });
        }
        if info.cumulative_work != parent_work + Target::from_compact(info.share_bits).to_work() {
            return Err(ShareError::CumulativeWork);
        }
        let better = info.cumulative_work > self.tip_work();
        let parent_is_tip = self.best.last() == Some(&info.prev_share)
            || (self.best.is_empty() && info.height == 0);
        // Moved, not cloned: of the coinbase only its outputs' bytes are
        // kept, until checked against the window.
        let ShareView {
            header,
            coinbase,
            info,
            ..
        } = share;
        // A child of the tip is connected at once, its payouts checked in
        // the bytes it came in; any other share keeps its outputs' bytes
        // (one allocation) until it joins the best chain.
        let direct = better && parent_is_tip;
        let outputs = (!direct).then(|| KeptOutputs {
            count: coinbase.output_count(),
            bytes: coinbase.output_bytes().into(),
        });
        self.index.insert(
            hash,
            Entry {
                meta: ShareMeta { hash, header, info },
                outputs,
                weight,
                payouts_checked: false,
            },
        );
        if !better {
            return Ok(Accepted {
                hash,
                new_tip: false,
                is_block,
                reorged: 0,
            });
        }
        if direct {
            if let Err(e) = self.connect_checking(hash, coinbase.outputs()) {
                self.index.remove(&hash);
                self.invalid.insert(hash, ());
                return Err(e);
            }
            return Ok(Accepted {
                hash,
                new_tip: true,
                is_block,
                reorged: 0,
            });
        }
        match self.reorg_to(hash) {
            Ok(reorged) => Ok(Accepted {
                hash,
                new_tip: true,
                is_block,
                reorged,
            }),
            Err(e) => Err(e),
        }
    }

    /// Pushes `hash` (a child of the tip) onto the best chain and checks its
    /// payouts against the window; undone on failure.
    fn connect(&mut self, hash: ShareHash) -> Result<(), ShareError> {
        let kept = self.index.get_mut(&hash).and_then(|e| e.outputs.take());
        let outputs = kept
            .as_ref()
            .map_or(Outputs::checked(&[], 0), KeptOutputs::iter);
        let result = self.connect_checking(hash, outputs);
        if result.is_err() {
            if let Some(e) = self.index.get_mut(&hash) {
                e.outputs = kept;
            }
        }
        result
    }

    /// [`Chain::connect`] with the share's coinbase outputs given (kept in
    /// the index, or borrowed from the received bytes).
    fn connect_checking(
        &mut self,
        hash: ShareHash,
        outputs: Outputs<'_>,
    ) -> Result<(), ShareError> {
        let Some(entry) = self.index.get_mut(&hash) else {
            return Err(ShareError::Orphan(hash.to_hex()));
        };
        let weight = entry.weight;
        let checked = entry.payouts_checked;
        let script = entry.meta.info.payout_script.clone();
        let prev_share = entry.meta.info.prev_share;
        let height = entry.meta.info.height;
        let header = entry.meta.header;
        let cap = self.work_cap(&header);
        self.window.push(
            WindowEntry {
                hash,
                script,
                weight,
            },
            cap,
        );
        // A share checked once keeps its verdict: its window depends only
        // on its ancestors.
        if !checked {
            // The payouts: every output that is not OP_RETURN (the
            // commitment and the segwit witness commitment are).
            let payouts = || outputs.clone().filter(|o| !o.is_op_return());
            // Outputs summing past u64 can never be the payouts (those sum
            // to the value): refused, not wrapped.
            let value = payouts().try_fold(0u64, |sum, o| sum.checked_add(o.value_sat));
            let matches = match (value, self.window.newest()) {
                (Some(value), Some(newest)) => {
                    self.window
                        .payouts_match_refs(payouts(), value, &newest.script, &prev_share)
                }
                _ => false,
            };
            if !matches {
                self.pop_window();
                return Err(ShareError::Payouts);
            }
        }
        if self.best.is_empty() {
            self.best_base = height;
        }
        self.best.push(hash);
        if let Some(e) = self.index.get_mut(&hash) {
            e.payouts_checked = true;
            e.outputs = None;
        }
        Ok(())
    }

    fn window_entry(&self, hash: &ShareHash) -> Option<WindowEntry> {
        self.index.get(hash).map(|e| WindowEntry {
            hash: *hash,
            script: e.meta.info.payout_script.clone(),
            weight: e.weight,
        })
    }

    /// Pops the window's newest share (which is not, or no longer, in `best`).
    fn pop_window(&mut self) {
        let n = self.params.window_shares as u64;
        let len = self.best.len() as u64 + self.best_base;
        // The window now ends at best's last; restore the share `n` below it.
        let restore = len
            .checked_sub(n)
            .and_then(|h| self.best_at(h))
            .and_then(|h| self.window_entry(&h));
        let cap = self.tip().and_then(|t| self.work_cap(&t.header));
        self.window.pop(restore, cap);
    }

    /// Removes the best tip (window included).
    fn disconnect_tip(&mut self) -> Option<ShareHash> {
        let h = self.best.pop()?;
        self.pop_window();
        Some(h)
    }

    fn mark_invalid(&mut self, hash: ShareHash) {
        if self.invalid.len() > 100_000 {
            self.invalid.clear();
        }
        self.invalid.insert(hash, ());
    }

    /// Switches the best chain to end at `new_tip`: disconnect to the fork
    /// point, connect the new branch (checking payouts); on a bad share,
    /// go back to the old chain.
    fn reorg_to(&mut self, new_tip: ShareHash) -> Result<usize, ShareError> {
        let mut branch = Vec::new();
        let mut cur = new_tip;
        loop {
            if self.is_best(&cur) {
                break;
            }
            let Some(e) = self.index.get(&cur) else {
                return Err(ShareError::Orphan(cur.to_hex()));
            };
            branch.push(cur);
            if e.meta.info.height == 0 {
                break;
            }
            cur = e.meta.info.prev_share;
        }
        let fork_height = self
            .index
            .get(&cur)
            .filter(|_| self.is_best(&cur))
            .map(|e| e.meta.info.height);
        let mut old = Vec::new();
        while let Some(tip) = self.best.last().copied() {
            let h = self.index.get(&tip).map(|e| e.meta.info.height);
            if fork_height.is_some() && h <= fork_height {
                break;
            }
            if let Some(t) = self.disconnect_tip() {
                old.push(t);
            }
        }
        branch.reverse();
        for (i, h) in branch.iter().enumerate() {
            if let Err(e) = self.connect(*h) {
                for bad in &branch[i..] {
                    self.index.remove(bad);
                    self.mark_invalid(*bad);
                }
                for _ in 0..i {
                    self.disconnect_tip();
                }
                for o in old.iter().rev() {
                    let _ = self.connect(*o);
                }
                return Err(e);
            }
        }
        Ok(old.len())
    }

    /// Forgets shares more than `keep` below the tip (never fewer than two
    /// windows, so a reorg can restore the window). Returns how many.
    pub fn prune(&mut self, keep: u64) -> usize {
        let keep = keep.max(2 * u64::from(self.params.window_shares));
        let Some(tip) = self.height() else { return 0 };
        let Some(floor) = tip.checked_sub(keep) else {
            return 0;
        };
        let before = self.index.len();
        self.index.retain(|_, e| e.meta.info.height >= floor);
        let drop = usize::try_from(floor.saturating_sub(self.best_base)).unwrap_or(0);
        let drop = drop.min(self.best.len());
        self.best.drain(..drop);
        self.best_base += drop as u64;
        before - self.index.len()
    }

    /// The job for our next share on the tip: committed info, payouts for a
    /// block worth `value_sat` at `block_bits`, the commitment output.
    /// Pushes the would-be share onto the window, reads the payouts and
    /// pops it again: O(log payees), the chain is left as it was.
    pub fn job(
        &mut self,
        payout_script: ScriptBuf,
        value_sat: u64,
        block_bits: bitcoin::CompactTarget,
        now: u64,
    ) -> ShareJob {
        let tip = self.tip();
        let (prev_share, height, share_bits, parent_work) = match tip {
            None => (
                ShareHash::GENESIS_PARENT,
                0,
                self.params.max_share_bits,
                Work::from_le_bytes([0; 32]),
            ),
            Some(t) => {
                let interval = if t.info.height == 0 {
                    None
                } else {
                    self.index
                        .get(&t.info.prev_share)
                        .map(|g| i64::from(t.info.timestamp) - i64::from(g.meta.info.timestamp))
                };
                (
                    t.hash,
                    t.info.height + 1,
                    next_share_bits(&self.params, t.info.share_bits, interval),
                    t.info.cumulative_work,
                )
            }
        };
        let mtp = tip
            .and_then(|t| self.median_time_past(&t.hash))
            .unwrap_or(0);
        let timestamp = u32::try_from(now)
            .unwrap_or(u32::MAX)
            .max(mtp.saturating_add(1));
        let share_target = Target::from_compact(share_bits);
        let cap = (self.params.window_block_multiple > 0).then(|| {
            target_work(Target::from_compact(block_bits))
                .saturating_mul(u128::from(self.params.window_block_multiple))
        });
        self.window.push(
            WindowEntry {
                hash: ShareHash::GENESIS_PARENT,
                script: payout_script.clone(),
                weight: target_work(share_target),
            },
            cap,
        );
        let payout_outputs = self.window.payouts(value_sat, &payout_script, &prev_share);
        self.pop_window();
        let info = ShareInfo {
            version: SHARE_VERSION,
            prev_share,
            height,
            share_bits,
            timestamp,
            cumulative_work: parent_work + share_target.to_work(),
            payout_script,
        };
        let commitment_output = TxOut {
            value: bitcoin::Amount::ZERO,
            script_pubkey: crate::share::commitment_script(&info.ref_hash(&self.id)),
        };
        ShareJob {
            info,
            payout_outputs,
            commitment_output,
            share_target,
        }
    }
}

/// Proof of work from a share's id (already hashed from `header`): the id
/// as a 256-bit number at most the claimed share target (inclusive, as the
/// share checker compares), and whether it also meets the block target.
fn pow_of_id(
    id: ShareHash,
    header: &bitcoin::block::Header,
    info: &ShareInfo,
) -> Result<(ShareHash, bool), ShareError> {
    let hash = Target::from_le_bytes(id.0);
    if hash > Target::from_compact(info.share_bits) {
        return Err(ShareError::ProofOfWork);
    }
    Ok((id, hash <= Target::from_compact(header.bits)))
}

/// A received share's view, or why its bytes are not a share.
fn view_of(bytes: &[u8]) -> Result<ShareView<'_>, ShareError> {
    ShareView::parse(bytes).map_err(|e| ShareError::Malformed(e.to_string()))
}

/// The ref hash a commitment output carries, if it is one (as
/// [`crate::share::parse_commitment`], on borrowed bytes).
fn commitment_of(o: OutputRef<'_>) -> Option<[u8; 32]> {
    let b = o.script;
    if b.len() != COMMITMENT_SCRIPT_LEN || b[0] != 0x6a || b[1] != 36 || b[2..6] != COMMITMENT_TAG {
        return None;
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(&b[6..]);
    Some(out)
}

/// The coinbase's payout outputs: every output that is not `OP_RETURN`
/// (the commitment and the segwit witness commitment are `OP_RETURN`).
pub fn payout_outputs(share: &Share) -> Vec<TxOut> {
    share
        .coinbase
        .output
        .iter()
        .filter(|o| !o.script_pubkey.is_op_return())
        .cloned()
        .collect()
}

/// Turns a found header, its coinbase and merkle branch into a share, for
/// the work pipeline: the coinbase must be the one built from `job`.
pub fn share_from_found(
    job: &ShareJob,
    header: bitcoin::block::Header,
    coinbase: bitcoin::Transaction,
    merkle_branch: Vec<bitcoin::TxMerkleNode>,
) -> Share {
    Share {
        header,
        coinbase,
        merkle_branch,
        info: job.info.clone(),
    }
}
