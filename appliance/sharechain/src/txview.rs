//! A borrowed view of a transaction's consensus bytes: what validating a
//! share needs of its coinbase (is it a coinbase, its outputs, its txid
//! message) without decoding it into a `bitcoin::Transaction`, which
//! allocates one heap script per output (~93 per share with 100 payees, a
//! third of a share's validation cost on a Pi 4 went to malloc and free).
//!
//! It accepts exactly the bytes rust-bitcoin's `Transaction` decoder
//! accepts and consumes as many of them (tested against it on random and
//! mutated transactions): minimal compact sizes only, the BIP144 segwit
//! marker and flag 1 only, and a segwit transaction whose inputs all have
//! empty witnesses refused. Malformed bytes are an error, never a panic.

use std::ops::Range;

/// Why bytes are not a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// The bytes end inside the transaction.
    #[error("transaction truncated")]
    Truncated,
    /// A compact size written longer than needed (rust-bitcoin refuses it).
    #[error("non-minimal compact size")]
    NonMinimalCompactSize,
    /// A segwit flag other than 1.
    #[error("unsupported segwit flag {0}")]
    SegwitFlag(u8),
    /// Segwit marker and flag, yet every input's witness is empty.
    #[error("witness flag set but no witnesses present")]
    NoWitnesses,
}

/// A cursor over borrowed bytes; every read checks the length.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ViewError> {
        let end = self.pos.checked_add(n).ok_or(ViewError::Truncated)?;
        let out = self.bytes.get(self.pos..end).ok_or(ViewError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, ViewError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, ViewError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, ViewError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// Bitcoin's compact size, minimal encodings only (as rust-bitcoin's
    /// `VarInt` decoder). The count is bounded by the bytes left, because
    /// every counted item is at least one byte.
    fn compact_size(&mut self) -> Result<usize, ViewError> {
        let (n, min) = match self.u8()? {
            0xff => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                (u64::from_le_bytes(a), 0x1_0000_0000)
            }
            0xfe => (u64::from(self.u32()?), 0x1_0000),
            0xfd => {
                let b = self.take(2)?;
                (u64::from(u16::from_le_bytes([b[0], b[1]])), 0xfd)
            }
            small => return Ok(usize::from(small)),
        };
        if n < min {
            return Err(ViewError::NonMinimalCompactSize);
        }
        // Larger than any slice: truncated wherever it is used.
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn bytes_with_len(&mut self) -> Result<&'a [u8], ViewError> {
        let n = self.compact_size()?;
        self.take(n)
    }
}

/// One output as it lies in the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputRef<'a> {
    /// Its value in satoshis.
    pub value_sat: u64,
    /// Its `scriptPubKey`.
    pub script: &'a [u8],
}

impl OutputRef<'_> {
    /// `OP_RETURN` first, as `Script::is_op_return` (the commitment and the
    /// segwit witness commitment): not a payout.
    pub fn is_op_return(&self) -> bool {
        self.script.first() == Some(&0x6a)
    }
}

/// The outputs of a transaction, read from bytes [`TxView::parse`] (or
/// [`Outputs::parse`]) already checked; yields nothing more if they end.
#[derive(Debug, Clone)]
pub struct Outputs<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Outputs<'a> {
    /// `count` outputs laid out back to back in `bytes` (no count prefix),
    /// checked: each is 8 value bytes and a script with its length.
    pub fn parse(bytes: &'a [u8], count: usize) -> Result<Outputs<'a>, ViewError> {
        let mut r = Reader { bytes, pos: 0 };
        for _ in 0..count {
            r.take(8)?;
            r.bytes_with_len()?;
        }
        if r.pos != bytes.len() {
            return Err(ViewError::Truncated);
        }
        Ok(Outputs {
            rest: bytes,
            left: count,
        })
    }
}

impl<'a> Outputs<'a> {
    /// Outputs from bytes a [`TxView`] already checked (its
    /// [`TxView::output_bytes`], kept): not checked again. Bytes that were
    /// not end the iteration early, they cannot panic it.
    pub fn checked(bytes: &'a [u8], count: usize) -> Outputs<'a> {
        Outputs {
            rest: bytes,
            left: count,
        }
    }
}

impl<'a> Iterator for Outputs<'a> {
    type Item = OutputRef<'a>;

    fn next(&mut self) -> Option<OutputRef<'a>> {
        if self.left == 0 {
            return None;
        }
        let mut r = Reader {
            bytes: self.rest,
            pos: 0,
        };
        let value_sat = r.u64().ok()?;
        let script = r.bytes_with_len().ok()?;
        self.rest = self.rest.get(r.pos..)?;
        self.left -= 1;
        Some(OutputRef { value_sat, script })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// A [`TxView`]'s reading of its bytes, kept apart from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxLayout {
    /// The transaction's length in bytes (with witness, if any).
    len: usize,
    /// From the input count to the end of the outputs (the txid's middle).
    body: Range<usize>,
    /// The outputs, after their count.
    outputs: Range<usize>,
    output_count: usize,
    input_count: usize,
    /// The first input's previous output (36 bytes), if any.
    first_prevout: Option<[u8; 36]>,
    segwit: bool,
}

/// A transaction's consensus bytes, checked and borrowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxView<'a> {
    /// Exactly the transaction's bytes.
    bytes: &'a [u8],
    /// Where its parts lie in them.
    layout: TxLayout,
}

impl<'a> TxView<'a> {
    /// Reads one transaction from the start of `bytes`; trailing bytes are
    /// left to the caller ([`TxView::len`] says where it ended).
    pub fn parse(bytes: &'a [u8]) -> Result<TxView<'a>, ViewError> {
        let mut r = Reader { bytes, pos: 0 };
        r.take(4)?; // version
        let mut body_start = r.pos;
        let mut input_count = r.compact_size()?;
        let mut segwit = false;
        if input_count == 0 {
            // BIP144: marker 0 (read as an empty input list), then the flag.
            let flag = r.u8()?;
            if flag != 1 {
                return Err(ViewError::SegwitFlag(flag));
            }
            segwit = true;
            body_start = r.pos;
            input_count = r.compact_size()?;
        }
        let mut first_prevout = None;
        for i in 0..input_count {
            let prevout = r.take(36)?;
            if i == 0 {
                let mut p = [0u8; 36];
                p.copy_from_slice(prevout);
                first_prevout = Some(p);
            }
            r.bytes_with_len()?; // scriptSig
            r.take(4)?; // sequence
        }
        let output_count = r.compact_size()?;
        let outputs_start = r.pos;
        for _ in 0..output_count {
            r.take(8)?;
            r.bytes_with_len()?;
        }
        let outputs = outputs_start..r.pos;
        let body = body_start..r.pos;
        if segwit {
            let mut any_witness = false;
            for _ in 0..input_count {
                let elements = r.compact_size()?;
                any_witness |= elements > 0;
                for _ in 0..elements {
                    r.bytes_with_len()?;
                }
            }
            if input_count > 0 && !any_witness {
                return Err(ViewError::NoWitnesses);
            }
        }
        r.take(4)?; // lock time
        Ok(TxView {
            bytes: &bytes[..r.pos],
            layout: TxLayout {
                len: r.pos,
                body,
                outputs,
                output_count,
                input_count,
                first_prevout,
                segwit,
            },
        })
    }

    /// Where its parts lie, without the bytes: [`TxView::with_layout`] puts
    /// it back on the same bytes without reading them again.
    pub(crate) fn layout(&self) -> TxLayout {
        self.layout.clone()
    }

    /// The view [`TxView::layout`] was taken of, on `bytes` (starting with
    /// the transaction's): `None` when they are too short for it. Only for
    /// the bytes the layout was read from (a received share's, which never
    /// change), so every range lies in them.
    pub(crate) fn with_layout(bytes: &'a [u8], layout: &TxLayout) -> Option<TxView<'a>> {
        let bytes = bytes.get(..layout.len)?;
        if layout.body.end > layout.len || layout.outputs.end > layout.len || layout.len < 8 {
            return None;
        }
        Some(TxView {
            bytes,
            layout: layout.clone(),
        })
    }

    /// Its length in bytes (with witness, if any).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never: a transaction is at least 10 bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Exactly the transaction's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The version field, as rust-bitcoin's `Version` holds it.
    pub fn version(&self) -> i32 {
        let b = &self.bytes[..4];
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The lock time field, raw.
    pub fn lock_time(&self) -> u32 {
        let n = self.bytes.len();
        let b = &self.bytes[n - 4..];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Number of inputs.
    pub fn input_count(&self) -> usize {
        self.layout.input_count
    }

    /// Whether it carries witnesses (BIP144 encoding).
    pub fn has_witness(&self) -> bool {
        self.layout.segwit
    }

    /// One input spending the null outpoint (all-zero txid, index
    /// `u32::MAX`), as `Transaction::is_coinbase`.
    pub fn is_coinbase(&self) -> bool {
        self.layout.input_count == 1
            && self
                .layout
                .first_prevout
                .is_some_and(|p| p[..32] == [0; 32] && p[32..] == [0xff; 4])
    }

    /// Number of outputs.
    pub fn output_count(&self) -> usize {
        self.layout.output_count
    }

    /// The outputs, borrowed.
    pub fn outputs(&self) -> Outputs<'a> {
        Outputs {
            rest: &self.bytes[self.layout.outputs.clone()],
            left: self.layout.output_count,
        }
    }

    /// The outputs' bytes, back to back without their count (what
    /// [`Outputs::parse`] reads back).
    pub fn output_bytes(&self) -> &'a [u8] {
        &self.bytes[self.layout.outputs.clone()]
    }

    /// The bytes the txid hashes, if they lie in one piece: the whole
    /// transaction when it has no witness.
    pub fn txid_message(&self) -> Option<&'a [u8]> {
        (!self.layout.segwit).then_some(self.bytes)
    }

    /// Appends the bytes the txid hashes (version, inputs, outputs, lock
    /// time: the encoding without witness) to `buf`.
    pub fn write_txid_message(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.bytes[..4]);
        buf.extend_from_slice(&self.bytes[self.layout.body.clone()]);
        buf.extend_from_slice(&self.bytes[self.bytes.len() - 4..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::absolute::LockTime;
    use bitcoin::consensus::{encode, Decodable};
    use bitcoin::hashes::{sha256d, Hash};
    use bitcoin::transaction::Version;
    use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};
    use proptest::prelude::*;

    fn arb_script(max: usize) -> impl Strategy<Value = ScriptBuf> {
        // Lengths across the compact size's one- and three-byte forms.
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..max),
            proptest::collection::vec(any::<u8>(), 250..260),
        ]
        .prop_map(ScriptBuf::from_bytes)
    }

    fn arb_tx() -> impl Strategy<Value = Transaction> {
        let input = (
            any::<[u8; 32]>(),
            any::<u32>(),
            arb_script(40),
            any::<u32>(),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..3),
            any::<bool>(),
        )
            .prop_map(|(txid, vout, script_sig, seq, wit, null)| TxIn {
                previous_output: if null {
                    OutPoint::null()
                } else {
                    OutPoint::new(bitcoin::Txid::from_byte_array(txid), vout)
                },
                script_sig,
                sequence: Sequence(seq),
                witness: Witness::from_slice(&wit),
            });
        let output = (any::<u64>(), arb_script(60)).prop_map(|(v, script_pubkey)| TxOut {
            value: Amount::from_sat(v),
            script_pubkey,
        });
        (
            any::<i32>(),
            proptest::collection::vec(input, 1..4),
            proptest::collection::vec(output, 0..260),
            any::<u32>(),
        )
            .prop_map(|(v, input, output, lt)| Transaction {
                version: Version(v),
                input,
                output,
                lock_time: LockTime::from_consensus(lt),
            })
    }

    /// What rust-bitcoin's decoder makes of the start of `bytes`: the
    /// transaction and how many bytes it read.
    fn reference(bytes: &[u8]) -> Option<(Transaction, usize)> {
        let mut r = bytes;
        let tx = Transaction::consensus_decode(&mut r).ok()?;
        Some((tx, bytes.len() - r.len()))
    }

    fn assert_same(view: &TxView<'_>, tx: &Transaction, read: usize) {
        assert_eq!(view.len(), read);
        assert_eq!(view.version(), tx.version.0);
        assert_eq!(view.lock_time(), tx.lock_time.to_consensus_u32());
        assert_eq!(view.input_count(), tx.input.len());
        assert_eq!(view.is_coinbase(), tx.is_coinbase());
        assert_eq!(view.output_count(), tx.output.len());
        let outs: Vec<(u64, &[u8])> = view.outputs().map(|o| (o.value_sat, o.script)).collect();
        let want: Vec<(u64, &[u8])> = tx
            .output
            .iter()
            .map(|o| (o.value.to_sat(), o.script_pubkey.as_bytes()))
            .collect();
        assert_eq!(outs, want);
        assert!(view
            .outputs()
            .zip(&tx.output)
            .all(|(o, t)| o.is_op_return() == t.script_pubkey.is_op_return()));
        let again = Outputs::parse(view.output_bytes(), view.output_count()).expect("outputs");
        assert_eq!(again.count(), tx.output.len());
        let mut buf = Vec::new();
        view.write_txid_message(&mut buf);
        let txid = tx.compute_txid().to_byte_array();
        assert_eq!(sha256d::Hash::hash(&buf).to_byte_array(), txid);
        if let Some(m) = view.txid_message() {
            assert_eq!(m, &buf[..]);
        }
        assert_eq!(
            view.has_witness(),
            tx.input.iter().any(|i| !i.witness.is_empty())
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Random transactions (with and without witnesses, up to 259
        /// outputs, scripts across the compact size's forms): the view
        /// reads what rust-bitcoin's decoder reads.
        #[test]
        fn view_reads_what_rust_bitcoin_decodes(tx in arb_tx(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut bytes = encode::serialize(&tx);
            let len = bytes.len();
            bytes.extend_from_slice(&tail);
            let (decoded, read) = reference(&bytes).expect("rust-bitcoin decodes its encoding");
            prop_assert_eq!(read, len);
            let view = TxView::parse(&bytes).expect("view parses");
            assert_same(&view, &decoded, read);
        }

        /// Mutated and truncated encodings: the view refuses exactly what
        /// rust-bitcoin refuses, and reads the same when both accept.
        #[test]
        fn view_refuses_what_rust_bitcoin_refuses(
            tx in arb_tx(),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = encode::serialize(&tx);
            for (at, b) in &edits {
                let i = at.index(bytes.len());
                bytes[i] = *b;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            match (reference(&bytes), TxView::parse(&bytes)) {
                (Some((decoded, read)), Ok(view)) => assert_same(&view, &decoded, read),
                (None, Err(_)) => {}
                (r, v) => prop_assert!(false, "rust-bitcoin {:?}, view {:?}", r.map(|x| x.1), v),
            }
        }

        /// Arbitrary bytes: an error or a view, never a panic, and the
        /// same verdict as rust-bitcoin.
        #[test]
        fn view_of_junk_agrees_with_rust_bitcoin(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            prop_assert_eq!(reference(&bytes).is_some(), TxView::parse(&bytes).is_ok());
        }
    }

    #[test]
    fn edge_encodings_are_refused_like_rust_bitcoin() {
        let tx = Transaction {
            version: Version::TWO,
            input: vec![TxIn {
                previous_output: OutPoint::null(),
                script_sig: ScriptBuf::from_bytes(vec![1, 2, 3]),
                sequence: Sequence::MAX,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(5),
                script_pubkey: ScriptBuf::from_bytes(vec![0x51]),
            }],
            lock_time: LockTime::ZERO,
        };
        let plain = encode::serialize(&tx);
        // Input count 1 written as 0xfd 0x01 0x00: not minimal.
        let mut long = plain[..4].to_vec();
        long.extend_from_slice(&[0xfd, 0x01, 0x00]);
        long.extend_from_slice(&plain[5..]);
        // Segwit marker and flag 1, but no witness on the only input.
        let mut empty_witness = plain[..4].to_vec();
        empty_witness.extend_from_slice(&[0x00, 0x01]);
        empty_witness.extend_from_slice(&plain[4..plain.len() - 4]);
        empty_witness.push(0x00);
        empty_witness.extend_from_slice(&plain[plain.len() - 4..]);
        // Flag 2.
        let mut flag2 = plain[..4].to_vec();
        flag2.extend_from_slice(&[0x00, 0x02]);
        flag2.extend_from_slice(&plain[4..]);
        for (bytes, err) in [
            (&long, ViewError::NonMinimalCompactSize),
            (&empty_witness, ViewError::NoWitnesses),
            (&flag2, ViewError::SegwitFlag(2)),
            (&plain[..plain.len() - 1].to_vec(), ViewError::Truncated),
        ] {
            assert!(reference(bytes).is_none());
            assert_eq!(TxView::parse(bytes), Err(err));
        }
        let view = TxView::parse(&plain).expect("plain");
        assert!(view.is_coinbase());
        assert_eq!(view.txid_message(), Some(&plain[..]));
        // A count far past the bytes is truncation, not an allocation.
        let mut huge = plain[..4].to_vec();
        huge.extend_from_slice(&[0xff, 0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(TxView::parse(&huge), Err(ViewError::Truncated));
        assert!(reference(&huge).is_none());
    }
}
