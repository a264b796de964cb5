//! An in-process fake bitcoind: the JSON-RPC subset Hearth uses, on regtest
//! rules (nBits 0x207fffff, BIP34 heights, merkle and witness commitments
//! checked), with real blocks built and checked by rust-bitcoin. Tests use
//! it, and so can `hearth run --sim`. It can pretend to be syncing or on
//! another network, to exercise those errors.

use super::rpc::hex_decode;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bitcoin::block::{Header, Version};
use bitcoin::consensus::encode;
use bitcoin::hashes::Hash;
use bitcoin::{
    Amount, Block, CompactTarget, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness,
};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Regtest nBits.
pub const REGTEST_BITS: u32 = 0x207f_ffff;
/// Largest request body.
const MAX_BODY: usize = 8 * 1024 * 1024;

#[derive(Debug)]
struct FakeState {
    blocks: Vec<Block>,
    chain: String,
    syncing: bool,
    basic: String,
    submitted: u64,
}

/// A running fake node.
#[derive(Debug, Clone)]
pub struct FakeNode {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its cookie file (`__cookie__:<password>`).
    pub cookie_path: PathBuf,
    state: Arc<Mutex<FakeState>>,
}

fn regtest_subsidy(height: u32) -> u64 {
    let halvings = height / 150;
    if halvings >= 64 {
        0
    } else {
        (50 * 100_000_000u64) >> halvings
    }
}

fn coinbase(height: u32, value: u64) -> Transaction {
    Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: bitcoin::script::Builder::new()
                .push_int(i64::from(height))
                .push_opcode(bitcoin::opcodes::OP_0)
                .into_script(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(value),
            script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
        }],
    }
}

/// Mines a regtest block on `prev` at `height` (a few hashes).
pub fn mine_block(prev: &Block, height: u32, time: u32) -> Block {
    let cb = coinbase(height, regtest_subsidy(height));
    let merkle_root = bitcoin::TxMerkleNode::from_raw_hash(cb.compute_txid().to_raw_hash());
    let mut header = Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: prev.block_hash(),
        merkle_root,
        time,
        bits: CompactTarget::from_consensus(REGTEST_BITS),
        nonce: 0,
    };
    let target = bitcoin::Target::from_compact(header.bits);
    while !target.is_met_by(header.block_hash()) {
        header.nonce = header.nonce.wrapping_add(1);
    }
    Block {
        header,
        txdata: vec![cb],
    }
}

impl FakeNode {
    /// Starts on 127.0.0.1 (port 0 = any) with `premine` blocks above the
    /// regtest genesis, user `hearth` / `password`, and a cookie file in
    /// `dir`.
    pub async fn start(dir: &Path, premine: u32, password: &str) -> std::io::Result<FakeNode> {
        let genesis = bitcoin::blockdata::constants::genesis_block(bitcoin::Network::Regtest);
        let mut blocks = vec![genesis];
        for h in 1..=premine {
            let prev = &blocks[blocks.len() - 1];
            let t = prev.header.time + 600;
            let b = mine_block(prev, h, t);
            blocks.push(b);
        }
        std::fs::create_dir_all(dir)?;
        let cookie_path = dir.join(".cookie");
        let cookie_pass = format!("{:x}", std::process::id() as u64 ^ 0x5eed_c00c_1e00);
        // The cookie is a credential: owner-only, as bitcoind makes its own.
        crate::owner_only::write(&cookie_path, format!("__cookie__:{cookie_pass}").as_bytes())?;
        let basic_user = base64(format!("hearth:{password}").as_bytes());
        let basic_cookie = base64(format!("__cookie__:{cookie_pass}").as_bytes());
        let state = Arc::new(Mutex::new(FakeState {
            blocks,
            chain: "regtest".into(),
            syncing: false,
            basic: format!("{basic_user} {basic_cookie}"),
            submitted: 0,
        }));
        let app = Router::new()
            .route("/", post(handle))
            .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeNode {
            addr,
            cookie_path,
            state,
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Pretend to be in initial block download.
    pub fn set_syncing(&self, syncing: bool) {
        self.with(|s| s.syncing = syncing);
    }

    /// Pretend to be on `chain` ("main", "signet", ...).
    pub fn set_chain(&self, chain: &str) {
        self.with(|s| s.chain = chain.into());
    }

    /// Height of the tip.
    pub fn height(&self) -> u32 {
        self.with(|s| s.blocks.len() as u32 - 1)
    }

    /// The tip's hash.
    pub fn tip(&self) -> bitcoin::BlockHash {
        self.with(|s| {
            s.blocks
                .last()
                .map(Block::block_hash)
                .unwrap_or_else(bitcoin::BlockHash::all_zeros)
        })
    }

    /// Blocks accepted by `submitblock`.
    pub fn submitted(&self) -> u64 {
        self.with(|s| s.submitted)
    }

    /// Another miner finds a block (the tip moves).
    pub fn mine_external(&self) {
        self.with(|s| {
            if let Some(prev) = s.blocks.last() {
                let h = s.blocks.len() as u32;
                let b = mine_block(prev, h, prev.header.time + 600);
                s.blocks.push(b);
            }
        });
    }
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            out.push(if k <= c.len() {
                T[((n >> (18 - 6 * k)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({"result": null, "error": {"code": code, "message": message}, "id": id})),
    )
        .into_response()
}

async fn handle(
    State(state): State<Arc<Mutex<FakeState>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let allowed = match state.lock() {
        Ok(s) => s.basic.clone(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let auth_ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .is_some_and(|cred| allowed.split(' ').any(|a| a == cred));
    if !auth_ok {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(req) = serde_json::from_str::<Value>(&body) else {
        return rpc_error(&Value::Null, -32700, "Parse error");
    };
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let method = req.get("method").and_then(Value::as_str).unwrap_or("");
    let params = req.get("params").cloned().unwrap_or(json!([]));
    let mut s = match state.lock() {
        Ok(s) => s,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let tip = match s.blocks.last() {
        Some(t) => t.clone(),
        None => return rpc_error(&id, -1, "no blocks"),
    };
    let height = s.blocks.len() as u64 - 1;
    let result = match method {
        "getbestblockhash" => json!(tip.block_hash().to_string()),
        "getblockchaininfo" => json!({
            "chain": s.chain,
            "blocks": height,
            "headers": if s.syncing { height + 1000 } else { height },
            "bestblockhash": tip.block_hash().to_string(),
            "initialblockdownload": s.syncing,
            "verificationprogress": if s.syncing { 0.42 } else { 1.0 },
        }),
        "getblocktemplate" => {
            let segwit = params
                .get(0)
                .and_then(|p| p.get("rules"))
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|x| x == "segwit"));
            if !segwit {
                return rpc_error(
                    &id,
                    -8,
                    "getblocktemplate must be called with the segwit rule set",
                );
            }
            if s.syncing {
                return rpc_error(
                    &id,
                    -10,
                    "Bitcoin Core is in initial sync and waiting for blocks...",
                );
            }
            let h = height as u32 + 1;
            json!({
                "version": 0x2000_0000,
                "rules": ["csv", "!segwit", "taproot"],
                "previousblockhash": tip.block_hash().to_string(),
                "transactions": [],
                "coinbasevalue": regtest_subsidy(h),
                "bits": format!("{REGTEST_BITS:08x}"),
                "target": bitcoin::Target::from_compact(CompactTarget::from_consensus(REGTEST_BITS)).to_string(),
                "height": h,
                "curtime": tip.header.time + 600,
                "mintime": tip.header.time + 1,
            })
        }
        "submitblock" => {
            let Some(hex) = params.get(0).and_then(Value::as_str) else {
                return rpc_error(&id, -1, "submitblock needs a hex block");
            };
            let Some(bytes) = hex_decode(hex) else {
                return rpc_error(&id, -22, "Block decode failed");
            };
            let Ok(block) = encode::deserialize::<Block>(&bytes) else {
                return rpc_error(&id, -22, "Block decode failed");
            };
            match check_block(&block, &tip, height as u32 + 1) {
                Ok(()) => {
                    s.blocks.push(block);
                    s.submitted += 1;
                    Value::Null
                }
                Err(reason) => json!(reason),
            }
        }
        _ => return rpc_error(&id, -32601, "Method not found"),
    };
    axum::Json(json!({"result": result, "error": null, "id": id})).into_response()
}

/// Regtest consensus checks a block must pass, with bitcoind's reasons.
fn check_block(block: &Block, tip: &Block, height: u32) -> Result<(), &'static str> {
    if block.block_hash() == tip.block_hash() {
        return Err("duplicate");
    }
    if block.header.prev_blockhash != tip.block_hash() {
        return Err("bad-prevblk");
    }
    if block.header.bits.to_consensus() != REGTEST_BITS {
        return Err("bad-diffbits");
    }
    let target = bitcoin::Target::from_compact(block.header.bits);
    if !target.is_met_by(block.block_hash()) {
        return Err("high-hash");
    }
    if !block.check_merkle_root() {
        return Err("bad-txnmrklroot");
    }
    let Some(cb) = block.txdata.first().filter(|t| t.is_coinbase()) else {
        return Err("bad-cb-missing");
    };
    if block.bip34_block_height().ok() != Some(u64::from(height)) {
        return Err("bad-cb-height");
    }
    let paid: u64 = cb.output.iter().map(|o| o.value.to_sat()).sum();
    if paid > regtest_subsidy(height) {
        return Err("bad-cb-amount");
    }
    let has_witness = block
        .txdata
        .iter()
        .skip(1)
        .any(|t| t.input.iter().any(|i| !i.witness.is_empty()));
    if has_witness && !block.check_witness_commitment() {
        return Err("bad-witness-merkle-match");
    }
    Ok(())
}
