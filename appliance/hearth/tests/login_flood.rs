#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! Wrong-password floods against a running `hearth run --sim` cannot lock
//! the owner out of password login (docs/security.md, "Login rate limit").
//! Clients are told apart by their loopback source address (127.0.0.2,
//! ...), never by a header: the daemon trusts none.
//!
//! 1. One client floods: it is rate limited (429) after its own 5 failures,
//!    and a client that never logged in before still logs in.
//! 2. Many clients flood until the global bound (20 failures a minute) is
//!    full: a client with no history is then refused (429), but the owner's
//!    devices (the one that set the password, the one that logged in during
//!    phase 1) log in; the flooders stay refused even with the right
//!    password.

mod common;

use common::loopback::{http_from, lo};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hearth");
const PASSWORD: &str = r#"{"password": "the owner's password"}"#;
const WRONG: &str = r#"{"password": "a guess that is wrong"}"#;

async fn login(src: std::net::IpAddr, addr: SocketAddr, body: &str) -> u16 {
    http_from(src, addr, "POST", "/api/v1/auth/login", Some(body))
        .await
        .map_or(0, |(c, _)| c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_does_not_lock_the_owner_out() {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let cfg = dir.path().join("hearth.toml");
    std::fs::write(
        &cfg,
        "[[zone]]\nid = \"living-room\"\n\n[[hashboard]]\nid = \"board-0\"\nzone = \"living-room\"\nprofile = \"generic-bm1370-65\"\n",
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
    while http_from(lo(1), addr, "GET", "/health", None)
        .await
        .map(|(c, _)| c)
        != Some(200)
    {
        assert!(started.elapsed() < Duration::from_secs(60), "no /health");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The owner sets the password from 127.0.0.1.
    let (code, _) = http_from(lo(1), addr, "POST", "/api/v1/auth/setup", Some(PASSWORD))
        .await
        .unwrap();
    assert_eq!(code, 200);

    // 1. One client floods for 2 s; a new client logs in meanwhile.
    let flood = tokio::spawn(async move {
        let (mut n, mut limited) = (0u32, 0u32);
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            n += 1;
            if login(lo(2), addr, WRONG).await == 429 {
                limited += 1;
            }
        }
        (n, limited)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let newcomer = login(lo(3), addr, PASSWORD).await;
    let (n, limited) = flood.await.unwrap();
    eprintln!("login flood: one client: {n} wrong logins, {limited} rate limited; a new client during it: {newcomer}");
    assert!(
        limited >= n.saturating_sub(5) && limited > 0,
        "{limited} of {n} limited"
    );
    assert_eq!(
        newcomer, 200,
        "a client with no history during a one-client flood"
    );
    assert_eq!(
        login(lo(2), addr, PASSWORD).await,
        429,
        "the flooder is limited"
    );

    // 2. Many clients: 127.0.0.10.. each fail 5 times, until the global
    // bound is full (the first flooder's 5 count too).
    for c in 10..16u8 {
        for _ in 0..5 {
            login(lo(c), addr, WRONG).await;
        }
    }
    let stranger = login(lo(4), addr, PASSWORD).await;
    let owner = login(lo(1), addr, PASSWORD).await;
    let earlier_device = login(lo(3), addr, PASSWORD).await;
    let flooder = login(lo(12), addr, PASSWORD).await;
    eprintln!("login flood: many clients: a client with no history {stranger}, the owner's device {owner}, a device that logged in before {earlier_device}, a flooder with the right password {flooder}");
    assert_eq!(
        stranger, 429,
        "the global bound holds for clients with no history"
    );
    assert_eq!(owner, 200, "the device that set the password logs in");
    assert_eq!(
        earlier_device, 200,
        "a device that logged in before logs in"
    );
    assert_eq!(flooder, 429, "a flooder stays limited");
    assert!(started.elapsed() < Duration::from_secs(120));
}
