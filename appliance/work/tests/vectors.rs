//! Test vectors: the mainnet genesis block through the job path, and
//! regtest blocks built by the pipeline and checked with rust-bitcoin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::blockdata::script::{Builder, PushBytesBuf, ScriptBuf};
use bitcoin::blockdata::transaction::{OutPoint, Transaction, TxIn, TxOut, Version};
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash as _;
use bitcoin::locktime::absolute::LockTime;
use bitcoin::opcodes::all::OP_RETURN;
use bitcoin::{Amount, Block, CompactTarget, Network, Sequence, Txid, Witness};
use hearth_core::{BoardId, NonceFound, Timestamp};
use hearth_shacheck::{Checker, Target};
use hearth_work::jobs::header_bytes;
use hearth_work::{
    target_from_difficulty, BlockTemplate, CoinbaseSpec, JobBook, MerkleBranch, Outcome,
    TemplateWork, WorkUnit,
};

fn found(job_id: u64, nonce: u32, version: u32, ntime: u32) -> NonceFound {
    NonceFound {
        board: BoardId::new("b0").unwrap(),
        job_id,
        nonce,
        version,
        ntime,
        found_at: Timestamp::from_secs(1),
    }
}

#[test]
fn genesis_block_through_the_job_path_is_a_block() {
    let genesis = genesis_block(Network::Bitcoin);
    let cb = serialize(&genesis.txdata[0]);
    // Split the real coinbase around 4 bytes that are zero (the start of
    // the null prevout): a fresh book's first extranonce2 for chain 0.
    assert_eq!(&cb[5..9], &[0, 0, 0, 0]);
    let unit = WorkUnit {
        source_job_id: "genesis".into(),
        prev_block_hash: [0; 32],
        version: 1,
        version_mask: 0x1FFF_E000,
        nbits: 0x1D00_FFFF,
        ntime: genesis.header.time,
        coinb1: cb[..5].to_vec(),
        coinb2: cb[9..].to_vec(),
        extranonce1: vec![],
        extranonce2_len: 4,
        branch: MerkleBranch::for_coinbase(&[]),
        clean: true,
        share_target: target_from_difficulty(1.0).unwrap(),
        block_target: Target::from_compact(0x1D00_FFFF).unwrap(),
    };
    let mut book = JobBook::new(Checker::detect());
    let jobs = book.fan_out(0, &unit, 1).unwrap();
    assert_eq!(
        jobs[0].merkle_root,
        genesis.header.merkle_root.to_byte_array()
    );
    let out = book
        .classify(&found(
            jobs[0].id,
            genesis.header.nonce,
            1,
            genesis.header.time,
        ))
        .unwrap();
    let Outcome::Share(share) = out else {
        panic!("genesis nonce is not a share: {out:?}")
    };
    assert!(share.is_block);
    assert_eq!(share.header.to_vec(), serialize(&genesis.header));
    assert_eq!(
        share.hash.to_display_bytes().to_vec(),
        genesis
            .block_hash()
            .to_byte_array()
            .iter()
            .rev()
            .copied()
            .collect::<Vec<_>>()
    );
    assert!((share.difficulty - 2536.3).abs() < 1.0);
    // One off: a good chip nonce that misses difficulty 1.
    let out = book
        .classify(&found(
            jobs[0].id,
            genesis.header.nonce + 1,
            1,
            genesis.header.time,
        ))
        .unwrap();
    assert_eq!(out, Outcome::BelowTarget);
}

fn dummy_tx(n: u8, segwit: bool) -> Transaction {
    Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([n; 32]),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: if segwit {
                Witness::from_slice(&[vec![n; 72], vec![2; 33]])
            } else {
                Witness::new()
            },
        }],
        output: vec![TxOut {
            value: Amount::from_sat(1000 + u64::from(n)),
            script_pubkey: ScriptBuf::new_op_return([n]),
        }],
    }
}

fn regtest_template(count: u8) -> BlockTemplate {
    regtest_template_at(count, 1)
}

/// A regtest template at `height` on the regtest genesis, with `count`
/// transactions and a correct witness commitment.
fn regtest_template_at(count: u8, height: u32) -> BlockTemplate {
    let genesis = genesis_block(Network::Regtest);
    let transactions: Vec<Transaction> = (0..count).map(|n| dummy_tx(n, true)).collect();
    let mut probe = Block {
        header: genesis.header,
        txdata: vec![genesis.txdata[0].clone()],
    };
    probe.txdata.extend(transactions.iter().cloned());
    let root = probe.witness_root().unwrap();
    let commitment = Block::compute_witness_commitment(&root, &[0u8; 32]);
    let mut data = vec![0xaa, 0x21, 0xa9, 0xed];
    data.extend_from_slice(commitment.as_byte_array());
    let witness_commitment = Builder::new()
        .push_opcode(OP_RETURN)
        .push_slice(PushBytesBuf::try_from(data).unwrap())
        .into_script();
    BlockTemplate {
        version: bitcoin::block::Version::from_consensus(0x2000_0000),
        prev_blockhash: genesis.block_hash(),
        bits: CompactTarget::from_consensus(0x207F_FFFF),
        curtime: genesis.header.time + 600,
        height,
        coinbase_value: Amount::from_sat(50 * 100_000_000),
        transactions,
        witness_commitment: Some(witness_commitment),
    }
}

fn spec(en1: Vec<u8>, en2_len: usize) -> CoinbaseSpec {
    CoinbaseSpec {
        outputs: vec![TxOut {
            value: Amount::from_sat(50 * 100_000_000),
            script_pubkey: ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::from_byte_array([7; 20])),
        }],
        commitment: Some(ScriptBuf::new_op_return([0x42; 32])),
        tag: b"/hearth/".to_vec(),
        extranonce1: en1,
        extranonce2_len: en2_len,
    }
}

/// Searches nonces for `job` until one is a share; returns the outcome.
fn mine(book: &mut JobBook, job: &hearth_core::Job) -> Box<hearth_work::Share> {
    for nonce in 0..100_000u32 {
        let version = job.version | (nonce & 3) << 13;
        match book
            .classify(&found(job.id, nonce, version, job.ntime))
            .unwrap()
        {
            Outcome::Share(s) => return s,
            Outcome::BelowTarget => {}
            other => panic!("{other:?}"),
        }
    }
    panic!("no share in 100k nonces")
}

#[test]
fn regtest_blocks_from_the_pipeline_are_valid_for_rust_bitcoin() {
    for (count, height) in [(0u8, 1u32), (1, 17), (2, 500), (5, 70_000), (12, 900_000)] {
        let share_target = Target::from_compact(0x207F_FFFF).unwrap();
        let work = TemplateWork::new(
            "t1",
            regtest_template_at(count, height),
            &spec(vec![], 8),
            share_target,
            0x1FFF_E000,
            true,
        )
        .unwrap();
        let mut book = JobBook::new(Checker::detect());
        let jobs = book.fan_out(0, work.unit(), 4).unwrap();
        // Distinct extranonces: four distinct merkle roots.
        let roots: std::collections::HashSet<_> = jobs.iter().map(|j| j.merkle_root).collect();
        assert_eq!(roots.len(), 4);
        for job in &jobs {
            let share = mine(&mut book, job);
            assert!(share.is_block, "regtest target: every share is a block");
            let block = work.block(&share).unwrap();
            assert_eq!(serialize(&block.header).as_slice(), &share.header[..]);
            assert!(block.check_merkle_root(), "{count} txs");
            assert!(block.check_witness_commitment(), "{count} txs");
            if height <= 16 {
                // Bitcoin Core's `CScript() << height` is OP_<height> here
                // (rust-bitcoin's BIP34 reader wants a push).
                assert_eq!(
                    block.txdata[0].input[0].script_sig.as_bytes()[0],
                    0x50 + height as u8
                );
            } else {
                assert_eq!(block.bip34_block_height().unwrap(), u64::from(height));
            }
            let target = bitcoin::Target::from_compact(CompactTarget::from_consensus(0x207F_FFFF));
            assert!(block.header.validate_pow(target).is_ok());
            assert!(block.txdata[0].is_coinbase());
            // The commitment and the payout are where the caller put them.
            let outs = &block.txdata[0].output;
            assert_eq!(outs[0].value.to_sat(), 50 * 100_000_000);
            assert_eq!(outs[1].script_pubkey, ScriptBuf::new_op_return([0x42; 32]));
        }
    }
}

#[test]
fn a_clean_job_makes_older_nonces_stale_and_versions_are_checked() {
    let t = regtest_template(3);
    let w1 = TemplateWork::new(
        "a",
        t.clone(),
        &spec(vec![1, 2], 4),
        Target::MAX,
        0x1FFF_E000,
        true,
    )
    .unwrap();
    let mut book = JobBook::new(Checker::detect());
    let old = book.fan_out(0, w1.unit(), 2).unwrap();
    // Rolling a bit outside the mask is refused.
    let bad = book
        .classify(&found(old[0].id, 1, old[0].version | 1, old[0].ntime))
        .unwrap();
    assert!(matches!(bad, Outcome::BadVersion { .. }));
    let w2 =
        TemplateWork::new("b", t, &spec(vec![1, 2], 4), Target::MAX, 0x1FFF_E000, true).unwrap();
    let new = book.fan_out(0, w2.unit(), 2).unwrap();
    assert_eq!(
        book.classify(&found(old[1].id, 1, old[1].version, old[1].ntime))
            .unwrap(),
        Outcome::Stale
    );
    assert!(matches!(
        book.classify(&found(new[1].id, 1, new[1].version, new[1].ntime))
            .unwrap(),
        Outcome::Share(_)
    ));
    assert_eq!(
        book.classify(&found(999_999, 1, 0, 0)).unwrap(),
        Outcome::UnknownJob
    );
    assert_eq!(
        book.classify(&found(0x4845_4154_0000_0007, 1, 0, 0))
            .unwrap(),
        Outcome::HeatOnly
    );
    // Extranonces never repeat across fan-outs for the same unit either.
    let again = book.fan_out(0, w2.unit(), 2).unwrap();
    assert_ne!(again[0].merkle_root, new[0].merkle_root);
    assert_ne!(again[1].merkle_root, new[1].merkle_root);
}

#[test]
fn bad_coinbase_specs_are_refused() {
    let t = regtest_template(0);
    let mut s = spec(vec![], 8);
    s.outputs[0].value = Amount::from_sat(50 * 100_000_000 + 1);
    assert!(TemplateWork::new("x", t.clone(), &s, Target::MAX, 0, true).is_err());
    let mut s = spec(vec![], 0);
    assert!(TemplateWork::new("x", t.clone(), &s, Target::MAX, 0, true).is_err());
    s = spec(vec![], 8);
    s.tag = vec![b'x'; 90];
    assert!(TemplateWork::new("x", t.clone(), &s, Target::MAX, 0, true).is_err());
    s = spec(vec![], 8);
    s.outputs.clear();
    assert!(TemplateWork::new("x", t, &s, Target::MAX, 0, true).is_err());
    // Too many chains for one byte of extranonce2.
    let w = TemplateWork::new(
        "x",
        regtest_template(0),
        &spec(vec![], 1),
        Target::MAX,
        0x1FFF_E000,
        true,
    )
    .unwrap();
    let mut book = JobBook::new(Checker::detect());
    assert!(book.fan_out(0, w.unit(), 257).is_err());
    assert!(book.fan_out(0, w.unit(), 0).is_err());
    assert_eq!(book.fan_out(0, w.unit(), 256).unwrap().len(), 256);
}

#[test]
fn header_bytes_match_rust_bitcoin() {
    let g = genesis_block(Network::Bitcoin).header;
    let h = header_bytes(
        1,
        &[0; 32],
        &g.merkle_root.to_byte_array(),
        g.time,
        g.bits.to_consensus(),
        g.nonce,
    );
    assert_eq!(h.to_vec(), serialize(&g));
}
