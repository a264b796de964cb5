//! Typed encoders and decoders for the registers the bring-up and the control
//! loop write. Register values are 32-bit words sent most significant byte
//! first; [`crate::command::Command::WriteRegister`] carries them.
//!
//! One module per register (or closely related pair).

pub mod address;
pub mod baud;
pub mod hcn;
pub mod misc;
pub mod nonce_offset;
pub mod pll;
pub mod ticket_mask;
pub mod version;
