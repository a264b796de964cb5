//! The node's protocol state machine, sans-IO: peers' handshakes, headers-
//! first sync, share relay, misbehaviour scores and bans, rate limits.
//! The daemon feeds it connection events, messages and `now`, and carries
//! out the [`Action`]s it returns.

use crate::chain::{Accepted, Chain, ShareError};
use crate::p2p::{
    handshake_pow_ok, solve_handshake_pow, Message, ProtocolError, ShareHeader, MAX_HEADERS,
    MAX_SHARES_PER_MESSAGE, PROTOCOL_VERSION,
};
use crate::received::ReceivedShare;
use crate::share::{Share, ShareHash};
use bitcoin::Target;
use std::collections::{HashMap, HashSet, VecDeque};

/// Misbehaviour points that get a peer banned.
pub const BAN_SCORE: u32 = 100;
/// How long a ban lasts, seconds.
pub const BAN_SECONDS: u64 = 24 * 3600;
/// Messages a peer may send per second on average...
pub const RATE_PER_S: u32 = 50;
/// ...and in a burst.
pub const RATE_BURST: u32 = 500;
/// Hashes queued for download from one peer.
pub const MAX_QUEUED: usize = 20_000;
/// A request unanswered this long costs the peer points and is dropped.
pub const REQUEST_TIMEOUT_S: u64 = 30;
/// Handshake must finish within this.
pub const HANDSHAKE_TIMEOUT_S: u64 = 20;
/// Ping a quiet peer after this; drop it after three times this.
pub const PING_AFTER_S: u64 = 30;

/// A connection, numbered by the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// What the daemon must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a message to a peer.
    Send(PeerId, Message),
    /// Close a connection.
    Disconnect(PeerId, String),
    /// Close and ban the peer's address for [`BAN_SECONDS`].
    Ban(PeerId, String),
    /// Persist these accepted shares; `tip` is the best tip after them.
    Store {
        /// The shares: a peer's as the bytes they were received as, ours
        /// encoded once; with their ids and heights, so the store neither
        /// re-encodes nor hashes them.
        shares: Vec<ReceivedShare>,
        /// New best tip.
        tip: Option<ShareHash>,
    },
    /// This share meets the Bitcoin block target: submit it now. The only
    /// place a peer's share is decoded into a `Share` (its coinbase a
    /// `Transaction`).
    SubmitBlock(Box<Share>),
    /// Remember a peer's listening address.
    LearnedAddr(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Hello sent, waiting for theirs and their proof.
    Handshake,
    /// Ready.
    Ready,
}

#[derive(Debug)]
struct Peer {
    stage: Stage,
    challenge: [u8; 16],
    got_hello: bool,
    got_proof: bool,
    connected_at: u64,
    last_recv: u64,
    pinged: bool,
    score: u32,
    tokens: f64,
    tokens_at: u64,
    tip_height: u64,
    tip_work: [u8; 32],
    /// Hashes to download, oldest first (from their headers).
    queue: VecDeque<ShareHash>,
    /// Outstanding GetShares and when it was sent.
    inflight: Option<(HashSet<ShareHash>, u64)>,
    /// Outstanding GetHeaders.
    headers_inflight: Option<u64>,
    /// Last headers message was full: there are more.
    more_headers: bool,
    addr: Option<String>,
}

/// Sync progress for status displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncProgress {
    /// Our best height.
    pub height: Option<u64>,
    /// The highest tip any ready peer announced.
    pub best_peer_height: u64,
    /// Shares queued or in flight.
    pub pending: usize,
    /// Ready peers.
    pub peers: usize,
}

/// A block to submit: the received share decoded (the one place a peer's
/// coinbase becomes a `Transaction`). The chain accepted its bytes, which
/// the view reads exactly as the decoder does, so decoding cannot fail;
/// were it to, there is no block to submit rather than a panic.
fn submit_block(share: &ReceivedShare, out: &mut Vec<Action>) {
    if let Ok(block) = share.decode() {
        out.push(Action::SubmitBlock(Box::new(block)));
    }
}

/// The node: the chain plus its peers.
#[derive(Debug)]
pub struct Node {
    chain: Chain,
    peers: HashMap<PeerId, Peer>,
    seed: u64,
    listen_port: u16,
}

fn work_le_gt(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().rev().cmp(b.iter().rev()) == std::cmp::Ordering::Greater
}

impl Node {
    /// A node on `chain`; `seed` makes challenges (any per-process random
    /// value: the daemon passes one, tests a fixed one).
    pub fn new(chain: Chain, seed: u64, listen_port: u16) -> Node {
        Node {
            chain,
            peers: HashMap::new(),
            seed,
            listen_port,
        }
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The chain, mutably (mining our own shares goes through
    /// [`Node::submit_local`]).
    pub fn chain_mut(&mut self) -> &mut Chain {
        &mut self.chain
    }

    /// Sync progress.
    pub fn progress(&self) -> SyncProgress {
        let ready = self.peers.values().filter(|p| p.stage == Stage::Ready);
        let mut best = 0;
        let mut pending = 0;
        let mut n = 0;
        for p in ready {
            n += 1;
            best = best.max(p.tip_height);
            pending += p.queue.len() + p.inflight.as_ref().map_or(0, |(s, _)| s.len());
        }
        SyncProgress {
            height: self.chain.height(),
            best_peer_height: best,
            pending,
            peers: n,
        }
    }

    /// Misbehaviour score of a peer.
    pub fn score(&self, peer: PeerId) -> Option<u32> {
        self.peers.get(&peer).map(|p| p.score)
    }

    fn hello(&self, challenge: [u8; 16]) -> Message {
        Message::Hello {
            version: PROTOCOL_VERSION,
            consensus_id: self.chain.consensus_id().0,
            challenge,
            listen_port: self.listen_port,
            tip_height: self.chain.height().unwrap_or(0),
            tip_work: self.chain.tip_work().to_le_bytes(),
        }
    }

    /// A new connection (either direction): send our hello.
    pub fn on_connect(&mut self, peer: PeerId, now: u64) -> Vec<Action> {
        let mut challenge = [0u8; 16];
        let mix = self
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(peer.0.wrapping_mul(0xbf58_476d_1ce4_e5b9))
            ^ now;
        challenge[..8].copy_from_slice(&mix.to_le_bytes());
        challenge[8..].copy_from_slice(&mix.rotate_left(29).wrapping_mul(3).to_le_bytes());
        self.peers.insert(
            peer,
            Peer {
                stage: Stage::Handshake,
                challenge,
                got_hello: false,
                got_proof: false,
                connected_at: now,
                last_recv: now,
                pinged: false,
                score: 0,
                tokens: f64::from(RATE_BURST),
                tokens_at: now,
                tip_height: 0,
                tip_work: [0; 32],
                queue: VecDeque::new(),
                inflight: None,
                headers_inflight: None,
                more_headers: false,
                addr: None,
            },
        );
        vec![Action::Send(peer, self.hello(challenge))]
    }

    /// A connection ended.
    pub fn on_disconnect(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
    }

    /// Adds points; returns a ban action at [`BAN_SCORE`].
    fn punish(&mut self, peer: PeerId, points: u32, why: &str, out: &mut Vec<Action>) -> bool {
        let Some(p) = self.peers.get_mut(&peer) else {
            return true;
        };
        p.score = p.score.saturating_add(points);
        if p.score >= BAN_SCORE {
            self.peers.remove(&peer);
            out.push(Action::Ban(peer, why.to_string()));
            return true;
        }
        false
    }

    /// Spends one of a peer's message tokens (the token bucket: a flood
    /// costs points, then a ban); false when the message is refused.
    fn take_token(&mut self, peer: PeerId, now: u64, out: &mut Vec<Action>) -> bool {
        let Some(p) = self.peers.get_mut(&peer) else {
            return false;
        };
        p.last_recv = now;
        p.pinged = false;
        let elapsed = now.saturating_sub(p.tokens_at) as f64;
        p.tokens = (p.tokens + elapsed * f64::from(RATE_PER_S)).min(f64::from(RATE_BURST));
        p.tokens_at = now;
        if p.tokens < 1.0 {
            self.punish(peer, 10, "message rate limit", out);
            return false;
        }
        p.tokens -= 1.0;
        true
    }

    /// A frame from a peer whose payload is not a message
    /// (`p2p::decode_payload`'s error: malformed, a list over its limit, an
    /// unknown command). The frame was read whole, so the connection can go
    /// on; the peer is scored with the error as the reason: a bad share
    /// message as much as a share with bad payouts (50 points, two ban), an
    /// unknown command 20, anything before the handshake a ban. Errors that
    /// end the stream ([`ProtocolError::ends_connection`]) end it here too.
    pub fn on_bad_message(&mut self, peer: PeerId, err: &ProtocolError, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.peers.contains_key(&peer) {
            return out;
        }
        if err.ends_connection() {
            self.peers.remove(&peer);
            out.push(Action::Disconnect(peer, err.to_string()));
            return out;
        }
        if !self.take_token(peer, now, &mut out) {
            return out;
        }
        let ready = self.is_ready(peer);
        let points = match err {
            _ if !ready => BAN_SCORE,
            ProtocolError::Command(_) => 20,
            _ => 50,
        };
        let why = if ready {
            err.to_string()
        } else {
            format!("{err} before the handshake")
        };
        self.punish(peer, points, &why, &mut out);
        out
    }

    /// A message from a peer. Shares come as the bytes they were received
    /// as ([`ReceivedShare`]): validated from those bytes, stored and
    /// relayed as them, decoded only when one is a block.
    pub fn on_message(&mut self, peer: PeerId, msg: Message, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.take_token(peer, now, &mut out) {
            return out;
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return out;
        };
        let stage = p.stage;
        match (stage, msg) {
            (
                Stage::Handshake,
                Message::Hello {
                    version,
                    consensus_id,
                    challenge,
                    listen_port,
                    tip_height,
                    tip_work,
                },
            ) => {
                if consensus_id != self.chain.consensus_id().0 {
                    self.peers.remove(&peer);
                    out.push(Action::Disconnect(
                        peer,
                        "another chain's consensus id".into(),
                    ));
                    return out;
                }
                if version != PROTOCOL_VERSION {
                    self.peers.remove(&peer);
                    out.push(Action::Disconnect(
                        peer,
                        format!("protocol version {version}"),
                    ));
                    return out;
                }
                if p.got_hello {
                    self.punish(peer, 20, "second hello", &mut out);
                    return out;
                }
                p.got_hello = true;
                p.tip_height = tip_height;
                p.tip_work = tip_work;
                if listen_port != 0 {
                    p.addr = Some(format!(":{listen_port}"));
                }
                let bits = self.chain.params().handshake_pow_bits;
                let nonce = solve_handshake_pow(&self.chain.consensus_id(), &challenge, bits);
                out.push(Action::Send(peer, Message::HelloProof { nonce }));
                self.maybe_ready(peer, &mut out);
            }
            (Stage::Handshake, Message::HelloProof { nonce }) => {
                let bits = self.chain.params().handshake_pow_bits;
                if p.got_proof
                    || !handshake_pow_ok(&self.chain.consensus_id(), &p.challenge, nonce, bits)
                {
                    self.punish(peer, BAN_SCORE, "bad handshake proof of work", &mut out);
                    return out;
                }
                p.got_proof = true;
                self.maybe_ready(peer, &mut out);
            }
            (Stage::Handshake, m) => {
                self.punish(
                    peer,
                    BAN_SCORE,
                    &format!("{} before the handshake", m.name()),
                    &mut out,
                );
            }
            (Stage::Ready, m) => self.on_ready_message(peer, m, now, &mut out),
        }
        out
    }

    fn maybe_ready(&mut self, peer: PeerId, out: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if !(p.got_hello && p.got_proof) {
            return;
        }
        p.stage = Stage::Ready;
        if let Some(a) = p.addr.clone() {
            out.push(Action::LearnedAddr(a));
        }
        out.push(Action::Send(peer, Message::GetAddr));
        if work_le_gt(&p.tip_work, &self.chain.tip_work().to_le_bytes()) {
            self.request_headers(peer, 0, out);
        }
    }

    fn request_headers(&mut self, peer: PeerId, now: u64, out: &mut Vec<Action>) {
        let locator = self.chain.locator();
        if let Some(p) = self.peers.get_mut(&peer) {
            if p.headers_inflight.is_some() {
                return;
            }
            p.headers_inflight = Some(now);
            out.push(Action::Send(peer, Message::GetHeaders { locator }));
        }
    }

    fn request_shares(&mut self, peer: PeerId, now: u64, out: &mut Vec<Action>) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.inflight.is_some() {
            return;
        }
        let mut want = Vec::new();
        while want.len() < MAX_SHARES_PER_MESSAGE {
            let Some(h) = p.queue.pop_front() else { break };
            if !self.chain.contains(&h) {
                want.push(h);
            }
        }
        if want.is_empty() {
            if p.more_headers {
                p.more_headers = false;
                self.request_headers(peer, now, out);
            }
            return;
        }
        p.inflight = Some((want.iter().copied().collect(), now));
        out.push(Action::Send(peer, Message::GetShares(want)));
    }

    fn on_ready_message(&mut self, peer: PeerId, m: Message, now: u64, out: &mut Vec<Action>) {
        match m {
            Message::Hello { .. } | Message::HelloProof { .. } => {
                self.punish(peer, 20, "handshake message after the handshake", out);
            }
            Message::Ping(n) => out.push(Action::Send(peer, Message::Pong(n))),
            Message::Pong(_) => {}
            Message::GetAddr => {}
            Message::Addr(addrs) => {
                for a in addrs.into_iter().take(16) {
                    out.push(Action::LearnedAddr(a));
                }
            }
            Message::GetHeaders { locator } => {
                let fork = self.chain.fork_point(&locator);
                let hashes = self.chain.best_after(fork, MAX_HEADERS);
                let headers = hashes
                    .iter()
                    .filter_map(|h| self.chain.get(h))
                    .map(|m| ShareHeader {
                        header: m.header,
                        height: m.info.height,
                        share_bits: m.info.share_bits,
                    })
                    .collect();
                out.push(Action::Send(peer, Message::Headers(headers)));
            }
            Message::Headers(headers) => self.on_headers(peer, headers, now, out),
            Message::GetShares(_) => {
                // Served by the daemon from the store (full shares live
                // there, not in memory); see `Node::wants_store_lookup`.
            }
            Message::Shares(shares) => self.on_shares(peer, shares, now, out),
            Message::NewShare(share) => self.on_new_share(peer, *share, now, out),
        }
    }

    fn on_headers(
        &mut self,
        peer: PeerId,
        headers: Vec<ShareHeader>,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.headers_inflight.take().is_none() {
            self.punish(peer, 20, "unrequested headers", out);
            return;
        }
        // Headers-first: each header's work against its claimed share
        // target, which must be within the chain's minimum difficulty.
        let max = self.chain.params().max_share_target();
        let mut prev_height: Option<u64> = None;
        for h in &headers {
            let t = Target::from_compact(h.share_bits);
            if t > max || !t.is_met_by(h.header.block_hash()) {
                self.punish(peer, 50, "header without its proof of work", out);
                return;
            }
            if prev_height.is_some_and(|ph| h.height != ph + 1) {
                self.punish(peer, 50, "headers out of order", out);
                return;
            }
            prev_height = Some(h.height);
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.more_headers = headers.len() == MAX_HEADERS;
        for h in headers {
            let hash = h.hash();
            if !self.chain.contains(&hash) && p.queue.len() < MAX_QUEUED {
                p.queue.push_back(hash);
            }
            p.tip_height = p.tip_height.max(h.height);
        }
        self.request_shares(peer, now, out);
    }

    fn on_shares(
        &mut self,
        peer: PeerId,
        shares: Vec<ReceivedShare>,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let Some((asked, _)) = p.inflight.take() else {
            self.punish(peer, 20, "unrequested shares", out);
            return;
        };
        if shares.iter().any(|s| !asked.contains(&s.hash())) {
            self.punish(peer, 50, "shares not asked for", out);
            return;
        }
        let mut shares = shares;
        shares.sort_by_key(|s| s.info().height);
        // A first sync from a pruned peer starts on anchors
        // (docs/sharechain.md); an anchor is decoded (rare: one window, once).
        let mut results: Vec<Result<Accepted, ShareError>> = Vec::new();
        let mut anchors = 0;
        if self.chain.is_empty() && shares.first().is_some_and(|s| s.info().height > 0) {
            let n = (self.chain.params().window_shares as usize).min(shares.len());
            for s in &shares[..n] {
                results.push(self.accept_anchor(s));
            }
            anchors = n;
        }
        while self.chain.len() < self.chain.params().window_shares as usize
            && self.chain.base_height() > 0
            && shares.get(anchors).is_some_and(|s| {
                self.chain
                    .tip()
                    .is_some_and(|t| t.hash == s.info().prev_share)
            })
        {
            let r = self.accept_anchor(&shares[anchors]);
            results.push(r);
            anchors += 1;
        }
        // The rest from the bytes received: coinbases checked in place.
        results.extend(self.chain.accept_received(&shares[anchors..], now));
        self.after_accept(peer, shares, results, out);
        self.request_shares(peer, now, out);
    }

    fn accept_anchor(&mut self, share: &ReceivedShare) -> Result<Accepted, ShareError> {
        let decoded = share
            .decode()
            .map_err(|e| ShareError::Malformed(e.to_string()))?;
        self.chain.accept_anchor(decoded)
    }

    fn after_accept(
        &mut self,
        peer: PeerId,
        shares: Vec<ReceivedShare>,
        results: Vec<Result<Accepted, ShareError>>,
        out: &mut Vec<Action>,
    ) {
        let mut stored = Vec::new();
        let mut new_tip = false;
        for (s, r) in shares.into_iter().zip(results) {
            match r {
                Ok(a) => {
                    new_tip |= a.new_tip;
                    if a.is_block {
                        submit_block(&s, out);
                    }
                    stored.push(s);
                }
                Err(e) => {
                    let points = e.misbehaviour();
                    if points > 0 && self.punish(peer, points, &e.to_string(), out) {
                        break;
                    }
                }
            }
        }
        if !stored.is_empty() {
            let tip = self.chain.tip().map(|t| t.hash);
            if new_tip {
                // Relay the newest accepted share to the others, as the
                // bytes it came as.
                if let Some(last) = stored.last() {
                    self.relay(Some(peer), last, out);
                }
            }
            out.push(Action::Store {
                shares: stored,
                tip,
            });
        }
    }

    fn relay(&self, except: Option<PeerId>, share: &ReceivedShare, out: &mut Vec<Action>) {
        let mut ids: Vec<_> = self
            .peers
            .iter()
            .filter(|(id, p)| Some(**id) != except && p.stage == Stage::Ready)
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        for id in ids {
            out.push(Action::Send(id, Message::NewShare(Box::new(share.clone()))));
        }
    }

    fn on_new_share(
        &mut self,
        peer: PeerId,
        share: ReceivedShare,
        now: u64,
        out: &mut Vec<Action>,
    ) {
        if self.chain.contains(&share.hash()) {
            return;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.tip_height = p.tip_height.max(share.info().height);
        }
        let accepted = self
            .chain
            .accept_received(std::slice::from_ref(&share), now)
            .pop()
            .unwrap_or(Err(ShareError::ProofOfWork));
        match accepted {
            Err(ShareError::Orphan(_)) => self.request_headers(peer, now, out),
            r => self.after_accept(peer, vec![share], vec![r], out),
        }
    }

    /// Our own share (mined locally): accept, store, relay to everyone.
    pub fn submit_local(&mut self, share: Share, now: u64) -> Result<Vec<Action>, ShareError> {
        // Encoded once: validated, stored and relayed as these bytes.
        let received = ReceivedShare::from(&share);
        let a = self
            .chain
            .accept_received(std::slice::from_ref(&received), now)
            .pop()
            .unwrap_or(Err(ShareError::ProofOfWork))?;
        let mut out = Vec::new();
        if a.is_block {
            out.push(Action::SubmitBlock(Box::new(share)));
        }
        out.push(Action::Store {
            shares: vec![received.clone()],
            tip: self.chain.tip().map(|t| t.hash),
        });
        if a.new_tip {
            self.relay(None, &received, &mut out);
        }
        Ok(out)
    }

    /// Timers: handshake and request timeouts, pings, sync.
    pub fn tick(&mut self, now: u64) -> Vec<Action> {
        let mut out = Vec::new();
        let mut ids: Vec<PeerId> = self.peers.keys().copied().collect();
        ids.sort();
        for id in ids {
            let Some(p) = self.peers.get_mut(&id) else {
                continue;
            };
            if p.stage == Stage::Handshake
                && now.saturating_sub(p.connected_at) > HANDSHAKE_TIMEOUT_S
            {
                self.peers.remove(&id);
                out.push(Action::Disconnect(id, "handshake timeout".into()));
                continue;
            }
            let quiet = now.saturating_sub(p.last_recv);
            if quiet > 3 * PING_AFTER_S {
                self.peers.remove(&id);
                out.push(Action::Disconnect(id, "peer silent".into()));
                continue;
            }
            if quiet > PING_AFTER_S && !p.pinged && p.stage == Stage::Ready {
                p.pinged = true;
                out.push(Action::Send(id, Message::Ping(now)));
            }
            let timed_out = p
                .inflight
                .as_ref()
                .is_some_and(|(_, at)| now.saturating_sub(*at) > REQUEST_TIMEOUT_S)
                || p.headers_inflight
                    .is_some_and(|at| now.saturating_sub(at) > REQUEST_TIMEOUT_S);
            if timed_out {
                p.inflight = None;
                p.headers_inflight = None;
                if self.punish(id, 10, "request timeout", &mut out) {
                    continue;
                }
            }
            let Some(p) = self.peers.get(&id) else {
                continue;
            };
            let behind = work_le_gt(&p.tip_work, &self.chain.tip_work().to_le_bytes());
            if p.stage == Stage::Ready && p.queue.is_empty() && p.inflight.is_none() && behind {
                // They announced more work than we have: ask (again).
                if let Some(p) = self.peers.get_mut(&id) {
                    p.tip_work = [0; 32];
                }
                self.request_headers(id, now, &mut out);
            } else {
                self.request_shares(id, now, &mut out);
            }
        }
        out
    }

    /// The shares a `GetShares` asks for, capped; the daemon loads them from
    /// the store and sends them back as one `Shares` message.
    pub fn wanted_from_store(msg: &Message) -> Option<Vec<ShareHash>> {
        match msg {
            Message::GetShares(h) => Some(h.iter().take(MAX_SHARES_PER_MESSAGE).copied().collect()),
            _ => None,
        }
    }

    /// Whether a peer finished its handshake.
    pub fn is_ready(&self, peer: PeerId) -> bool {
        self.peers
            .get(&peer)
            .is_some_and(|p| p.stage == Stage::Ready)
    }
}
