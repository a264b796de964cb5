//! The `[sharechain]` config section: network, p2p listen address and seed
//! peers, a private chain's name and password, our payout address, and the
//! Bitcoin node to use.

use hearth_sharechain::{ChainParams, Network};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// `[sharechain]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharechainSection {
    /// Run the p2p node.
    pub enabled: bool,
    /// "main", "testnet4", "signet" or "regtest".
    pub network: String,
    /// p2p listen address [default: 0.0.0.0 and the network's port].
    pub listen: Option<SocketAddr>,
    /// Peers to keep connected to (`host:port`, IP addresses).
    pub seeds: Vec<String>,
    /// Chain name (a private chain sets its own, with a password).
    pub name: Option<String>,
    /// Private chain password.
    pub password: Option<String>,
    /// Where our share of each block goes.
    pub payout_address: Option<String>,
    /// bitcoind JSON-RPC address [default: 127.0.0.1 and the network's port].
    pub node_rpc: Option<SocketAddr>,
    /// bitcoind cookie file (preferred) ...
    pub node_cookie: Option<PathBuf>,
    /// ... or rpcuser / rpcpassword.
    pub node_user: Option<String>,
    /// rpcpassword.
    pub node_password: Option<String>,
    /// Inbound p2p connections one IP (an IPv6 /64) may hold at once, 1 to 32.
    pub max_inbound_per_ip: usize,
    /// How long a misbehaving peer's IP is refused, 60 s to 30 days.
    pub ban_seconds: u64,
}

impl Default for SharechainSection {
    fn default() -> SharechainSection {
        SharechainSection {
            enabled: false,
            network: "main".into(),
            listen: None,
            seeds: Vec::new(),
            name: None,
            password: None,
            payout_address: None,
            node_rpc: None,
            node_cookie: None,
            node_user: None,
            node_password: None,
            max_inbound_per_ip: super::p2p::MAX_INBOUND_PER_IP,
            ban_seconds: hearth_sharechain::node::BAN_SECONDS,
        }
    }
}

/// The section, checked.
#[derive(Debug, Clone)]
pub struct SharechainSettings {
    /// Chain parameters.
    pub params: ChainParams,
    /// Listen address.
    pub listen: SocketAddr,
    /// Seeds.
    pub seeds: Vec<SocketAddr>,
    /// Our payout script.
    pub payout_script: Option<bitcoin::ScriptBuf>,
    /// Per-IP connection limit and ban length.
    pub limits: super::p2p::PeerLimits,
}

/// A bad `[sharechain]` key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sharechain.{key}: {reason}")]
pub struct SectionError {
    /// Which key.
    pub key: &'static str,
    /// Why.
    pub reason: String,
}

fn bad(key: &'static str, reason: impl Into<String>) -> SectionError {
    SectionError {
        key,
        reason: reason.into(),
    }
}

impl SharechainSection {
    /// Checks every key.
    pub fn settings(&self) -> Result<SharechainSettings, SectionError> {
        let network = Network::from_name(&self.network)
            .ok_or_else(|| bad("network", "expected main, testnet4, signet or regtest"))?;
        let mut params = ChainParams::for_network(network);
        if let Some(n) = &self.name {
            params.name = n.clone();
        }
        if let Some(p) = &self.password {
            if p.is_empty() {
                return Err(bad("password", "empty"));
            }
            params.password = Some(p.clone());
        }
        params.check().map_err(|e| bad("name", e.to_string()))?;
        let listen = self
            .listen
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], network.default_p2p_port())));
        if self.seeds.len() > 64 {
            return Err(bad("seeds", "at most 64"));
        }
        let seeds = self
            .seeds
            .iter()
            .map(|s| {
                s.parse::<SocketAddr>()
                    .map_err(|e| bad("seeds", format!("{s:?}: {e} (use ip:port)")))
            })
            .collect::<Result<_, _>>()?;
        let payout_script = match &self.payout_address {
            None => None,
            Some(a) => {
                let addr = a
                    .parse::<bitcoin::Address<bitcoin::address::NetworkUnchecked>>()
                    .map_err(|e| bad("payout_address", e.to_string()))?
                    .require_network(network.bitcoin())
                    .map_err(|e| bad("payout_address", e.to_string()))?;
                Some(addr.script_pubkey())
            }
        };
        if self.node_user.is_some() != self.node_password.is_some() {
            return Err(bad("node_user", "node_user and node_password go together"));
        }
        if !(1..=super::p2p::MAX_PEERS).contains(&self.max_inbound_per_ip) {
            return Err(bad("max_inbound_per_ip", "1 to 32"));
        }
        if !(60..=30 * 24 * 3600).contains(&self.ban_seconds) {
            return Err(bad("ban_seconds", "60 to 2592000 (30 days)"));
        }
        Ok(SharechainSettings {
            params,
            listen,
            seeds,
            payout_script,
            limits: super::p2p::PeerLimits {
                max_inbound_per_ip: self.max_inbound_per_ip,
                ban_seconds: self.ban_seconds,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> SharechainSection {
        toml::from_str(s).expect("toml")
    }

    #[test]
    fn defaults_and_a_private_regtest_chain() {
        let s = SharechainSection::default().settings().expect("defaults");
        assert_eq!(s.params.network, Network::Mainnet);
        assert_eq!(s.listen.port(), 9338);
        let s = parse(
            "enabled = true\nnetwork = \"regtest\"\nlisten = \"127.0.0.1:1\"\nseeds = [\"127.0.0.1:2\"]\npassword = \"x\"\npayout_address = \"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080\"",
        )
        .settings()
        .expect("valid");
        assert_eq!(s.seeds.len(), 1);
        assert!(s.payout_script.is_some());
        assert_ne!(
            s.params.consensus_id(),
            ChainParams::for_network(Network::Regtest).consensus_id()
        );
    }

    #[test]
    fn bad_keys_are_named() {
        let e = parse("network = \"moon\"").settings().unwrap_err();
        assert_eq!(e.key, "network");
        let e = parse("seeds = [\"example.org\"]").settings().unwrap_err();
        assert_eq!(e.key, "seeds");
        // A mainnet address on regtest.
        let e = parse("network = \"regtest\"\npayout_address = \"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\"")
            .settings()
            .unwrap_err();
        assert_eq!(e.key, "payout_address");
        assert!(toml::from_str::<SharechainSection>("bogus = 1").is_err());
        let e = parse("max_inbound_per_ip = 0").settings().unwrap_err();
        assert_eq!(e.key, "max_inbound_per_ip");
        let e = parse("ban_seconds = 5").settings().unwrap_err();
        assert_eq!(e.key, "ban_seconds");
        let s = parse("max_inbound_per_ip = 2\nban_seconds = 600")
            .settings()
            .unwrap();
        assert_eq!(s.limits.max_inbound_per_ip, 2);
        assert_eq!(s.limits.ban_seconds, 600);
    }
}
