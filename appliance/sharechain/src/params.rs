//! Networks and the chain parameters that make up the consensus id.

use bitcoin::consensus::Encodable;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{CompactTarget, Target};

/// The Bitcoin network a sharechain mines on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// Bitcoin mainnet.
    Mainnet,
    /// Testnet version 4 (BIP94).
    Testnet4,
    /// The default signet.
    Signet,
    /// Local regtest (nBits 0x207fffff: shares and blocks are cheap).
    Regtest,
}

impl Network {
    /// Lower-case name, as in the config file and in `getblockchaininfo`'s
    /// `chain` field ("main", "testnet4", "signet", "regtest").
    pub fn name(self) -> &'static str {
        match self {
            Network::Mainnet => "main",
            Network::Testnet4 => "testnet4",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        }
    }

    /// Parses [`Network::name`] (also "mainnet").
    pub fn from_name(name: &str) -> Option<Network> {
        match name {
            "main" | "mainnet" => Some(Network::Mainnet),
            "testnet4" => Some(Network::Testnet4),
            "signet" => Some(Network::Signet),
            "regtest" => Some(Network::Regtest),
            _ => None,
        }
    }

    /// The rust-bitcoin network (addresses, genesis).
    pub fn bitcoin(self) -> bitcoin::Network {
        match self {
            Network::Mainnet => bitcoin::Network::Bitcoin,
            Network::Testnet4 => bitcoin::Network::Testnet4,
            Network::Signet => bitcoin::Network::Signet,
            Network::Regtest => bitcoin::Network::Regtest,
        }
    }

    /// Default p2p listen port of the sharechain on this network.
    pub fn default_p2p_port(self) -> u16 {
        match self {
            Network::Mainnet => 9338,
            Network::Testnet4 => 19338,
            Network::Signet => 29338,
            Network::Regtest => 39338,
        }
    }
}

/// Everything two nodes must agree on to share a chain. Hashed into the
/// [`ConsensusId`]: change any field (or set a password) and the chain is a
/// different one whose shares and peers never mix with this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainParams {
    /// Bitcoin network.
    pub network: Network,
    /// Chain name ("hearth" for the public chain).
    pub name: String,
    /// Private chains: a shared secret mixed into the consensus id.
    pub password: Option<String>,
    /// Target time between shares, seconds.
    pub share_period_s: u32,
    /// The easiest share target allowed (minimum share difficulty); also
    /// the genesis share target.
    pub max_share_bits: CompactTarget,
    /// Retarget half-life (ASERT), seconds.
    pub retarget_half_life_s: u32,
    /// Largest change of the share target from one share to the next, per
    /// mille (100 = ±10 %).
    pub retarget_clamp_permille: u32,
    /// PPLNS window length in shares.
    pub window_shares: u32,
    /// PPLNS window cap in work: this many blocks' worth of expected work at
    /// the newest share's block target (0 = no cap).
    pub window_block_multiple: u32,
    /// A share's timestamp may be at most this far ahead of `now`.
    pub max_future_s: u32,
    /// Handshake proof of work: leading zero bits asked of a connecting peer.
    pub handshake_pow_bits: u8,
}

/// The id of a chain: sha256d of its [`ChainParams`]. Committed in every
/// share and required in every handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsensusId(pub [u8; 32]);

impl ConsensusId {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl ChainParams {
    /// The public chain's parameters on `network`.
    pub fn for_network(network: Network) -> ChainParams {
        let (max_bits, window_block_multiple, handshake_pow_bits) = match network {
            // Difficulty 1: retargeting climbs from here at 10 % a share.
            Network::Mainnet => (0x1d00_ffff, 3, 16),
            Network::Testnet4 => (0x1d00_ffff, 3, 12),
            Network::Signet => (0x1e03_77ae, 3, 12),
            // Regtest: every hash of two meets it; no work cap so the
            // window is exercised by count in tests.
            Network::Regtest => (0x207f_ffff, 0, 8),
        };
        ChainParams {
            network,
            name: "hearth".into(),
            password: None,
            share_period_s: 10,
            max_share_bits: CompactTarget::from_consensus(max_bits),
            retarget_half_life_s: 600,
            retarget_clamp_permille: 100,
            window_shares: 8640,
            window_block_multiple,
            max_future_s: 120,
            handshake_pow_bits,
        }
    }

    /// The easiest share target, expanded.
    pub fn max_share_target(&self) -> Target {
        Target::from_compact(self.max_share_bits)
    }

    /// sha256d over a fixed encoding of every field.
    pub fn consensus_id(&self) -> ConsensusId {
        let mut buf: Vec<u8> = Vec::with_capacity(128);
        buf.extend_from_slice(b"hearth-sharechain/3");
        // Encoding into a Vec cannot fail; errors are ignored on purpose.
        let _ = self.network.name().to_string().consensus_encode(&mut buf);
        let _ = self.name.consensus_encode(&mut buf);
        match &self.password {
            Some(p) => {
                buf.push(1);
                let _ = p.consensus_encode(&mut buf);
            }
            None => buf.push(0),
        }
        for v in [
            self.share_period_s,
            self.max_share_bits.to_consensus(),
            self.retarget_half_life_s,
            self.retarget_clamp_permille,
            self.window_shares,
            self.window_block_multiple,
            self.max_future_s,
        ] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        buf.push(self.handshake_pow_bits);
        ConsensusId(sha256d::Hash::hash(&buf).to_byte_array())
    }

    /// Checks the parameters make sense (a config file may set them).
    pub fn check(&self) -> Result<(), ParamsError> {
        if self.share_period_s == 0 || self.share_period_s > 3600 {
            return Err(ParamsError::new("share_period_s must be 1..=3600"));
        }
        if self.window_shares == 0 || self.window_shares > 1_000_000 {
            return Err(ParamsError::new("window_shares must be 1..=1000000"));
        }
        if self.retarget_half_life_s < self.share_period_s {
            return Err(ParamsError::new(
                "retarget_half_life_s must be at least share_period_s",
            ));
        }
        if !(1..=500).contains(&self.retarget_clamp_permille) {
            return Err(ParamsError::new("retarget_clamp_permille must be 1..=500"));
        }
        if self.max_share_target() == Target::ZERO {
            return Err(ParamsError::new("max_share_bits is zero"));
        }
        if self.handshake_pow_bits > 32 {
            return Err(ParamsError::new("handshake_pow_bits must be at most 32"));
        }
        if self.name.is_empty() || self.name.len() > 64 {
            return Err(ParamsError::new("name must be 1..=64 bytes"));
        }
        Ok(())
    }
}

/// Parameters that cannot make a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sharechain parameters: {0}")]
pub struct ParamsError(pub String);

impl ParamsError {
    fn new(s: &str) -> ParamsError {
        ParamsError(s.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_network_has_its_own_id_and_sane_params() {
        let ids: Vec<_> = [
            Network::Mainnet,
            Network::Testnet4,
            Network::Signet,
            Network::Regtest,
        ]
        .iter()
        .map(|n| {
            let p = ChainParams::for_network(*n);
            assert_eq!(p.check(), Ok(()));
            assert_eq!(Network::from_name(n.name()), Some(*n));
            p.consensus_id()
        })
        .collect();
        for i in 0..ids.len() {
            for j in i + 1..ids.len() {
                assert_ne!(ids[i], ids[j]);
            }
        }
    }

    #[test]
    fn a_password_or_any_parameter_changes_the_id() {
        let public = ChainParams::for_network(Network::Mainnet);
        let mut private = public.clone();
        private.password = Some("garden shed".into());
        assert_ne!(public.consensus_id(), private.consensus_id());
        let mut other = private.clone();
        other.password = Some("garden shed!".into());
        assert_ne!(other.consensus_id(), private.consensus_id());
        let mut w = public.clone();
        w.window_shares += 1;
        assert_ne!(w.consensus_id(), public.consensus_id());
        // Deterministic.
        assert_eq!(public.consensus_id(), public.clone().consensus_id());
    }

    #[test]
    fn bad_params_are_refused() {
        let mut p = ChainParams::for_network(Network::Regtest);
        p.share_period_s = 0;
        assert!(p.check().is_err());
        let mut p = ChainParams::for_network(Network::Regtest);
        p.max_share_bits = CompactTarget::from_consensus(0);
        assert!(p.check().is_err());
    }
}
