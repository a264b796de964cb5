//! The validation half of `hearth bench sharechain`, without SQLite, for
//! counting instructions on aarch64 under qemu (the Raspberry Pi 4
//! projection in docs/sharechain.md):
//!
//!     validate_window gen N MINERS FILE   # mine N regtest shares (run natively)
//!     validate_window check FILE [N]      # validate the first N from their bytes
//!     validate_window check-decoded FILE [N]  # decode them first (`Share`)
//!     validate_window check-node FILE [N]     # the daemon's path: p2p messages
//!
//! `gen` mines the shares the benchmark mines (same scripts, times, block
//! base); `check` validates them in batches of 500 as a syncing node does,
//! from the received bytes (`Chain::accept_batch_encoded`, coinbases
//! borrowed), and prints how many were accepted; `check-decoded` decodes
//! each into a `Share` first (`Chain::accept_batch`); `check-node` does what
//! the daemon's node does with a peer's shares: they arrive as `shares`
//! messages of up to `MAX_SHARES_PER_MESSAGE` (framed here as a peer frames
//! them), the p2p codec reads each share's header and info and keeps its
//! bytes (`ReceivedShare`, coinbase not decoded, id hashed) and the chain
//! validates those (`Chain::accept_received`, as `Node`'s `on_shares`).
//! Counting `check` with 8640
//! shares and with 1 and subtracting leaves the cost of validating the rest.

use bitcoin::hashes::Hash;
use hearth_shacheck::Checker;
use hearth_sharechain::miner::{mine, test_payout_script, BlockBase};
use hearth_sharechain::p2p::{encode_frame, FrameReader, Message, MAX_SHARES_PER_MESSAGE};
use hearth_sharechain::{Chain, ChainParams, Network, ReceivedShare, Share};
use std::io::{Read, Write};
use std::process::ExitCode;

const T0: u64 = 1_700_000_000;
const BATCH: usize = 500;

fn generate(n: usize, miners: u32) -> Result<Vec<Vec<u8>>, String> {
    let mut chain = Chain::new(
        ChainParams::for_network(Network::Regtest),
        Checker::detect(),
    );
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = T0 + 10 * i as u64;
        let base = BlockBase {
            prev_blockhash: bitcoin::BlockHash::from_raw_hash(Hash::from_byte_array([1; 32])),
            height: 1000,
            bits: bitcoin::CompactTarget::from_consensus(0x207f_ffff),
            time: t as u32,
        };
        let job = chain.job(
            test_payout_script(i as u32 % miners.max(1)),
            3_125_000_000,
            base.bits,
            t,
        );
        let share = mine(&job, &base, &[[2; 32], [3; 32], [4; 32]], i as u64, 10_000)
            .ok_or("no regtest share found")?;
        chain
            .accept(share.clone(), t)
            .map_err(|e| format!("generated share refused: {e}"))?;
        out.push(share.to_bytes());
    }
    Ok(out)
}

fn write_file(path: &str, shares: &[Vec<u8>]) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    for s in shares {
        let len = u32::try_from(s.len()).map_err(|e| e.to_string())?;
        f.write_all(&len.to_le_bytes()).map_err(|e| e.to_string())?;
        f.write_all(s).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The share file's bytes, read once.
fn read_file(path: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// The first `limit` shares of a share file's bytes, borrowed (the
/// harness copies nothing the node would not).
fn split_shares(bytes: &[u8], limit: usize) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 4 && out.len() < limit {
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let body = rest.get(4..4 + len).ok_or("truncated share file")?;
        out.push(body);
        rest = &rest[4 + len..];
    }
    Ok(out)
}

/// How `check` hands the shares to the chain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    Encoded,
    Decoded,
    Node,
}

/// The shares as a peer sends them: `shares` frames of up to
/// `MAX_SHARES_PER_MESSAGE`, written straight from the bytes, each in one
/// allocation of its size (the harness's own cost: one copy of the bytes,
/// as a socket read would make).
fn frames(received: &[&[u8]], params: &ChainParams) -> Vec<Vec<u8>> {
    let id = params.consensus_id();
    // The frame header of an empty `shares` message (its one payload byte,
    // the count 0, dropped): magic and command.
    let mut head = encode_frame(&id, &Message::Shares(Vec::new()));
    head.truncate(5);
    received
        .chunks(MAX_SHARES_PER_MESSAGE)
        .map(|chunk| {
            let mut count = Vec::new();
            let _ = bitcoin::consensus::Encodable::consensus_encode(
                &bitcoin::consensus::encode::VarInt(chunk.len() as u64),
                &mut count,
            );
            let len = count.len() + chunk.iter().map(|s| s.len()).sum::<usize>();
            let mut frame = Vec::with_capacity(9 + len);
            frame.extend_from_slice(&head);
            frame.extend_from_slice(&(len as u32).to_le_bytes());
            frame.extend_from_slice(&count);
            for s in chunk {
                frame.extend_from_slice(s);
            }
            frame
        })
        .collect()
}

/// The daemon's path for a peer's `shares` frames: its frame reader and
/// codec, then the chain on the received shares.
fn check_node(frames: &[Vec<u8>], chain: &mut Chain, now: u64) -> Result<usize, String> {
    let mut reader = FrameReader::new(&chain.consensus_id());
    let mut accepted = 0;
    for frame in frames {
        reader.push(frame);
        let shares: Vec<ReceivedShare> = match reader.next_message() {
            Some(Ok(Message::Shares(shares))) => shares,
            other => return Err(format!("not a shares message: {other:?}")),
        };
        for r in chain.accept_received(&shares, now) {
            r.map_err(|e| format!("share refused: {e}"))?;
            accepted += 1;
        }
    }
    Ok(accepted)
}

fn check(received: &[&[u8]], path: Path) -> Result<usize, String> {
    let n = received.len() as u64;
    let params = ChainParams::for_network(Network::Regtest);
    let mut chain = Chain::new(params.clone(), Checker::detect());
    let now = T0 + 10 * n;
    let decoded = match path {
        Path::Node => return check_node(&frames(received, &params), &mut chain, now),
        Path::Decoded => true,
        Path::Encoded => false,
    };
    let mut accepted = 0;
    for batch in received.chunks(BATCH) {
        let results = if decoded {
            let shares: Vec<Share> = batch
                .iter()
                .map(|b| Share::from_bytes(b))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            chain.accept_batch(shares, now)
        } else {
            chain.accept_batch_encoded(batch, now)
        };
        for r in results {
            r.map_err(|e| format!("share refused: {e}"))?;
            accepted += 1;
        }
    }
    Ok(accepted)
}

fn run(args: &[String]) -> Result<String, String> {
    match args {
        [cmd, n, miners, file] if cmd == "gen" => {
            let n: usize = n.parse().map_err(|_| "N is a number")?;
            let miners: u32 = miners.parse().map_err(|_| "MINERS is a number")?;
            write_file(file, &generate(n, miners)?)?;
            Ok(format!("wrote {n} shares from {miners} miners to {file}"))
        }
        [cmd, file, rest @ ..] if cmd.starts_with("check") && rest.len() <= 1 => {
            let path = match cmd.as_str() {
                "check" => Path::Encoded,
                "check-decoded" => Path::Decoded,
                "check-node" => Path::Node,
                _ => return Err(format!("unknown command {cmd}")),
            };
            let limit = match rest.first() {
                Some(n) => n.parse().map_err(|_| "N is a number")?,
                None => usize::MAX,
            };
            let bytes = read_file(file)?;
            let shares = split_shares(&bytes, limit)?;
            let accepted = check(&shares, path)?;
            Ok(format!(
                "accepted {accepted} of {} shares ({} backend)",
                shares.len(),
                Checker::detect().backend().name()
            ))
        }
        _ => Err(
            "usage: validate_window gen N MINERS FILE | check|check-decoded|check-node FILE [N]"
                .into(),
        ),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("validate_window: {e}");
            ExitCode::FAILURE
        }
    }
}
