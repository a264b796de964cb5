#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failure report
//! The Bitcoin node JSON-RPC client against the in-process fake node (and a
//! real bitcoind when BITCOIND_EXE is set): auth, clear errors, and a share
//! that meets the block target submitted as a real block.

use hearth::node::fake::FakeNode;
use hearth::node::rpc::{block_from_share, Auth, NodeError, RpcClient};
use hearth_shacheck::Checker;
use hearth_sharechain::miner::{mine, test_payout_script, BlockBase};
use hearth_sharechain::{Chain, ChainParams, Network};

/// Template -> share job -> CPU-mined share -> block -> submitblock.
async fn mine_share_as_block(rpc: &RpcClient) -> bitcoin::BlockHash {
    let t = rpc.block_template().await.expect("template");
    let mut chain = Chain::new(
        ChainParams::for_network(Network::Regtest),
        Checker::detect(),
    );
    let bits = t.compact_bits().unwrap();
    let job = chain.job(
        test_payout_script(1),
        t.coinbasevalue,
        bits,
        u64::from(t.curtime),
    );
    let txs = t.decoded_transactions().unwrap();
    let txids: Vec<[u8; 32]> = txs
        .iter()
        .map(|x| bitcoin::hashes::Hash::to_byte_array(x.compute_txid()))
        .collect();
    let base = BlockBase {
        prev_blockhash: t.prev_blockhash().unwrap(),
        height: t.height,
        bits,
        time: t.curtime,
    };
    let share = mine(&job, &base, &txids, 0, 100_000).expect("share");
    let accepted = chain
        .accept(share.clone(), u64::from(t.curtime))
        .expect("valid share");
    assert!(accepted.is_block, "regtest shares meet the block target");
    let block = block_from_share(&share, txs);
    rpc.submit_block(&block).await.expect("block accepted");
    block.block_hash()
}

#[tokio::test]
async fn cookie_and_password_auth_and_a_share_becomes_a_block() {
    let dir = tempfile::tempdir().unwrap();
    let node = FakeNode::start(dir.path(), 20, "pw").await.unwrap();
    let cookie = RpcClient::new(node.addr, Auth::Cookie(node.cookie_path.clone()));
    let info = cookie.check_ready(Network::Regtest).await.expect("ready");
    assert_eq!(info.blocks, 20);
    let user = RpcClient::new(node.addr, Auth::UserPass("hearth".into(), "pw".into()));
    assert_eq!(user.best_block_hash().await.unwrap(), node.tip());
    let hash = mine_share_as_block(&user).await;
    assert_eq!(node.tip(), hash);
    assert_eq!(node.height(), 21);
    assert_eq!(node.submitted(), 1);
    assert_eq!(cookie.best_block_hash().await.unwrap(), hash);
    // Stale: the same block again is a duplicate (fine); one on an old tip is refused.
    let t_old = user.block_template().await.unwrap();
    node.mine_external();
    let mut chain = Chain::new(
        ChainParams::for_network(Network::Regtest),
        Checker::detect(),
    );
    let bits = t_old.compact_bits().unwrap();
    let job = chain.job(
        test_payout_script(2),
        t_old.coinbasevalue,
        bits,
        u64::from(t_old.curtime),
    );
    let base = BlockBase {
        prev_blockhash: t_old.prev_blockhash().unwrap(),
        height: t_old.height,
        bits,
        time: t_old.curtime,
    };
    let share = mine(&job, &base, &[], 1, 100_000).unwrap();
    match user.submit_block(&block_from_share(&share, vec![])).await {
        Err(NodeError::Rejected(r)) => assert_eq!(r, "bad-prevblk"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn clear_errors_for_bad_auth_missing_syncing_and_wrong_network() {
    let dir = tempfile::tempdir().unwrap();
    let node = FakeNode::start(dir.path(), 3, "pw").await.unwrap();
    let wrong = RpcClient::new(node.addr, Auth::UserPass("hearth".into(), "nope".into()));
    assert!(matches!(
        wrong.blockchain_info().await,
        Err(NodeError::Auth)
    ));
    let no_cookie = RpcClient::new(node.addr, Auth::Cookie(dir.path().join("missing")));
    let e = no_cookie.blockchain_info().await.unwrap_err();
    assert!(matches!(e, NodeError::Cookie { .. }), "{e}");
    let rpc = RpcClient::new(node.addr, Auth::Cookie(node.cookie_path.clone()));
    node.set_syncing(true);
    let e = rpc.check_ready(Network::Regtest).await.unwrap_err();
    assert!(matches!(e, NodeError::Syncing { blocks: 3, .. }), "{e}");
    assert!(e.to_string().contains("syncing"));
    node.set_syncing(false);
    node.set_chain("main");
    let e = rpc.check_ready(Network::Regtest).await.unwrap_err();
    assert!(matches!(e, NodeError::WrongNetwork { .. }), "{e}");
    assert!(e.to_string().contains("main"));
    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let e = RpcClient::new(closed, Auth::UserPass("a".into(), "b".into()))
        .blockchain_info()
        .await
        .unwrap_err();
    assert!(matches!(e, NodeError::Unreachable { .. }), "{e}");
    // A method the node does not know is an RPC error, not a panic.
    let e = rpc
        .call("nosuchmethod", serde_json::json!([]))
        .await
        .unwrap_err();
    assert!(matches!(e, NodeError::Rpc { code: -32601, .. }), "{e}");
}

/// Against a real bitcoind: BITCOIND_EXE=/path/to/bitcoind cargo test -p hearth --test node_rpc -- --ignored
#[tokio::test]
#[ignore = "needs a real bitcoind: set BITCOIND_EXE"]
async fn real_bitcoind_regtest_accepts_a_share_as_a_block() {
    let exe = std::env::var("BITCOIND_EXE").expect("BITCOIND_EXE");
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(exe)
        .args(["-regtest", "-server", "-listen=0", "-txindex=0"])
        .arg(format!("-datadir={}", dir.path().display()))
        .arg(format!("-rpcport={port}"))
        .spawn()
        .expect("spawn bitcoind");
    let cookie = dir.path().join("regtest").join(".cookie");
    let rpc = RpcClient::new(([127, 0, 0, 1], port).into(), Auth::Cookie(cookie));
    let mut ready = false;
    for _ in 0..100 {
        if rpc.blockchain_info().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ready, "bitcoind did not come up");
    rpc.call(
        "generatetodescriptor",
        serde_json::json!([101, "raw(51)#8lvh9jxk"]),
    )
    .await
    .expect("generate");
    rpc.check_ready(Network::Regtest).await.expect("ready");
    let hash = mine_share_as_block(&rpc).await;
    assert_eq!(rpc.best_block_hash().await.unwrap(), hash);
    let _ = rpc.call("stop", serde_json::json!([])).await;
    let _ = child.wait();
}
