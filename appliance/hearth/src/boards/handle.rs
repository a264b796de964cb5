//! The control loop's side of a board task.

use hearth_core::board::{BoardPoll, MAX_POLL_ITEMS};
use hearth_core::{
    BoardEvent, BoardInfo, BoardState, BoardTelemetry, GhPerSec, Hashboard, HashboardError, Job,
    NonceFound, Percent, Timestamp, Watts,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long `stop_safely` waits for the board task to confirm.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) enum BoardCommand {
    Power(Watts),
    Job(Job),
    Stop(std::sync::mpsc::SyncSender<Result<(), HashboardError>>),
}

/// What the board task publishes for the handle: the latest telemetry and
/// bounded queues of events and nonces.
#[derive(Debug)]
pub struct Mailbox {
    pub telemetry: BoardTelemetry,
    pub events: VecDeque<BoardEvent>,
    pub nonces: VecDeque<NonceFound>,
    /// Items dropped because the control loop did not poll in time.
    pub dropped: u64,
    /// When the work service listens, nonces go straight to it (not via
    /// the control loop's once-a-tick poll); a full queue drops and counts.
    pub nonce_tap: Option<mpsc::Sender<NonceFound>>,
}

impl Mailbox {
    pub fn new() -> Mailbox {
        Mailbox {
            telemetry: BoardTelemetry {
                state: BoardState::Idle,
                power_w: Watts::ZERO,
                power_target_w: Watts::ZERO,
                hashrate_ghs: GhPerSec::ZERO,
                chip_temp_c: None,
                regulator_temp_c: None,
                fan_duty: Percent::FULL,
                fan_rpm: None,
                operating_point: None,
            },
            events: VecDeque::new(),
            nonces: VecDeque::new(),
            dropped: 0,
            nonce_tap: None,
        }
    }

    pub fn push_event(&mut self, e: BoardEvent) {
        if self.events.len() >= MAX_POLL_ITEMS {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(e);
    }

    pub fn push_nonce(&mut self, n: NonceFound) {
        if let Some(tap) = &self.nonce_tap {
            if tap.try_send(n).is_err() {
                self.dropped += 1;
            }
            return;
        }
        if self.nonces.len() >= MAX_POLL_ITEMS {
            self.nonces.pop_front();
            self.dropped += 1;
        }
        self.nonces.push_back(n);
    }
}

impl Default for Mailbox {
    fn default() -> Mailbox {
        Mailbox::new()
    }
}

pub(crate) fn lock(m: &Mutex<Mailbox>) -> std::sync::MutexGuard<'_, Mailbox> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A `Hashboard` backed by a board task.
#[derive(Debug)]
pub struct BoardHandle {
    info: BoardInfo,
    commands: mpsc::Sender<BoardCommand>,
    mailbox: Arc<Mutex<Mailbox>>,
}

impl std::fmt::Debug for BoardCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BoardCommand::Power(w) => write!(f, "Power({w})"),
            BoardCommand::Job(j) => write!(f, "Job({})", j.id),
            BoardCommand::Stop(_) => f.write_str("Stop"),
        }
    }
}

impl BoardHandle {
    pub(crate) fn new(
        info: BoardInfo,
        commands: mpsc::Sender<BoardCommand>,
        mailbox: Arc<Mutex<Mailbox>>,
    ) -> Self {
        BoardHandle {
            info,
            commands,
            mailbox,
        }
    }

    fn send(&self, cmd: BoardCommand) -> Result<(), HashboardError> {
        self.commands.try_send(cmd).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => HashboardError::Busy,
            mpsc::error::TrySendError::Closed(_) => {
                HashboardError::Disconnected("board task ended".into())
            }
        })
    }
}

/// The work service's line to one board: jobs in, nonces out (see
/// [`Mailbox::nonce_tap`]), beside the control loop's handle.
#[derive(Debug, Clone)]
pub struct JobFeed {
    pub board: hearth_core::BoardId,
    commands: mpsc::Sender<BoardCommand>,
    mailbox: Arc<Mutex<Mailbox>>,
}

impl JobFeed {
    /// New work for the board (never blocks; `Busy` when its queue is full).
    pub fn send(&self, job: Job) -> Result<(), HashboardError> {
        self.commands
            .try_send(BoardCommand::Job(job))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => HashboardError::Busy,
                mpsc::error::TrySendError::Closed(_) => {
                    HashboardError::Disconnected("board task ended".into())
                }
            })
    }

    /// From now on, this board's nonces go to `tap`.
    pub fn tap_nonces(&self, tap: mpsc::Sender<NonceFound>) {
        lock(&self.mailbox).nonce_tap = Some(tap);
    }
}

impl BoardHandle {
    pub fn job_feed(&self) -> JobFeed {
        JobFeed {
            board: self.info.id.clone(),
            commands: self.commands.clone(),
            mailbox: self.mailbox.clone(),
        }
    }
}

impl Hashboard for BoardHandle {
    fn info(&self) -> &BoardInfo {
        &self.info
    }

    fn set_power_target(&mut self, target: Watts, _now: Timestamp) -> Result<(), HashboardError> {
        if !target.is_finite() || target.get() < 0.0 {
            return Err(HashboardError::BadPowerTarget(target));
        }
        self.send(BoardCommand::Power(target))
    }

    fn set_job(&mut self, job: Job, _now: Timestamp) -> Result<(), HashboardError> {
        self.send(BoardCommand::Job(job))
    }

    fn poll(&mut self, _now: Timestamp) -> BoardPoll {
        let mut m = lock(&self.mailbox);
        BoardPoll {
            telemetry: m.telemetry.clone(),
            events: m.events.drain(..).collect(),
            nonces: m.nonces.drain(..).collect(),
        }
    }

    /// Blocks up to [`STOP_TIMEOUT`] for the task's confirmation. Callers on
    /// a tokio worker wrap it in `block_in_place`.
    fn stop_safely(&mut self, _now: Timestamp) -> Result<(), HashboardError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        // A full queue must not prevent a stop: wait for room, bounded.
        let deadline = std::time::Instant::now() + STOP_TIMEOUT;
        let mut cmd = BoardCommand::Stop(tx);
        loop {
            match self.commands.try_send(cmd) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Full(c)) if std::time::Instant::now() < deadline => {
                    cmd = c;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(mpsc::error::TrySendError::Full(_)) => return Err(HashboardError::Busy),
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    return Err(HashboardError::Disconnected("board task ended".into()))
                }
            }
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        rx.recv_timeout(left).map_err(|_| {
            HashboardError::Disconnected("board task did not confirm the stop".into())
        })?
    }
}
