#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! Sharechain nodes over real TCP on loopback: convergence, a late joiner,
//! a healed partition, a flooder banned while honest nodes keep syncing,
//! and matching payouts.

use hearth::sharechain::p2p::{start, P2pConfig, P2pHandle};
use hearth_shacheck::Checker;
use hearth_sharechain::miner::test_payout_script;
use hearth_sharechain::p2p::{encode_frame, solve_handshake_pow, FrameReader, Message};
use hearth_sharechain::{Chain, ChainParams, Network};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn params() -> ChainParams {
    ChainParams::for_network(Network::Regtest)
}

async fn node(dir: &tempfile::TempDir, name: &str, seeds: Vec<SocketAddr>) -> P2pHandle {
    start(
        P2pConfig {
            params: params(),
            listen: "127.0.0.1:0".parse().unwrap(),
            seeds,
            data_dir: dir.path().join(name),
            store_write_delay: Duration::ZERO,
        },
        Some(test_payout_script(name.as_bytes()[0] as u32)),
    )
    .await
    .expect("start node")
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn wait_peers(h: &P2pHandle, n: usize) {
    wait_until("peers", || h.status().peers >= n).await;
}

fn same_tip(nodes: &[&P2pHandle]) -> bool {
    let t = nodes[0].status().tip;
    t.is_some() && nodes.iter().all(|n| n.status().tip == t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_converge_a_late_joiner_syncs_and_payouts_match() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(&dir, "a", vec![]).await;
    let b = node(&dir, "b", vec![a.local_addr]).await;
    let c = node(&dir, "c", vec![b.local_addr]).await;
    wait_peers(&b, 2).await;
    for i in 0..30u32 {
        let h = [&a, &b, &c][(i % 3) as usize];
        h.mine_regtest(test_payout_script(i % 5))
            .await
            .expect("mine");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_until("a, b, c converge", || same_tip(&[&a, &b, &c])).await;
    assert_eq!(a.status().height, Some(29));
    // Late joiner: syncs headers-first from c.
    let d = node(&dir, "d", vec![c.local_addr]).await;
    wait_until("d syncs", || same_tip(&[&a, &d])).await;
    let pay = a.payouts(312_500_000).await.unwrap();
    assert!(pay.len() >= 5);
    for h in [&b, &c, &d] {
        assert_eq!(h.payouts(312_500_000).await.unwrap(), pay);
    }
    assert_eq!(d.status().window_shares, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_to_the_chain_with_most_work() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(&dir, "a", vec![]).await;
    let b = node(&dir, "b", vec![a.local_addr]).await;
    let c = node(&dir, "c", vec![]).await;
    wait_peers(&a, 1).await;
    for i in 0..4 {
        a.mine_regtest(test_payout_script(i)).await.unwrap();
    }
    for i in 0..9 {
        c.mine_regtest(test_payout_script(10 + i)).await.unwrap();
    }
    wait_until("a and b agree", || same_tip(&[&a, &b])).await;
    assert_ne!(a.status().tip, c.status().tip);
    c.connect(b.local_addr).await.unwrap();
    wait_until("partition heals", || same_tip(&[&a, &b, &c])).await;
    assert_eq!(a.status().height, Some(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_of_invalid_shares_is_banned_while_honest_nodes_sync() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(&dir, "a", vec![]).await;
    let b = node(&dir, "b", vec![a.local_addr]).await;
    wait_peers(&a, 1).await;
    // The flooder: a correct handshake, then shares with forged payouts;
    // from 127.0.0.2, since bans are per IP and the honest nodes are
    // 127.0.0.1.
    let id = params().consensus_id();
    let from = tokio::net::TcpSocket::new_v4().unwrap();
    from.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut sock = from.connect(a.local_addr).await.unwrap();
    let mut fr = FrameReader::new(&id);
    let mut buf = vec![0u8; 65536];
    let their_challenge = loop {
        let n = sock.read(&mut buf).await.unwrap();
        assert!(n > 0);
        fr.push(&buf[..n]);
        if let Some(Ok(Message::Hello { challenge, .. })) = fr.next_message() {
            break challenge;
        }
    };
    let hello = Message::Hello {
        version: 1,
        consensus_id: id.0,
        challenge: [3; 16],
        listen_port: 0,
        tip_height: 0,
        tip_work: [0; 32],
    };
    sock.write_all(&encode_frame(&id, &hello)).await.unwrap();
    let nonce = solve_handshake_pow(&id, &their_challenge, params().handshake_pow_bits);
    sock.write_all(&encode_frame(&id, &Message::HelloProof { nonce }))
        .await
        .unwrap();
    let mut sent = 0;
    let mut closed = false;
    for k in 0..20u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // Honest work goes on meanwhile.
        b.mine_regtest(test_payout_script(k as u32)).await.unwrap();
        let b_tip = b.status().tip;
        wait_until("a has b's share", || a.status().tip == b_tip).await;
        // a writes to SQLite on its own thread: let it land before reading.
        wait_until("a's store is written", || a.store_backlog() == 0).await;
        // Forge on a's real tip (read from its database), so the payout
        // rule, not a side-branch rule, must catch it.
        let mut forge = Chain::new(params(), Checker::detect());
        let mut db = hearth::sharechain::store::ShareDb::open_in(&dir.path().join("a")).unwrap();
        hearth_sharechain::store::load_chain(&mut forge, &mut db, now + 100).unwrap();
        assert_eq!(forge.tip().map(|t| t.hash.to_hex()), b_tip);
        let bits = bitcoin::CompactTarget::from_consensus(0x207f_ffff);
        let mut job = forge.job(test_payout_script(66), 50_000_000, bits, now);
        job.payout_outputs[0].value = bitcoin::Amount::from_sat(40_000_000);
        job.payout_outputs.push(bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(10_000_000),
            script_pubkey: test_payout_script(67),
        });
        job.commitment_output.script_pubkey =
            hearth_sharechain::share::commitment_script(&job.info.ref_hash(&id));
        let base = hearth_sharechain::miner::BlockBase {
            prev_blockhash: bitcoin::BlockHash::from_raw_hash(
                bitcoin::hashes::Hash::from_byte_array([0; 32]),
            ),
            height: 1000,
            bits,
            time: now as u32,
        };
        let bad = hearth_sharechain::miner::mine(&job, &base, &[], 5000 + k, 1000).unwrap();
        if sock
            .write_all(&encode_frame(&id, &Message::NewShare(Box::new(bad.into()))))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(30)).await;
        if a.status().bans == 1 {
            break;
        }
    }
    if !closed {
        // The node closed its side: reads end.
        let r = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(r.is_ok(), "flooder still connected after {sent} bad shares");
    }
    wait_until("ban recorded", || a.status().bans == 1).await;
    wait_until("honest nodes agree", || same_tip(&[&a, &b])).await;
    b.mine_regtest(test_payout_script(1)).await.unwrap();
    wait_until("honest nodes keep syncing", || same_tip(&[&a, &b])).await;
    // Two forged shares (50 points each) ban; the node may take a moment
    // to process them while the flooder keeps writing.
    assert!((2..=6).contains(&sent), "banned after {sent} forged shares");
    let mut seen = 0;
    let left = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            seen = a.status().peers;
            if seen == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        left.is_ok(),
        "only the honest peer should be left; a has {seen} peers, b has {}",
        b.status().peers
    );
}

/// SQLite writes run on their own thread: with a store that takes 400 ms
/// per write, a node still follows its peer's tip at once, answers
/// commands in less than one write's time, and the store catches up later
/// with every share.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_keeps_serving_while_the_store_is_slow() {
    const WRITE_DELAY: Duration = Duration::from_millis(400);
    let dir = tempfile::tempdir().unwrap();
    let slow = start(
        P2pConfig {
            params: params(),
            listen: "127.0.0.1:0".parse().unwrap(),
            seeds: vec![],
            data_dir: dir.path().join("slow"),
            store_write_delay: WRITE_DELAY,
        },
        Some(test_payout_script(1)),
    )
    .await
    .expect("start slow node");
    let b = node(&dir, "b", vec![slow.local_addr]).await;
    wait_peers(&slow, 1).await;
    for i in 0..15u32 {
        b.mine_regtest(test_payout_script(i % 3))
            .await
            .expect("mine");
    }
    // Both tips can agree for a moment while the last relays are still on
    // their way: wait for the 15th share, then check the height.
    wait_until("the slow node follows", || {
        same_tip(&[&slow, &b]) && slow.status().height >= Some(14)
    })
    .await;
    assert_eq!(slow.status().height, Some(14));
    let backlog = slow.store_backlog();
    assert!(
        backlog > 0,
        "the tip moved before the writes landed (backlog {backlog})"
    );
    // Commands are answered while the store is still busy.
    let t = std::time::Instant::now();
    let pay = slow.payouts(312_500_000).await.unwrap();
    let took = t.elapsed();
    assert!(!pay.is_empty());
    assert!(
        took < WRITE_DELAY,
        "payouts took {took:?} behind a slow store"
    );
    let t = std::time::Instant::now();
    slow.mine_regtest(test_payout_script(1))
        .await
        .expect("mine");
    assert!(t.elapsed() < WRITE_DELAY, "mining waited for the store");
    assert!(slow.store_backlog() > 0);
    // And the store catches up with every share.
    wait_until("the store catches up", || slow.store_backlog() == 0).await;
    let db = hearth::sharechain::store::ShareDb::open_in(&dir.path().join("slow")).unwrap();
    assert_eq!(db.share_count().unwrap(), 16);
}
