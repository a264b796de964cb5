#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The HTTP server's limits on a running `hearth run --sim`
//! (docs/security.md, "HTTP limits"), with small limits from its config so
//! the floods are short. Clients are told apart by their loopback source
//! address (127.0.0.2, ...), never by a header.
//!
//! 1. Requests: a client flooding as fast as it can gets its burst and then
//!    its rate, and `429` with `Retry-After` for the rest; another client is
//!    served meanwhile and the control loop keeps ticking; the flooder is
//!    served again after the wait it was told.
//! 2. Connections: a client holding its share of idle connections gets
//!    `503` on one more while others connect; when strangers from many
//!    addresses take every slot they may, a newcomer gets `503` but the
//!    owner's client (it set the password) still gets in, to the reserve;
//!    a slot is free again when its connection closes.

mod common;

use common::loopback::{connect_from, http_from, lo};
use std::net::{IpAddr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
const RATE_PER_S: u32 = 20;
const BURST: u32 = 40;
const MAX_CONNECTIONS: usize = 12;
const PER_CLIENT: usize = 4;

async fn code(src: IpAddr, addr: SocketAddr, path: &str) -> u16 {
    http_from(src, addr, "GET", path, None)
        .await
        .map_or(0, |(c, _)| c)
}

/// The simulated time the status reports.
async fn status_time_ms(src: IpAddr, addr: SocketAddr) -> u64 {
    let (c, resp) = http_from(src, addr, "GET", "/api/v1/status", None)
        .await
        .expect("status answers");
    assert_eq!(c, 200, "{resp}");
    let body = resp.split_once("\r\n\r\n").unwrap().1;
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["time_ms"].as_u64().unwrap()
}

/// A connection from `src` that sends nothing: what the server says on it
/// before closing, or `None` if it stays open for `wait`.
async fn said_before_closing(conn: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut got = Vec::new();
    match tokio::time::timeout(wait, conn.read_to_end(&mut got)).await {
        Ok(_) => Some(String::from_utf8_lossy(&got).into_owned()),
        Err(_) => None,
    }
}

async fn hold(src: IpAddr, addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(connect_from(src, addr).await.unwrap());
    }
    // Each is admitted (or not) as the server accepts it: give it the moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for c in &mut held {
        assert_eq!(
            said_before_closing(c, Duration::from_millis(50)).await,
            None,
            "a connection within the limits stays open"
        );
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_floods_and_connection_hoarding_are_refused_per_client() {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let cfg = dir.path().join("hearth.toml");
    std::fs::write(
        &cfg,
        format!(
            "[web]\npublic_read = true\nrequests_per_s = {RATE_PER_S}\nrequest_burst = {BURST}\nmax_connections = {MAX_CONNECTIONS}\nmax_connections_per_client = {PER_CLIENT}\n\n[[zone]]\nid = \"living-room\"\n\n[[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n"
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["run", "--sim", "--config"])
        .arg(&cfg)
        .args(["--http", &addr.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _child = common::Killed(child);
    let started = Instant::now();
    while code(lo(1), addr, "/health").await != 200 {
        assert!(started.elapsed() < Duration::from_secs(60), "no /health");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 1. One client floods for 2 s.
    let flood_started = Instant::now();
    let flood = tokio::spawn(async move {
        let (mut ok, mut limited, mut other, mut retry_after) = (0u32, 0u32, 0u32, None);
        while flood_started.elapsed() < Duration::from_secs(2) {
            match http_from(lo(2), addr, "GET", "/health", None).await {
                Some((200, _)) => ok += 1,
                Some((429, resp)) => {
                    limited += 1;
                    assert!(resp.contains("too many requests"), "{resp}");
                    retry_after = resp
                        .lines()
                        .find_map(|l| l.strip_prefix("retry-after: "))
                        .map(|v| v.trim().parse::<u64>().unwrap());
                }
                _ => other += 1,
            }
        }
        (ok, limited, other, retry_after, flood_started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let t0 = status_time_ms(lo(3), addr).await;
    let mut others = Vec::new();
    for _ in 0..10 {
        others.push(code(lo(3), addr, "/health").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t1 = status_time_ms(lo(3), addr).await;
    let (ok, limited, other, retry_after, took) = flood.await.unwrap();
    eprintln!(
        "request flood: one client sent {} requests in {:.1} s: {ok} served, {limited} refused with 429, {other} other; another client meanwhile: {others:?}; the control loop advanced {} ms",
        ok + limited + other,
        took.as_secs_f64(),
        t1 - t0
    );
    assert_eq!(other, 0, "every request is answered 200 or 429");
    let most = BURST + (took.as_secs_f64() * f64::from(RATE_PER_S)).ceil() as u32;
    assert!(
        ok >= BURST && ok <= most,
        "served {ok}: the burst ({BURST}) and then the rate, at most {most}"
    );
    assert!(limited > 0, "the flood was refused");
    assert_eq!(retry_after, Some(1), "429 says when to retry");
    assert!(
        others.iter().all(|&c| c == 200),
        "another client is served: {others:?}"
    );
    assert!(t1 > t0, "the control loop ticks during the flood");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        code(lo(2), addr, "/health").await,
        200,
        "served after waiting"
    );

    // 2. Connections. The owner sets the password from 127.0.0.50, which
    // makes that address one the reserve is kept for.
    let owner = lo(50);
    let (c, resp) = http_from(
        owner,
        addr,
        "POST",
        "/api/v1/auth/setup",
        Some(r#"{"password":"correct horse battery"}"#),
    )
    .await
    .unwrap();
    assert_eq!(c, 200, "{resp}");
    let reserve =
        hearth::web::limits::owner_reserve(MAX_CONNECTIONS as u32, PER_CLIENT as u32) as usize;
    assert!(reserve > 0);
    // One client holds its share, idle.
    let mut held = hold(lo(4), addr, PER_CLIENT).await;
    let mut one_more = connect_from(lo(4), addr).await.unwrap();
    let said = said_before_closing(&mut one_more, Duration::from_secs(5))
        .await
        .expect("the connection over the client's share is closed");
    assert!(said.starts_with("HTTP/1.1 503"), "{said}");
    assert!(said.contains("too many connections"), "{said}");
    assert_eq!(
        code(lo(5), addr, "/health").await,
        200,
        "another client connects"
    );
    // Others, from many addresses, fill every slot a stranger may have.
    let mut hoarders = 6u8;
    while held.len() < MAX_CONNECTIONS - reserve {
        let n = PER_CLIENT.min(MAX_CONNECTIONS - reserve - held.len());
        held.extend(hold(lo(hoarders), addr, n).await);
        hoarders += 1;
    }
    let mut newcomer = connect_from(lo(100), addr).await.unwrap();
    let said = said_before_closing(&mut newcomer, Duration::from_secs(5))
        .await
        .expect("a newcomer is refused when the strangers' slots are taken");
    assert!(said.starts_with("HTTP/1.1 503"), "{said}");
    // The owner still gets in: a status read, then the whole reserve held.
    let (c, _) = http_from(owner, addr, "GET", "/api/v1/status", None)
        .await
        .expect("the owner is answered");
    assert_eq!(
        c, 200,
        "the owner is served while strangers hold every other slot"
    );
    let owners = hold(owner, addr, reserve).await;
    let mut over = connect_from(owner, addr).await.unwrap();
    let said = said_before_closing(&mut over, Duration::from_secs(5))
        .await
        .expect("past the reserve the owner is refused too");
    assert!(said.starts_with("HTTP/1.1 503"), "{said}");
    drop(owners);
    // One hoarder lets go: the slot is free again, for a stranger too.
    drop(held.pop());
    let freed = Instant::now();
    let mut got = code(lo(100), addr, "/health").await;
    while got != 200 && freed.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        got = code(lo(100), addr, "/health").await;
    }
    eprintln!(
        "connection limits: {PER_CLIENT} per client and {MAX_CONNECTIONS} in all held ({reserve} kept for the owner, who got in while strangers held the rest); one more 503, a freed slot reused after {} ms",
        freed.elapsed().as_millis()
    );
    assert_eq!(got, 200, "a closed connection gives its slot back");
    drop(held);
}
