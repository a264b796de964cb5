//! Consensus rules end to end on regtest-difficulty shares mined on the CPU.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failure report

use bitcoin::hashes::Hash;
use bitcoin::{Amount, BlockHash, CompactTarget, ScriptBuf};
use hearth_shacheck::Checker;
use hearth_sharechain::miner::{mine, test_payout_script, BlockBase};
use hearth_sharechain::share::commitment_script;
use hearth_sharechain::{Chain, ChainParams, Network, Share, ShareError, ShareHash, ShareJob};
use proptest::prelude::*;

const T0: u64 = 1_700_000_000;
const VALUE: u64 = 50 * 100_000_000;

fn params(window: u32) -> ChainParams {
    let mut p = ChainParams::for_network(Network::Regtest);
    p.window_shares = window;
    p
}

fn base(t: u64) -> BlockBase {
    BlockBase {
        prev_blockhash: BlockHash::all_zeros(),
        height: 200,
        bits: CompactTarget::from_consensus(0x207f_ffff),
        time: t as u32,
    }
}

fn mined(job: &ShareJob, t: u64, extra: u64) -> Share {
    mine(job, &base(t), &[[3u8; 32], [4u8; 32]], extra, 1000).expect("regtest share")
}

/// Mines `n` shares on the tip, one miner of `miners` each, 10 s apart.
fn extend(chain: &mut Chain, n: u64, miners: u32, t_start: u64, extra: u64) -> Vec<Share> {
    let mut out = Vec::new();
    for i in 0..n {
        let t = t_start + 10 * i;
        let job = chain.job(
            test_payout_script((i % u64::from(miners)) as u32),
            VALUE,
            base(t).bits,
            t,
        );
        let s = mined(&job, t, extra);
        chain.accept(s.clone(), t).expect("valid share");
        out.push(s);
    }
    out
}

fn new_chain(window: u32) -> Chain {
    Chain::new(params(window), Checker::detect())
}

#[test]
fn a_chain_of_shares_is_accepted_and_pays_by_work() {
    let mut chain = new_chain(20);
    let shares = extend(&mut chain, 50, 4, T0, 0);
    assert_eq!(chain.height(), Some(49));
    assert_eq!(chain.window().len(), 20);
    assert_eq!(chain.window().payees(), 4);
    // Every share paid exactly its coinbase value over its window.
    for s in &shares {
        let paid: u64 = hearth_sharechain::payout_outputs(s)
            .iter()
            .map(|o| o.value.to_sat())
            .sum();
        assert_eq!(paid, VALUE);
    }
    // Equal weights, 4 miners, 5 shares each in the window: 1/4 each.
    let last = shares.last().expect("shares");
    for o in hearth_sharechain::payout_outputs(last) {
        assert_eq!(o.value.to_sat(), VALUE / 4);
    }
}

#[test]
fn round_trip_encoding_and_a_format_vector() {
    let mut chain = new_chain(20);
    let shares = extend(&mut chain, 3, 2, T0, 0);
    for s in &shares {
        let b = s.to_bytes();
        assert_eq!(Share::from_bytes(&b).expect("decodes"), *s);
        // Header first, 80 bytes, then the coinbase.
        assert_eq!(b[..80], s.header_bytes());
    }
    let info = &shares[1].info;
    let enc = bitcoin::consensus::encode::serialize(info);
    assert_eq!(enc[..4], [3, 0, 0, 0], "version 3 LE");
    assert_eq!(enc[4..36], shares[0].hash().0, "prev share");
    assert_eq!(enc[36..44], 1u64.to_le_bytes(), "height");
    assert_eq!(enc[44..48], 0x207f_ffffu32.to_le_bytes(), "share bits");
    assert_eq!(enc[48..52], ((T0 + 10) as u32).to_le_bytes(), "timestamp");
    assert_eq!(
        enc[52..84],
        info.cumulative_work.to_le_bytes(),
        "cumulative work"
    );
    assert_eq!(enc[84], 22, "payout script length");
    assert_eq!(enc.len(), 84 + 1 + 22, "no payout digest since version 2");
    let mut extra = shares[0].to_bytes();
    extra.push(0);
    assert!(Share::from_bytes(&extra).is_err(), "trailing bytes refused");
}

fn expect_err(chain: &mut Chain, s: Share, now: u64, want: fn(&ShareError) -> bool) {
    let tip = chain.tip().map(|m| m.hash);
    let payees = chain.window().payees();
    match chain.accept(s, now) {
        Err(e) => assert!(want(&e), "unexpected error {e:?}"),
        Ok(a) => panic!("accepted a bad share {a:?}"),
    }
    assert_eq!(chain.tip().map(|m| m.hash), tip, "tip unchanged");
    assert_eq!(chain.window().payees(), payees);
}

#[test]
fn each_broken_rule_is_refused_with_its_reason() {
    let mut chain = new_chain(20);
    extend(&mut chain, 12, 3, T0, 0);
    let t = T0 + 200;
    let good_job = chain.job(test_payout_script(9), VALUE, base(t).bits, t);

    // Wrong payouts (digest and commitment consistent, so only the window rule catches it).
    let mut job = good_job.clone();
    job.payout_outputs[0].value += Amount::from_sat(1);
    job.payout_outputs[1].value -= Amount::from_sat(1);
    recommit(&chain, &mut job);
    expect_err(&mut chain, mined(&job, t, 1), t, |e| {
        *e == ShareError::Payouts
    });

    // Wrong share bits.
    let mut job = good_job.clone();
    job.info.share_bits = CompactTarget::from_consensus(0x207e_ffff);
    recommit(&chain, &mut job);
    let hard_block = BlockBase {
        bits: CompactTarget::from_consensus(0x2000_ffff),
        ..base(t)
    };
    let s = mine(&job, &hard_block, &[], 2, 1000).expect("share");
    expect_err(&mut chain, s, t, |e| matches!(e, ShareError::Bits { .. }));

    // Wrong height.
    let mut job = good_job.clone();
    job.info.height += 1;
    recommit(&chain, &mut job);
    expect_err(&mut chain, mined(&job, t, 3), t, |e| {
        matches!(e, ShareError::Height { .. })
    });

    // Too far in the future.
    let mut job = good_job.clone();
    job.info.timestamp = (t + 121) as u32;
    recommit(&chain, &mut job);
    expect_err(&mut chain, mined(&job, t, 4), t, |e| {
        matches!(e, ShareError::TimeTooNew { .. })
    });

    // Not after median-time-past.
    let mut job = good_job.clone();
    job.info.timestamp = T0 as u32;
    recommit(&chain, &mut job);
    expect_err(&mut chain, mined(&job, t, 5), t, |e| {
        matches!(e, ShareError::TimeTooOld { .. })
    });

    // Cumulative work inflated.
    let mut job = good_job.clone();
    job.info.cumulative_work = job.info.cumulative_work + job.info.cumulative_work;
    recommit(&chain, &mut job);
    expect_err(&mut chain, mined(&job, t, 6), t, |e| {
        *e == ShareError::CumulativeWork
    });

    // Unknown parent.
    let mut job = good_job.clone();
    job.info.prev_share = hearth_sharechain::ShareHash([9; 32]);
    recommit(&chain, &mut job);
    expect_err(&mut chain, mined(&job, t, 7), t, |e| {
        matches!(e, ShareError::Orphan(_))
    });

    // Outputs changed after mining: digest, merkle root and commitment break.
    let mut s = mined(&good_job, t, 8);
    s.coinbase.output[0].value = Amount::from_sat(1);
    expect_err(&mut chain, s, t, |e| *e == ShareError::MerkleRoot);
    let mut s = mined(&good_job, t, 9);
    s.info.payout_script = ScriptBuf::from_bytes(vec![0x51]);
    expect_err(&mut chain, s, t, |e| *e == ShareError::Commitment);
    let mut s = mined(&good_job, t, 10);
    s.merkle_branch.pop();
    expect_err(&mut chain, s, t, |e| *e == ShareError::MerkleRoot);
    // Proof of work: a share target nothing meets.
    let mut job = good_job.clone();
    job.share_target = bitcoin::Target::MAX_ATTAINABLE_REGTEST;
    let mut s = mined(&job, t, 11);
    while chain
        .params()
        .max_share_target()
        .is_met_by(s.header.block_hash())
    {
        s.header.nonce += 1;
    }
    expect_err(&mut chain, s, t, |e| *e == ShareError::ProofOfWork);

    // The good one still goes in, and twice is a duplicate.
    let s = mined(&good_job, t, 12);
    chain.accept(s.clone(), t).expect("good share");
    assert!(matches!(chain.accept(s, t), Err(ShareError::Duplicate(_))));
}

fn recommit(chain: &Chain, job: &mut ShareJob) {
    job.commitment_output.script_pubkey =
        commitment_script(&job.info.ref_hash(&chain.consensus_id()));
}

#[test]
fn a_private_chain_refuses_public_shares() {
    let mut public = new_chain(20);
    let shares = extend(&mut public, 2, 1, T0, 0);
    let mut p = params(20);
    p.password = Some("secret".into());
    let mut private = Chain::new(p, Checker::detect());
    assert!(matches!(
        private.accept(shares[0].clone(), T0),
        Err(ShareError::Commitment)
    ));
}

#[test]
fn best_chain_by_work_with_reorg_and_window_matching_a_fresh_node() {
    let mut a = new_chain(15);
    let common = extend(&mut a, 10, 3, T0, 0);
    // Fork: b extends the common chain by 5 (miner set 1), a by 3.
    let mut b = new_chain(15);
    for s in &common {
        b.accept(s.clone(), T0 + 1000).expect("common");
    }
    let short = extend(&mut a, 3, 2, T0 + 100, 1);
    let long = extend(&mut b, 5, 5, T0 + 100, 2);
    assert_eq!(a.height(), Some(12));
    // a receives the longer branch: reorg to it.
    let mut reorged = 0;
    for s in &long {
        let acc = a.accept(s.clone(), T0 + 1000).expect("long branch share");
        reorged += acc.reorged;
    }
    assert_eq!(reorged, 3);
    assert_eq!(a.tip().map(|m| m.hash), b.tip().map(|m| m.hash));
    // Shorter branch offered to b: stored, no reorg.
    for s in &short {
        let acc = b.accept(s.clone(), T0 + 1000).expect("side share");
        assert!(!acc.new_tip);
    }
    // Windows match, and match a node that saw only the best chain.
    let mut fresh = new_chain(15);
    for s in common.iter().chain(long.iter()) {
        fresh.accept(s.clone(), T0 + 1000).expect("fresh");
    }
    for c in [&a, &b] {
        let w: Vec<_> = c.window().iter().cloned().collect();
        let f: Vec<_> = fresh.window().iter().cloned().collect();
        assert_eq!(w, f);
        assert_eq!(
            c.window()
                .payouts(VALUE, &test_payout_script(0), &ShareHash([5; 32])),
            fresh
                .window()
                .payouts(VALUE, &test_payout_script(0), &ShareHash([5; 32]))
        );
    }
}

#[test]
fn pruning_keeps_two_windows_and_the_chain_goes_on() {
    let mut chain = new_chain(5);
    extend(&mut chain, 30, 2, T0, 0);
    let pruned = chain.prune(0);
    assert_eq!(pruned, 30 - 11);
    assert_eq!(chain.len(), 11);
    extend(&mut chain, 3, 2, T0 + 300, 0);
    assert_eq!(chain.height(), Some(32));
    assert_eq!(chain.window().len(), 5);
}

#[test]
fn the_work_cap_limits_the_window() {
    let mut p = params(100);
    // Block work at 0x207fffff is 2, each share weighs 2: 3 blocks = 3 shares.
    p.window_block_multiple = 3;
    let mut chain = Chain::new(p, Checker::detect());
    extend(&mut chain, 10, 10, T0, 0);
    assert_eq!(chain.window().len(), 3);
    assert_eq!(chain.window().total_work(), 6);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn malformed_bytes_are_refused_and_never_change_the_chain(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
        junk in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut chain = new_chain(20);
        extend(&mut chain, 4, 2, T0, 0);
        let t = T0 + 100;
        let job = chain.job(test_payout_script(1), VALUE, base(t).bits, t);
        let good = mined(&job, t, 1);
        let mut bytes = good.to_bytes();
        for (i, v) in &flips {
            let n = bytes.len();
            bytes[i % n] ^= v;
        }
        if cut % 3 == 0 {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        let tip = chain.tip().map(|m| m.hash);
        let window: Vec<_> = chain.window().iter().cloned().collect();
        prop_assert!(Share::from_bytes(&junk).is_err() || junk.len() > 150);
        match Share::from_bytes(&bytes) {
            Err(_) => {}
            Ok(s) if s == good => {
                prop_assert!(chain.accept(s, t).is_ok());
                return Ok(());
            }
            Ok(s) => {
                if let Ok(a) = chain.accept(s, t) {
                    // Only a header-nonce style change can still be valid.
                    prop_assert!(a.hash != good.hash());
                }
                let w2: Vec<_> = chain.window().iter().cloned().collect();
                if chain.tip().map(|m| m.hash) == tip {
                    prop_assert_eq!(w2, window);
                }
            }
        }
    }
}

#[test]
fn a_pruned_store_reloads_to_the_same_tip_and_window() {
    use hearth_sharechain::store::{load_chain, MemStore, ShareStore};
    let mut chain = new_chain(5);
    let shares = extend(&mut chain, 30, 3, T0, 0);
    let mut store = MemStore::default();
    store.put_shares(&shares, None).expect("put");
    chain.prune(0);
    let floor = chain.base_height();
    assert_eq!(store.prune_below(floor).expect("prune"), floor as usize);
    let mut reloaded = new_chain(5);
    let refused = load_chain(&mut reloaded, &mut store, T0 + 1000).expect("load");
    assert_eq!(refused, 0);
    assert_eq!(reloaded.tip().map(|m| m.hash), chain.tip().map(|m| m.hash));
    let a: Vec<_> = reloaded.window().iter().cloned().collect();
    let b: Vec<_> = chain.window().iter().cloned().collect();
    assert_eq!(a, b);
    // And it keeps validating new shares.
    extend(&mut reloaded, 2, 3, T0 + 400, 0);
    assert_eq!(reloaded.height(), Some(31));
}

#[test]
fn a_fork_deeper_than_a_window_is_refused() {
    let mut chain = new_chain(5);
    extend(&mut chain, 12, 2, T0, 0);
    // A fresh first share (height 0) built by someone else.
    let mut other = new_chain(5);
    let job = other.job(test_payout_script(7), VALUE, base(T0).bits, T0);
    let s = mined(&job, T0, 99);
    expect_err(&mut chain, s, T0 + 500, |e| {
        matches!(e, ShareError::TooDeep { .. })
    });
}

#[test]
fn the_commitment_may_precede_a_witness_commitment_but_not_repeat() {
    let mut chain = new_chain(20);
    extend(&mut chain, 3, 2, T0, 0);
    let t = T0 + 100;
    let job = chain.job(test_payout_script(1), VALUE, base(t).bits, t);
    // A segwit witness commitment after ours: still valid.
    let mut s = mined(&job, t, 1);
    let mut wc = vec![0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];
    wc.extend_from_slice(&[5; 32]);
    s.coinbase.output.push(bitcoin::TxOut {
        value: Amount::ZERO,
        script_pubkey: ScriptBuf::from_bytes(wc),
    });
    let s = remine(s);
    chain.accept(s, t).expect("witness commitment after ours");
    // Two Hearth commitments: refused.
    let job = chain.job(test_payout_script(1), VALUE, base(t + 10).bits, t + 10);
    let mut s = mined(&job, t + 10, 2);
    let extra = s.coinbase.output.last().cloned().unwrap();
    s.coinbase.output.push(extra);
    expect_err(&mut chain, remine(s), t + 10, |e| {
        *e == ShareError::Commitment
    });
}

/// Recomputes the merkle root for a changed coinbase and grinds the nonce.
fn remine(mut s: Share) -> Share {
    use hearth_sharechain::share::{coinbase_merkle_branch, merkle_root_from_branch};
    let txid = s.coinbase.compute_txid().to_byte_array();
    s.merkle_branch = coinbase_merkle_branch(&[txid]);
    s.header.merkle_root = merkle_root_from_branch(txid, &s.merkle_branch);
    let target = bitcoin::Target::from_compact(s.info.share_bits);
    while !target.is_met_by(s.header.block_hash()) {
        s.header.nonce += 1;
    }
    s
}

/// A side-branch share whose payouts are wrong is kept while its branch has
/// less work (its proof of work, commitment and place in the chain are
/// checked on arrival), but it never becomes part of the best chain: when
/// its branch gains the most work, the reorg connects it, checks its
/// payouts against the window, refuses it and goes back to the old chain;
/// its descendants are then known invalid.
#[test]
fn a_side_branch_share_with_wrong_payouts_never_joins_the_best_chain() {
    let mut honest = new_chain(20);
    let common = extend(&mut honest, 6, 3, T0, 0);
    let t = T0 + 60;
    // The evil branch: a share paying everything to its finder, on the
    // common chain, then two children with payouts right for that window.
    let mut job = honest.job(test_payout_script(7), VALUE, base(t).bits, t);
    job.payout_outputs = vec![bitcoin::TxOut {
        value: Amount::from_sat(VALUE),
        script_pubkey: test_payout_script(7),
    }];
    recommit(&honest, &mut job);
    let bad = mined(&job, t, 5);
    // `evil` trusts it as an anchor (payouts not checked) to mine on it.
    let mut evil = new_chain(20);
    for s in common.iter().chain(std::iter::once(&bad)) {
        evil.accept_anchor(s.clone()).expect("anchor");
    }
    let children = extend(&mut evil, 2, 1, t + 10, 6);
    // The honest chain moves one share on, to the same height as `bad`.
    let next = extend(&mut honest, 1, 3, t, 7);
    let tip = honest.tip().map(|m| m.hash);
    assert_eq!(tip, Some(next[0].hash()));
    let payees = honest.window().payees();
    let window: Vec<_> = honest.window().iter().cloned().collect();

    // Equal work: kept on the side, unchecked, the tip stays.
    let acc = honest.accept(bad.clone(), t + 30).expect("side share kept");
    assert!(!acc.new_tip);
    assert!(!honest.is_best(&bad.hash()));
    // Its child gives the branch the most work: the reorg finds the bad
    // payouts and rolls back.
    assert_eq!(
        honest.accept(children[0].clone(), t + 30),
        Err(ShareError::Payouts)
    );
    assert_eq!(honest.tip().map(|m| m.hash), tip);
    assert!(!honest.is_best(&bad.hash()));
    assert_eq!(honest.window().payees(), payees);
    let after: Vec<_> = honest.window().iter().cloned().collect();
    assert_eq!(after, window, "window as before the failed reorg");
    // The grandchild is built on a known-invalid share.
    assert!(matches!(
        honest.accept(children[1].clone(), t + 30),
        Err(ShareError::KnownInvalid(_))
    ));
    assert_eq!(honest.tip().map(|m| m.hash), tip);
    // And the honest chain goes on, paying as a fresh node would.
    extend(&mut honest, 3, 3, t + 40, 8);
    assert_eq!(honest.height(), Some(9));
}

/// A batch whose shares fail proof of work in between valid ones: the
/// batch's hashes (txids, ref hashes, branches) are computed for the shares
/// with work only, and each valid share is still checked against its own.
#[test]
fn a_batch_with_shares_without_work_between_valid_ones() {
    let mut source = new_chain(50);
    let shares = extend(&mut source, 6, 3, T0, 0);
    let no_work = |s: &Share| {
        let mut bad = s.clone();
        let probe = new_chain(50);
        while probe.check_pow(std::slice::from_ref(&bad))[0].is_ok() {
            bad.header.nonce = bad.header.nonce.wrapping_add(1);
        }
        bad
    };
    let batch = vec![
        no_work(&shares[0]),
        shares[0].clone(),
        shares[1].clone(),
        no_work(&shares[2]),
        no_work(&shares[5]),
        shares[2].clone(),
        shares[3].clone(),
        shares[4].clone(),
        no_work(&shares[1]),
        shares[5].clone(),
    ];
    let mut chain = new_chain(50);
    let results = chain.accept_batch(batch, T0 + 100);
    let verdicts: Vec<bool> = results.iter().map(|r| r.is_ok()).collect();
    assert_eq!(
        verdicts,
        [false, true, true, false, false, true, true, true, false, true]
    );
    for i in [0, 3, 4, 8] {
        assert_eq!(results[i], Err(ShareError::ProofOfWork), "{i}");
    }
    assert_eq!(chain.tip().map(|t| t.hash), source.tip().map(|t| t.hash));
}

/// Received bytes straight into the chain (`accept_batch_encoded`, the
/// coinbase borrowed): malformed bytes, shares without work and a share
/// with wrong payouts between valid ones each get their error and change
/// nothing; the rest give the same chain as the decoded path.
#[test]
fn encoded_batch_gives_the_decoded_paths_verdicts() {
    let mut source = new_chain(50);
    let shares = extend(&mut source, 6, 3, T0, 0);
    let mut no_work = shares[2].clone();
    let probe = new_chain(50);
    while probe.check_pow(std::slice::from_ref(&no_work))[0].is_ok() {
        no_work.header.nonce = no_work.header.nonce.wrapping_add(1);
    }
    // Share 3 paying one satoshi less to its first payee, its merkle root
    // recomputed and its header mined again: only its payouts are wrong.
    let mut wrong = shares[3].clone();
    wrong.coinbase.output[0].value = Amount::from_sat(wrong.coinbase.output[0].value.to_sat() - 1);
    let txid = wrong.coinbase.compute_txid().to_byte_array();
    wrong.header.merkle_root =
        hearth_sharechain::share::merkle_root_from_branch(txid, &wrong.merkle_branch);
    while probe.check_pow(std::slice::from_ref(&wrong))[0].is_err() {
        wrong.header.nonce = wrong.header.nonce.wrapping_add(1);
    }
    let mut truncated = shares[1].to_bytes();
    truncated.pop();
    let mut trailing = shares[1].to_bytes();
    trailing.push(0);
    let batch: Vec<Vec<u8>> = vec![
        shares[0].to_bytes(),
        truncated,
        trailing,
        vec![0xff; 7],
        shares[1].to_bytes(),
        no_work.to_bytes(),
        shares[2].to_bytes(),
        wrong.to_bytes(),
        shares[3].to_bytes(),
        shares[4].to_bytes(),
        shares[5].to_bytes(),
    ];
    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    let mut encoded = new_chain(50);
    let results = encoded.accept_batch_encoded(&refs, T0 + 100);
    for i in [1, 2, 3] {
        assert!(
            matches!(results[i], Err(ShareError::Malformed(_))),
            "{i}: {:?}",
            results[i]
        );
    }
    assert_eq!(results[5], Err(ShareError::ProofOfWork));
    assert_eq!(results[7], Err(ShareError::Payouts));
    for i in [0, 4, 6, 8, 9, 10] {
        assert!(results[i].is_ok(), "{i}: {:?}", results[i]);
    }
    assert_eq!(encoded.tip().map(|t| t.hash), source.tip().map(|t| t.hash));
    // The decoded path, share by share, says the same of the decodable ones.
    let mut decoded = new_chain(50);
    for (i, b) in batch.iter().enumerate() {
        if let Ok(s) = Share::from_bytes(b) {
            assert_eq!(decoded.accept(s, T0 + 100), results[i], "{i}");
        } else {
            assert!(matches!(results[i], Err(ShareError::Malformed(_))), "{i}");
        }
    }
    assert_eq!(decoded.tip().map(|t| t.hash), encoded.tip().map(|t| t.hash));
    // As a peer's shares arrive (`accept_received`: proof of work from the
    // id hashed on arrival): the same verdicts for every one that is a share.
    let kept: Vec<(usize, hearth_sharechain::ReceivedShare)> = batch
        .iter()
        .enumerate()
        .filter_map(|(i, b)| {
            hearth_sharechain::ReceivedShare::from_bytes(b.clone())
                .ok()
                .map(|r| (i, r))
        })
        .collect();
    assert_eq!(kept.len(), batch.len() - 3);
    let received: Vec<_> = kept.iter().map(|(_, r)| r.clone()).collect();
    let mut by_id = new_chain(50);
    let got = by_id.accept_received(&received, T0 + 100);
    for ((i, _), g) in kept.iter().zip(&got) {
        assert_eq!(g, &results[*i], "{i}");
    }
    assert_eq!(by_id.tip().map(|t| t.hash), encoded.tip().map(|t| t.hash));
}
