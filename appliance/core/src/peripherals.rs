//! Seams for the devices around the chips: thermometers (room air, pool water,
//! board diodes), fans, and core-voltage regulators. Drivers for real parts
//! (TMP75, DS18B20, EMC2101, TPS546) and simulated ones implement these.

use crate::time::Timestamp;
use crate::units::{Celsius, Millivolts, Percent, Rpm, Watts};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeviceError {
    #[error("device did not answer within its timeout")]
    Timeout,
    #[error("bus error: {0}")]
    Bus(String),
    #[error("implausible reading: {0}")]
    Implausible(String),
    #[error("device reports a fault: {0}")]
    Fault(String),
    #[error("device is not present")]
    Absent,
}

pub trait Thermometer: Send {
    /// A human name for logs ("living-room air", "board-0 diode").
    fn name(&self) -> &str;
    fn read_temp(&mut self, now: Timestamp) -> Result<Celsius, DeviceError>;
}

pub trait Fan: Send {
    fn set_duty(&mut self, duty: Percent, now: Timestamp) -> Result<(), DeviceError>;
    fn read_rpm(&mut self, now: Timestamp) -> Result<Rpm, DeviceError>;
}

/// One regulator reading; fields a part cannot measure are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RegulatorReading {
    pub vin_mv: Option<Millivolts>,
    pub vout_mv: Option<Millivolts>,
    pub iout_a: Option<f64>,
    pub power_w: Option<Watts>,
    pub temp_c: Option<Celsius>,
}

pub trait Regulator: Send {
    fn set_vout(&mut self, vout: Millivolts, now: Timestamp) -> Result<(), DeviceError>;
    fn set_enabled(&mut self, on: bool, now: Timestamp) -> Result<(), DeviceError>;
    fn read(&mut self, now: Timestamp) -> Result<RegulatorReading, DeviceError>;
    /// Whether commands this regulator accepted are still being applied (a
    /// driver whose commands run on a worker thread, e.g. a PIC that needs
    /// 100 ms after SET_VOLTAGE). The board runtime releases the chips'
    /// reset and raises the clock only once this is false. Most drivers
    /// apply a command before the call returns: false.
    fn pending(&self) -> bool {
        false
    }
}
