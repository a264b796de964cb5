//! Starting the sharechain side of the daemon from `[sharechain]`. Heat
//! comes first: any failure here is logged and the daemon keeps heating
//! without a sharechain.

use super::config::SharechainSection;
use super::p2p::{start_limited, P2pConfig};
use hearth_sharechain::Network;
use std::path::PathBuf;
use std::time::Duration;

/// Starts the p2p node when enabled, and installs it for the API. With
/// `simulate` on regtest, also starts the in-process fake bitcoind (in
/// `<data_dir>/fake-node`) and mines a CPU share every share period, so
/// `hearth run --sim` shows a live sharechain.
pub async fn start_if_enabled(section: SharechainSection, data_dir: PathBuf, simulate: bool) {
    if !section.enabled {
        return;
    }
    let settings = match section.settings() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("sharechain not started: {e}");
            return;
        }
    };
    let cfg = P2pConfig {
        params: settings.params.clone(),
        listen: settings.listen,
        seeds: settings.seeds.clone(),
        data_dir: data_dir.clone(),
        store_write_delay: std::time::Duration::ZERO,
    };
    let handle = match start_limited(cfg, settings.payout_script.clone(), settings.limits).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!("sharechain not started: {e:#}");
            return;
        }
    };
    tracing::info!(listen = %handle.local_addr, network = settings.params.network.name(), "sharechain node running");
    if !simulate {
        match (
            settings.payout_script.clone(),
            crate::work::own::rpc_from_section(&section, settings.params.network),
        ) {
            (Some(payout_script), Ok(rpc)) => {
                crate::work::own::install(crate::work::own::OwnLink {
                    handle: handle.clone(),
                    rpc,
                    payout_script,
                    fake_node: None,
                })
            }
            (None, _) => tracing::warn!("sharechain: no payout_address, so no mining into it"),
            (_, Err(e)) => tracing::warn!("sharechain: {e}; no mining into it"),
        }
    }
    super::api::install(handle.clone());
    if simulate && settings.params.network == Network::Regtest {
        let script = settings
            .payout_script
            .clone()
            .unwrap_or_else(|| hearth_sharechain::miner::test_payout_script(0));
        match crate::node::fake::FakeNode::start(&data_dir.join("fake-node"), 101, "hearth").await {
            Ok(node) => {
                tracing::info!(rpc = %node.addr, "simulated bitcoind (fake node) running");
                // The simulated chains mine into the sharechain (work::own);
                // no CPU shares beside them, so "our shares" are theirs.
                crate::work::own::install(crate::work::own::OwnLink {
                    handle: handle.clone(),
                    rpc: crate::node::rpc::RpcClient::new(
                        node.addr,
                        crate::node::rpc::Auth::Cookie(node.cookie_path.clone()),
                    ),
                    payout_script: script,
                    fake_node: Some(node),
                });
                return;
            }
            Err(e) => tracing::warn!("fake node not started: {e}"),
        }
        let script = settings
            .payout_script
            .unwrap_or_else(|| hearth_sharechain::miner::test_payout_script(0));
        let period = u64::from(settings.params.share_period_s);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(period));
            loop {
                tick.tick().await;
                if let Err(e) = handle.mine_regtest(script.clone()).await {
                    tracing::warn!("simulated share: {e:#}");
                }
            }
        });
    }
}
