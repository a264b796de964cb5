//! The Hearth sharechain, sans-IO: the share format (rust-bitcoin for every
//! consensus type), consensus rules taking `now` as an argument, share
//! retargeting, the incremental PPLNS window and the coinbase payouts every
//! share must make, best chain by work, the consensus id, the networks, the
//! peer-to-peer message codec and handshake, and the storage trait.
//!
//! The daemon (`hearth`) owns sockets, SQLite and the clock; it feeds bytes
//! and `now` in here and acts on what comes back. See docs/sharechain.md.

pub mod chain;
pub mod digests;
pub mod miner;
pub mod node;
pub mod p2p;
pub mod params;
pub mod pplns;
pub mod ranking;
pub mod received;
pub mod retarget;
pub mod share;
pub mod share_view;
pub mod store;
pub mod txview;
pub mod work;

pub use chain::{
    payout_outputs, share_from_found, Accepted, Chain, ShareError, ShareJob, ShareMeta,
};
pub use params::{ChainParams, ConsensusId, Network, ParamsError};
pub use pplns::{Window, WindowEntry, DUST_SAT, MAX_PAYOUTS};
pub use received::ReceivedShare;
pub use share::{Share, ShareHash, ShareInfo, SHARE_VERSION};
