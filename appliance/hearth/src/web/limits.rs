//! What one client can take from the HTTP server (docs/security.md, "HTTP
//! limits"): connections held open at once, and requests per second.
//!
//! Clients are told apart by their source address as the socket reports it
//! ([`auth::client_key`]: an IPv4 address, or the /64 of an IPv6 one),
//! never by a header. Over the connection cap a connection is answered
//! `503` and closed at once; over the request rate a request is answered
//! `429` with `Retry-After`. Neither touches the control loop, which never
//! waits for the web server.
//!
//! The bookkeeping ([`RequestLimiter`], [`ConnectionSlots`]) is plain data
//! that takes `now`; [`LimitedListener`] and [`rate_guard`] are the IO edge.

use super::auth::{client_ip, client_key};
use super::WebConfig;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Clients the request limiter remembers at once. A client whose bucket has
/// refilled is forgotten first (forgetting it changes nothing).
pub const MAX_TRACKED_CLIENTS: usize = 4096;
/// A connection that neither sends nor receives a byte for this long is
/// closed: a client that vanished (a phone leaving the Wi-Fi) must not hold
/// a slot for ever. The live stream writes a keep-alive every 15 s.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The warnings about refused clients come at most this often, so a flood
/// does not flood the journal too.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// One client's token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per client: `burst` requests at once, then `rate_per_s`.
#[derive(Debug)]
pub struct RequestLimiter {
    rate_per_s: f64,
    burst: f64,
    buckets: HashMap<IpAddr, Bucket>,
    /// Requests refused since the last warning.
    refused: u64,
    warned_at: Option<Instant>,
}

impl RequestLimiter {
    pub fn new(config: &WebConfig) -> RequestLimiter {
        RequestLimiter {
            rate_per_s: f64::from(config.requests_per_s.max(1)),
            burst: f64::from(config.request_burst.max(1)),
            buckets: HashMap::new(),
            refused: 0,
            warned_at: None,
        }
    }

    /// `Ok` takes one request from `client`'s bucket; `Err` is how long
    /// until it may try again.
    pub fn admit(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if !self.buckets.contains_key(&client) && self.buckets.len() >= MAX_TRACKED_CLIENTS {
            self.forget_refilled(now);
            if self.buckets.len() >= MAX_TRACKED_CLIENTS {
                // Thousands of clients each busy within the last seconds:
                // a newcomer waits until one of them goes quiet.
                self.refused += 1;
                return Err(Duration::from_secs(1));
            }
        }
        let (rate, burst) = (self.rate_per_s, self.burst);
        let bucket = self.buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed_s = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed_s * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            self.refused += 1;
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// Clients remembered now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    fn forget_refilled(&mut self, now: Instant) {
        let (rate, burst) = (self.rate_per_s, self.burst);
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst
        });
    }

    /// The count of refused requests to warn about, when a warning is due.
    fn warning_due(&mut self, now: Instant) -> Option<u64> {
        warning_due(&mut self.refused, &mut self.warned_at, now)
    }
}

fn warning_due(refused: &mut u64, warned_at: &mut Option<Instant>, now: Instant) -> Option<u64> {
    if *refused == 0 || warned_at.is_some_and(|t| now.saturating_duration_since(t) < WARN_EVERY) {
        return None;
    }
    *warned_at = Some(now);
    Some(std::mem::take(refused))
}

/// The layer that applies [`RequestLimiter`] to every request, before
/// authentication (so an anonymous flood is limited too).
pub async fn rate_guard(
    State(limiter): State<Arc<Mutex<RequestLimiter>>>,
    req: Request,
    next: Next,
) -> Response {
    let client = client_key(client_ip(req.extensions()));
    let now = Instant::now();
    let verdict = {
        let mut l = limiter.lock().unwrap_or_else(PoisonError::into_inner);
        let verdict = l.admit(client, now);
        if let Some(n) = l.warning_due(now) {
            tracing::warn!(refused = n, last = %client, "HTTP requests over the per-client rate refused (429)");
        }
        verdict
    };
    match verdict {
        Ok(()) => next.run(req).await,
        Err(wait) => too_many_requests(wait),
    }
}

fn too_many_requests(wait: Duration) -> Response {
    // Whole seconds, rounded up, at least one.
    let retry_s = u64::try_from(wait.as_millis().div_ceil(1000).max(1)).unwrap_or(u64::MAX);
    let mut resp = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(serde_json::json!({
            "error": format!("too many requests from your address: retry in {retry_s} s")
        })),
    )
        .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_s));
    resp
}

/// Whether a client (its [`client_key`]) is one the owner uses.
pub type OwnerClients = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// Slots kept for the owner's clients out of `max_total` (with up to
/// `max_per_client` each): one client's share, at most a quarter of all.
/// An attacker with many addresses can take every other slot, not these.
pub fn owner_reserve(max_total: u32, max_per_client: u32) -> u32 {
    max_per_client.min(max_total / 4)
}

/// Open connections, counted in all and per client. The last
/// [`owner_reserve`] slots go only to clients the owner uses.
pub struct ConnectionSlots {
    max_total: u32,
    max_per_client: u32,
    reserved: u32,
    owner: Option<OwnerClients>,
    counts: Mutex<SlotCounts>,
}

impl std::fmt::Debug for ConnectionSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionSlots")
            .field("max_total", &self.max_total)
            .field("max_per_client", &self.max_per_client)
            .field("reserved", &self.reserved)
            .field("counts", &self.counts)
            .finish()
    }
}

#[derive(Debug, Default)]
struct SlotCounts {
    total: u32,
    /// Only clients holding a connection: never more than `max_total` keys.
    per_client: HashMap<IpAddr, u32>,
    refused: u64,
    warned_at: Option<Instant>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This client holds its share already.
    ClientFull,
    /// All slots are taken.
    ServerFull,
}

impl ConnectionSlots {
    /// Without an owner check: nothing is reserved.
    pub fn new(config: &WebConfig) -> Arc<ConnectionSlots> {
        Self::build(config, None)
    }

    /// With `owner` telling the owner's clients (those that logged in or
    /// used a token lately), for whom the reserve is kept.
    pub fn with_owner(config: &WebConfig, owner: OwnerClients) -> Arc<ConnectionSlots> {
        Self::build(config, Some(owner))
    }

    fn build(config: &WebConfig, owner: Option<OwnerClients>) -> Arc<ConnectionSlots> {
        let max_total = config.max_connections.max(1);
        let max_per_client = config.max_connections_per_client.max(1);
        Arc::new(ConnectionSlots {
            max_total,
            max_per_client,
            reserved: if owner.is_some() {
                owner_reserve(max_total, max_per_client)
            } else {
                0
            },
            owner,
            counts: Mutex::new(SlotCounts::default()),
        })
    }

    /// A slot for `client`, given back when the [`Slot`] drops.
    pub fn take(self: &Arc<Self>, client: IpAddr) -> Result<Slot, Refusal> {
        // Asked before taking the count's lock (the check takes the login
        // limiter's lock), and only where a reserve is kept.
        let owner = self.reserved > 0 && self.owner.as_ref().is_some_and(|f| f(client));
        let mut c = self.lock();
        let held = c.per_client.get(&client).copied().unwrap_or(0);
        let cap = if owner {
            self.max_total
        } else {
            self.max_total - self.reserved
        };
        let refusal = if held >= self.max_per_client {
            Some(Refusal::ClientFull)
        } else if c.total >= cap {
            Some(Refusal::ServerFull)
        } else {
            None
        };
        if let Some(r) = refusal {
            c.refused += 1;
            return Err(r);
        }
        c.total += 1;
        c.per_client.insert(client, held + 1);
        Ok(Slot {
            slots: self.clone(),
            client,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> u32 {
        self.lock().total
    }

    fn give_back(&self, client: IpAddr) {
        let mut c = self.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_client.get_mut(&client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_client.remove(&client);
            }
        }
    }

    fn warning_due(&self, now: Instant) -> Option<u64> {
        let mut c = self.lock();
        let c = &mut *c;
        warning_due(&mut c.refused, &mut c.warned_at, now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotCounts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One held connection slot.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<ConnectionSlots>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.give_back(self.client);
    }
}

/// What a refused connection is told before it is closed.
const REFUSED_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 83\r\n\r\n{\"error\": \"too many connections from your address or in all: close some and retry\"}";

/// A TCP listener that admits a connection only with a free [`Slot`], and
/// closes connections that stay idle for [`IDLE_TIMEOUT`].
#[derive(Debug)]
pub struct LimitedListener {
    inner: TcpListener,
    slots: Arc<ConnectionSlots>,
}

impl LimitedListener {
    pub fn new(inner: TcpListener, slots: Arc<ConnectionSlots>) -> LimitedListener {
        LimitedListener { inner, slots }
    }
}

impl axum::serve::Listener for LimitedListener {
    type Io = LimitedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (LimitedStream, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) {
                        // Out of descriptors or memory: give it a moment
                        // rather than spin.
                        tracing::error!(error = %e, "accepting an HTTP connection failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            };
            match self.slots.take(client_key(addr.ip())) {
                Ok(slot) => {
                    let _ = stream.set_nodelay(true);
                    return (LimitedStream::new(stream, slot), addr);
                }
                Err(why) => {
                    // Best effort and without waiting: the socket's send
                    // buffer takes this whole.
                    let _ = stream.try_write(REFUSED_RESPONSE);
                    drop(stream);
                    if let Some(n) = self.slots.warning_due(Instant::now()) {
                        tracing::warn!(refused = n, last = %addr.ip(), reason = ?why, "HTTP connections over the limit refused (503)");
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An admitted connection: it holds its slot until dropped, and fails its
/// reads once it has been idle for [`IDLE_TIMEOUT`].
#[derive(Debug)]
pub struct LimitedStream {
    stream: TcpStream,
    _slot: Slot,
    idle_deadline: Pin<Box<tokio::time::Sleep>>,
}

impl LimitedStream {
    fn new(stream: TcpStream, slot: Slot) -> LimitedStream {
        LimitedStream {
            stream,
            _slot: slot,
            idle_deadline: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
        }
    }

    fn active(&mut self) {
        self.idle_deadline
            .as_mut()
            .reset(tokio::time::Instant::now() + IDLE_TIMEOUT);
    }

    /// `Pending` work is allowed to wait only until the idle deadline.
    fn idle_expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.idle_deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "HTTP connection idle too long")
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.active();
                }
                Poll::Ready(r)
            }
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(idle_error())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.active();
                }
                Poll::Ready(Ok(n))
            }
            // A client that stops reading blocks our writes: the same limit.
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_write_vectored(cx, bufs) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    this.active();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Pending if this.idle_expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn config(rate: u32, burst: u32, total: u32, per_client: u32) -> WebConfig {
        WebConfig {
            requests_per_s: rate,
            request_burst: burst,
            max_connections: total,
            max_connections_per_client: per_client,
            ..WebConfig::default()
        }
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn a_client_gets_its_burst_then_the_rate() {
        let mut l = RequestLimiter::new(&config(10, 5, 1, 1));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.admit(ip(1), t0), Ok(()));
        }
        let wait = l.admit(ip(1), t0).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // Another client is untouched by the first one's flood.
        assert_eq!(l.admit(ip(2), t0), Ok(()));
        // 10 per second: after 0.35 s three more, not four.
        let t1 = t0 + Duration::from_millis(350);
        for _ in 0..3 {
            assert_eq!(l.admit(ip(1), t1), Ok(()));
        }
        assert!(l.admit(ip(1), t1).is_err());
        // A long pause refills to the burst, never beyond it.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..5 {
            assert_eq!(l.admit(ip(1), t2), Ok(()));
        }
        assert!(l.admit(ip(1), t2).is_err());
    }

    #[test]
    fn refused_requests_do_not_dig_the_hole_deeper() {
        let mut l = RequestLimiter::new(&config(10, 1, 1, 1));
        let t0 = Instant::now();
        assert!(l.admit(ip(1), t0).is_ok());
        for _ in 0..1000 {
            assert!(l.admit(ip(1), t0).is_err());
        }
        assert!(l.admit(ip(1), t0 + Duration::from_millis(100)).is_ok());
    }

    #[test]
    fn the_client_table_is_bounded_and_forgets_quiet_clients_first() {
        let mut l = RequestLimiter::new(&config(1, 2, 1, 1));
        let t0 = Instant::now();
        for n in 0..MAX_TRACKED_CLIENTS as u32 {
            assert!(l.admit(ip(n), t0).is_ok());
        }
        assert_eq!(l.tracked(), MAX_TRACKED_CLIENTS);
        // All of them busy just now: a newcomer waits, and is not added.
        assert!(l.admit(ip(1 << 20), t0).is_err());
        assert_eq!(l.tracked(), MAX_TRACKED_CLIENTS);
        // A known client still gets its remaining token.
        assert!(l.admit(ip(7), t0).is_ok());
        // One second on, every bucket but 7's has refilled: they are
        // forgotten, and the newcomer is admitted.
        let t1 = t0 + Duration::from_secs(1);
        assert!(l.admit(ip(1 << 20), t1).is_ok());
        assert_eq!(l.tracked(), 2);
    }

    #[test]
    fn too_many_requests_says_when_to_retry() {
        let r = too_many_requests(Duration::from_millis(1500));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = too_many_requests(Duration::from_millis(10));
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = too_many_requests(Duration::from_secs(3));
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
    }

    #[test]
    fn slots_are_capped_per_client_and_in_all_and_given_back_on_drop() {
        let slots = ConnectionSlots::new(&config(1, 1, 3, 2));
        let a1 = slots.take(ip(1)).unwrap();
        let _a2 = slots.take(ip(1)).unwrap();
        assert_eq!(slots.take(ip(1)).unwrap_err(), Refusal::ClientFull);
        let b1 = slots.take(ip(2)).unwrap();
        assert_eq!(slots.take(ip(3)).unwrap_err(), Refusal::ServerFull);
        assert_eq!(slots.open(), 3);
        drop(b1);
        let _c1 = slots.take(ip(3)).unwrap();
        drop(a1);
        let _a3 = slots.take(ip(1)).unwrap();
        assert_eq!(slots.take(ip(1)).unwrap_err(), Refusal::ClientFull);
        assert_eq!(slots.open(), 3);
        assert_eq!(slots.lock().per_client.len(), 2);
    }

    #[test]
    fn the_last_slots_are_kept_for_the_owners_clients() {
        assert_eq!(owner_reserve(128, 16), 16);
        assert_eq!(owner_reserve(12, 4), 3);
        assert_eq!(owner_reserve(3, 2), 0);
        let owner = ip(200);
        let slots =
            ConnectionSlots::with_owner(&config(1, 1, 12, 4), Arc::new(move |c| c == owner));
        // Strangers from many addresses get 9 of the 12 slots.
        let mut held: Vec<Slot> = (0..9).map(|i| slots.take(ip(i / 3)).unwrap()).collect();
        assert_eq!(slots.take(ip(50)).unwrap_err(), Refusal::ServerFull);
        // The owner gets the rest, up to its share.
        for _ in 0..3 {
            held.push(slots.take(owner).unwrap());
        }
        assert_eq!(slots.open(), 12);
        assert_eq!(slots.take(owner).unwrap_err(), Refusal::ServerFull);
        // A stranger's slot given back is a stranger's again.
        drop(held.remove(0));
        assert_eq!(slots.take(ip(51)).unwrap_err(), Refusal::ServerFull);
        let _back = slots.take(owner).unwrap();
        // Without an owner check nothing is reserved.
        let open = ConnectionSlots::new(&config(1, 1, 12, 4));
        let _all: Vec<Slot> = (0..12).map(|i| open.take(ip(i / 4)).unwrap()).collect();
        assert_eq!(open.take(ip(60)).unwrap_err(), Refusal::ServerFull);
    }

    #[test]
    fn warnings_are_spaced_and_count_what_was_refused_between() {
        let mut l = RequestLimiter::new(&config(1, 1, 1, 1));
        let t0 = Instant::now();
        assert_eq!(l.warning_due(t0), None);
        let _ = l.admit(ip(1), t0);
        for _ in 0..3 {
            assert!(l.admit(ip(1), t0).is_err());
        }
        assert_eq!(l.warning_due(t0), Some(3));
        assert!(l.admit(ip(1), t0).is_err());
        assert_eq!(l.warning_due(t0 + Duration::from_secs(1)), None);
        assert_eq!(l.warning_due(t0 + WARN_EVERY), Some(1));
    }

    #[test]
    fn the_refusal_is_one_whole_http_response() {
        let text = std::str::from_utf8(REFUSED_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), len);
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(json["error"]
            .as_str()
            .unwrap()
            .contains("too many connections"));
    }

    /// A connected pair on loopback: the admitted server side and the client.
    async fn admitted(slots: &Arc<ConnectionSlots>) -> (LimitedStream, TcpStream) {
        use axum::serve::Listener;
        let mut listener = LimitedListener::new(
            TcpListener::bind("127.0.0.1:0").await.unwrap(),
            slots.clone(),
        );
        let addr = listener.local_addr().unwrap();
        let (client, (server, _)) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (server, client.unwrap())
    }

    // Paused time: the clock jumps ahead whenever every task waits, so the
    // 60 s pass at once.
    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_after_the_idle_timeout_and_frees_its_slot() {
        use tokio::io::AsyncReadExt;
        let slots = ConnectionSlots::new(&config(1, 1, 4, 4));
        let (mut server, mut client) = admitted(&slots).await;
        assert_eq!(slots.open(), 1);
        let t0 = tokio::time::Instant::now();
        let mut buf = [0u8; 16];
        let err = server.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(t0.elapsed() >= IDLE_TIMEOUT, "{:?}", t0.elapsed());
        drop(server);
        assert_eq!(slots.open(), 0);
        // The client sees the connection end.
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_with_traffic_stays_open_past_the_idle_timeout() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let slots = ConnectionSlots::new(&config(1, 1, 4, 4));
        let (mut server, mut client) = admitted(&slots).await;
        let t0 = tokio::time::Instant::now();
        let talker = tokio::spawn(async move {
            for byte in 0..4u8 {
                tokio::time::sleep(IDLE_TIMEOUT / 2).await;
                client.write_all(&[byte]).await.unwrap();
            }
            client
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 4];
        while got.len() < 4 {
            let n = server.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, [0, 1, 2, 3]);
        assert!(t0.elapsed() >= IDLE_TIMEOUT * 2);
        let _client = talker.await.unwrap();
        // Writes count as traffic too (the live stream's keep-alives).
        for _ in 0..4 {
            tokio::time::sleep(IDLE_TIMEOUT / 2).await;
            server.write_all(b"x").await.unwrap();
        }
        assert_eq!(slots.open(), 1);
    }
}
