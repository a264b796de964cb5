//! A small JSON-RPC 1.0 client for bitcoind over HTTP/1.1, written on tokio
//! directly so every answer is bounded (size, time) and every failure is a
//! named [`NodeError`]. Answers are untrusted: malformed ones are errors.

use base64_lite::encode as b64;
use bitcoin::consensus::encode;
use hearth_sharechain::{Network, Share};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest HTTP answer accepted (a full template with 4 MB of
/// transactions as hex is ~8 MB).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Every call ends within this.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// How to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// bitcoind's `.cookie` file (re-read on every call: it changes on restart).
    Cookie(PathBuf),
    /// `rpcuser` / `rpcpassword`.
    UserPass(String, String),
}

/// What can go wrong talking to the node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Nothing listens, or the connection broke.
    #[error("bitcoin node at {addr} unreachable: {reason} (is bitcoind running with -server and the right -rpcport?)")]
    Unreachable {
        /// Where.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The cookie file is missing or unreadable.
    #[error(
        "bitcoin node cookie {path}: {reason} (is bitcoind running, and is this its datadir?)"
    )]
    Cookie {
        /// Path.
        path: String,
        /// Why.
        reason: String,
    },
    /// HTTP 401.
    #[error("bitcoin node refused our credentials (check rpcuser/rpcpassword or the cookie file)")]
    Auth,
    /// Took longer than [`CALL_TIMEOUT`].
    #[error("bitcoin node did not answer {method} within {CALL_TIMEOUT:?}")]
    Timeout {
        /// The call.
        method: String,
    },
    /// A JSON-RPC error object.
    #[error("bitcoin node error {code} on {method}: {message}")]
    Rpc {
        /// The call.
        method: String,
        /// RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
    /// Not an answer we understand.
    #[error("bitcoin node sent a malformed answer to {method}: {reason}")]
    Malformed {
        /// The call.
        method: String,
        /// Why.
        reason: String,
    },
    /// Still in initial block download.
    #[error("bitcoin node is still syncing ({blocks} of {headers} blocks, {progress_pct:.1} %); mining waits until it is done")]
    Syncing {
        /// Blocks validated.
        blocks: u64,
        /// Headers known.
        headers: u64,
        /// Verification progress.
        progress_pct: f64,
    },
    /// Another network's node.
    #[error("bitcoin node is on {got}, the sharechain is configured for {expected}")]
    WrongNetwork {
        /// Ours.
        expected: String,
        /// Theirs.
        got: String,
    },
    /// `submitblock` said no.
    #[error("bitcoin node rejected the block: {0}")]
    Rejected(String),
}

/// `getblockchaininfo`, the fields we use.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct BlockchainInfo {
    /// "main", "test", "testnet4", "signet", "regtest".
    pub chain: String,
    /// Validated blocks.
    pub blocks: u64,
    /// Known headers.
    pub headers: u64,
    /// Tip.
    pub bestblockhash: String,
    /// In initial block download.
    #[serde(default)]
    pub initialblockdownload: bool,
    /// 0..1.
    #[serde(default)]
    pub verificationprogress: f64,
}

/// One template transaction.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct TemplateTx {
    /// Raw transaction hex.
    pub data: String,
    /// Txid (display hex).
    pub txid: String,
    /// Fee, sat.
    #[serde(default)]
    pub fee: u64,
}

/// `getblocktemplate {"rules":["segwit"]}`, the fields we use.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct BlockTemplate {
    /// Block version.
    pub version: i32,
    /// Tip to build on (display hex).
    pub previousblockhash: String,
    /// Transactions to include after the coinbase.
    pub transactions: Vec<TemplateTx>,
    /// Subsidy + fees, sat.
    pub coinbasevalue: u64,
    /// Compact target (hex).
    pub bits: String,
    /// Height of the block.
    pub height: u32,
    /// Node time.
    pub curtime: u32,
    /// Segwit commitment script (hex), when any transaction has a witness.
    #[serde(default)]
    pub default_witness_commitment: Option<String>,
}

impl BlockTemplate {
    /// nBits.
    pub fn compact_bits(&self) -> Result<bitcoin::CompactTarget, NodeError> {
        u32::from_str_radix(&self.bits, 16)
            .map(bitcoin::CompactTarget::from_consensus)
            .map_err(|e| NodeError::Malformed {
                method: "getblocktemplate".into(),
                reason: format!("bits {:?}: {e}", self.bits),
            })
    }

    /// The previous block hash.
    pub fn prev_blockhash(&self) -> Result<bitcoin::BlockHash, NodeError> {
        self.previousblockhash
            .parse()
            .map_err(|e| NodeError::Malformed {
                method: "getblocktemplate".into(),
                reason: format!("previousblockhash: {e}"),
            })
    }

    /// Decoded transactions.
    pub fn decoded_transactions(&self) -> Result<Vec<bitcoin::Transaction>, NodeError> {
        self.transactions
            .iter()
            .map(|t| {
                let bytes = hex_decode(&t.data).ok_or_else(|| NodeError::Malformed {
                    method: "getblocktemplate".into(),
                    reason: "transaction data is not hex".into(),
                })?;
                encode::deserialize(&bytes).map_err(|e| NodeError::Malformed {
                    method: "getblocktemplate".into(),
                    reason: format!("transaction: {e}"),
                })
            })
            .collect()
    }
}

/// The JSON-RPC client.
#[derive(Debug, Clone)]
pub struct RpcClient {
    addr: SocketAddr,
    auth: Auth,
}

/// Lower-case hex.
pub fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Hex to bytes.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() & 1 == 1 || !s.is_ascii() {
        return None;
    }
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// bitcoind's name for a network in `getblockchaininfo`.
pub fn chain_name(n: Network) -> &'static str {
    match n {
        Network::Mainnet => "main",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
    }
}

mod base64_lite {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    /// Standard base64 with padding (for the Basic auth header).
    pub fn encode(b: &[u8]) -> String {
        let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for k in 0..4 {
                if k <= c.len() {
                    out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

impl RpcClient {
    /// A client for the node at `addr`.
    pub fn new(addr: SocketAddr, auth: Auth) -> RpcClient {
        RpcClient { addr, auth }
    }

    fn credentials(&self) -> Result<String, NodeError> {
        let plain = match &self.auth {
            Auth::UserPass(u, p) => format!("{u}:{p}"),
            Auth::Cookie(path) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|e| NodeError::Cookie {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?,
        };
        Ok(b64(plain.as_bytes()))
    }

    /// One call: the `result`, or the error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, NodeError> {
        match tokio::time::timeout(CALL_TIMEOUT, self.call_inner(method, params)).await {
            Ok(r) => r,
            Err(_) => Err(NodeError::Timeout {
                method: method.into(),
            }),
        }
    }

    async fn call_inner(&self, method: &str, params: Value) -> Result<Value, NodeError> {
        let unreachable = |e: std::io::Error| NodeError::Unreachable {
            addr: self.addr,
            reason: e.to_string(),
        };
        let malformed = |reason: String| NodeError::Malformed {
            method: method.into(),
            reason,
        };
        let body = json!({"jsonrpc": "1.0", "id": "hearth", "method": method, "params": params})
            .to_string();
        let req = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            self.addr,
            self.credentials()?,
            body.len(),
            body
        );
        let mut s = TcpStream::connect(self.addr).await.map_err(unreachable)?;
        s.write_all(req.as_bytes()).await.map_err(unreachable)?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = s.read(&mut chunk).await.map_err(unreachable)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_RESPONSE_BYTES {
                return Err(malformed(format!("answer over {MAX_RESPONSE_BYTES} bytes")));
            }
        }
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| malformed("no HTTP header end".into()))?;
        let head = String::from_utf8_lossy(&buf[..split]).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| malformed("no HTTP status".into()))?;
        if status == 401 || status == 403 {
            return Err(NodeError::Auth);
        }
        let body = &buf[split + 4..];
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| malformed(format!("HTTP {status}, not JSON: {e}")))?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(NodeError::Rpc {
                method: method.into(),
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .chars()
                    .take(500)
                    .collect(),
            });
        }
        if !(200..300).contains(&status) {
            return Err(malformed(format!("HTTP {status}")));
        }
        v.get("result")
            .cloned()
            .ok_or_else(|| malformed("no result".into()))
    }

    async fn typed<T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, NodeError> {
        let v = self.call(method, params).await?;
        serde_json::from_value(v).map_err(|e| NodeError::Malformed {
            method: method.into(),
            reason: e.to_string(),
        })
    }

    /// `getblockchaininfo`.
    pub async fn blockchain_info(&self) -> Result<BlockchainInfo, NodeError> {
        self.typed("getblockchaininfo", json!([])).await
    }

    /// `getbestblockhash`.
    pub async fn best_block_hash(&self) -> Result<bitcoin::BlockHash, NodeError> {
        let s: String = self.typed("getbestblockhash", json!([])).await?;
        s.parse().map_err(|e| NodeError::Malformed {
            method: "getbestblockhash".into(),
            reason: format!("{e}"),
        })
    }

    /// `getblocktemplate {"rules": ["segwit"]}`.
    pub async fn block_template(&self) -> Result<BlockTemplate, NodeError> {
        self.typed("getblocktemplate", json!([{"rules": ["segwit"]}]))
            .await
    }

    /// `submitblock`: Ok when accepted (null), else the node's reason.
    pub async fn submit_block(&self, block: &bitcoin::Block) -> Result<(), NodeError> {
        let hex = hex_encode(&encode::serialize(block));
        match self.call("submitblock", json!([hex])).await? {
            Value::Null => Ok(()),
            Value::String(s) if s == "duplicate" => Ok(()),
            other => Err(NodeError::Rejected(
                other
                    .as_str()
                    .unwrap_or("unexpected answer")
                    .chars()
                    .take(200)
                    .collect(),
            )),
        }
    }

    /// Checks the node is reachable, on `network` and done syncing.
    pub async fn check_ready(&self, network: Network) -> Result<BlockchainInfo, NodeError> {
        let info = self.blockchain_info().await?;
        let expected = chain_name(network);
        // Older bitcoind calls testnet4 "testnet4"; testnet3 is "test".
        if info.chain != expected {
            return Err(NodeError::WrongNetwork {
                expected: expected.into(),
                got: info.chain,
            });
        }
        if info.initialblockdownload {
            return Err(NodeError::Syncing {
                blocks: info.blocks,
                headers: info.headers,
                progress_pct: info.verificationprogress * 100.0,
            });
        }
        Ok(info)
    }
}

/// The block a share makes: its header and coinbase, then the template's
/// transactions (which the share's merkle branch was built from). When the
/// coinbase carries a segwit witness commitment output, it gets the 32-byte
/// reserved witness value (BIP141); without one it must have no witness.
pub fn block_from_share(share: &Share, template_txs: Vec<bitcoin::Transaction>) -> bitcoin::Block {
    let mut coinbase = share.coinbase.clone();
    let commits = coinbase.output.iter().any(|o| {
        let b = o.script_pubkey.as_bytes();
        b.len() >= 38 && b[..6] == [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]
    });
    if commits {
        if let Some(input) = coinbase.input.first_mut() {
            if input.witness.is_empty() {
                input.witness.push([0u8; 32]);
            }
        }
    }
    let mut txdata = vec![coinbase];
    txdata.extend(template_txs);
    bitcoin::Block {
        header: share.header,
        txdata,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::b64(i.as_bytes()), o);
        }
    }
}
