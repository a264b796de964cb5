//! The Bitcoin node connection: a JSON-RPC client for bitcoind
//! (`getblocktemplate` with segwit rules, `submitblock`,
//! `getbestblockhash`, `getblockchaininfo`; cookie or user/password auth)
//! and an in-process fake node speaking the same JSON-RPC on regtest rules,
//! for tests and `hearth run --sim`.

pub mod fake;
pub mod rpc;
