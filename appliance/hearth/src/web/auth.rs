//! Authentication: the owner's password (argon2id), page sessions (a cookie),
//! bearer tokens for scripts, a login rate limit, and the one middleware that
//! decides, from the method and path alone, what a request needs. Because the
//! decision is made by the layer and not by handlers, a write route added
//! later by anyone is private by construction.
//!
//! The password hash and the tokens live in their own SQLite file
//! (`auth.db` in the data directory); sessions live in memory, so a restart
//! logs the page out (scripts' tokens survive).

use super::config::WebConfig;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const SESSION_COOKIE: &str = "hearth_session";
/// Writes authenticated by the session cookie must carry this header (value
/// `hearth`): a cross-site page cannot add it without a CORS preflight, which
/// the daemon never grants, so a cookie alone cannot be used to forge a write.
pub const CSRF_HEADER: &str = "x-requested-with";
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;
pub const MAX_TOKEN_NAME_CHARS: usize = 64;
/// Live page sessions; the oldest is dropped beyond this.
pub const MAX_SESSIONS: usize = 32;
/// Bearer tokens that may exist at once.
pub const MAX_TOKENS: usize = 32;
/// Failed logins allowed per client per window, and from all clients together.
/// The global bound does not apply to a client that logged in before (see
/// [`LoginLimiter`]).
pub const MAX_FAILURES_PER_CLIENT: usize = 5;
pub const MAX_FAILURES_TOTAL: usize = 20;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Clients whose failures are remembered; beyond this the oldest is forgotten
/// (the global limit still holds).
const MAX_TRACKED_CLIENTS: usize = 256;
/// Clients remembered for a good login, and for how long: these are exempt
/// from the global bound (still held to their own).
pub const MAX_KNOWN_CLIENTS: usize = 64;
pub const KNOWN_CLIENT_FOR: Duration = Duration::from_secs(30 * 24 * 3600);

/// Paths that accept a write without a login: they are how one logs in.
pub const OPEN_WRITES: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/auth/setup",
    "/api/v1/auth/logout",
];
/// Reads that never become public, even with `web.public_read`.
const PRIVATE_READ_PREFIXES: &[&str] = &["/api/v1/auth/tokens"];
/// Reads that are always public: the page itself, health, the API's
/// description, and whether one is logged in.
const OPEN_READS: &[&str] = &["/health", "/api/v1/auth/state", "/api/v1/openapi.json"];

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("auth database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("password hashing: {0}")]
    Hash(String),
    #[error("no randomness available: {0}")]
    Random(String),
    #[error("reading {path}: {source}")]
    PasswordFile {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

/// What a request needs, decided from its method and path only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Open,
    /// Anyone when `web.public_read`, else the owner.
    Read,
    /// The owner (a session or a bearer token).
    Owner,
}

pub fn classify(method: &Method, path: &str) -> Access {
    let read = method == Method::GET || method == Method::HEAD;
    if !read {
        return if OPEN_WRITES.contains(&path) {
            Access::Open
        } else {
            Access::Owner
        };
    }
    if PRIVATE_READ_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return Access::Owner;
    }
    if OPEN_READS.contains(&path) || !(path.starts_with("/api/") || path == "/metrics") {
        return Access::Open;
    }
    Access::Read
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Session,
    Token { id: i64 },
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub created_ms: u64,
}

#[derive(Debug, Clone)]
struct TokenRow {
    info: TokenInfo,
    digest: [u8; 32],
}

/// Failed-login bookkeeping. Pure: `now` is an argument.
///
/// Two bounds. Each client (an IPv4 address, or an IPv6 /64: one host can
/// pick any address in its /64) may fail [`MAX_FAILURES_PER_CLIENT`] times a
/// window. All clients together may fail [`MAX_FAILURES_TOTAL`] times a
/// window, which stops guessing spread over many addresses and bounds the
/// argon2 work; but that global bound does not apply to a client that logged
/// in with the password within [`KNOWN_CLIENT_FOR`]: a flood, from one
/// address or many, cannot lock the owner's own devices out (docs/security.md).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    per_client: HashMap<IpAddr, VecDeque<Instant>>,
    total: VecDeque<Instant>,
    /// Client -> its last good login.
    known: HashMap<IpAddr, Instant>,
}

/// The address a client is counted under: IPv4 (also when mapped into
/// IPv6), or the /64 of an IPv6 address.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl LoginLimiter {
    fn prune(q: &mut VecDeque<Instant>, now: Instant) {
        while q
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= FAILURE_WINDOW)
        {
            q.pop_front();
        }
    }

    /// Whether `client` logged in with the password within [`KNOWN_CLIENT_FOR`].
    pub fn is_known(&self, client: IpAddr, now: Instant) -> bool {
        self.known
            .get(&client_key(client))
            .is_some_and(|t| now.saturating_duration_since(*t) < KNOWN_CLIENT_FOR)
    }

    /// `Err(retry_after)` when this client may not try now.
    pub fn check(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let known = self.is_known(client, now);
        let client = client_key(client);
        Self::prune(&mut self.total, now);
        let wait = |q: &VecDeque<Instant>| {
            q.front()
                .map_or(Duration::ZERO, |t| {
                    FAILURE_WINDOW.saturating_sub(now.saturating_duration_since(*t))
                })
                .max(Duration::from_secs(1))
        };
        if self.total.len() >= MAX_FAILURES_TOTAL && !known {
            return Err(wait(&self.total));
        }
        if let Some(q) = self.per_client.get_mut(&client) {
            Self::prune(q, now);
            if q.len() >= MAX_FAILURES_PER_CLIENT {
                return Err(wait(q));
            }
        }
        Ok(())
    }

    pub fn failed(&mut self, client: IpAddr, now: Instant) {
        let client = client_key(client);
        if !self.per_client.contains_key(&client) && self.per_client.len() >= MAX_TRACKED_CLIENTS {
            self.per_client.retain(|_, q| {
                Self::prune(q, now);
                !q.is_empty()
            });
            if self.per_client.len() >= MAX_TRACKED_CLIENTS {
                let oldest = self
                    .per_client
                    .iter()
                    .min_by_key(|(_, q)| q.back().copied())
                    .map(|(ip, _)| *ip);
                if let Some(ip) = oldest {
                    self.per_client.remove(&ip);
                }
            }
        }
        let q = self.per_client.entry(client).or_default();
        q.push_back(now);
        while q.len() > MAX_FAILURES_PER_CLIENT {
            q.pop_front();
        }
        self.total.push_back(now);
        while self.total.len() > MAX_FAILURES_TOTAL {
            self.total.pop_front();
        }
    }

    pub fn succeeded(&mut self, client: IpAddr, now: Instant) {
        let client = client_key(client);
        self.per_client.remove(&client);
        if !self.known.contains_key(&client) && self.known.len() >= MAX_KNOWN_CLIENTS {
            let oldest = self
                .known
                .iter()
                .min_by_key(|(_, t)| **t)
                .map(|(ip, _)| *ip);
            if let Some(ip) = oldest {
                self.known.remove(&ip);
            }
        }
        self.known.insert(client, now);
    }
}

pub struct Auth {
    db: Mutex<rusqlite::Connection>,
    owner_hash: RwLock<Option<String>>,
    /// Session digest -> expiry.
    sessions: Mutex<HashMap<[u8; 32], Instant>>,
    tokens: RwLock<Vec<TokenRow>>,
    limiter: Mutex<LoginLimiter>,
    /// One argon2 computation at a time: each takes ~19 MiB and a core.
    hashing: tokio::sync::Semaphore,
    pub public_read: bool,
    session_ttl: Duration,
    /// The server speaks TLS: the session cookie is marked `Secure`, so a
    /// browser never sends it over plain HTTP.
    secure_cookie: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("public_read", &self.public_read)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// 32 random bytes as 64 hex digits.
fn random_secret() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub fn check_password_strength(password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(AuthError::Invalid(format!(
            "password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(AuthError::Invalid(format!(
            "password must have at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// argon2id with the crate's defaults (19 MiB, 2 passes): a PHC string.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

impl Auth {
    /// Opens (or creates) `auth.db` in `data_dir`. With no stored password
    /// and `web.owner_password_file` set, that file's first line becomes the
    /// owner's password.
    pub fn open(data_dir: &Path, config: &WebConfig) -> Result<Auth, AuthError> {
        let conn = rusqlite::Connection::open(data_dir.join("auth.db"))?;
        // The password hash and token hashes: owner-only.
        crate::owner_only::restrict_or_warn(&data_dir.join("auth.db"));
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS owner (
                 id INTEGER PRIMARY KEY CHECK (id = 1),
                 phc TEXT NOT NULL,
                 set_ms INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS tokens (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 name TEXT NOT NULL,
                 sha256 BLOB NOT NULL UNIQUE,
                 created_ms INTEGER NOT NULL);",
        )?;
        let owner: Option<String> = conn
            .query_row("SELECT phc FROM owner WHERE id = 1", [], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        let tokens = {
            let mut stmt = conn.prepare("SELECT id, name, sha256, created_ms FROM tokens")?;
            let rows = stmt.query_map([], |r| {
                let blob: Vec<u8> = r.get(2)?;
                let created: i64 = r.get(3)?;
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, blob, created))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, name, blob, created) = row?;
                if let Ok(digest) = <[u8; 32]>::try_from(blob.as_slice()) {
                    out.push(TokenRow {
                        info: TokenInfo {
                            id,
                            name,
                            created_ms: u64::try_from(created).unwrap_or(0),
                        },
                        digest,
                    });
                }
            }
            out
        };
        let auth = Auth {
            db: Mutex::new(conn),
            owner_hash: RwLock::new(owner),
            sessions: Mutex::new(HashMap::new()),
            tokens: RwLock::new(tokens),
            limiter: Mutex::new(LoginLimiter::default()),
            hashing: tokio::sync::Semaphore::new(1),
            public_read: config.public_read,
            session_ttl: Duration::from_secs(config.session_hours * 3600),
            secure_cookie: config.tls_cert_file.is_some(),
        };
        if !auth.owner_set() {
            if let Some(path) = &config.owner_password_file {
                auth.adopt_password_file(path)?;
            }
        }
        Ok(auth)
    }

    /// The install's password file becomes the owner's password, and is
    /// then deleted where we may (the hash in `auth.db` is what counts from
    /// now on; no clear-text copy should stay). A missing file leaves the
    /// first-start setup to the page, with a warning: the appliance image
    /// names the file in its config and writes it only when the owner gave
    /// a password in `hearth-setup.txt`.
    fn adopt_password_file(&self, path: &Path) -> Result<(), AuthError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(
                    file = %path.display(),
                    "no owner password yet and web.owner_password_file is absent: whoever opens the page first sets it"
                );
                return Ok(());
            }
            Err(source) => {
                return Err(AuthError::PasswordFile {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let password = text.lines().next().unwrap_or("").trim_end_matches('\r');
        check_password_strength(password)?;
        self.store_owner_hash(&hash_password(password)?)?;
        match std::fs::remove_file(path) {
            Ok(()) => {
                tracing::info!(file = %path.display(), "owner password set from the install's file, and the file deleted")
            }
            Err(e) => {
                tracing::info!(file = %path.display(), error = %e, "owner password set from the install's file (it could not be deleted; delete it by hand)")
            }
        }
        Ok(())
    }

    pub fn owner_set(&self) -> bool {
        self.owner_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Persist, then apply.
    fn store_owner_hash(&self, phc: &str) -> Result<(), AuthError> {
        lock(&self.db).execute(
            "INSERT INTO owner (id, phc, set_ms) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET phc = excluded.phc, set_ms = excluded.set_ms",
            rusqlite::params![phc, i64::try_from(unix_ms()).unwrap_or(i64::MAX)],
        )?;
        *self.owner_hash.write().unwrap_or_else(|p| p.into_inner()) = Some(phc.to_string());
        Ok(())
    }

    /// First start: sets the owner's password if none is set. `Ok(false)`
    /// when one already was (nothing changed).
    pub async fn setup(&self, password: &str) -> Result<bool, AuthError> {
        check_password_strength(password)?;
        let _permit = self.hashing.acquire().await;
        if self.owner_set() {
            return Ok(false);
        }
        let pw = password.to_string();
        let phc = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))??;
        if self.owner_set() {
            return Ok(false);
        }
        self.store_owner_hash(&phc)?;
        Ok(true)
    }

    /// Replaces the password and ends every page session.
    pub async fn change_password(&self, new_password: &str) -> Result<(), AuthError> {
        check_password_strength(new_password)?;
        let _permit = self.hashing.acquire().await;
        let pw = new_password.to_string();
        let phc = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))??;
        self.store_owner_hash(&phc)?;
        lock(&self.sessions).clear();
        Ok(())
    }

    /// Remembers `client` as one the owner uses (it set the password), as a
    /// good login does.
    pub fn remember_client(&self, client: IpAddr) {
        lock(&self.limiter).succeeded(client, Instant::now());
    }

    /// Whether `client` is one the owner uses: it logged in, set the
    /// password or made an authenticated request within
    /// [`KNOWN_CLIENT_FOR`]. The HTTP connection reserve is kept for these.
    pub fn is_owner_client(&self, client: IpAddr) -> bool {
        lock(&self.limiter).is_known(client, Instant::now())
    }

    /// Rate-limited password check. `Err(retry_after)` when limited.
    pub async fn check_password(&self, client: IpAddr, password: &str) -> Result<bool, Duration> {
        lock(&self.limiter).check(client, Instant::now())?;
        let Some(phc) = self
            .owner_hash
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        else {
            return Ok(false);
        };
        let ok = if password.chars().count() > MAX_PASSWORD_CHARS {
            false
        } else {
            let _permit = self.hashing.acquire().await;
            let pw = password.to_string();
            tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
                .await
                .unwrap_or(false)
        };
        let mut limiter = lock(&self.limiter);
        if ok {
            limiter.succeeded(client, Instant::now());
        } else {
            limiter.failed(client, Instant::now());
        }
        Ok(ok)
    }

    /// A new session; returns its secret (the cookie's value).
    pub fn new_session(&self) -> Result<String, AuthError> {
        let secret = random_secret()?;
        let now = Instant::now();
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, expiry| *expiry > now);
        while sessions.len() >= MAX_SESSIONS {
            let oldest = sessions.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k);
            match oldest {
                Some(k) => sessions.remove(&k),
                None => break,
            };
        }
        sessions.insert(digest(&secret), now + self.session_ttl);
        Ok(secret)
    }

    pub fn end_session(&self, secret: &str) {
        lock(&self.sessions).remove(&digest(secret));
    }

    /// The `Set-Cookie` value carrying `value` for `max_age_s` seconds.
    pub fn session_cookie_header(&self, value: &str, max_age_s: u64) -> String {
        format!(
            "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_s}{}",
            if self.secure_cookie { "; Secure" } else { "" }
        )
    }

    pub fn session_max_age_s(&self) -> u64 {
        self.session_ttl.as_secs()
    }

    pub fn tokens(&self) -> Vec<TokenInfo> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|t| t.info.clone())
            .collect()
    }

    /// A new bearer token; the secret is returned once and stored only as
    /// its SHA-256 (it is 256 random bits, so a fast hash is enough).
    pub fn create_token(&self, name: &str) -> Result<(TokenInfo, String), AuthError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_TOKEN_NAME_CHARS {
            return Err(AuthError::Invalid(format!(
                "name must have 1 to {MAX_TOKEN_NAME_CHARS} characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(AuthError::Invalid(
                "name must not contain control characters".into(),
            ));
        }
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        if tokens.len() >= MAX_TOKENS {
            return Err(AuthError::Invalid(format!(
                "at most {MAX_TOKENS} tokens; revoke one first"
            )));
        }
        let secret = format!("hth_{}", random_secret()?);
        let d = digest(&secret);
        let created_ms = unix_ms();
        let id = {
            let db = lock(&self.db);
            db.execute(
                "INSERT INTO tokens (name, sha256, created_ms) VALUES (?1, ?2, ?3)",
                rusqlite::params![
                    name,
                    d.to_vec(),
                    i64::try_from(created_ms).unwrap_or(i64::MAX)
                ],
            )?;
            db.last_insert_rowid()
        };
        let info = TokenInfo {
            id,
            name: name.to_string(),
            created_ms,
        };
        tokens.push(TokenRow {
            info: info.clone(),
            digest: d,
        });
        Ok((info, secret))
    }

    /// `Ok(false)` when there is no such token.
    pub fn revoke_token(&self, id: i64) -> Result<bool, AuthError> {
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        let n = lock(&self.db).execute("DELETE FROM tokens WHERE id = ?1", [id])?;
        tokens.retain(|t| t.info.id != id);
        Ok(n > 0)
    }

    fn bearer(&self, secret: &str) -> Option<Principal> {
        let d = digest(secret);
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|t| t.digest == d)
            .map(|t| Principal::Token { id: t.info.id })
    }

    fn session(&self, secret: &str) -> Option<Principal> {
        let now = Instant::now();
        let sessions = lock(&self.sessions);
        sessions
            .get(&digest(secret))
            .filter(|expiry| **expiry > now)
            .map(|_| Principal::Session)
    }

    /// Who the headers say made the request: a bearer token first, else the
    /// session cookie.
    pub fn identify(&self, headers: &HeaderMap) -> Option<Principal> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let token = value.to_str().ok()?.strip_prefix("Bearer ")?;
            return self.bearer(token.trim());
        }
        session_cookie(headers).and_then(|s| self.session(&s))
    }
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The client's address when the server was started with connect info
/// (the daemon is); in-process tests have none and share one bucket.
pub fn client_ip(req_extensions: &axum::http::Extensions) -> IpAddr {
    req_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// The layer every route of the served app sits behind.
pub async fn guard(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let access = classify(req.method(), req.uri().path());
    let who = auth.identify(req.headers());
    if let Some(p) = &who {
        req.extensions_mut().insert(p.clone());
        // A session or token in hand is the owner: its address gets the
        // login limiter's trust and the connections kept in reserve.
        auth.remember_client(client_ip(req.extensions()));
    }
    let allowed = match access {
        Access::Open => true,
        Access::Read => auth.public_read || who.is_some(),
        Access::Owner => who.is_some(),
    };
    if !allowed {
        let why = if auth.owner_set() {
            "authentication required: log in or send a bearer token"
        } else {
            "authentication required: set the owner password first (POST /api/v1/auth/setup)"
        };
        return refuse(StatusCode::UNAUTHORIZED, why);
    }
    let is_write = !(req.method() == Method::GET || req.method() == Method::HEAD);
    if is_write
        && who == Some(Principal::Session)
        && req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("hearth")
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "writes from the page must carry the header X-Requested-With: hearth",
        );
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn writes_need_the_owner_except_logging_in() {
        for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            assert_eq!(classify(&m, "/api/v1/zones/x/setpoint"), Access::Owner);
            assert_eq!(classify(&m, "/api/v1/anything-added-later"), Access::Owner);
            assert_eq!(classify(&m, "/"), Access::Owner);
        }
        assert_eq!(classify(&Method::POST, "/api/v1/auth/login"), Access::Open);
        assert_eq!(
            classify(&Method::POST, "/api/v1/auth/login/"),
            Access::Owner
        );
    }

    #[test]
    fn the_session_cookie_is_secure_when_the_server_speaks_tls() {
        let dir = tempfile::tempdir().unwrap();
        let plain = Auth::open(dir.path(), &WebConfig::default()).unwrap();
        let cookie = plain.session_cookie_header("abc", 60);
        assert_eq!(
            cookie,
            format!("{SESSION_COOKIE}=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60")
        );
        drop(plain);
        let tls = Auth::open(
            dir.path(),
            &WebConfig {
                tls_cert_file: Some("/etc/hearth/cert.pem".into()),
                tls_key_file: Some("/etc/hearth/key.pem".into()),
                ..WebConfig::default()
            },
        )
        .unwrap();
        assert!(tls
            .session_cookie_header("", 0)
            .ends_with("; Max-Age=0; Secure"));
    }

    #[test]
    fn reads_are_classified() {
        assert_eq!(classify(&Method::GET, "/"), Access::Open);
        assert_eq!(classify(&Method::GET, "/assets/app.js"), Access::Open);
        assert_eq!(classify(&Method::GET, "/health"), Access::Open);
        assert_eq!(classify(&Method::GET, "/api/v1/status"), Access::Read);
        assert_eq!(classify(&Method::GET, "/metrics"), Access::Read);
        assert_eq!(classify(&Method::GET, "/api/v1/auth/tokens"), Access::Owner);
    }

    #[test]
    fn limiter_blocks_after_failures_and_forgets_after_the_window() {
        let mut l = LoginLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES_PER_CLIENT {
            assert!(l.check(a, t0).is_ok());
            l.failed(a, t0);
        }
        let wait = l.check(a, t0).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= FAILURE_WINDOW);
        assert!(l.check(b, t0).is_ok(), "another client is not blocked");
        assert!(l.check(a, t0 + FAILURE_WINDOW).is_ok());
    }

    #[test]
    fn limiter_has_a_global_bound() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES_TOTAL {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, (i / 256) as u8, (i % 256) as u8));
            l.failed(ip, t0);
        }
        assert!(l.check("10.9.9.9".parse().unwrap(), t0).is_err());
    }

    #[test]
    fn a_client_that_logged_in_before_is_not_held_to_the_global_bound() {
        let mut l = LoginLimiter::default();
        let owner: IpAddr = "192.0.2.10".parse().unwrap();
        let t0 = Instant::now();
        l.succeeded(owner, t0);
        for i in 0..MAX_FAILURES_TOTAL {
            l.failed(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8)), t0);
        }
        assert!(l.check("10.9.9.9".parse().unwrap(), t0).is_err());
        assert!(l.check(owner, t0).is_ok(), "the owner's device gets in");
        // Its own bound still holds.
        for _ in 0..MAX_FAILURES_PER_CLIENT {
            l.failed(owner, t0);
        }
        assert!(l.check(owner, t0).is_err());
        // The memory of a good login runs out.
        let later = t0 + KNOWN_CLIENT_FOR;
        for i in 0..MAX_FAILURES_TOTAL {
            l.failed(IpAddr::V4(Ipv4Addr::new(10, 0, 1, i as u8)), later);
        }
        assert!(l.check(owner, later).is_err());
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES_PER_CLIENT {
            let ip: IpAddr = format!("2001:db8:1:2::{:x}", i + 1).parse().unwrap();
            l.failed(ip, t0);
        }
        assert!(l
            .check("2001:db8:1:2:ffff::1".parse().unwrap(), t0)
            .is_err());
        assert!(l.check("2001:db8:1:3::1".parse().unwrap(), t0).is_ok());
        assert_eq!(
            client_key("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn known_clients_are_bounded() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        for i in 0..(MAX_KNOWN_CLIENTS + 10) {
            let at = t0 + Duration::from_secs(i as u64);
            l.succeeded(IpAddr::V4(Ipv4Addr::new(10, 1, 0, i as u8)), at);
        }
        assert_eq!(l.known.len(), MAX_KNOWN_CLIENTS);
        let late = t0 + Duration::from_secs(100);
        assert!(!l.is_known(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)), late));
        assert!(l.is_known(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 73)), late));
    }

    #[test]
    fn password_hash_round_trip() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horsf", &phc));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; hearth_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
    }
}
