#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report
//! The protocol state machine on a simulated in-memory network: handshake,
//! headers-first sync, relay, and a flooder banned while honest peers sync.

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget};
use hearth_shacheck::Checker;
use hearth_sharechain::miner::{mine, test_payout_script, BlockBase};
use hearth_sharechain::node::{Action, Node, PeerId};
use hearth_sharechain::p2p::{
    decode_payload, encode_frame, solve_handshake_pow, FrameReader, Message, ProtocolError,
};
use hearth_sharechain::store::{MemStore, ShareStore};
use hearth_sharechain::{Chain, ChainParams, Network, ReceivedShare, Share, ShareHash};
use std::collections::{HashMap, VecDeque};

const T0: u64 = 1_700_000_000;

fn params() -> ChainParams {
    let mut p = ChainParams::for_network(Network::Regtest);
    p.window_shares = 50;
    p
}

struct Sim {
    nodes: Vec<(Node, MemStore)>,
    /// (from node, to node, message); PeerId(j) at node i means node j.
    wire: VecDeque<(usize, usize, Message)>,
    links: Vec<(usize, usize)>,
    clock: u64,
    banned: Vec<(usize, usize, String)>,
    /// Shares a node stored that came from a peer.
    stored_as_received: usize,
    /// Each share's bytes as the node that mined it encoded them: every
    /// node must store and relay exactly these.
    origin: HashMap<ShareHash, Vec<u8>>,
}

impl Sim {
    fn new(n: usize) -> Sim {
        Sim {
            nodes: (0..n)
                .map(|i| {
                    (
                        Node::new(Chain::new(params(), Checker::detect()), i as u64, 0),
                        MemStore::default(),
                    )
                })
                .collect(),
            wire: VecDeque::new(),
            links: Vec::new(),
            clock: T0,
            banned: Vec::new(),
            stored_as_received: 0,
            origin: HashMap::new(),
        }
    }

    /// A share's bytes are its origin's, unchanged (the first node to
    /// store a share is the one that mined it).
    fn check_origin(&mut self, s: &ReceivedShare) -> bool {
        match self.origin.get(&s.hash()) {
            Some(bytes) => {
                assert_eq!(s.bytes(), &bytes[..], "share bytes changed on the way");
                true
            }
            None => {
                self.origin.insert(s.hash(), s.bytes().to_vec());
                false
            }
        }
    }

    fn act(&mut self, at: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(PeerId(to), m) => {
                    // Relayed and served shares are the bytes that came in.
                    match &m {
                        Message::NewShare(s) => assert!(self.check_origin(s)),
                        Message::Shares(v) => v.iter().for_each(|s| assert!(self.check_origin(s))),
                        _ => {}
                    }
                    self.wire.push_back((at, to as usize, m))
                }
                Action::Store { shares, tip } => {
                    // Stored as received: each id is its bytes' header's,
                    // and the bytes are the miner's.
                    let mut decoded = Vec::new();
                    for s in &shares {
                        let d = s.decode().unwrap();
                        assert_eq!(s.hash(), d.hash());
                        assert_eq!(s.info(), &d.info);
                        if self.check_origin(s) {
                            self.stored_as_received += 1;
                        }
                        decoded.push(d);
                    }
                    self.nodes[at].1.put_shares(&decoded, tip).unwrap()
                }
                Action::Ban(PeerId(p), why) => {
                    self.banned.push((at, p as usize, why));
                    self.links
                        .retain(|l| *l != (at, p as usize) && *l != (p as usize, at));
                }
                Action::Disconnect(PeerId(p), _) => {
                    self.links
                        .retain(|l| *l != (at, p as usize) && *l != (p as usize, at));
                }
                Action::SubmitBlock(_) | Action::LearnedAddr(_) => {}
            }
        }
    }

    fn connect(&mut self, a: usize, b: usize, now: u64) {
        self.links.push((a, b));
        let x = self.nodes[a].0.on_connect(PeerId(b as u64), now);
        self.act(a, x);
        let y = self.nodes[b].0.on_connect(PeerId(a as u64), now);
        self.act(b, y);
    }

    fn linked(&self, a: usize, b: usize) -> bool {
        self.links.contains(&(a, b)) || self.links.contains(&(b, a))
    }

    /// Moves the clock to `now` in 5 s steps, ticking every node (pings
    /// keep links alive as they would in real time).
    fn run(&mut self, now: u64) {
        while self.clock + 5 < now {
            self.clock += 5;
            let t = self.clock;
            self.deliver(t);
            for i in 0..self.nodes.len() {
                let acts = self.nodes[i].0.tick(t);
                self.act(i, acts);
            }
        }
        self.clock = self.clock.max(now);
        self.deliver(now);
    }

    fn deliver(&mut self, now: u64) {
        let mut steps = 0;
        while let Some((from, to, m)) = self.wire.pop_front() {
            steps += 1;
            assert!(steps < 100_000, "no quiescence");
            if !self.linked(from, to) {
                continue;
            }
            let reply = Node::wanted_from_store(&m)
                .filter(|_| self.nodes[to].0.is_ready(PeerId(from as u64)));
            // Every message goes through the wire codec, as the daemon's
            // readers pass them.
            let frame = encode_frame(&params().consensus_id(), &m);
            let mut reader = FrameReader::new(&params().consensus_id());
            reader.push(&frame);
            let m = match reader.next_message() {
                Some(Ok(decoded)) => decoded,
                other => panic!("our own frame: {other:?}"),
            };
            let acts = self.nodes[to].0.on_message(PeerId(from as u64), m, now);
            self.act(to, acts);
            if let Some(hashes) = reply {
                let store = &mut self.nodes[to].1;
                let shares: Vec<ReceivedShare> = hashes
                    .iter()
                    .filter_map(|h| store.get_share(h).unwrap())
                    .map(ReceivedShare::from)
                    .collect();
                self.act(
                    to,
                    vec![Action::Send(PeerId(from as u64), Message::Shares(shares))],
                );
            }
            if self.wire.is_empty() {
                for i in 0..self.nodes.len() {
                    let acts = self.nodes[i].0.tick(now);
                    self.act(i, acts);
                }
            }
        }
    }

    fn mine(&mut self, at: usize, n: u32, t: u64) {
        for k in 0..n {
            let now = t + u64::from(k) * 10;
            let base = BlockBase {
                prev_blockhash: BlockHash::all_zeros(),
                height: 500,
                bits: CompactTarget::from_consensus(0x1d00_ffff),
                time: now as u32,
            };
            let job = self.nodes[at].0.chain_mut().job(
                test_payout_script(at as u32),
                50_000_000,
                base.bits,
                now,
            );
            let share = mine(&job, &base, &[], u64::from(k) + 1000 * at as u64, 1000).unwrap();
            let acts = self.nodes[at].0.submit_local(share, now).unwrap();
            self.act(at, acts);
            self.run(now);
        }
    }

    fn tip(&self, i: usize) -> Option<hearth_sharechain::ShareHash> {
        self.nodes[i].0.chain().tip().map(|t| t.hash)
    }
}

#[test]
fn three_nodes_converge_and_a_late_joiner_syncs() {
    let mut sim = Sim::new(4);
    sim.connect(0, 1, T0);
    sim.connect(1, 2, T0);
    sim.run(T0);
    sim.mine(0, 20, T0);
    sim.mine(2, 20, T0 + 300);
    sim.mine(1, 5, T0 + 600);
    assert_eq!(sim.nodes[0].0.chain().height(), Some(44));
    assert_eq!(sim.tip(0), sim.tip(1));
    assert_eq!(sim.tip(1), sim.tip(2));
    // Node 3 joins late and syncs headers-first.
    sim.connect(3, 2, T0 + 700);
    sim.run(T0 + 700);
    assert_eq!(sim.tip(3), sim.tip(0));
    let pay = |i: usize| {
        sim.nodes[i].0.chain().window().payouts(
            50_000_000,
            &test_payout_script(9),
            &hearth_sharechain::ShareHash([9; 32]),
        )
    };
    for i in 1..4 {
        assert_eq!(pay(i), pay(0), "node {i} payouts");
    }
    // Relayed and synced shares were stored as their miner's bytes.
    assert!(sim.stored_as_received >= 45, "{}", sim.stored_as_received);
}

#[test]
fn a_partition_heals_to_the_chain_with_most_work() {
    let mut sim = Sim::new(3);
    sim.connect(0, 1, T0);
    sim.run(T0);
    sim.mine(0, 5, T0);
    sim.mine(2, 12, T0);
    assert_ne!(sim.tip(0), sim.tip(2));
    sim.connect(1, 2, T0 + 200);
    sim.run(T0 + 200);
    assert_eq!(sim.tip(0), sim.tip(2));
    assert_eq!(sim.nodes[0].0.chain().height(), Some(11));
}

#[test]
fn a_flooder_of_invalid_shares_is_banned_while_honest_peers_sync() {
    let mut sim = Sim::new(3);
    sim.connect(0, 1, T0);
    sim.run(T0);
    // Node 2 plays the flooder by hand: a correct handshake, then junk.
    sim.links.push((2, 0));
    handshake(&mut sim, 0, PeerId(2));
    let id = sim.nodes[0].0.chain().consensus_id();
    // Honest mining goes on while the flooder sends shares with wrong payouts.
    let mut banned_after = None;
    for k in 0..10u32 {
        sim.mine(1, 1, T0 + 10 * u64::from(k));
        let now = T0 + 10 * u64::from(k) + 5;
        let base = BlockBase {
            prev_blockhash: BlockHash::all_zeros(),
            height: 500,
            bits: CompactTarget::from_consensus(0x1d00_ffff),
            time: now as u32,
        };
        let mut job =
            sim.nodes[0]
                .0
                .chain_mut()
                .job(test_payout_script(66), 50_000_000, base.bits, now);
        job.payout_outputs[0].value = bitcoin::Amount::from_sat(1);
        job.commitment_output.script_pubkey =
            hearth_sharechain::share::commitment_script(&job.info.ref_hash(&id));
        let bad = mine(&job, &base, &[], 77 + u64::from(k), 1000).unwrap();
        let acts =
            sim.nodes[0]
                .0
                .on_message(PeerId(2), Message::NewShare(Box::new(bad.into())), now);
        if acts.iter().any(|a| matches!(a, Action::Ban(PeerId(2), _))) {
            banned_after.get_or_insert(k + 1);
        }
        sim.act(0, acts);
    }
    assert_eq!(banned_after, Some(2), "two bad shares (50 points each) ban");
    assert!(!sim.nodes[0].0.is_ready(PeerId(2)));
    assert_eq!(sim.tip(0), sim.tip(1));
    assert_eq!(sim.nodes[0].0.chain().height(), Some(9));
}

#[test]
fn a_different_chain_is_disconnected_and_junk_before_handshake_is_banned() {
    let mut sim = Sim::new(1);
    let _ = sim.nodes[0].0.on_connect(PeerId(5), T0);
    let acts = sim.nodes[0].0.on_message(
        PeerId(5),
        Message::Hello {
            version: 1,
            consensus_id: [1; 32],
            challenge: [0; 16],
            listen_port: 0,
            tip_height: 0,
            tip_work: [0; 32],
        },
        T0,
    );
    assert!(matches!(
        acts.as_slice(),
        [Action::Disconnect(PeerId(5), _)]
    ));
    let _ = sim.nodes[0].0.on_connect(PeerId(6), T0);
    let acts = sim.nodes[0].0.on_message(PeerId(6), Message::GetAddr, T0);
    assert!(matches!(acts.as_slice(), [Action::Ban(PeerId(6), _)]));
    let hello = sim.nodes[0].0.on_connect(PeerId(7), T0);
    let challenge = match &hello[0] {
        Action::Send(_, Message::Hello { challenge, .. }) => *challenge,
        other => panic!("{other:?}"),
    };
    let id = sim.nodes[0].0.chain().consensus_id();
    let bits = params().handshake_pow_bits;
    let wrong = (0u64..)
        .find(|n| !hearth_sharechain::p2p::handshake_pow_ok(&id, &challenge, *n, bits))
        .unwrap();
    let acts = sim.nodes[0]
        .0
        .on_message(PeerId(7), Message::HelloProof { nonce: wrong }, T0);
    assert!(matches!(acts.as_slice(), [Action::Ban(PeerId(7), _)]));
}

/// Takes `peer` through node `at`'s handshake by hand (the peer plays
/// itself: no node behind it).
fn handshake(sim: &mut Sim, at: usize, peer: PeerId) {
    let hello = sim.nodes[at].0.on_connect(peer, T0);
    let challenge = match &hello[0] {
        Action::Send(_, Message::Hello { challenge, .. }) => *challenge,
        other => panic!("{other:?}"),
    };
    let id = sim.nodes[at].0.chain().consensus_id();
    let theirs = Message::Hello {
        version: 1,
        consensus_id: id.0,
        challenge: [0; 16],
        listen_port: 0,
        tip_height: 0,
        tip_work: [0; 32],
    };
    let _ = sim.nodes[at].0.on_message(peer, theirs, T0);
    let nonce = solve_handshake_pow(&id, &challenge, params().handshake_pow_bits);
    let _ = sim.nodes[at]
        .0
        .on_message(peer, Message::HelloProof { nonce }, T0);
    assert!(sim.nodes[at].0.is_ready(peer));
}

/// A share mined on the genesis parent of a fresh chain with `params()`,
/// in a block template with nBits `bits`.
fn first_share(bits: u32, extra: u64) -> Share {
    let mut chain = Chain::new(params(), Checker::detect());
    let base = BlockBase {
        prev_blockhash: BlockHash::all_zeros(),
        height: 500,
        bits: CompactTarget::from_consensus(bits),
        time: T0 as u32,
    };
    let job = chain.job(test_payout_script(3), 50_000_000, base.bits, T0);
    mine(&job, &base, &[[2; 32]], extra, 100_000).unwrap()
}

/// The frame a peer sends, through the daemon's reader.
fn through_the_wire(m: &Message) -> Message {
    let id = params().consensus_id();
    let mut reader = FrameReader::new(&id);
    reader.push(&encode_frame(&id, m));
    reader.next_message().unwrap().unwrap()
}

/// A peer's share that meets the block target (regtest nBits): submitted as
/// the block it is (the received bytes decoded, equal to the share mined),
/// stored as the bytes received and relayed to the other peer as them, not
/// back to its sender; a share that is not a block gives no `SubmitBlock`.
#[test]
fn a_received_block_is_submitted_and_its_bytes_stored_and_relayed_unchanged() {
    for (bits, is_block) in [(0x207f_ffff, true), (0x1d00_ffff, false)] {
        let mut sim = Sim::new(1);
        handshake(&mut sim, 0, PeerId(1));
        handshake(&mut sim, 0, PeerId(2));
        let share = first_share(bits, 1);
        let sent = Message::NewShare(Box::new(ReceivedShare::from(&share)));
        let frame = encode_frame(&params().consensus_id(), &sent);
        let acts = sim.nodes[0]
            .0
            .on_message(PeerId(1), through_the_wire(&sent), T0);
        let blocks: Vec<&Share> = acts
            .iter()
            .filter_map(|a| match a {
                Action::SubmitBlock(b) => Some(b.as_ref()),
                _ => None,
            })
            .collect();
        if is_block {
            assert_eq!(blocks, vec![&share], "the block is the share mined");
            let block = hearth_sharechain::share::merkle_root_from_branch(
                blocks[0].coinbase.compute_txid().to_byte_array(),
                &blocks[0].merkle_branch,
            );
            assert_eq!(block, share.header.merkle_root);
        } else {
            assert!(blocks.is_empty(), "not a block: {acts:?}");
        }
        let stored: Vec<&ReceivedShare> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Store { shares, .. } => Some(shares),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(stored.len(), 1, "{acts:?}");
        assert_eq!(stored[0].bytes(), &share.to_bytes()[..]);
        assert_eq!(stored[0].hash(), share.hash());
        let relayed: Vec<(PeerId, Vec<u8>)> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Send(p, m @ Message::NewShare(_)) => {
                    Some((*p, encode_frame(&params().consensus_id(), m)))
                }
                _ => None,
            })
            .collect();
        assert_eq!(relayed, vec![(PeerId(2), frame)], "relayed as received");
    }
}

/// Share messages that are not messages (trailing bytes, a truncated
/// share, too many shares) are refused by the codec with a reason and the
/// node scores the peer with it (50 points: the second bans, the reason
/// given); one before the handshake bans at once; a share over the size
/// limit passes the codec, as before, and the chain's refusal scores it.
#[test]
fn a_bad_share_message_is_refused_with_a_reason_and_scored() {
    let share = first_share(0x1d00_ffff, 2);
    let bytes = share.to_bytes();
    let mut trailing = bytes.clone();
    trailing.push(0);
    let trailing = decode_payload(9, &trailing).unwrap_err();
    assert_eq!(
        trailing,
        ProtocolError::Malformed {
            what: "newshare",
            reason: "trailing bytes".into()
        }
    );
    let mut cut = vec![1u8];
    cut.extend_from_slice(&bytes[..bytes.len() / 2]);
    let cut = decode_payload(8, &cut).unwrap_err();
    assert!(matches!(
        cut,
        ProtocolError::Malformed { what: "shares", .. }
    ));
    let mut many = vec![0xfd, 0x2c, 0x01]; // 300
    many.extend_from_slice(&bytes);
    let many = decode_payload(8, &many).unwrap_err();
    assert!(matches!(many, ProtocolError::TooMany { len: 300, .. }));
    for (first, second) in [(&trailing, &cut), (&many, &trailing)] {
        let mut sim = Sim::new(1);
        handshake(&mut sim, 0, PeerId(1));
        let acts = sim.nodes[0].0.on_bad_message(PeerId(1), first, T0);
        assert!(acts.is_empty(), "{acts:?}");
        assert_eq!(sim.nodes[0].0.score(PeerId(1)), Some(50));
        let acts = sim.nodes[0].0.on_bad_message(PeerId(1), second, T0);
        match acts.as_slice() {
            [Action::Ban(PeerId(1), why)] => assert_eq!(why, &second.to_string()),
            other => panic!("{other:?}"),
        }
        assert!(!sim.nodes[0].0.is_ready(PeerId(1)));
        // Before the handshake: banned at once.
        let _ = sim.nodes[0].0.on_connect(PeerId(3), T0);
        let acts = sim.nodes[0].0.on_bad_message(PeerId(3), first, T0);
        match acts.as_slice() {
            [Action::Ban(PeerId(3), why)] => {
                assert!(why.ends_with("before the handshake"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }
    // A frame error ends the connection (no next frame to find).
    let mut sim = Sim::new(1);
    handshake(&mut sim, 0, PeerId(1));
    let acts = sim.nodes[0]
        .0
        .on_bad_message(PeerId(1), &ProtocolError::TooLarge(1 << 30), T0);
    assert!(matches!(
        acts.as_slice(),
        [Action::Disconnect(PeerId(1), _)]
    ));
    // Over the share size limit: decoded as before, refused by the chain.
    let mut big = share.clone();
    big.coinbase.output.push(bitcoin::TxOut {
        value: bitcoin::Amount::ZERO,
        script_pubkey: bitcoin::ScriptBuf::from_bytes(vec![0x51; 70_000]),
    });
    let m = through_the_wire(&Message::NewShare(Box::new(ReceivedShare::from(&big))));
    handshake(&mut sim, 0, PeerId(2));
    let acts = sim.nodes[0].0.on_message(PeerId(2), m, T0);
    assert!(acts.is_empty(), "{acts:?}");
    assert_eq!(sim.nodes[0].0.score(PeerId(2)), Some(50));
    assert!(sim.nodes[0].0.chain().is_empty());
}
