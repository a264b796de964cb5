//! The peer-to-peer wire protocol, sans-IO: messages, framing with size
//! limits, and the handshake proof of work bound to the consensus id.
//!
//! Frame: `magic (first 4 bytes of the consensus id) | command (1) |
//! payload length (u32 LE) | payload`. Payloads use Bitcoin consensus
//! encoding. A frame over [`MAX_FRAME_BYTES`] or with the wrong magic ends
//! the connection before its payload is read.

use crate::params::ConsensusId;
use crate::received::ReceivedShare;
use crate::share::ShareHash;
use bitcoin::block::Header;
use bitcoin::consensus::{encode, Decodable, Encodable};
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::CompactTarget;

/// Wire protocol version.
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest payload.
pub const MAX_FRAME_BYTES: usize = 2 * 1024 * 1024;
/// Frame header length.
pub const FRAME_HEADER_BYTES: usize = 9;
/// Locator entries.
pub const MAX_LOCATOR: usize = 64;
/// Headers per `Headers` message.
pub const MAX_HEADERS: usize = 2000;
/// Shares per `GetShares` / `Shares` message.
pub const MAX_SHARES_PER_MESSAGE: usize = 200;
/// Addresses per `Addr` message, and the length of one.
pub const MAX_ADDRS: usize = 100;
/// Longest address text (`host:port`).
pub const MAX_ADDR_LEN: usize = 64;

/// What headers-first sync sends ahead of the shares: enough to check the
/// proof of work against the claimed share target before fetching bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareHeader {
    /// The Bitcoin header.
    pub header: Header,
    /// Sharechain height.
    pub height: u64,
    /// Claimed share target.
    pub share_bits: CompactTarget,
}

impl ShareHeader {
    /// The share id.
    pub fn hash(&self) -> ShareHash {
        ShareHash(self.header.block_hash().to_byte_array())
    }
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// First message each way.
    Hello {
        /// [`PROTOCOL_VERSION`].
        version: u32,
        /// The sender's chain.
        consensus_id: [u8; 32],
        /// Random bytes the other side must do work on.
        challenge: [u8; 16],
        /// Where the sender listens (0 = not listening).
        listen_port: u16,
        /// The sender's best height.
        tip_height: u64,
        /// The sender's best cumulative work (LE).
        tip_work: [u8; 32],
    },
    /// Solution to the other side's challenge.
    HelloProof {
        /// See [`handshake_pow_ok`].
        nonce: u64,
    },
    /// Ask for peer addresses.
    GetAddr,
    /// Peer addresses (`host:port`).
    Addr(Vec<String>),
    /// Ask for best-chain headers after the first locator hash we share.
    GetHeaders {
        /// Our best chain, tip first, spaced exponentially.
        locator: Vec<ShareHash>,
    },
    /// Best-chain headers, oldest first.
    Headers(Vec<ShareHeader>),
    /// Ask for full shares.
    GetShares(Vec<ShareHash>),
    /// Full shares, in the order asked, as their bytes (coinbases not
    /// decoded; see [`ReceivedShare`]).
    Shares(Vec<ReceivedShare>),
    /// A new share (relay), as its bytes.
    NewShare(Box<ReceivedShare>),
    /// Liveness.
    Ping(u64),
    /// Answer to `Ping`.
    Pong(u64),
}

impl Message {
    fn command(&self) -> u8 {
        match self {
            Message::Hello { .. } => 1,
            Message::HelloProof { .. } => 2,
            Message::GetAddr => 3,
            Message::Addr(_) => 4,
            Message::GetHeaders { .. } => 5,
            Message::Headers(_) => 6,
            Message::GetShares(_) => 7,
            Message::Shares(_) => 8,
            Message::NewShare(_) => 9,
            Message::Ping(_) => 10,
            Message::Pong(_) => 11,
        }
    }

    /// A short name for logs and scores.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::HelloProof { .. } => "hello-proof",
            Message::GetAddr => "getaddr",
            Message::Addr(_) => "addr",
            Message::GetHeaders { .. } => "getheaders",
            Message::Headers(_) => "headers",
            Message::GetShares(_) => "getshares",
            Message::Shares(_) => "shares",
            Message::NewShare(_) => "newshare",
            Message::Ping(_) => "ping",
            Message::Pong(_) => "pong",
        }
    }
}

/// Why bytes from a peer are not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Another chain's (or no chain's) frame.
    #[error("bad magic {0:02x?}")]
    Magic([u8; 4]),
    /// Payload length over the limit.
    #[error("frame of {0} bytes over the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    /// Unknown command byte.
    #[error("unknown command {0}")]
    Command(u8),
    /// A list over its limit.
    #[error("{what}: {len} items, limit {max}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// Items sent.
        len: usize,
        /// Allowed.
        max: usize,
    },
    /// Payload does not decode.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which message.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl ProtocolError {
    /// Whether the stream cannot go on after this error: a frame with the
    /// wrong magic or over the size limit leaves no next frame to find.
    /// After any other error the frame was read whole, so the next one
    /// starts where it ended and the node scores the peer instead
    /// ([`crate::node::Node::on_bad_message`]).
    pub fn ends_connection(&self) -> bool {
        matches!(self, ProtocolError::Magic(_) | ProtocolError::TooLarge(_))
    }
}

fn enc<T: Encodable + ?Sized>(v: &T, out: &mut Vec<u8>) {
    // Writing into a Vec cannot fail.
    let _ = v.consensus_encode(out);
}

fn encode_payload(m: &Message, out: &mut Vec<u8>) {
    match m {
        Message::Hello {
            version,
            consensus_id,
            challenge,
            listen_port,
            tip_height,
            tip_work,
        } => {
            enc(version, out);
            enc(consensus_id, out);
            enc(challenge, out);
            enc(listen_port, out);
            enc(tip_height, out);
            enc(tip_work, out);
        }
        Message::HelloProof { nonce } | Message::Ping(nonce) | Message::Pong(nonce) => {
            enc(nonce, out)
        }
        Message::GetAddr => {}
        Message::Addr(addrs) => {
            enc(&encode::VarInt(addrs.len() as u64), out);
            for a in addrs {
                enc(a, out);
            }
        }
        Message::GetHeaders { locator } | Message::GetShares(locator) => {
            enc(&encode::VarInt(locator.len() as u64), out);
            for h in locator {
                enc(&h.0, out);
            }
        }
        Message::Headers(hs) => {
            enc(&encode::VarInt(hs.len() as u64), out);
            for h in hs {
                enc(&h.header, out);
                enc(&h.height, out);
                enc(&h.share_bits, out);
            }
        }
        Message::Shares(ss) => {
            enc(&encode::VarInt(ss.len() as u64), out);
            for s in ss {
                enc(s, out);
            }
        }
        Message::NewShare(s) => enc(s.as_ref(), out),
    }
}

/// One framed message.
pub fn encode_frame(id: &ConsensusId, m: &Message) -> Vec<u8> {
    let mut payload = Vec::new();
    encode_payload(m, &mut payload);
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
    out.extend_from_slice(&id.0[..4]);
    out.push(m.command());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

fn count<R: bitcoin::io::Read + ?Sized>(
    r: &mut R,
    what: &'static str,
    max: usize,
) -> Result<usize, ProtocolError> {
    let n = encode::VarInt::consensus_decode(r)
        .map_err(|e| malformed(what, e))?
        .0;
    if n > max as u64 {
        return Err(ProtocolError::TooMany {
            what,
            len: usize::try_from(n).unwrap_or(usize::MAX),
            max,
        });
    }
    Ok(n as usize)
}

fn malformed(what: &'static str, e: impl std::fmt::Display) -> ProtocolError {
    ProtocolError::Malformed {
        what,
        reason: e.to_string(),
    }
}

fn dec<T: Decodable, R: bitcoin::io::Read + ?Sized>(
    r: &mut R,
    what: &'static str,
) -> Result<T, ProtocolError> {
    T::consensus_decode(r).map_err(|e| malformed(what, e))
}

fn hashes<R: bitcoin::io::Read + ?Sized>(
    r: &mut R,
    what: &'static str,
    max: usize,
) -> Result<Vec<ShareHash>, ProtocolError> {
    let n = count(r, what, max)?;
    (0..n)
        .map(|_| dec::<[u8; 32], _>(r, what).map(ShareHash))
        .collect()
}

/// `n` shares of a `shares` or `newshare` payload, kept as their bytes
/// (`ReceivedShare::read_many`: accepted and refused as rust-bitcoin's
/// `Share` decoder accepts and refuses them, with its reason).
fn dec_shares(
    r: &mut &[u8],
    n: usize,
    what: &'static str,
) -> Result<Vec<ReceivedShare>, ProtocolError> {
    ReceivedShare::read_many(r, n).map_err(|e| malformed(what, e))
}

/// Decodes one payload for `command`; trailing bytes are an error. The
/// shares of a `shares` or `newshare` message stay the bytes they came as
/// ([`ReceivedShare`]: header and info read, coinbase not decoded), which
/// the node validates, the store keeps and relaying forwards; the limits and
/// the errors are those of decoding each into a [`crate::Share`].
pub fn decode_payload(command: u8, payload: &[u8]) -> Result<Message, ProtocolError> {
    let mut r: &[u8] = payload;
    let r = &mut r;
    let m = match command {
        1 => Message::Hello {
            version: dec(r, "hello")?,
            consensus_id: dec(r, "hello")?,
            challenge: dec(r, "hello")?,
            listen_port: dec(r, "hello")?,
            tip_height: dec(r, "hello")?,
            tip_work: dec(r, "hello")?,
        },
        2 => Message::HelloProof {
            nonce: dec(r, "hello-proof")?,
        },
        3 => Message::GetAddr,
        4 => {
            let n = count(r, "addr", MAX_ADDRS)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let s: String = dec(r, "addr")?;
                if s.len() > MAX_ADDR_LEN {
                    return Err(malformed("addr", "address too long"));
                }
                v.push(s);
            }
            Message::Addr(v)
        }
        5 => Message::GetHeaders {
            locator: hashes(r, "getheaders", MAX_LOCATOR)?,
        },
        6 => {
            let n = count(r, "headers", MAX_HEADERS)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(ShareHeader {
                    header: dec(r, "headers")?,
                    height: dec(r, "headers")?,
                    share_bits: dec(r, "headers")?,
                });
            }
            Message::Headers(v)
        }
        7 => Message::GetShares(hashes(r, "getshares", MAX_SHARES_PER_MESSAGE)?),
        8 => {
            let n = count(r, "shares", MAX_SHARES_PER_MESSAGE)?;
            Message::Shares(dec_shares(r, n, "shares")?)
        }
        9 => match dec_shares(r, 1, "newshare")?.pop() {
            Some(s) => Message::NewShare(Box::new(s)),
            None => return Err(malformed("newshare", "no share")),
        },
        10 => Message::Ping(dec(r, "ping")?),
        11 => Message::Pong(dec(r, "pong")?),
        c => return Err(ProtocolError::Command(c)),
    };
    if !r.is_empty() {
        return Err(malformed(m.name(), "trailing bytes"));
    }
    Ok(m)
}

/// Reassembles frames from a byte stream. Holds at most one frame.
#[derive(Debug)]
pub struct FrameReader {
    magic: [u8; 4],
    buf: Vec<u8>,
}

impl FrameReader {
    /// For the chain `id`.
    pub fn new(id: &ConsensusId) -> FrameReader {
        let mut magic = [0u8; 4];
        magic.copy_from_slice(&id.0[..4]);
        FrameReader {
            magic,
            buf: Vec::new(),
        }
    }

    /// Bytes still needed before [`FrameReader::next_message`] can return a
    /// message (at least 1): a reader reads no more than this, so the buffer
    /// stays under one frame.
    pub fn wanted(&self) -> usize {
        if self.buf.len() < FRAME_HEADER_BYTES {
            return FRAME_HEADER_BYTES - self.buf.len();
        }
        let len = self.payload_len();
        (FRAME_HEADER_BYTES + len)
            .saturating_sub(self.buf.len())
            .max(1)
    }

    fn payload_len(&self) -> usize {
        let mut l = [0u8; 4];
        l.copy_from_slice(&self.buf[5..9]);
        u32::from_le_bytes(l) as usize
    }

    /// Adds bytes (at most [`FrameReader::wanted`] of them).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete message, an error (the connection should end), or
    /// None for "need more bytes".
    pub fn next_message(&mut self) -> Option<Result<Message, ProtocolError>> {
        self.next_frame().map(|f| {
            f.and_then(|(command, frame)| decode_payload(command, &frame[FRAME_HEADER_BYTES..]))
        })
    }

    /// The next complete frame (command, whole frame), an error, or None.
    fn next_frame(&mut self) -> Option<Result<(u8, Vec<u8>), ProtocolError>> {
        if self.buf.len() < FRAME_HEADER_BYTES {
            return None;
        }
        let mut magic = [0u8; 4];
        magic.copy_from_slice(&self.buf[..4]);
        if magic != self.magic {
            return Some(Err(ProtocolError::Magic(magic)));
        }
        let len = self.payload_len();
        if len > MAX_FRAME_BYTES {
            return Some(Err(ProtocolError::TooLarge(len)));
        }
        if self.buf.len() < FRAME_HEADER_BYTES + len {
            return None;
        }
        let command = self.buf[4];
        let rest = self.buf.split_off(FRAME_HEADER_BYTES + len);
        let frame = std::mem::replace(&mut self.buf, rest);
        Some(Ok((command, frame)))
    }
}

fn pow_hash(id: &ConsensusId, challenge: &[u8; 16], nonce: u64) -> [u8; 32] {
    let mut b = [0u8; 56];
    b[..32].copy_from_slice(&id.0);
    b[32..48].copy_from_slice(challenge);
    b[48..].copy_from_slice(&nonce.to_le_bytes());
    sha256d::Hash::hash(&b).to_byte_array()
}

fn leading_zero_bits(h: &[u8; 32]) -> u32 {
    let mut n = 0;
    for b in h {
        if *b == 0 {
            n += 8;
        } else {
            n += b.leading_zeros();
            break;
        }
    }
    n
}

/// Does `nonce` solve `challenge` for chain `id` at `bits` leading zeros?
pub fn handshake_pow_ok(id: &ConsensusId, challenge: &[u8; 16], nonce: u64, bits: u8) -> bool {
    leading_zero_bits(&pow_hash(id, challenge, nonce)) >= u32::from(bits)
}

/// Finds a nonce for [`handshake_pow_ok`] (2^bits hashes expected).
pub fn solve_handshake_pow(id: &ConsensusId, challenge: &[u8; 16], bits: u8) -> u64 {
    (0u64..)
        .find(|n| handshake_pow_ok(id, challenge, *n, bits))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::Share;
    use proptest::prelude::*;

    fn id() -> ConsensusId {
        ConsensusId([7; 32])
    }

    #[test]
    fn frames_round_trip_in_pieces() {
        let msgs = vec![
            Message::Hello {
                version: 1,
                consensus_id: [7; 32],
                challenge: [1; 16],
                listen_port: 9338,
                tip_height: 5,
                tip_work: [2; 32],
            },
            Message::HelloProof { nonce: 99 },
            Message::GetAddr,
            Message::Addr(vec!["127.0.0.1:9338".into()]),
            Message::GetHeaders {
                locator: vec![ShareHash([3; 32])],
            },
            Message::GetShares(vec![ShareHash([4; 32]), ShareHash([5; 32])]),
            Message::Ping(1),
            Message::Pong(1),
        ];
        let mut bytes = Vec::new();
        for m in &msgs {
            bytes.extend(encode_frame(&id(), m));
        }
        let mut r = FrameReader::new(&id());
        let mut got = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let n = r.wanted().min(3).min(bytes.len() - i);
            r.push(&bytes[i..i + n]);
            i += n;
            while let Some(m) = r.next_message() {
                got.push(m.expect("valid"));
            }
        }
        assert_eq!(got, msgs);
    }

    #[test]
    fn oversized_wrong_magic_and_overlong_lists_are_refused() {
        let mut r = FrameReader::new(&id());
        let mut f = vec![7, 7, 7, 7, 8];
        f.extend_from_slice(&(MAX_FRAME_BYTES as u32 + 1).to_le_bytes());
        r.push(&f);
        assert!(matches!(
            r.next_message(),
            Some(Err(ProtocolError::TooLarge(_)))
        ));
        let mut r = FrameReader::new(&id());
        r.push(&encode_frame(&ConsensusId([8; 32]), &Message::GetAddr));
        assert!(matches!(
            r.next_message(),
            Some(Err(ProtocolError::Magic(_)))
        ));
        let many = Message::GetShares(vec![ShareHash([0; 32]); MAX_SHARES_PER_MESSAGE + 1]);
        let mut r = FrameReader::new(&id());
        r.push(&encode_frame(&id(), &many));
        assert!(matches!(
            r.next_message(),
            Some(Err(ProtocolError::TooMany { .. }))
        ));
        // A huge claimed count with no bytes behind it.
        let payload = [0xfe, 0xff, 0xff, 0xff, 0x7f];
        assert!(decode_payload(6, &payload).is_err());
        assert!(matches!(
            decode_payload(200, &[]),
            Err(ProtocolError::Command(200))
        ));
        assert!(decode_payload(10, &[0; 9]).is_err(), "trailing byte");
    }

    #[test]
    fn handshake_pow_is_bound_to_the_chain_and_the_challenge() {
        let other = ConsensusId([8; 32]);
        let mut carried = 0;
        for k in 0..64u8 {
            let c = [k; 16];
            let n = solve_handshake_pow(&id(), &c, 10);
            assert!(handshake_pow_ok(&id(), &c, n, 10));
            // The same work rarely (1 in 1024) satisfies another chain or challenge.
            if handshake_pow_ok(&other, &c, n, 10)
                || handshake_pow_ok(&id(), &[k ^ 0x80; 16], n, 10)
            {
                carried += 1;
            }
        }
        assert!(carried <= 2, "{carried} of 64 solutions carried over");
    }

    proptest! {
        #[test]
        fn any_payload_decodes_or_is_refused_never_panics(cmd in 0u8..16, payload in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_payload(cmd, &payload);
            let mut r = FrameReader::new(&id());
            let mut f = id().0[..4].to_vec();
            f.push(cmd);
            f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            f.extend_from_slice(&payload);
            r.push(&f);
            let _ = r.next_message();
        }
    }

    /// Today's decoder, kept here as the reference: every share decoded
    /// into a `Share` by rust-bitcoin.
    fn reference(command: u8, payload: &[u8]) -> Result<Vec<Share>, ProtocolError> {
        let mut r: &[u8] = payload;
        let r = &mut r;
        let (what, shares) = match command {
            8 => {
                let n = count(r, "shares", MAX_SHARES_PER_MESSAGE)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(dec::<Share, _>(r, "shares")?);
                }
                ("shares", v)
            }
            _ => ("newshare", vec![dec::<Share, _>(r, "newshare")?]),
        };
        if !r.is_empty() {
            return Err(malformed(what, "trailing bytes"));
        }
        Ok(shares)
    }

    /// The shares a decoded message carries, decoded.
    fn carried(m: Message) -> Vec<ReceivedShare> {
        match m {
            Message::Shares(v) => v,
            Message::NewShare(s) => vec![*s],
            other => panic!("not a share message: {other:?}"),
        }
    }

    /// Six mined shares, made once.
    fn mined() -> &'static [Share] {
        static SHARES: std::sync::OnceLock<Vec<Share>> = std::sync::OnceLock::new();
        SHARES.get_or_init(|| {
            crate::miner::regtest_shares(6, |i| (0..i % 3).map(|k| [k as u8 + 2; 32]).collect())
                .expect("shares")
        })
    }

    /// Real shares through `shares` and `newshare` frames come out as
    /// their bytes, unchanged, with the header, info and id the decoder
    /// gives; relaying them (encoding the message again) sends the same
    /// bytes.
    #[test]
    fn shares_are_kept_as_received() {
        let shares = &mined()[..3];
        let received: Vec<ReceivedShare> = shares.iter().map(ReceivedShare::from).collect();
        for m in [
            Message::Shares(received.clone()),
            Message::NewShare(Box::new(received[2].clone())),
        ] {
            let frame = encode_frame(&id(), &m);
            let mut r = FrameReader::new(&id());
            r.push(&frame);
            let got = r.next_message().expect("a frame").expect("valid");
            assert_eq!(got, m);
            assert_eq!(encode_frame(&id(), &got), frame, "relayed as received");
            let want: &[Share] = if matches!(m, Message::NewShare(_)) {
                &shares[2..]
            } else {
                shares
            };
            for (r, s) in carried(got).iter().zip(want) {
                assert_eq!(r.bytes(), &s.to_bytes()[..]);
                assert_eq!(
                    (r.hash(), r.header(), r.info()),
                    (s.hash(), &s.header, &s.info)
                );
                assert_eq!(r.decode().as_ref(), Ok(s));
            }
        }
    }

    fn shares_payload(shares: &[&Share]) -> Vec<u8> {
        let mut p = Vec::new();
        enc(&encode::VarInt(shares.len() as u64), &mut p);
        for s in shares {
            enc(*s, &mut p);
        }
        p
    }

    /// Trailing bytes, a truncated share, too many shares and an unknown
    /// command: refused with the reasons the decoding decoder gives.
    #[test]
    fn bad_share_messages_are_refused_with_their_reasons() {
        let s = &mined()[0];
        let mut trailing = shares_payload(&[s]);
        trailing.push(0);
        let err = decode_payload(8, &trailing).expect_err("trailing");
        assert_eq!(
            err,
            ProtocolError::Malformed {
                what: "shares",
                reason: "trailing bytes".into()
            }
        );
        assert_eq!(Err(err), reference(8, &trailing));
        let mut one = s.to_bytes();
        one.push(7);
        assert_eq!(
            decode_payload(9, &one).map(|_| ()),
            reference(9, &one).map(|_| ())
        );
        let cut = &shares_payload(&[s])[..300];
        let err = decode_payload(8, cut).expect_err("truncated");
        assert!(
            matches!(err, ProtocolError::Malformed { what: "shares", .. }),
            "{err}"
        );
        assert_eq!(Err(err), reference(8, cut));
        let many = shares_payload(&vec![s; MAX_SHARES_PER_MESSAGE + 1]);
        assert_eq!(
            decode_payload(8, &many),
            Err(ProtocolError::TooMany {
                what: "shares",
                len: MAX_SHARES_PER_MESSAGE + 1,
                max: MAX_SHARES_PER_MESSAGE
            })
        );
        assert!(!decode_payload(8, &many)
            .expect_err("many")
            .ends_connection());
        assert!(ProtocolError::TooLarge(MAX_FRAME_BYTES + 1).ends_connection());
    }

    /// A share over [`crate::share::MAX_SHARE_BYTES`] that rust-bitcoin
    /// decodes passes the codec as before (the chain refuses it, scored).
    #[test]
    fn an_oversized_share_passes_the_codec_as_before() {
        let mut big = mined()[1].clone();
        big.coinbase.output.push(bitcoin::TxOut {
            value: bitcoin::Amount::ZERO,
            script_pubkey: bitcoin::ScriptBuf::from_bytes(vec![0x51; 70_000]),
        });
        let payload = shares_payload(&[&big]);
        let got = carried(decode_payload(8, &payload).expect("decodes as before"));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].bytes(), &big.to_bytes()[..]);
        assert!(got[0].bytes().len() > crate::share::MAX_SHARE_BYTES);
        assert_eq!(got[0].hash(), big.hash());
        assert_eq!(reference(8, &payload).expect("reference"), vec![big]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// `shares` and `newshare` payloads of real shares, mutated,
        /// truncated or extended: the codec accepts exactly what decoding
        /// every share accepts, refuses the rest with the same error, and
        /// what it keeps decodes to the same shares.
        #[test]
        fn share_messages_decode_as_the_decoding_decoder(
            picks in proptest::collection::vec(0usize..6, 1..4),
            newshare in any::<bool>(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
            cut in any::<prop::sample::Index>(),
            mode in 0u8..3,
        ) {
            let all = mined();
            let chosen: Vec<&Share> = picks.iter().map(|i| &all[*i]).collect();
            let (cmd, mut payload) = if newshare {
                (9, chosen[0].to_bytes())
            } else {
                (8, shares_payload(&chosen))
            };
            for (at, b) in &edits {
                let i = at.index(payload.len());
                payload[i] = *b;
            }
            match mode {
                0 => payload.truncate(cut.index(payload.len() + 1)),
                1 => payload.push(0),
                _ => {}
            }
            let got = decode_payload(cmd, &payload);
            match (got, reference(cmd, &payload)) {
                (Ok(m), Ok(want)) => {
                    let kept = carried(m);
                    prop_assert_eq!(kept.len(), want.len());
                    for (r, s) in kept.iter().zip(&want) {
                        let d = r.decode();
                        prop_assert_eq!(d.as_ref(), Ok(s));
                        prop_assert_eq!(r.hash(), s.hash());
                        prop_assert_eq!(r.info(), &s.info);
                        prop_assert_eq!(r.bytes(), &s.to_bytes()[..]);
                        // What the chain validates: the view put back
                        // together is the one a fresh parse gives.
                        prop_assert_eq!(r.view(), crate::share_view::ShareView::parse(r.bytes()));
                    }
                }
                (Err(e), Err(want)) => prop_assert_eq!(e, want),
                (g, w) => prop_assert!(false, "codec {:?}, reference {:?}", g.map(|_| ()), w.map(|_| ())),
            }
        }
    }
}
