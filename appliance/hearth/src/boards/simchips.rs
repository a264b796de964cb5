//! Simulated BM13xx chips on the far side of a byte stream (a pseudo-terminal
//! in `hearth run --sim`). They answer the real chain driver's bytes, and
//! their PLL frequency drives the simulated board's power and heat.

use hearth_core::Clock;
use hearth_sim::devices::SimBoardPeripherals;
use hearth_simchip::{SimChain, SimChainConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How often the chips' side wakes when the host is quiet (nonce pacing).
const CHIP_POLL: Duration = Duration::from_millis(5);

/// Faults a test can inject into a running simulated chain.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SimChainFaults {
    /// Chips (by chain position) that stop answering.
    pub dead_chips: Vec<usize>,
    /// Flip a bit in every n-th response frame.
    pub corrupt_every: Option<u32>,
}

/// Runs simulated chips behind `port` until the port closes.
pub async fn run_sim_chain<P: AsyncRead + AsyncWrite + Unpin>(
    config: SimChainConfig,
    mut port: P,
    board: SimBoardPeripherals,
    clock: Arc<dyn Clock>,
    faults: Arc<Mutex<SimChainFaults>>,
) {
    let mut chain = SimChain::new(config.clone());
    let mut fresh = true;
    let mut buf = [0u8; 1024];
    let mut out = Vec::new();
    let mut applied = SimChainFaults::default();
    loop {
        let alive = board.chips_alive();
        if !alive && !fresh {
            // Power off or reset: the chips forget addresses, baud and jobs.
            chain = SimChain::new(config.clone());
            applied = SimChainFaults::default();
            fresh = true;
        }
        let wanted = faults.lock().map(|f| f.clone()).unwrap_or_default();
        if wanted != applied {
            for i in 0..chain.chip_count() {
                chain.set_chip_dead(i, wanted.dead_chips.contains(&i));
            }
            chain.corrupt_tx(wanted.corrupt_every);
            applied = wanted;
        }
        tokio::select! {
            read = port.read(&mut buf) => match read {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let now = clock.now();
                    chain.advance(now);
                    // Unpowered chips hear nothing.
                    if alive {
                        chain.receive(&buf[..n], now);
                        fresh = false;
                    }
                }
            },
            _ = tokio::time::sleep(CHIP_POLL) => {}
        }
        chain.advance(clock.now());
        out.clear();
        chain.transmit(&mut out);
        if !out.is_empty() && port.write_all(&out).await.is_err() {
            return;
        }
        let freq = if alive && chain.chip_count() > 0 {
            chain.chip_freq_mhz(0)
        } else {
            0.0
        };
        let _ = board.set_chip_frequency(freq);
    }
}
