//! Register addresses (the byte after the chip address in a register command).

/// Chip id and assigned address (read-only; read broadcast for discovery).
pub const CHIP_ID: u8 = 0x00;
/// PLL0: hash clock dividers.
pub const PLL_DIVIDER: u8 = 0x08;
/// Per-chip start of the nonce sweep (BM1370 chains).
pub const CHIP_NONCE_OFFSET: u8 = 0x0C;
/// Nonce sweep deadline in 25 MHz ticks.
pub const HASH_COUNTING_NUMBER: u8 = 0x10;
/// Nonce reporting difficulty.
pub const TICKET_MASK: u8 = 0x14;
/// Nonce reporting enables ("open core") on BM1366 and later; baud divider
/// and pin selectors on the BM1397.
pub const MISC_CONTROL: u8 = 0x18;
/// UART baud divider (BM1366 and later).
pub const UART_BAUD: u8 = 0x28;
/// Serial relay across voltage-domain boundaries.
pub const UART_RELAY: u8 = 0x2C;
/// Mailbox into per-core registers.
pub const CORE_MAILBOX: u8 = 0x3C;
/// Analog mux select (2 = temperature diode).
pub const ANALOG_MUX: u8 = 0x54;
/// Output pin drive strengths.
pub const IO_DRIVER_STRENGTH: u8 = 0x58;
/// Midstate generation and version rolling.
pub const VERSION_ROLLING: u8 = 0xA4;
/// Chip-internal soft resets.
pub const SOFT_RESET: u8 = 0xA8;
