//! Stratum V1 lines. Parsing is total: any line (too long, not JSON, wrong
//! shapes, bad hex) is an error value, never a panic.

use serde_json::{json, Value};

use crate::merkle::MerkleBranch;

/// Longest line accepted (a notify with a 16-level branch and a large
/// coinbase is ~4 KiB; real pools stay far below this).
pub const MAX_LINE: usize = 64 * 1024;
/// Deepest merkle branch accepted (2^24 transactions).
pub const MAX_BRANCH: usize = 24;
/// Longest coinbase part accepted, in bytes.
pub const MAX_COINBASE_PART: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error("line of {0} bytes is longer than {MAX_LINE}")]
    TooLong(usize),
    #[error("not JSON: {0}")]
    Json(String),
    #[error("not a JSON-RPC message: {0}")]
    Shape(String),
    #[error("{method}: {why}")]
    Params { method: String, why: String },
}

/// A `mining.notify`, decoded and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    pub job_id: String,
    /// Header order (internal byte order), converted from Stratum's
    /// word-swapped hex.
    pub prev_block_hash: [u8; 32],
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    pub branch: MerkleBranch,
    pub version: u32,
    pub nbits: u32,
    pub ntime: u32,
    pub clean: bool,
}

/// What a pool may send us.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    /// A reply to one of our requests.
    Response {
        id: u64,
        result: Value,
        error: Option<String>,
    },
    Notify(Notify),
    SetDifficulty(f64),
    SetExtranonce {
        extranonce1: Vec<u8>,
        extranonce2_len: usize,
    },
    SetVersionMask(u32),
    Reconnect {
        host: Option<String>,
        port: Option<u16>,
        wait_s: u64,
    },
    ShowMessage(String),
    /// A method we do not know: ignored, but reported.
    Unknown(String),
}

/// Bytes from hex (even length, hex digits only).
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let b = s.as_bytes();
    (0..b.len())
        .step_by(2)
        .map(|i| {
            let hi = (b[i] as char).to_digit(16)?;
            let lo = (b[i + 1] as char).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

pub fn hex_encode(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[usize::from(b >> 4)] as char);
        s.push(D[usize::from(b & 15)] as char);
    }
    s
}

/// A u32 from 8 hex digits (as Stratum writes version, nbits, ntime, nonce).
pub fn hex_u32(s: &str) -> Option<u32> {
    if s.len() != 8 {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Stratum's prevhash: the 32 header bytes with each 4-byte word reversed.
pub fn prevhash_from_stratum(s: &str) -> Option<[u8; 32]> {
    let raw = hex_decode(s)?;
    let raw: [u8; 32] = raw.try_into().ok()?;
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(raw.chunks_exact(4)) {
        o.copy_from_slice(&[w[3], w[2], w[1], w[0]]);
    }
    Some(out)
}

pub fn prevhash_to_stratum(prev: &[u8; 32]) -> String {
    let mut sw = [0u8; 32];
    for (o, w) in sw.chunks_exact_mut(4).zip(prev.chunks_exact(4)) {
        o.copy_from_slice(&[w[3], w[2], w[1], w[0]]);
    }
    hex_encode(&sw)
}

fn perr(method: &str, why: impl Into<String>) -> CodecError {
    CodecError::Params {
        method: method.to_string(),
        why: why.into(),
    }
}

fn param_str<'a>(
    p: &'a [Value],
    i: usize,
    method: &str,
    name: &str,
) -> Result<&'a str, CodecError> {
    p.get(i)
        .and_then(Value::as_str)
        .ok_or_else(|| perr(method, format!("{name} (param {i}) is not a string")))
}

fn param_hex(p: &[Value], i: usize, method: &str, name: &str) -> Result<Vec<u8>, CodecError> {
    let s = param_str(p, i, method, name)?;
    if s.len() > 2 * MAX_COINBASE_PART {
        return Err(perr(method, format!("{name} is too long")));
    }
    hex_decode(s).ok_or_else(|| perr(method, format!("{name} is not hex")))
}

fn param_u32(p: &[Value], i: usize, method: &str, name: &str) -> Result<u32, CodecError> {
    hex_u32(param_str(p, i, method, name)?)
        .ok_or_else(|| perr(method, format!("{name} is not 8 hex digits")))
}

fn parse_notify(p: &[Value]) -> Result<Notify, CodecError> {
    let m = "mining.notify";
    if p.len() < 9 {
        return Err(perr(m, format!("{} params, 9 expected", p.len())));
    }
    let job_id = param_str(p, 0, m, "job_id")?;
    if job_id.is_empty() || job_id.len() > 64 {
        return Err(perr(m, "job_id is empty or longer than 64"));
    }
    let prev_block_hash = prevhash_from_stratum(param_str(p, 1, m, "prevhash")?)
        .ok_or_else(|| perr(m, "prevhash is not 64 hex digits"))?;
    let coinb1 = param_hex(p, 2, m, "coinb1")?;
    let coinb2 = param_hex(p, 3, m, "coinb2")?;
    let branch_v = p[4]
        .as_array()
        .ok_or_else(|| perr(m, "merkle_branch is not an array"))?;
    if branch_v.len() > MAX_BRANCH {
        return Err(perr(
            m,
            format!("merkle_branch has {} levels", branch_v.len()),
        ));
    }
    let mut branch = Vec::with_capacity(branch_v.len());
    for (i, b) in branch_v.iter().enumerate() {
        let h = b
            .as_str()
            .and_then(hex_decode)
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| perr(m, format!("merkle_branch[{i}] is not 32 bytes of hex")))?;
        branch.push(h);
    }
    let version = param_u32(p, 5, m, "version")?;
    let nbits = param_u32(p, 6, m, "nbits")?;
    let ntime = param_u32(p, 7, m, "ntime")?;
    let clean = p[8]
        .as_bool()
        .ok_or_else(|| perr(m, "clean_jobs is not a boolean"))?;
    Ok(Notify {
        job_id: job_id.to_string(),
        prev_block_hash,
        coinb1,
        coinb2,
        branch: MerkleBranch(branch),
        version,
        nbits,
        ntime,
        clean,
    })
}

fn error_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Array(a) => Some(
            a.get(1)
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string()),
        ),
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => Some(
            o.get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string()),
        ),
        other => Some(other.to_string()),
    }
}

/// One line from a pool.
pub fn parse_server_line(line: &str) -> Result<ServerMessage, CodecError> {
    if line.len() > MAX_LINE {
        return Err(CodecError::TooLong(line.len()));
    }
    let v: Value =
        serde_json::from_str(line.trim()).map_err(|e| CodecError::Json(e.to_string()))?;
    let obj = v
        .as_object()
        .ok_or_else(|| CodecError::Shape("not an object".into()))?;
    if let Some(method) = obj.get("method").and_then(Value::as_str) {
        let empty = Vec::new();
        let p = obj
            .get("params")
            .and_then(Value::as_array)
            .unwrap_or(&empty);
        return match method {
            "mining.notify" => parse_notify(p).map(ServerMessage::Notify),
            "mining.set_difficulty" => {
                let d = p
                    .first()
                    .and_then(Value::as_f64)
                    .ok_or_else(|| perr(method, "difficulty is not a number"))?;
                if !d.is_finite() || d <= 0.0 {
                    return Err(perr(method, format!("difficulty {d} is not above zero")));
                }
                Ok(ServerMessage::SetDifficulty(d))
            }
            "mining.set_extranonce" => {
                let en1 = param_hex(p, 0, method, "extranonce1")?;
                let n = p
                    .get(1)
                    .and_then(Value::as_u64)
                    .ok_or_else(|| perr(method, "extranonce2_size is not a number"))?;
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                if n == 0 || n + en1.len() > 32 {
                    return Err(perr(method, format!("extranonce2_size {n} out of range")));
                }
                Ok(ServerMessage::SetExtranonce {
                    extranonce1: en1,
                    extranonce2_len: n,
                })
            }
            "mining.set_version_mask" => Ok(ServerMessage::SetVersionMask(param_u32(
                p, 0, method, "mask",
            )?)),
            "client.reconnect" => Ok(ServerMessage::Reconnect {
                host: p.first().and_then(Value::as_str).map(str::to_string),
                port: p.get(1).and_then(|v| {
                    v.as_u64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .and_then(|n| u16::try_from(n).ok())
                }),
                wait_s: p.get(2).and_then(Value::as_u64).unwrap_or(0).min(3600),
            }),
            "client.show_message" => Ok(ServerMessage::ShowMessage(
                p.first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .chars()
                    .take(256)
                    .collect(),
            )),
            other => Ok(ServerMessage::Unknown(other.chars().take(64).collect())),
        };
    }
    let id = obj
        .get("id")
        .and_then(Value::as_u64)
        .ok_or_else(|| CodecError::Shape("a response without a numeric id".into()))?;
    Ok(ServerMessage::Response {
        id,
        result: obj.get("result").cloned().unwrap_or(Value::Null),
        error: obj.get("error").and_then(error_text),
    })
}

/// A request line (with its newline).
pub fn request(id: u64, method: &str, params: Value) -> String {
    let mut s = json!({"id": id, "method": method, "params": params}).to_string();
    s.push('\n');
    s
}

/// A notification line from a server (id null).
pub fn notification(method: &str, params: Value) -> String {
    let mut s = json!({"id": null, "method": method, "params": params}).to_string();
    s.push('\n');
    s
}

/// A response line from a server.
pub fn response(id: &Value, result: Value, error: Option<(i64, &str)>) -> String {
    let error = error.map_or(Value::Null, |(code, msg)| json!([code, msg, null]));
    let mut s = json!({"id": id, "result": result, "error": error}).to_string();
    s.push('\n');
    s
}

/// A `mining.notify` line for `n`.
pub fn notify_line(n: &Notify) -> String {
    let branch: Vec<String> = n.branch.0.iter().map(|b| hex_encode(b)).collect();
    notification(
        "mining.notify",
        json!([
            n.job_id,
            prevhash_to_stratum(&n.prev_block_hash),
            hex_encode(&n.coinb1),
            hex_encode(&n.coinb2),
            branch,
            format!("{:08x}", n.version),
            format!("{:08x}", n.nbits),
            format!("{:08x}", n.ntime),
            n.clean
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_pool_notify_parses_and_round_trips() {
        // Shape of a public pool's notify (values shortened but valid).
        let line = r#"{"params":["bf","4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008","072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000",[],"00000002","1c2ac4af","504e86b9",false],"id":null,"method":"mining.notify"}"#;
        let ServerMessage::Notify(n) = parse_server_line(line).unwrap() else {
            panic!("not a notify")
        };
        assert_eq!(n.job_id, "bf");
        assert_eq!(n.version, 2);
        assert_eq!(n.nbits, 0x1c2a_c4af);
        assert_eq!(n.ntime, 0x504e_86b9);
        assert!(!n.clean);
        // Word-swapped prevhash: header bytes start f8b6164d.
        assert_eq!(&n.prev_block_hash[..4], &[0xf8, 0xb6, 0x16, 0x4d]);
        let again = parse_server_line(notify_line(&n).trim()).unwrap();
        assert_eq!(again, ServerMessage::Notify(n));
    }

    #[test]
    fn bad_lines_are_errors() {
        for line in [
            "",
            "{",
            "[]",
            r#"{"id":"x","result":true}"#,
            r#"{"method":"mining.set_difficulty","params":[0]}"#,
            r#"{"method":"mining.set_difficulty","params":[-3]}"#,
            r#"{"method":"mining.set_difficulty","params":["a"]}"#,
            r#"{"method":"mining.notify","params":["1"]}"#,
            r#"{"method":"mining.notify","params":["1","zz","","",[],"00000002","1c2ac4af","504e86b9",true]}"#,
            r#"{"method":"mining.notify","params":["1","4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000","00","00",["abcd"],"00000002","1c2ac4af","504e86b9",true]}"#,
            r#"{"method":"mining.set_extranonce","params":["0102",0]}"#,
        ] {
            assert!(parse_server_line(line).is_err(), "{line}");
        }
        let long = "x".repeat(MAX_LINE + 1);
        assert_eq!(
            parse_server_line(&long),
            Err(CodecError::TooLong(MAX_LINE + 1))
        );
    }

    #[test]
    fn error_responses_carry_the_message() {
        let m = parse_server_line(
            r#"{"id":4,"result":null,"error":[21,"Job not found (=stale)",null]}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            ServerMessage::Response {
                id: 4,
                result: Value::Null,
                error: Some("Job not found (=stale)".into())
            }
        );
    }
}
