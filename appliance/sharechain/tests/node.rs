#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report
//! The protocol state machine on a simulated in-memory network: handshake,
//! headers-first sync, relay, and a flooder banned while honest peers sync.

use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget};
use hearth_shacheck::Checker;
use hearth_sharechain::miner::{mine, test_payout_script, BlockBase};
use hearth_sharechain::node::{Action, Node, PeerId};
use hearth_sharechain::p2p::{encode_frame, solve_handshake_pow, FrameReader, Message};
use hearth_sharechain::store::{MemStore, ShareStore};
use hearth_sharechain::{Chain, ChainParams, Network, Share};
use std::collections::VecDeque;

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
    /// Shares stored with the bytes they were received as.
    stored_as_received: usize,
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
        }
    }

    fn act(&mut self, at: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Send(PeerId(to), m) => self.wire.push_back((at, to as usize, m)),
                Action::Store {
                    shares,
                    tip,
                    encoded,
                } => {
                    // The received bytes, when given, are exactly each
                    // share's id and encoding.
                    if !encoded.is_empty() {
                        assert_eq!(encoded.len(), shares.len());
                        for (s, (hash, bytes)) in shares.iter().zip(&encoded) {
                            assert_eq!(*hash, s.hash());
                            assert_eq!(*bytes, s.to_bytes());
                        }
                        self.stored_as_received += encoded.len();
                    }
                    self.nodes[at].1.put_shares(&shares, tip).unwrap()
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
            // Shares go through the wire codec, keeping their bytes, as the
            // daemon's readers pass them.
            let (m, share_bytes) = match &m {
                Message::Shares(_) | Message::NewShare(_) => {
                    let frame = encode_frame(&params().consensus_id(), &m);
                    let mut reader = FrameReader::new(&params().consensus_id());
                    reader.push(&frame);
                    match reader.next_message_keeping_shares() {
                        Some(Ok(decoded)) => decoded,
                        _ => (m, Vec::new()),
                    }
                }
                _ => (m, Vec::new()),
            };
            let acts = self.nodes[to].0.on_message_keeping_shares(
                PeerId(from as u64),
                m,
                share_bytes,
                now,
            );
            self.act(to, acts);
            if let Some(hashes) = reply {
                let store = &mut self.nodes[to].1;
                let shares: Vec<Share> = hashes
                    .iter()
                    .filter_map(|h| store.get_share(h).unwrap())
                    .collect();
                self.wire.push_back((to, from, Message::Shares(shares)));
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
    // Relayed and synced shares were stored as received, not re-encoded.
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
    let hello = sim.nodes[0].0.on_connect(PeerId(2), T0);
    let challenge = match &hello[0] {
        Action::Send(_, Message::Hello { challenge, .. }) => *challenge,
        other => panic!("{other:?}"),
    };
    let id = sim.nodes[0].0.chain().consensus_id();
    let ours = Message::Hello {
        version: 1,
        consensus_id: id.0,
        challenge: [0; 16],
        listen_port: 0,
        tip_height: 0,
        tip_work: [0; 32],
    };
    let bits = params().handshake_pow_bits;
    let _ = sim.nodes[0].0.on_message(PeerId(2), ours, T0);
    let _ = sim.nodes[0].0.on_message(
        PeerId(2),
        Message::HelloProof {
            nonce: solve_handshake_pow(&id, &challenge, bits),
        },
        T0,
    );
    assert!(sim.nodes[0].0.is_ready(PeerId(2)));
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
        let acts = sim.nodes[0]
            .0
            .on_message(PeerId(2), Message::NewShare(Box::new(bad)), now);
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
