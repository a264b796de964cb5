//! One LAN miner's Stratum session (a Bitaxe, an old S9 in the house), the
//! server side. Each session gets its own extranonce1 so no two miners do
//! the same work; its `mining.authorize` user is its payout address (the
//! daemon checks and uses it). Submits are checked here, against the
//! session's difficulty, before anything is relayed.

use hearth_shacheck::{Checker, Target};
use serde_json::{json, Value};
use std::collections::VecDeque;

use super::codec::{self, hex_decode, hex_u32, notify_line, Notify};
use crate::difficulty::{difficulty_of_hash, target_from_difficulty};
use crate::jobs::{header_bytes, Share, WorkUnit};

/// Jobs a session remembers for its submits.
const MAX_SESSION_JOBS: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Bytes of extranonce2 the miner rolls.
    pub extranonce2_len: usize,
    /// Share difficulty for LAN miners.
    pub difficulty: f64,
    /// Version bits miners may roll.
    pub version_mask: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// Send this line to the miner.
    Send(String),
    /// The miner authorized as `user` (its payout address): give it work.
    Authorized { user: String },
    /// A valid share from the miner.
    Share { user: String, share: Box<Share> },
    /// A submit that failed (counted; the miner was told).
    Refused { why: String },
}

#[derive(Debug, Clone)]
struct SessionJob {
    notify: Notify,
    unit: WorkUnit,
}

/// A session: a distinct extranonce1, the jobs sent, the miner's user.
#[derive(Debug)]
pub struct ServerSession {
    cfg: ServerConfig,
    checker: Checker,
    extranonce1: Vec<u8>,
    user: Option<String>,
    subscribed: bool,
    version_mask: u32,
    jobs: VecDeque<SessionJob>,
    next_job: u64,
    /// The last line could not be parsed; counted by the caller.
    pub bad_lines: u64,
    /// When set, `mining.authorize` needs a payout address valid for this
    /// network (the daemon sets it while the source is its own sharechain).
    require_network: Option<bitcoin::Network>,
    /// The miner sent `mining.extranonce.subscribe`: it takes
    /// `mining.set_extranonce` (others, cgminer for one, ignore it and must
    /// reconnect instead).
    extranonce_subscribed: bool,
    /// When set, `mining.authorize` must carry exactly this password
    /// (its second parameter); `None` keeps the LAN server open.
    password: Option<String>,
    /// Authorizes refused for a wrong or missing password.
    failed_auths: u32,
}

/// Wrong or missing passwords a session may send before it is closed: a
/// miner with a typo gets told a few times, a guesser gets cut off.
pub const MAX_FAILED_AUTHS: u32 = 3;

/// Compares without an early exit on the first differing byte, so the
/// time taken does not tell a guesser how much of the password was right.
fn same_secret(given: &[u8], want: &[u8]) -> bool {
    let mut diff = (given.len() != want.len()) as u8;
    for (i, w) in want.iter().enumerate() {
        diff |= w ^ given.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// The difficulty as a miner will read it: ESP-Miner (a Bitaxe's stock
/// firmware) parses `mining.set_difficulty` as an integer, so a difficulty
/// of 1 or more is sent (and checked) rounded down to one; below 1 it is
/// sent as it is (miners that take fractions, and test setups).
pub fn miner_difficulty(difficulty: f64) -> f64 {
    if difficulty >= 1.0 {
        difficulty.floor()
    } else {
        difficulty
    }
}

/// The payout script of an authorize user `"address"` or
/// `"address.worker"`: the address must parse and be valid for `network`.
pub fn payout_script_of(
    user: &str,
    network: bitcoin::Network,
) -> Result<bitcoin::ScriptBuf, String> {
    use std::str::FromStr as _;
    let address = user.split('.').next().unwrap_or(user);
    let parsed = bitcoin::Address::from_str(address)
        .map_err(|e| format!("{address:?} is not a bitcoin address ({e})"))?;
    let checked = parsed
        .require_network(network)
        .map_err(|_| format!("{address:?} is not an address for the {network} network"))?;
    Ok(checked.script_pubkey())
}

fn params(v: &Value) -> &[Value] {
    v.get("params")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

impl ServerSession {
    /// `extranonce1` must be distinct per session (the daemon hands out a
    /// counter).
    pub fn new(mut cfg: ServerConfig, checker: Checker, extranonce1: Vec<u8>) -> ServerSession {
        cfg.difficulty = miner_difficulty(cfg.difficulty);
        ServerSession {
            cfg,
            checker,
            extranonce1,
            user: None,
            subscribed: false,
            version_mask: 0,
            jobs: VecDeque::new(),
            next_job: 1,
            bad_lines: 0,
            require_network: None,
            extranonce_subscribed: false,
            password: None,
            failed_auths: 0,
        }
    }

    /// From now on `mining.authorize` needs this password (`None`: open).
    pub fn require_password(&mut self, password: Option<String>) {
        self.password = password;
    }

    /// Too many wrong or missing passwords: the caller closes the
    /// connection.
    pub fn should_close(&self) -> bool {
        self.failed_auths >= MAX_FAILED_AUTHS
    }

    /// Authorizes refused for their password so far.
    pub fn failed_auths(&self) -> u32 {
        self.failed_auths
    }

    /// Authorizes from now on need a payout address for `network` (`None`:
    /// any user, as pools take; shares then go to the daemon's account).
    pub fn require_address_on(&mut self, network: Option<bitcoin::Network>) {
        self.require_network = network;
    }

    /// A new difficulty for the miner (applies to its next submits, as
    /// real pools do, even mid-job).
    pub fn set_difficulty(&mut self, difficulty: f64) -> Option<String> {
        if !difficulty.is_finite() || difficulty <= 0.0 {
            return None;
        }
        let difficulty = miner_difficulty(difficulty);
        self.cfg.difficulty = difficulty;
        Some(codec::notification(
            "mining.set_difficulty",
            json!([difficulty]),
        ))
    }

    /// A new extranonce1 for the session (`mining.set_extranonce`); jobs
    /// sent before it are forgotten, so the caller sends fresh work.
    pub fn set_extranonce(&mut self, extranonce1: Vec<u8>) -> String {
        let len = self.cfg.extranonce2_len;
        self.set_extranonce_and_size(extranonce1, len)
    }

    /// [`ServerSession::set_extranonce`] with a new extranonce2 size too
    /// (the source's extranonce space changed).
    pub fn set_extranonce_and_size(
        &mut self,
        extranonce1: Vec<u8>,
        extranonce2_len: usize,
    ) -> String {
        self.reset_extranonce(extranonce1, extranonce2_len);
        codec::notification(
            "mining.set_extranonce",
            json!([
                codec::hex_encode(&self.extranonce1),
                self.cfg.extranonce2_len
            ]),
        )
    }

    /// A new extranonce1 and extranonce2 size without telling the miner:
    /// only before it subscribed (it learns them from the subscribe
    /// answer). Jobs sent before are forgotten.
    pub fn reset_extranonce(&mut self, extranonce1: Vec<u8>, extranonce2_len: usize) {
        self.extranonce1 = extranonce1;
        self.cfg.extranonce2_len = extranonce2_len;
        self.jobs.clear();
    }

    /// The miner has subscribed (it knows its extranonce1).
    pub fn subscribed(&self) -> bool {
        self.subscribed
    }

    pub fn difficulty(&self) -> f64 {
        self.cfg.difficulty
    }

    /// The miner asked for `mining.set_extranonce` (`mining.extranonce.subscribe`).
    pub fn takes_set_extranonce(&self) -> bool {
        self.extranonce_subscribed
    }

    /// Bytes the miner rolls.
    pub fn miner_extranonce2_len(&self) -> usize {
        self.cfg.extranonce2_len
    }

    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The extranonce space a [`WorkUnit`] for this session needs: its
    /// extranonce1 plus the miner's extranonce2.
    pub fn extranonce_len(&self) -> usize {
        self.extranonce1.len() + self.cfg.extranonce2_len
    }

    /// Work for the miner. `unit` is built for this session's payout (its
    /// coinbase split around [`ServerSession::extranonce_len`] bytes, with
    /// an empty extranonce1).
    pub fn notify(&mut self, unit: &WorkUnit) -> Option<String> {
        if !self.subscribed || self.user.is_none() {
            return None;
        }
        let job_id = format!("{:x}", self.next_job);
        self.next_job += 1;
        // The unit's own extranonce1 (if any) is fixed: it goes in front of
        // the session's, inside coinb1 as the miner sees it.
        let mut coinb1 = unit.coinb1.clone();
        coinb1.extend_from_slice(&unit.extranonce1);
        let n = Notify {
            job_id,
            prev_block_hash: unit.prev_block_hash,
            coinb1,
            coinb2: unit.coinb2.clone(),
            branch: unit.branch.clone(),
            version: unit.version,
            nbits: unit.nbits,
            ntime: unit.ntime,
            clean: unit.clean,
        };
        if unit.clean {
            self.jobs.clear();
        }
        if self.jobs.len() >= MAX_SESSION_JOBS {
            self.jobs.pop_front();
        }
        let line = notify_line(&n);
        self.jobs.push_back(SessionJob {
            notify: n,
            unit: unit.clone(),
        });
        Some(line)
    }

    /// One line from the miner.
    pub fn on_line(&mut self, line: &str) -> Vec<ServerEvent> {
        let mut out = Vec::new();
        if line.len() > codec::MAX_LINE {
            self.bad_lines += 1;
            return out;
        }
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            self.bad_lines += 1;
            return out;
        };
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let method = v.get("method").and_then(Value::as_str).unwrap_or_default();
        let p = params(&v);
        match method {
            "mining.configure" => {
                let asked = p
                    .get(1)
                    .and_then(|o| o.get("version-rolling.mask"))
                    .and_then(Value::as_str)
                    .and_then(hex_u32)
                    .unwrap_or(0);
                self.version_mask = asked & self.cfg.version_mask;
                out.push(ServerEvent::Send(codec::response(
                    &id,
                    json!({"version-rolling": self.version_mask != 0,
                           "version-rolling.mask": format!("{:08x}", self.version_mask)}),
                    None,
                )));
            }
            "mining.subscribe" => {
                self.subscribed = true;
                let en1 = codec::hex_encode(&self.extranonce1);
                out.push(ServerEvent::Send(codec::response(
                    &id,
                    json!([
                        [["mining.set_difficulty", en1], ["mining.notify", en1]],
                        en1,
                        self.cfg.extranonce2_len
                    ]),
                    None,
                )));
            }
            "mining.authorize" => {
                let user = p.first().and_then(Value::as_str).unwrap_or_default();
                if user.is_empty() || user.len() > 128 {
                    out.push(ServerEvent::Send(codec::response(
                        &id,
                        json!(false),
                        Some((24, "unauthorized worker")),
                    )));
                    return out;
                }
                if let Some(want) = &self.password {
                    let given = p.get(1).and_then(Value::as_str).unwrap_or_default();
                    if !same_secret(given.as_bytes(), want.as_bytes()) {
                        self.failed_auths = self.failed_auths.saturating_add(1);
                        out.push(ServerEvent::Send(codec::response(
                            &id,
                            json!(false),
                            Some((24, "unauthorized worker: wrong password")),
                        )));
                        return out;
                    }
                }
                if let Some(network) = self.require_network {
                    if let Err(why) = payout_script_of(user, network) {
                        let why = format!("unauthorized worker: {why}");
                        out.push(ServerEvent::Send(codec::response(
                            &id,
                            json!(false),
                            Some((24, &why)),
                        )));
                        return out;
                    }
                }
                // The payout address part of "address.worker".
                let address = user.split('.').next().unwrap_or(user).to_string();
                self.user = Some(address.clone());
                out.push(ServerEvent::Send(codec::response(&id, json!(true), None)));
                out.push(ServerEvent::Send(codec::notification(
                    "mining.set_difficulty",
                    json!([self.cfg.difficulty]),
                )));
                out.push(ServerEvent::Authorized { user: address });
            }
            "mining.submit" => out.extend(self.on_submit(&id, p)),
            "mining.extranonce.subscribe" => {
                self.extranonce_subscribed = true;
                out.push(ServerEvent::Send(codec::response(&id, json!(true), None)));
            }
            "mining.suggest_difficulty" => {
                out.push(ServerEvent::Send(codec::response(&id, json!(true), None)));
            }
            // bmminer (an S9) asks for its own pre-BIP310 version rolling
            // after authorize; "no" without an error: it mines without it
            // (rolling is offered through `mining.configure` only).
            "mining.multi_version" => {
                out.push(ServerEvent::Send(codec::response(&id, json!(false), None)));
            }
            _ => {
                self.bad_lines += 1;
                out.push(ServerEvent::Send(codec::response(
                    &id,
                    Value::Null,
                    Some((20, "unknown method")),
                )));
            }
        }
        out
    }

    fn refuse(id: &Value, code: i64, why: &str) -> Vec<ServerEvent> {
        vec![
            ServerEvent::Send(codec::response(id, json!(false), Some((code, why)))),
            ServerEvent::Refused { why: why.into() },
        ]
    }

    fn on_submit(&mut self, id: &Value, p: &[Value]) -> Vec<ServerEvent> {
        let Some(user) = self.user.clone() else {
            return Self::refuse(id, 24, "unauthorized worker");
        };
        let s = |i: usize| p.get(i).and_then(Value::as_str);
        let (Some(job_id), Some(en2), Some(ntime), Some(nonce)) = (s(1), s(2), s(3), s(4)) else {
            return Self::refuse(id, 20, "malformed submit");
        };
        let Some(job) = self
            .jobs
            .iter()
            .find(|j| j.notify.job_id == job_id)
            .cloned()
        else {
            return Self::refuse(id, 21, "job not found (stale)");
        };
        let (Some(en2), Some(ntime), Some(nonce)) =
            (hex_decode(en2), hex_u32(ntime), hex_u32(nonce))
        else {
            return Self::refuse(id, 20, "malformed submit");
        };
        if en2.len() != self.cfg.extranonce2_len {
            return Self::refuse(id, 20, "extranonce2 has the wrong size");
        }
        let bits = match s(5) {
            Some(b) => match hex_u32(b) {
                Some(b) => b,
                None => return Self::refuse(id, 20, "malformed version bits"),
            },
            None => 0,
        };
        if bits & !self.version_mask != 0 {
            return Self::refuse(id, 20, "version bits outside the mask");
        }
        let version = (job.unit.version & !self.version_mask) | bits;
        let mut full_en2 = self.extranonce1.clone();
        full_en2.extend_from_slice(&en2);
        let merkle_root = job.unit.merkle_root(&full_en2);
        let header = header_bytes(
            version,
            &job.unit.prev_block_hash,
            &merkle_root,
            ntime,
            job.unit.nbits,
            nonce,
        );
        let Some(hash) = self.checker.hash_headers(&[header]).first().copied() else {
            return Self::refuse(id, 20, "internal error");
        };
        let target = target_from_difficulty(self.cfg.difficulty).unwrap_or(Target::MAX);
        if !target.is_met_by(&hash) {
            return Self::refuse(id, 23, "low difficulty share");
        }
        vec![
            ServerEvent::Send(codec::response(id, json!(true), None)),
            ServerEvent::Share {
                user,
                share: Box::new(Share {
                    source: usize::MAX,
                    source_job_id: job.unit.source_job_id.clone(),
                    extranonce2: full_en2,
                    ntime,
                    nonce,
                    version,
                    version_bits: version ^ job.unit.version,
                    merkle_root,
                    header,
                    hash,
                    difficulty: difficulty_of_hash(&hash),
                    is_block: job.unit.block_target.is_met_by(&hash),
                }),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(difficulty: f64) -> ServerSession {
        ServerSession::new(
            ServerConfig {
                extranonce2_len: 4,
                difficulty,
                version_mask: 0x1FFF_E000,
            },
            Checker::detect(),
            vec![0x80, 0, 0, 1],
        )
    }

    fn sent(events: &[ServerEvent]) -> Vec<Value> {
        events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Send(l) => serde_json::from_str(l.trim()).ok(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_difficulty_of_one_or_more_is_an_integer_as_esp_miner_reads_it() {
        assert_eq!(miner_difficulty(2.7), 2.0);
        assert_eq!(miner_difficulty(1024.0), 1024.0);
        assert_eq!(miner_difficulty(1.0), 1.0);
        assert_eq!(miner_difficulty(0.5), 0.5);
        let mut s = session(1536.9);
        assert_eq!(s.difficulty(), 1536.0);
        let line = s.set_difficulty(4000.25).unwrap();
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        // What a Bitaxe reads (cJSON's valueint) is what the server checks.
        assert_eq!(v["params"][0].as_f64(), Some(4000.0));
        assert_eq!(s.difficulty(), 4000.0);
        assert_eq!(s.set_difficulty(0.0), None);
    }

    #[test]
    fn multi_version_is_declined_without_an_error_and_extranonce_subscribe_is_noted() {
        let mut s = session(1.0);
        let out = sent(&s.on_line(r#"{"id": 7, "method": "mining.multi_version", "params": [4]}"#));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0]["id"], 7);
        assert_eq!(out[0]["result"], false);
        assert!(out[0]["error"].is_null());
        assert_eq!(s.bad_lines, 0);
        assert!(!s.takes_set_extranonce());
        let out = sent(&s.on_line(
            r#"{"jsonrpc": "2.0", "id": 5, "method": "mining.extranonce.subscribe", "params": []}"#,
        ));
        assert_eq!(out[0]["result"], true);
        assert!(s.takes_set_extranonce());
        // An unknown method is still an error and a bad line.
        let out = sent(&s.on_line(r#"{"id": 8, "method": "mining.frobnicate", "params": []}"#));
        assert_eq!(out[0]["error"][0], 20);
        assert_eq!(s.bad_lines, 1);
    }

    #[test]
    fn a_new_split_before_subscribe_is_what_the_subscribe_answer_says() {
        let mut s = session(1.0);
        s.reset_extranonce(vec![0x85], 3);
        let out = sent(
            &s.on_line(r#"{"id": 2, "method": "mining.subscribe", "params": ["cgminer/4.12.1"]}"#),
        );
        assert_eq!(out[0]["result"][1], "85");
        assert_eq!(out[0]["result"][2], 3);
        assert_eq!(s.extranonce_len(), 4);
        let line = s.set_extranonce_and_size(vec![0x80, 9], 2);
        let v: Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(v["method"], "mining.set_extranonce");
        assert_eq!(v["params"], serde_json::json!(["8009", 2]));
        assert_eq!(s.miner_extranonce2_len(), 2);
    }
}
