#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The sharechain p2p port's per-IP limits over real TCP on loopback, with
//! attackers on their own loopback addresses (127.0.0.2, ...): a flood of
//! connections from one IP is held to `max_inbound_per_ip`, honest peers
//! (another IP) still get in, and a banned IP is refused whatever port it
//! comes back from; the ban outlives a restart of the node.

mod common;

use common::loopback::{connect_from, lo};
use hearth::sharechain::p2p::{start_limited, P2pConfig, P2pHandle, PeerLimits};
use hearth_sharechain::miner::test_payout_script;
use hearth_sharechain::p2p::{encode_frame, Message};
use hearth_sharechain::{ChainParams, Network};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMITS: PeerLimits = PeerLimits {
    max_inbound_per_ip: 4,
    ban_seconds: 600,
};

fn cfg(dir: &std::path::Path, name: &str, listen: SocketAddr, seeds: Vec<SocketAddr>) -> P2pConfig {
    P2pConfig {
        params: ChainParams::for_network(Network::Regtest),
        listen,
        seeds,
        data_dir: dir.join(name),
        store_write_delay: Duration::ZERO,
    }
}

async fn node(
    dir: &std::path::Path,
    name: &str,
    listen: SocketAddr,
    seeds: Vec<SocketAddr>,
) -> P2pHandle {
    start_limited(
        cfg(dir, name, listen, seeds),
        Some(test_payout_script(1)),
        LIMITS,
    )
    .await
    .expect("start node")
}

/// Whether the node took the connection: an accepted one gets the node's
/// hello; a refused one is closed at once.
async fn accepted(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 256];
    matches!(
        tokio::time::timeout(Duration::from_secs(3), s.read(&mut b)).await,
        Ok(Ok(n)) if n > 0
    )
}

async fn attempt(src: IpAddr, to: SocketAddr) -> (bool, u16) {
    let mut s = connect_from(src, to).await.expect("connect");
    let port = s.local_addr().unwrap().port();
    (accepted(&mut s).await, port)
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ip_is_capped_and_banned_by_ip_while_honest_peers_get_in() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), "a", "127.0.0.1:0".parse().unwrap(), vec![]).await;
    let to = a.local_addr;

    // A flood of connections from 127.0.0.2, held open.
    let mut held = Vec::new();
    let mut kept = 0;
    for _ in 0..20 {
        let mut s = connect_from(lo(2), to).await.expect("connect");
        if accepted(&mut s).await {
            kept += 1;
        }
        held.push(s);
    }
    eprintln!("p2p limits: 20 connections from one IP, {kept} kept");
    assert_eq!(kept, LIMITS.max_inbound_per_ip, "the per-IP cap");

    // An honest node (127.0.0.1) dials in and handshakes; a connection from
    // a third IP is taken too.
    let honest = node(
        dir.path(),
        "honest",
        "127.0.0.1:0".parse().unwrap(),
        vec![to],
    )
    .await;
    wait_until("honest peer in", || {
        a.status().peers >= 1 && honest.status().peers >= 1
    })
    .await;
    assert!(attempt(lo(3), to).await.0, "another IP is accepted");

    // 127.0.0.4 misbehaves (a message before the handshake): banned.
    let id = ChainParams::for_network(Network::Regtest).consensus_id();
    let mut bad = connect_from(lo(4), to).await.unwrap();
    let bad_port = bad.local_addr().unwrap().port();
    assert!(accepted(&mut bad).await);
    bad.write_all(&encode_frame(&id, &Message::GetAddr))
        .await
        .unwrap();
    wait_until("ban", || a.status().bans == 1).await;
    // Back on a new port: refused at once, several times.
    for _ in 0..3 {
        let (ok, port) = attempt(lo(4), to).await;
        assert_ne!(port, bad_port);
        assert!(
            !ok,
            "a banned IP reconnecting from port {port} was accepted"
        );
    }
    // Nobody else is collateral: the honest peer stays, 127.0.0.3 and a
    // freed slot of 127.0.0.2 are still taken.
    assert!(attempt(lo(3), to).await.0);
    assert_eq!(a.status().peers, 1, "the honest peer is still in");
    held.truncate(LIMITS.max_inbound_per_ip - 1);
    let mut freed = false;
    for _ in 0..20 {
        if attempt(lo(2), to).await.0 {
            freed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(freed, "a closed connection frees its IP's slot");

    // The ban is stored: a second node started on the same data
    // directory (as after a restart; the first cannot be stopped from
    // here, so the new one takes another port) refuses the IP too.
    wait_until("ban written", || a.store_backlog() == 0).await;
    let again = start_limited(
        cfg(dir.path(), "a", "127.0.0.1:0".parse().unwrap(), vec![]),
        None,
        LIMITS,
    )
    .await
    .expect("restart");
    wait_until("ban reloaded", || again.status().bans == 1).await;
    assert!(
        !attempt(lo(4), again.local_addr).await.0,
        "banned after a restart"
    );
    assert!(attempt(lo(5), again.local_addr).await.0);
    drop(held);
}
