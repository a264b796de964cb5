//! A minimal host for the tests: the codec's command encoders on the way in,
//! the codec's `ResponseParser` on the way out, and an independent re-hash of
//! every nonce with `sha2::Digest`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hearth_bm13xx::registers::address::{
    CHIP_NONCE_OFFSET, HASH_COUNTING_NUMBER, MISC_CONTROL, PLL_DIVIDER, TICKET_MASK,
    VERSION_ROLLING,
};
use hearth_bm13xx::registers::hcn::hash_counting_number;
use hearth_bm13xx::registers::misc::misc_control_open_core;
use hearth_bm13xx::registers::nonce_offset::chip_nonce_offset;
use hearth_bm13xx::registers::ticket_mask::ticket_mask_for_difficulty;
use hearth_bm13xx::registers::version::{version_mask_from_register, VERSION_ROLLING_FULL};
use hearth_bm13xx::{
    pll_for_frequency, ChipKind, Command, Destination, FrameError, FreqKhz, JobFrame, JobId,
    NonceResponse, Response, ResponseLayout, ResponseParser,
};
use hearth_core::Timestamp;
use hearth_simchip::{SimChain, SimChainConfig};
use sha2::{Digest, Sha256};

pub struct Host {
    pub sim: SimChain,
    pub parser: ResponseParser,
    pub now_ms: u64,
    pub jobs: [Option<JobFrame>; 16],
    pub rolling_mask: Option<u32>,
}

impl Host {
    pub fn new(cfg: SimChainConfig) -> Host {
        let chip = cfg.chip;
        Host {
            sim: SimChain::new(cfg),
            parser: ResponseParser::new(ResponseLayout::new(chip, false)),
            now_ms: 0,
            jobs: [None; 16],
            rolling_mask: None,
        }
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now_ms)
    }

    pub fn send(&mut self, command: Command) {
        let now = self.now();
        self.sim.receive(command.to_frame().as_bytes(), now);
        if let Command::WriteRegister {
            destination: Destination::Broadcast,
            register: VERSION_ROLLING,
            value,
        } = command
        {
            self.rolling_mask = version_mask_from_register(value);
            let chip = self.parser.layout().chip();
            self.parser
                .set_layout(ResponseLayout::new(chip, self.rolling_mask.is_some()));
        }
    }

    pub fn write(&mut self, destination: Destination, register: u8, value: u32) {
        self.send(Command::WriteRegister {
            destination,
            register,
            value,
        });
    }

    pub fn read(&mut self, destination: Destination, register: u8) {
        self.send(Command::ReadRegister {
            destination,
            register,
        });
    }

    pub fn send_job(&mut self, job: JobFrame) {
        let now = self.now();
        self.jobs[usize::from(job.job_id.get())] = Some(job);
        self.sim.receive(&job.to_bytes(), now);
    }

    /// Drain the chain and parse everything.
    pub fn responses(&mut self) -> Vec<Result<Response, FrameError>> {
        let mut bytes = Vec::new();
        self.sim.transmit(&mut bytes);
        let mut out = Vec::new();
        self.parser.feed(&bytes, |r| out.push(r));
        out
    }

    pub fn registers(&mut self) -> Vec<(u8, u8, u32)> {
        self.responses()
            .into_iter()
            .map(|r| match r {
                Ok(Response::Register(r)) => (r.chip_addr, r.register, r.value),
                other => panic!("expected a register answer, got {other:?}"),
            })
            .collect()
    }

    /// Advance simulated time in `step_ms` steps, draining and collecting
    /// nonces as a driver would.
    pub fn run(&mut self, duration_ms: u64, step_ms: u64) -> Vec<NonceResponse> {
        let end = self.now_ms + duration_ms;
        let mut nonces = Vec::new();
        while self.now_ms < end {
            self.now_ms = (self.now_ms + step_ms).min(end);
            let now = self.now();
            self.sim.advance(now);
            for response in self.responses() {
                match response {
                    Ok(Response::Nonce(n)) => nonces.push(n),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        nonces
    }

    /// Enumerate (broadcast chip-id read), then address `chips` chips with
    /// `interval`. Returns the discovery answers.
    pub fn enumerate(&mut self, interval: u8) -> Vec<(u8, u8, u32)> {
        self.read(Destination::Broadcast, 0x00);
        let found = self.registers();
        self.send(Command::ChainInactive);
        for i in 0..found.len() {
            let address = (i as u32 * u32::from(interval)) as u8;
            self.send(Command::SetChipAddress { address });
        }
        found
    }

    /// Full bring-up for hashing: enable rolling (optional), enumerate,
    /// open cores, ticket mask, PLL, HCN and nonce offsets (optional).
    pub fn bring_up(&mut self, opts: &BringUp) -> Vec<u8> {
        let chip = self.parser.layout().chip();
        if opts.rolling {
            self.write(
                Destination::Broadcast,
                VERSION_ROLLING,
                VERSION_ROLLING_FULL,
            );
        }
        let found = self.enumerate(opts.interval);
        let n = found.len();
        let addresses: Vec<u8> = (0..n)
            .map(|i| (i as u32 * u32::from(opts.interval)) as u8)
            .collect();
        if let Some(open) = misc_control_open_core(chip) {
            self.write(Destination::Broadcast, MISC_CONTROL, open);
        }
        let mask = ticket_mask_for_difficulty(opts.difficulty).unwrap();
        self.write(Destination::Broadcast, TICKET_MASK, mask);
        let pll = pll_for_frequency(chip, FreqKhz::from_mhz(opts.mhz)).unwrap();
        self.write(Destination::Broadcast, PLL_DIVIDER, pll.to_register(chip));
        if opts.hcn {
            let hcn = hash_counting_number(chip, n as u16, &pll).unwrap();
            self.write(Destination::Broadcast, HASH_COUNTING_NUMBER, hcn);
        }
        if opts.offsets {
            for (i, &address) in addresses.iter().enumerate() {
                let offset = chip_nonce_offset(i as u16, n as u16).unwrap();
                self.write(Destination::Chip(address), CHIP_NONCE_OFFSET, offset);
            }
        }
        addresses
    }

    /// Re-hash a reported nonce independently and return (leading zero bits,
    /// version used).
    pub fn verify(&self, nonce: &NonceResponse) -> (u32, u32) {
        let job = self.jobs[usize::from(nonce.job_id)]
            .unwrap_or_else(|| panic!("nonce for unknown job {}", nonce.job_id));
        let version = nonce.rolled_version(job.version);
        let changed = version ^ job.version;
        let allowed = self.rolling_mask.unwrap_or(0);
        assert_eq!(
            changed & !allowed,
            0,
            "version {version:#x} leaves the mask {allowed:#x}"
        );
        let header = job.block_header(nonce.nonce, version);
        let digest: [u8; 32] = Sha256::digest(Sha256::digest(header)).into();
        (display_leading_zeros(&digest), version)
    }
}

/// Leading zero bits of the hash as block explorers print it.
pub fn display_leading_zeros(digest: &[u8; 32]) -> u32 {
    let mut displayed = *digest;
    displayed.reverse();
    let mut bits = 0;
    for byte in displayed {
        if byte == 0 {
            bits += 8;
        } else {
            bits += byte.leading_zeros();
            break;
        }
    }
    bits
}

pub struct BringUp {
    pub interval: u8,
    pub rolling: bool,
    pub difficulty: u64,
    pub mhz: u32,
    pub hcn: bool,
    pub offsets: bool,
}

impl Default for BringUp {
    fn default() -> Self {
        BringUp {
            interval: 2,
            rolling: true,
            difficulty: 256,
            mhz: 525,
            hcn: true,
            offsets: true,
        }
    }
}

/// A job with pseudo-random hashes (deterministic per `salt`).
pub fn job(id: u8, salt: u8) -> JobFrame {
    let mut prev = [0u8; 32];
    let mut merkle = [0u8; 32];
    for i in 0..32u8 {
        prev[usize::from(i)] = i.wrapping_mul(31).wrapping_add(salt);
        merkle[usize::from(i)] = i.wrapping_mul(17) ^ salt.wrapping_mul(7) ^ 0x5A;
    }
    JobFrame {
        job_id: JobId::new(id).unwrap(),
        version: 0x2000_0004,
        prev_block_hash: prev,
        merkle_root: merkle,
        ntime: 0x6650_0000 + u32::from(salt),
        nbits: 0x1703_0ECD,
        starting_nonce: 0,
    }
}

pub fn cfg(chip: ChipKind, chips: usize, seed: u64) -> SimChainConfig {
    SimChainConfig {
        chip,
        chips,
        seed,
        ..SimChainConfig::default()
    }
}
