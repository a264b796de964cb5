//! Our own sharechain node as a work source, first in the failover order.
//!
//! One task speaks the same [`SourceEvent`] language as a pool task, so the
//! work service treats it like any other source:
//! - templates come from the Bitcoin node (`getblocktemplate`), the
//!   sharechain's payout outputs and `HRTH` commitment go into the
//!   [`CoinbaseSpec`], and the unit is fanned out to every chain;
//! - a new block (`getbestblockhash`, polled every second) or a new share
//!   tip makes clean work at once;
//! - a share found on that work becomes a sharechain share
//!   (`share_from_found`) handed to the p2p node, which validates, stores and
//!   relays it; one that meets the block target is also sent to the node
//!   with `submitblock` at once.
//!
//! Until the sharechain node and the Bitcoin node are both reachable the
//! source is `Down` and the failover falls to the pools or heat-only work.

use super::client::SourceEvent;
use crate::node::rpc::{hex_decode, RpcClient};
use crate::sharechain::p2p::P2pHandle;
use hearth_work::stratum::ClientEvent;
use hearth_work::{BlockTemplate, CoinbaseSpec, Share, SourceHealth, TemplateWork, WorkUnit};
use std::collections::VecDeque;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::mpsc;

/// Templates remembered for shares still coming back from the chains.
const RECENT_TEMPLATES: usize = 16;
/// How often the node's best block and the share tip are checked.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// A fresh template (new transactions) at least this often, unless
/// `[work] template_refresh_s` says otherwise ([`set_template_every`]).
const TEMPLATE_EVERY: Duration = Duration::from_secs(30);
/// `[work] template_refresh_s` in seconds (0: [`TEMPLATE_EVERY`]); set once
/// at start-up, read by every poll.
static TEMPLATE_EVERY_S: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Sets how often a template is refreshed without a new block or share tip.
pub fn set_template_every(every: Duration) {
    TEMPLATE_EVERY_S.store(every.as_secs(), std::sync::atomic::Ordering::Relaxed);
}

fn template_every() -> Duration {
    match TEMPLATE_EVERY_S.load(std::sync::atomic::Ordering::Relaxed) {
        0 => TEMPLATE_EVERY,
        s => Duration::from_secs(s),
    }
}
/// Every call to the node or the p2p task is bounded by this.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Extranonce2 bytes per chain and job (no extranonce1: we are the pool).
pub(super) const EXTRANONCE2_LEN: usize = 8;
/// Pushed after the extranonce in the coinbase scriptSig.
const COINBASE_TAG: &[u8] = b"/hearth/";

/// Our node starts a moment after a fallback pool answers; within this
/// much of the work service's start it takes over at once.
pub const STARTUP_GRACE: Duration = Duration::from_secs(20);

/// The name the source has in the status and the failover order.
pub const SOURCE_NAME: &str = "sharechain";

/// What the source needs, installed once the sharechain node and the
/// Bitcoin node connection are up (`sharechain::service`).
#[derive(Debug, Clone)]
pub struct OwnLink {
    pub handle: P2pHandle,
    pub rpc: RpcClient,
    /// Our payout script (the sharechain pays us in its coinbases).
    pub payout_script: bitcoin::ScriptBuf,
    /// With `--sim`: the in-process fake bitcoind the link talks to.
    pub fake_node: Option<crate::node::fake::FakeNode>,
}

static LINK: OnceLock<OwnLink> = OnceLock::new();

/// Makes the node visible to the work source (once, at start-up).
pub fn install(link: OwnLink) {
    if LINK.set(link).is_err() {
        tracing::warn!("sharechain work source already installed");
    }
}

/// The installed link, if any (status, tests).
pub fn link() -> Option<&'static OwnLink> {
    LINK.get()
}

/// One template made into work, with the share job it commits to.
struct Built {
    work: TemplateWork,
    job: hearth_sharechain::ShareJob,
    best_block: bitcoin::BlockHash,
    share_tip: Option<String>,
    at: tokio::time::Instant,
}

pub(super) async fn timed<T>(
    what: &str,
    f: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    tokio::time::timeout(CALL_TIMEOUT, f)
        .await
        .map_err(|_| anyhow::anyhow!("{what}: no answer within {CALL_TIMEOUT:?}"))?
}

/// The node's template in `hearth-work`'s types (untrusted input: every
/// field is checked by the decoders, errors name the field).
fn template_from_rpc(t: &crate::node::rpc::BlockTemplate) -> anyhow::Result<BlockTemplate> {
    let witness_commitment = match &t.default_witness_commitment {
        Some(h) => Some(bitcoin::ScriptBuf::from_bytes(hex_decode(h).ok_or_else(
            || anyhow::anyhow!("getblocktemplate: default_witness_commitment is not hex"),
        )?)),
        None => None,
    };
    Ok(BlockTemplate {
        version: bitcoin::block::Version::from_consensus(t.version),
        prev_blockhash: t.prev_blockhash()?,
        bits: t.compact_bits()?,
        curtime: t.curtime,
        height: t.height,
        coinbase_value: bitcoin::Amount::from_sat(t.coinbasevalue),
        transactions: t.decoded_transactions()?,
        witness_commitment,
    })
}

/// The template's work with `job`'s payouts and commitment in the coinbase.
pub(super) fn work_for(
    id: &str,
    template: BlockTemplate,
    job: &hearth_sharechain::ShareJob,
    version_mask: u32,
    clean: bool,
) -> anyhow::Result<TemplateWork> {
    let spec = CoinbaseSpec {
        outputs: job.payout_outputs.clone(),
        commitment: Some(job.commitment_output.script_pubkey.clone()),
        tag: COINBASE_TAG.to_vec(),
        extranonce1: Vec::new(),
        extranonce2_len: EXTRANONCE2_LEN,
    };
    let share_target = hearth_shacheck::Target::from_le_bytes(job.share_target.to_le_bytes());
    Ok(TemplateWork::new(
        id,
        template,
        &spec,
        share_target,
        version_mask,
        clean,
    )?)
}

/// [`work_for`] on `base`'s template (a LAN miner's own payout): the
/// template's merkle branch is reused, not computed again.
pub(super) fn work_on(
    base: &TemplateWork,
    id: &str,
    job: &hearth_sharechain::ShareJob,
    version_mask: u32,
    clean: bool,
) -> anyhow::Result<TemplateWork> {
    let spec = CoinbaseSpec {
        outputs: job.payout_outputs.clone(),
        commitment: Some(job.commitment_output.script_pubkey.clone()),
        tag: COINBASE_TAG.to_vec(),
        extranonce1: Vec::new(),
        extranonce2_len: EXTRANONCE2_LEN,
    };
    let share_target = hearth_shacheck::Target::from_le_bytes(job.share_target.to_le_bytes());
    Ok(base.with_coinbase(id, &spec, share_target, version_mask, clean)?)
}

async fn build(link: &OwnLink, seq: u64, version_mask: u32, clean: bool) -> anyhow::Result<Built> {
    let best_block = timed("getbestblockhash", async {
        Ok(link.rpc.best_block_hash().await?)
    })
    .await?;
    let raw = timed("getblocktemplate", async {
        Ok(link.rpc.block_template().await?)
    })
    .await?;
    let template = template_from_rpc(&raw)?;
    let share_tip = link.handle.status().tip;
    let job = timed(
        "sharechain job",
        link.handle.job(
            link.payout_script.clone(),
            template.coinbase_value.to_sat(),
            template.bits,
        ),
    )
    .await?;
    let work = work_for(&format!("sc{seq:x}"), template, &job, version_mask, clean)?;
    super::lan_payout::remember_template(&work, version_mask);
    Ok(Built {
        work,
        job,
        best_block,
        share_tip,
        at: tokio::time::Instant::now(),
    })
}

/// The sharechain share (and the full block) a found share makes.
pub(super) fn shares_from(
    work: &TemplateWork,
    job: &hearth_sharechain::ShareJob,
    share: &Share,
) -> anyhow::Result<(hearth_sharechain::Share, bitcoin::Block)> {
    let block = work.block(share)?;
    let mut coinbase = block
        .txdata
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("block without a coinbase"))?;
    // The share carries the txid form; the block keeps the BIP141 witness.
    for input in &mut coinbase.input {
        input.witness = bitcoin::Witness::new();
    }
    let branch = work
        .unit()
        .branch
        .0
        .iter()
        .map(|h| {
            use bitcoin::hashes::Hash as _;
            bitcoin::TxMerkleNode::from_byte_array(*h)
        })
        .collect();
    let sc = hearth_sharechain::share_from_found(job, block.header, coinbase, branch);
    Ok((sc, block))
}

struct Source {
    index: usize,
    version_mask: u32,
    events: mpsc::Sender<SourceEvent>,
    recent: VecDeque<Built>,
    seq: u64,
    health: SourceHealth,
}

impl Source {
    async fn health(&mut self, h: SourceHealth) {
        if self.health != h {
            self.health = h;
            let _ = self.events.send(SourceEvent::Health(self.index, h)).await;
        }
    }

    async fn event(&self, ev: ClientEvent) {
        let _ = self
            .events
            .send(SourceEvent::Client(self.index, Box::new(ev)))
            .await;
    }

    async fn problem(&mut self, why: String) {
        let _ = self
            .events
            .send(SourceEvent::Problem(self.index, why))
            .await;
        self.health(SourceHealth::Down).await;
    }

    /// New work when the block or the share tip moved (clean), or the
    /// template is old (not clean); nothing when all is as it was.
    async fn poll(&mut self, link: &OwnLink) {
        let tip = link.handle.status().tip;
        let best = match timed("getbestblockhash", async {
            Ok(link.rpc.best_block_hash().await?)
        })
        .await
        {
            Ok(b) => b,
            Err(e) => return self.problem(format!("bitcoin node: {e:#}")).await,
        };
        let clean = match self.recent.back() {
            None => true,
            Some(_) if self.health != SourceHealth::Up => true,
            Some(b) if b.best_block != best || b.share_tip != tip => true,
            Some(b) if b.at.elapsed() >= template_every() => false,
            Some(_) => return,
        };
        self.seq += 1;
        match build(link, self.seq, self.version_mask, clean).await {
            Ok(built) => {
                let unit: WorkUnit = built.work.unit().clone();
                if self.recent.len() >= RECENT_TEMPLATES {
                    self.recent.pop_front();
                }
                self.recent.push_back(built);
                if self.health != SourceHealth::Up {
                    let _ = self.event(ClientEvent::Ready).await;
                }
                self.health(SourceHealth::Up).await;
                self.event(ClientEvent::Work(unit)).await;
            }
            Err(e) => self.problem(format!("no work from the node: {e:#}")).await,
        }
    }

    /// A share found on our work: to the sharechain, and to the node as a
    /// block when it meets the block target.
    async fn found(&mut self, link: &OwnLink, share: Share) {
        let assembled = match self
            .recent
            .iter()
            .find(|b| b.work.unit().source_job_id == share.source_job_id)
        {
            Some(built) => Some(shares_from(&built.work, &built.job, &share)),
            None => super::lan_payout::lan_shares_from(&share),
        };
        let Some(assembled) = assembled else {
            self.event(ClientEvent::Rejected {
                job_id: share.source_job_id.clone(),
                reason: "template no longer remembered".into(),
                stale: true,
            })
            .await;
            return;
        };
        let (sc, block) = match assembled {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(job = %share.source_job_id, "share not assembled: {e:#}");
                return;
            }
        };
        if share.is_block {
            // The block first: it is worth far more than the share.
            match timed("submitblock", async {
                Ok(link.rpc.submit_block(&block).await?)
            })
            .await
            {
                Ok(()) => {
                    tracing::info!(hash = %block.block_hash(), "block submitted to the bitcoin node")
                }
                Err(e) => tracing::warn!(hash = %block.block_hash(), "submitblock: {e:#}"),
            }
        }
        match timed("sharechain submit", link.handle.submit(sc)).await {
            Ok(()) => {
                tracing::info!(job = %share.source_job_id, difficulty = share.difficulty, "share accepted by the sharechain");
                self.event(ClientEvent::Accepted {
                    job_id: share.source_job_id.clone(),
                    difficulty: share.difficulty,
                })
                .await;
            }
            Err(e) => {
                let reason = format!("{e:#}");
                let stale = reason.contains("prev") || reason.contains("orphan");
                tracing::info!(job = %share.source_job_id, "share refused by the sharechain: {reason}");
                self.event(ClientEvent::Rejected {
                    job_id: share.source_job_id.clone(),
                    reason,
                    stale,
                })
                .await;
            }
        }
    }
}

/// The source's task (source `index` in the failover order): waits for the
/// link, then polls and submits until the service goes away.
pub async fn run(
    index: usize,
    version_mask: u32,
    events: mpsc::Sender<SourceEvent>,
    mut shares: mpsc::Receiver<Share>,
) {
    let mut src = Source {
        index,
        version_mask,
        events,
        recent: VecDeque::new(),
        seq: 0,
        health: SourceHealth::Connecting,
    };
    src.health(SourceHealth::Down).await;
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Some(link) = LINK.get() {
                    src.poll(link).await;
                }
            }
            s = shares.recv() => match (s, LINK.get()) {
                (Some(share), Some(link)) => src.found(link, share).await,
                (Some(_), None) => {}
                (None, _) => return,
            },
        }
        if src.events.is_closed() {
            return;
        }
    }
}

/// Where the simulation's shares pay (regtest).
pub const SIM_PAYOUT_ADDRESS: &str = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

/// `[sharechain]` as `hearth run` uses it: with `--sim`, the section left
/// at its defaults (not enabled) and no `[[work.pool]]` configured, a local
/// regtest sharechain on a loopback port, so the simulation mines end to
/// end against the fake node. A configured pool or section is respected.
pub fn effective_section(
    section: &crate::sharechain::config::SharechainSection,
    simulate: bool,
    pools_configured: bool,
) -> crate::sharechain::config::SharechainSection {
    let mut s = section.clone();
    if simulate
        && !pools_configured
        && *section == crate::sharechain::config::SharechainSection::default()
    {
        s.enabled = true;
        s.network = "regtest".into();
        s.listen = Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        // A regtest address (BIP173's example) so "our shares" are counted.
        s.payout_address = Some(SIM_PAYOUT_ADDRESS.into());
    }
    s
}

/// The Bitcoin node's RPC client from `[sharechain]`: `node_rpc` (default
/// 127.0.0.1 and the network's RPC port), the cookie file or user/password.
/// `None` (and why) when no credentials are configured.
pub fn rpc_from_section(
    section: &crate::sharechain::config::SharechainSection,
    network: hearth_sharechain::Network,
) -> Result<RpcClient, String> {
    use crate::node::rpc::Auth;
    use hearth_sharechain::Network;
    let port = match network {
        Network::Mainnet => 8332,
        Network::Testnet4 => 48332,
        Network::Signet => 38332,
        Network::Regtest => 18443,
    };
    let addr = section
        .node_rpc
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let auth = match (&section.node_cookie, &section.node_user, &section.node_password) {
        (Some(cookie), _, _) => Auth::Cookie(cookie.clone()),
        (None, Some(u), Some(p)) => Auth::UserPass(u.clone(), p.clone()),
        _ => {
            return Err(
                "no bitcoin node credentials (set node_cookie, or node_user and node_password, in [sharechain])"
                    .into(),
            )
        }
    };
    Ok(RpcClient::new(addr, auth))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sharechain::config::SharechainSection;

    fn rpc_template() -> crate::node::rpc::BlockTemplate {
        crate::node::rpc::BlockTemplate {
            version: 0x2000_0000,
            previousblockhash: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
                .into(),
            transactions: Vec::new(),
            coinbasevalue: 5_000_000_000,
            bits: "207fffff".into(),
            height: 102,
            curtime: 1_700_000_000,
            default_witness_commitment: None,
        }
    }

    #[test]
    fn a_node_template_converts_and_bad_fields_are_refused_by_name() {
        let t = template_from_rpc(&rpc_template()).unwrap();
        assert_eq!(t.bits.to_consensus(), 0x207f_ffff);
        assert_eq!(t.height, 102);
        assert_eq!(t.coinbase_value.to_sat(), 5_000_000_000);
        let mut bad = rpc_template();
        bad.bits = "zz".into();
        assert!(format!("{:#}", template_from_rpc(&bad).unwrap_err()).contains("bits"));
        let mut bad = rpc_template();
        bad.default_witness_commitment = Some("not hex".into());
        assert!(format!("{:#}", template_from_rpc(&bad).unwrap_err())
            .contains("default_witness_commitment"));
        let mut bad = rpc_template();
        bad.previousblockhash = "00".into();
        assert!(format!("{:#}", template_from_rpc(&bad).unwrap_err()).contains("previousblockhash"));
    }

    #[test]
    fn sim_defaults_to_a_local_regtest_sharechain_but_a_configured_one_is_kept() {
        let d = SharechainSection::default();
        let sim = effective_section(&d, true, false);
        assert!(sim.enabled);
        assert_eq!(sim.network, "regtest");
        assert!(sim.settings().unwrap().payout_script.is_some());
        assert!(!effective_section(&d, false, false).enabled);
        assert!(!effective_section(&d, true, true).enabled);
        let mine = SharechainSection {
            network: "signet".into(),
            ..SharechainSection::default()
        };
        assert_eq!(effective_section(&mine, true, false), mine);
    }

    #[test]
    fn node_credentials_are_required_cookie_or_user_and_password() {
        let d = SharechainSection::default();
        assert!(rpc_from_section(&d, hearth_sharechain::Network::Mainnet).is_err());
        let s = SharechainSection {
            node_user: Some("u".into()),
            node_password: Some("p".into()),
            ..SharechainSection::default()
        };
        assert!(rpc_from_section(&s, hearth_sharechain::Network::Regtest).is_ok());
    }
}
