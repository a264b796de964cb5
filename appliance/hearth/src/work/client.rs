//! A Stratum V1 pool connection: the socket, timeouts, and reconnects with
//! backoff around the sans-IO [`StratumClient`].

use super::lines::{LineReader, Read};
use hearth_core::Clock;
use hearth_work::stratum::client::{ClientError, ClientState};
use hearth_work::stratum::{
    reconnect_address, ClientConfig, ClientEvent, FollowReconnect, StratumClient,
};
use hearth_work::{Share, SourceHealth};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Connecting takes at most this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A write takes at most this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// A pool that says nothing for this long is presumed gone.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(180);
/// This many bad lines in a row and the connection is dropped.
const MAX_BAD_LINES: u32 = 10;

/// Waits between reconnects: doubling from `first` up to `max`, reset once a
/// session has been ready.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// What a source task tells the work service.
#[derive(Debug)]
pub enum SourceEvent {
    Health(usize, SourceHealth),
    Client(usize, Box<ClientEvent>),
    /// For the log and the counters: a bad line, a refused login, a timeout.
    Problem(usize, String),
}

#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub name: String,
    /// `host:port`.
    pub address: String,
    pub client: ClientConfig,
    pub backoff: Backoff,
    /// Which `client.reconnect` targets to follow.
    pub follow_reconnect: FollowReconnect,
}

/// Runs one pool source until `submits` closes.
pub async fn run_pool(
    index: usize,
    cfg: PoolConfig,
    clock: Arc<dyn Clock>,
    events: mpsc::Sender<SourceEvent>,
    mut submits: mpsc::Receiver<Share>,
) {
    let mut client = StratumClient::new(cfg.client.clone());
    let mut wait = cfg.backoff.first;
    let mut address = cfg.address.clone();
    loop {
        let _ = events
            .send(SourceEvent::Health(index, SourceHealth::Down))
            .await;
        let outcome = session(index, &address, &mut client, &clock, &events, &mut submits).await;
        client.disconnected(clock.now());
        let next_wait = match outcome {
            Ended::SubmitsClosed => return,
            Ended::Reconnect { host, port, wait_s } => {
                match reconnect_address(&cfg.address, host.as_deref(), port, cfg.follow_reconnect) {
                    Ok(a) => address = a,
                    Err(why) => {
                        tracing::warn!(pool = %cfg.name, "{why}");
                        let _ = events
                            .send(SourceEvent::Problem(index, why.to_string()))
                            .await;
                        address = cfg.address.clone();
                    }
                }
                wait = cfg.backoff.first;
                Duration::from_secs(wait_s)
            }
            Ended::WasReady(why) => {
                let _ = events.send(SourceEvent::Problem(index, why)).await;
                wait = cfg.backoff.first;
                wait
            }
            Ended::Failed(why) => {
                let _ = events.send(SourceEvent::Problem(index, why)).await;
                // A reconnect target that does not work is not kept: back
                // to the configured address.
                address = cfg.address.clone();
                let w = wait;
                wait = (wait * 2).min(cfg.backoff.max);
                w
            }
        };
        let _ = events
            .send(SourceEvent::Health(index, SourceHealth::Down))
            .await;
        // Shares found while down wait in the client's queue (bounded).
        let sleep = tokio::time::sleep(next_wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                share = submits.recv() => match share {
                    Some(s) => { let _ = client.submit(&s, clock.now()); }
                    None => return,
                },
            }
        }
    }
}

enum Ended {
    SubmitsClosed,
    Reconnect {
        host: Option<String>,
        port: Option<u16>,
        wait_s: u64,
    },
    /// The session had been ready: reconnect soon.
    WasReady(String),
    /// Never got ready: back off.
    Failed(String),
}

async fn write_lines(stream: &mut TcpStream, lines: &[String]) -> Result<(), String> {
    for line in lines {
        match tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(line.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("write failed: {e}")),
            Err(_) => return Err("write timed out".into()),
        }
    }
    Ok(())
}

async fn session(
    index: usize,
    address: &str,
    client: &mut StratumClient,
    clock: &Arc<dyn Clock>,
    events: &mpsc::Sender<SourceEvent>,
    submits: &mut mpsc::Receiver<Share>,
) -> Ended {
    let mut stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Ended::Failed(format!("connecting to {address}: {e}")),
        Err(_) => return Ended::Failed(format!("connecting to {address}: timed out")),
    };
    let _ = stream.set_nodelay(true);
    let _ = events
        .send(SourceEvent::Health(index, SourceHealth::Connecting))
        .await;
    let opening = client.connected(clock.now());
    if let Err(e) = write_lines(&mut stream, &opening).await {
        return Ended::Failed(e);
    }
    let mut reader = LineReader::default();
    let mut bad_lines = 0u32;
    let mut expire = tokio::time::interval(Duration::from_secs(1));
    let mut last_heard = tokio::time::Instant::now();
    let ended = |client: &StratumClient, why: String| {
        if client.state() == ClientState::Ready {
            Ended::WasReady(why)
        } else {
            Ended::Failed(why)
        }
    };
    loop {
        tokio::select! {
            read = reader.read(&mut stream) => {
                let lines = match read {
                    Ok(Read::Lines(l)) => l,
                    Ok(Read::Closed) => return ended(client, format!("{address} closed the connection")),
                    Err(e) => return ended(client, format!("reading from {address}: {e}")),
                };
                last_heard = tokio::time::Instant::now();
                for line in lines {
                    match client.on_line(&line, clock.now()) {
                        Ok(evs) => {
                            bad_lines = 0;
                            for ev in evs {
                                match ev {
                                    ClientEvent::Ready => {
                                        let queued = client.flush_queued();
                                        if let Err(e) = write_lines(&mut stream, &queued).await {
                                            return ended(client, e);
                                        }
                                        let _ = events.send(SourceEvent::Client(index, Box::new(ClientEvent::Ready))).await;
                                    }
                                    ClientEvent::Work(unit) => {
                                        let _ = events.send(SourceEvent::Health(index, SourceHealth::Up)).await;
                                        let _ = events.send(SourceEvent::Client(index, Box::new(ClientEvent::Work(unit)))).await;
                                    }
                                    ClientEvent::Reconnect { host, port, wait_s } => {
                                        return Ended::Reconnect { host, port, wait_s };
                                    }
                                    other => {
                                        let _ = events.send(SourceEvent::Client(index, Box::new(other))).await;
                                    }
                                }
                            }
                        }
                        Err(e @ (ClientError::Subscribe(_) | ClientError::Authorize { .. })) => {
                            return Ended::Failed(e.to_string());
                        }
                        Err(ClientError::Codec(e)) => {
                            bad_lines += 1;
                            let _ = events.send(SourceEvent::Problem(index, format!("bad line from {address}: {e}"))).await;
                            if bad_lines >= MAX_BAD_LINES {
                                return ended(client, format!("{bad_lines} bad lines in a row from {address}"));
                            }
                        }
                    }
                }
            }
            share = submits.recv() => {
                let Some(share) = share else { return Ended::SubmitsClosed };
                if let Some(line) = client.submit(&share, clock.now()) {
                    if let Err(e) = write_lines(&mut stream, &[line]).await {
                        return ended(client, e);
                    }
                }
            }
            _ = expire.tick() => {
                for ev in client.expire(clock.now()) {
                    let _ = events.send(SourceEvent::Client(index, Box::new(ev))).await;
                }
                if last_heard.elapsed() > IDLE_TIMEOUT {
                    return ended(client, format!("{address} said nothing for {} s", IDLE_TIMEOUT.as_secs()));
                }
            }
        }
    }
}
