//! The Stratum V1 client state machine: what we say to a pool and what we
//! make of its answers. The daemon owns the socket; this owns the protocol.
//!
//! ```text
//! connected(now)        -> lines: mining.configure (version rolling), mining.subscribe, mining.authorize
//! on_line(line, now)    -> events: Ready, Work(unit), Difficulty, Accepted, Rejected, Reconnect, ...
//! submit(share, now)    -> a mining.submit line (or queued until ready)
//! disconnected(now)     -> unanswered submits kept to resend if the pool resumes the session
//! expire(now)           -> submits unanswered too long are given up (counted)
//! ```

use hearth_shacheck::Target;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use hearth_core::Timestamp;

use super::codec::{self, hex_decode, hex_encode, request, CodecError, Notify, ServerMessage};
use crate::difficulty::target_from_difficulty;
use crate::jobs::{Share, WorkUnit};

/// Submits in flight at most; more are refused (counted by the caller).
pub const MAX_PENDING_SUBMITS: usize = 256;
/// A submit unanswered this long is given up.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Notified job ids remembered (to tell a pool's own stale job from ours).
const MAX_KNOWN_JOBS: usize = 64;

/// `Debug` leaves the password out (it must never reach a log).
#[derive(Clone, PartialEq)]
pub struct ClientConfig {
    pub user: String,
    pub password: String,
    /// The `mining.subscribe` user agent.
    pub agent: String,
    /// BIP310 mask to ask for (0: do not ask).
    pub version_mask: u32,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("agent", &self.agent)
            .field("version_mask", &self.version_mask)
            .finish()
    }
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    Disconnected,
    Subscribing,
    Authorizing,
    Ready,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// Subscribed and authorized.
    Ready,
    /// New work to fan out (clean: drop older work).
    Work(WorkUnit),
    /// The share target changed (for live jobs too).
    Difficulty {
        difficulty: f64,
        target: Target,
    },
    /// New extranonce: older jobs will no longer be accepted.
    ExtranonceChanged,
    Accepted {
        job_id: String,
        difficulty: f64,
    },
    Rejected {
        job_id: String,
        reason: String,
        stale: bool,
    },
    /// Submits given up (timeout, or a session that did not resume).
    Lost {
        count: usize,
    },
    /// The pool asks us to reconnect (elsewhere, after a wait).
    Reconnect {
        host: Option<String>,
        port: Option<u16>,
        wait_s: u64,
    },
    /// Something the pool said or did that the log should show.
    Note(String),
}

/// Fatal for this connection: the caller disconnects and backs off.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error("pool refused to subscribe: {0}")]
    Subscribe(String),
    #[error("pool refused authorization for {user}: {why}")]
    Authorize { user: String, why: String },
    #[error("bad line from pool: {0}")]
    Codec(#[from] CodecError),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Request {
    Configure,
    Subscribe,
    Authorize,
    Submit,
}

#[derive(Debug, Clone)]
struct PendingSubmit {
    job_id: String,
    difficulty: f64,
    sent_at: Timestamp,
    line_params: Value,
}

#[derive(Debug)]
pub struct StratumClient {
    cfg: ClientConfig,
    state: ClientState,
    next_id: u64,
    requests: BTreeMap<u64, Request>,
    submits: BTreeMap<u64, PendingSubmit>,
    /// Submits made while not ready, or unanswered at a disconnect.
    queued: VecDeque<PendingSubmit>,
    session_id: Option<String>,
    extranonce1: Vec<u8>,
    extranonce2_len: usize,
    /// Extranonce of the session before a reconnect (to tell a resume).
    previous_extranonce1: Option<Vec<u8>>,
    difficulty: f64,
    version_mask: u32,
    known_jobs: VecDeque<String>,
    latest: Option<Notify>,
    subscribed: bool,
    authorized: bool,
}

impl StratumClient {
    pub fn new(cfg: ClientConfig) -> StratumClient {
        StratumClient {
            cfg,
            state: ClientState::Disconnected,
            next_id: 1,
            requests: BTreeMap::new(),
            submits: BTreeMap::new(),
            queued: VecDeque::new(),
            session_id: None,
            extranonce1: Vec::new(),
            extranonce2_len: 0,
            previous_extranonce1: None,
            difficulty: 1.0,
            version_mask: 0,
            known_jobs: VecDeque::new(),
            latest: None,
            subscribed: false,
            authorized: false,
        }
    }

    pub fn state(&self) -> ClientState {
        self.state
    }

    pub fn difficulty(&self) -> f64 {
        self.difficulty
    }

    pub fn version_mask(&self) -> u32 {
        self.version_mask
    }

    pub fn extranonce(&self) -> (&[u8], usize) {
        (&self.extranonce1, self.extranonce2_len)
    }

    /// Submits waiting for an answer.
    pub fn pending_submits(&self) -> usize {
        self.submits.len() + self.queued.len()
    }

    fn send(&mut self, kind: Request, method: &str, params: Value) -> String {
        let id = self.next_id;
        self.next_id += 1;
        self.requests.insert(id, kind);
        request(id, method, params)
    }

    /// A connection is up: the opening lines.
    pub fn connected(&mut self, _now: Timestamp) -> Vec<String> {
        self.state = ClientState::Subscribing;
        self.requests.clear();
        self.subscribed = false;
        self.authorized = false;
        let mut out = Vec::new();
        if self.cfg.version_mask != 0 {
            let params = json!([
                ["version-rolling"],
                {"version-rolling.mask": format!("{:08x}", self.cfg.version_mask),
                 "version-rolling.min-bit-count": 2}
            ]);
            out.push(self.send(Request::Configure, "mining.configure", params));
        }
        let params = match &self.session_id {
            Some(s) => json!([self.cfg.agent, s]),
            None => json!([self.cfg.agent]),
        };
        out.push(self.send(Request::Subscribe, "mining.subscribe", params));
        // Pools accept authorize right behind subscribe; it saves a round trip.
        let params = json!([self.cfg.user, self.cfg.password]);
        out.push(self.send(Request::Authorize, "mining.authorize", params));
        out
    }

    /// The connection dropped: unanswered submits wait for a resumed session.
    pub fn disconnected(&mut self, _now: Timestamp) {
        self.state = ClientState::Disconnected;
        self.requests.clear();
        let pending = std::mem::take(&mut self.submits);
        for (_, p) in pending {
            if self.queued.len() < MAX_PENDING_SUBMITS {
                self.queued.push_back(p);
            }
        }
        self.previous_extranonce1 = Some(std::mem::take(&mut self.extranonce1));
        self.latest = None;
    }

    /// Submits unanswered for [`SUBMIT_TIMEOUT`] are given up.
    pub fn expire(&mut self, now: Timestamp) -> Vec<ClientEvent> {
        let before = self.submits.len() + self.queued.len();
        self.submits
            .retain(|_, p| now.since(p.sent_at) < SUBMIT_TIMEOUT);
        self.queued
            .retain(|p| now.since(p.sent_at) < SUBMIT_TIMEOUT);
        let lost = before - (self.submits.len() + self.queued.len());
        if lost > 0 {
            vec![ClientEvent::Lost { count: lost }]
        } else {
            Vec::new()
        }
    }

    /// The `mining.submit` line for `share`; `None` when not ready (queued,
    /// sent once ready) or when too many are in flight (the caller counts it).
    pub fn submit(&mut self, share: &Share, now: Timestamp) -> Option<String> {
        let mut params = json!([
            self.cfg.user,
            share.source_job_id,
            hex_encode(&share.extranonce2),
            format!("{:08x}", share.ntime),
            format!("{:08x}", share.nonce),
        ]);
        if self.version_mask != 0 {
            if let Some(a) = params.as_array_mut() {
                a.push(Value::String(format!("{:08x}", share.version_bits)));
            }
        }
        let p = PendingSubmit {
            job_id: share.source_job_id.clone(),
            difficulty: self.difficulty,
            sent_at: now,
            line_params: params,
        };
        if self.submits.len() + self.queued.len() >= MAX_PENDING_SUBMITS {
            return None;
        }
        if self.state != ClientState::Ready {
            self.queued.push_back(p);
            return None;
        }
        Some(self.send_submit(p))
    }

    fn send_submit(&mut self, p: PendingSubmit) -> String {
        let id = self.next_id;
        let line = self.send(Request::Submit, "mining.submit", p.line_params.clone());
        self.submits.insert(id, p);
        line
    }

    /// Queued submits to send now (after a resumed session).
    pub fn flush_queued(&mut self) -> Vec<String> {
        if self.state != ClientState::Ready {
            return Vec::new();
        }
        let q = std::mem::take(&mut self.queued);
        q.into_iter().map(|p| self.send_submit(p)).collect()
    }

    fn unit_from(&self, n: &Notify) -> Result<WorkUnit, CodecError> {
        let share_target =
            target_from_difficulty(self.difficulty).map_err(|e| CodecError::Params {
                method: "mining.set_difficulty".into(),
                why: e.to_string(),
            })?;
        let block_target = Target::from_compact(n.nbits).map_err(|e| CodecError::Params {
            method: "mining.notify".into(),
            why: format!("nbits: {e}"),
        })?;
        Ok(WorkUnit {
            source_job_id: n.job_id.clone(),
            prev_block_hash: n.prev_block_hash,
            version: n.version,
            version_mask: self.version_mask,
            nbits: n.nbits,
            ntime: n.ntime,
            coinb1: n.coinb1.clone(),
            coinb2: n.coinb2.clone(),
            extranonce1: self.extranonce1.clone(),
            extranonce2_len: self.extranonce2_len,
            branch: n.branch.clone(),
            clean: n.clean,
            share_target,
            block_target,
        })
    }

    /// One line from the pool. A bad line is an error the caller logs and
    /// counts (the session goes on); [`ClientError::Subscribe`] and
    /// [`ClientError::Authorize`] end the connection.
    pub fn on_line(&mut self, line: &str, now: Timestamp) -> Result<Vec<ClientEvent>, ClientError> {
        let msg = codec::parse_server_line(line)?;
        let mut ev = Vec::new();
        match msg {
            ServerMessage::Response { id, result, error } => {
                self.on_response(id, result, error, now, &mut ev)?
            }
            ServerMessage::Notify(n) => {
                if self.state != ClientState::Ready && self.extranonce2_len == 0 {
                    ev.push(ClientEvent::Note(format!(
                        "notify {} before subscribe finished: ignored",
                        n.job_id
                    )));
                    return Ok(ev);
                }
                let unit = self.unit_from(&n)?;
                if self.known_jobs.len() >= MAX_KNOWN_JOBS {
                    self.known_jobs.pop_front();
                }
                if n.clean {
                    self.known_jobs.clear();
                }
                self.known_jobs.push_back(n.job_id.clone());
                self.latest = Some(n);
                ev.push(ClientEvent::Work(unit));
            }
            ServerMessage::SetDifficulty(d) => {
                let target = target_from_difficulty(d).map_err(|e| CodecError::Params {
                    method: "mining.set_difficulty".into(),
                    why: e.to_string(),
                })?;
                self.difficulty = d;
                ev.push(ClientEvent::Difficulty {
                    difficulty: d,
                    target,
                });
            }
            ServerMessage::SetExtranonce {
                extranonce1,
                extranonce2_len,
            } => {
                self.extranonce1 = extranonce1;
                self.extranonce2_len = extranonce2_len;
                ev.push(ClientEvent::ExtranonceChanged);
                // Jobs built from the latest notify with the old extranonce
                // would be rejected: rebuild it with the new one.
                if let Some(n) = self.latest.clone() {
                    let mut unit = self.unit_from(&n)?;
                    unit.clean = true;
                    ev.push(ClientEvent::Work(unit));
                }
            }
            ServerMessage::SetVersionMask(mask) => {
                self.version_mask = mask & self.cfg.version_mask;
                ev.push(ClientEvent::Note(format!(
                    "pool set the version mask to {mask:08x}; rolling {:08x}",
                    self.version_mask
                )));
                if let Some(n) = self.latest.clone() {
                    let mut unit = self.unit_from(&n)?;
                    unit.clean = true;
                    ev.push(ClientEvent::Work(unit));
                }
            }
            ServerMessage::Reconnect { host, port, wait_s } => {
                ev.push(ClientEvent::Reconnect { host, port, wait_s })
            }
            ServerMessage::ShowMessage(m) => ev.push(ClientEvent::Note(format!("pool says: {m}"))),
            ServerMessage::Unknown(m) => {
                ev.push(ClientEvent::Note(format!("unknown method {m} ignored")))
            }
        }
        Ok(ev)
    }

    fn check_ready(&mut self, ev: &mut Vec<ClientEvent>) {
        if self.subscribed && self.authorized && self.state != ClientState::Ready {
            self.state = ClientState::Ready;
            ev.push(ClientEvent::Ready);
        }
    }

    fn on_response(
        &mut self,
        id: u64,
        result: Value,
        error: Option<String>,
        _now: Timestamp,
        ev: &mut Vec<ClientEvent>,
    ) -> Result<(), ClientError> {
        let Some(kind) = self.requests.remove(&id) else {
            ev.push(ClientEvent::Note(format!(
                "reply to unknown request {id} ignored"
            )));
            return Ok(());
        };
        match kind {
            Request::Configure => {
                // {"version-rolling": true, "version-rolling.mask": "1fffe000"}
                let ok = result.get("version-rolling").and_then(Value::as_bool) == Some(true);
                let mask = result
                    .get("version-rolling.mask")
                    .and_then(Value::as_str)
                    .and_then(codec::hex_u32);
                self.version_mask = match (ok, mask) {
                    (true, Some(m)) => m & self.cfg.version_mask,
                    _ => 0,
                };
                if self.version_mask == 0 {
                    ev.push(ClientEvent::Note(
                        "pool does not allow version rolling".into(),
                    ));
                }
            }
            Request::Subscribe => {
                if let Some(e) = error {
                    return Err(ClientError::Subscribe(e));
                }
                // [[["mining.notify", session]], extranonce1, extranonce2_size]
                let arr = result.as_array().cloned().unwrap_or_default();
                let en1 = arr
                    .get(1)
                    .and_then(Value::as_str)
                    .and_then(hex_decode)
                    .ok_or_else(|| ClientError::Subscribe("extranonce1 is not hex".into()))?;
                let en2 = arr
                    .get(2)
                    .and_then(Value::as_u64)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n > 0 && *n + en1.len() <= 32)
                    .ok_or_else(|| {
                        ClientError::Subscribe("extranonce2_size out of range".into())
                    })?;
                self.session_id = arr
                    .first()
                    .and_then(Value::as_array)
                    .and_then(|subs| {
                        subs.iter().find_map(|s| {
                            let s = s.as_array()?;
                            (s.first()?.as_str()? == "mining.notify")
                                .then(|| s.get(1)?.as_str().map(str::to_string))?
                        })
                    })
                    .filter(|s| s.len() <= 64);
                let resumed = self.previous_extranonce1.as_deref() == Some(en1.as_slice());
                if !resumed && !self.queued.is_empty() {
                    // A new session: the old jobs are gone with it.
                    let count = self.queued.len();
                    self.queued.clear();
                    ev.push(ClientEvent::Lost { count });
                }
                self.extranonce1 = en1;
                self.extranonce2_len = en2;
                self.subscribed = true;
                self.state = ClientState::Authorizing;
                self.check_ready(ev);
            }
            Request::Authorize => {
                let ok = result.as_bool() == Some(true) && error.is_none();
                if !ok {
                    return Err(ClientError::Authorize {
                        user: self.cfg.user.clone(),
                        why: error.unwrap_or_else(|| "refused".into()),
                    });
                }
                self.authorized = true;
                self.check_ready(ev);
            }
            Request::Submit => {
                let Some(p) = self.submits.remove(&id) else {
                    return Ok(());
                };
                if result.as_bool() == Some(true) && error.is_none() {
                    ev.push(ClientEvent::Accepted {
                        job_id: p.job_id,
                        difficulty: p.difficulty,
                    });
                } else {
                    let reason = error.unwrap_or_else(|| "rejected".into());
                    let lower = reason.to_ascii_lowercase();
                    let stale = lower.contains("stale")
                        || lower.contains("job not found")
                        || (lower.contains("not found") && !self.known_jobs.contains(&p.job_id));
                    ev.push(ClientEvent::Rejected {
                        job_id: p.job_id,
                        reason,
                        stale,
                    });
                }
            }
        }
        Ok(())
    }
}
