//! One Linux I2C bus (`/dev/i2c-N`) shared between several drivers.
//!
//! [`I2cBus::open`] opens the character device once (through
//! `linux-embedded-hal`'s [`I2cdev`]); [`I2cBus::device`] hands out
//! [`SharedI2c`] handles, one per driver, which implement the blocking
//! embedded-hal 1.0 [`I2c`] trait by locking the bus for one transaction.
//! The handles are `Send + 'static`, so the TPS546 can go to one owner and
//! the EMC2101's fan and diode roles to others.
//!
//! Why not `embedded_hal_bus::i2c::MutexDevice`: it borrows `&'a Mutex<T>`,
//! so a `Box<dyn Regulator>` (which must be `'static`) would need the bus
//! leaked, and it unwraps the lock, panicking every later user of the bus
//! after one panic. Here the bus sits in an `Arc<Mutex<_>>` and a poisoned
//! lock is taken over: a panic cannot leave a Linux I2C transfer half done
//! (each transaction is a single `I2C_RDWR` ioctl), so the bus is still
//! usable.
//!
//! **Bounds.** Every transaction is one `I2C_RDWR` ioctl; the kernel bounds
//! it by the adapter's timeout: the I2C core sets 1 s (`HZ`) for adapters
//! whose driver leaves it unset, the Pi's `i2c-bcm2835` waits
//! `adap->timeout` for the transfer to complete and then returns
//! `-ETIMEDOUT` (and has a hardware clock-stretch timeout besides);
//! `i2c-gpio` (bit-banged buses) defaults to 100 ms. A timed-out transfer
//! surfaces as `DeviceError::Bus("... timed out ...")`. A caller may also
//! wait for the lock while another handle's transfer runs, so the worst case
//! for one call is about one adapter timeout per handle on the bus (three
//! on a Bitaxe). Not measured on hardware.
//!
//! `I2cdev` re-opens the device file when the target address changes
//! (its `I2C_SLAVE` ioctl is per file); with three parts polled about once a
//! second that is a few cheap syscalls per tick.

use crate::error::{hint, open_hint, LinuxError, I2C_ENABLE_HINT, I2C_PERMISSION_HINT};
use embedded_hal::i2c::{ErrorType, I2c, Operation, SevenBitAddress};
use linux_embedded_hal::i2cdev::linux::LinuxI2CError;
use linux_embedded_hal::I2cdev;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// An opened I2C bus. Cheap to clone (clones share the bus).
pub struct I2cBus<B = I2cdev> {
    path: PathBuf,
    bus: Arc<Mutex<B>>,
}

impl<B> fmt::Debug for I2cBus<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("I2cBus")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<B> Clone for I2cBus<B> {
    fn clone(&self) -> Self {
        I2cBus {
            path: self.path.clone(),
            bus: Arc::clone(&self.bus),
        }
    }
}

impl I2cBus<I2cdev> {
    /// Open `/dev/i2c-N`. Errors name the path and, for a missing device,
    /// say to enable `dtparam=i2c_arm=on`.
    pub fn open(path: impl AsRef<Path>) -> Result<I2cBus<I2cdev>, LinuxError> {
        let path = path.as_ref();
        let dev = I2cdev::new(path).map_err(|e| open_error(path, &e))?;
        Ok(I2cBus::from_bus(path, dev))
    }
}

fn open_error(path: &Path, e: &LinuxI2CError) -> LinuxError {
    let (reason, hint_text) = match e {
        LinuxI2CError::Io(io) => (
            io.to_string(),
            open_hint(io.kind(), I2C_ENABLE_HINT, I2C_PERMISSION_HINT),
        ),
        // An ioctl refused: the file is there but is not an I2C adapter
        // (ENOTTY), or the kernel said no.
        LinuxI2CError::Errno(errno) => (
            format!(
                "{} (is it an I2C adapter?)",
                std::io::Error::from_raw_os_error(*errno)
            ),
            String::new(),
        ),
    };
    LinuxError::I2cOpen {
        path: path.to_path_buf(),
        reason,
        hint: if hint_text.is_empty() && !path.exists() {
            hint(I2C_ENABLE_HINT)
        } else {
            hint_text
        },
    }
}

impl<B> I2cBus<B> {
    /// Share an already opened bus (any embedded-hal `I2c`, e.g. a mock in
    /// tests); `path` is only used in messages.
    pub fn from_bus(path: impl AsRef<Path>, bus: B) -> I2cBus<B> {
        I2cBus {
            path: path.as_ref().to_path_buf(),
            bus: Arc::new(Mutex::new(bus)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle for one driver.
    pub fn device(&self) -> SharedI2c<B> {
        SharedI2c {
            bus: Arc::clone(&self.bus),
        }
    }
}

/// One driver's handle on a shared bus: each call locks the bus for exactly
/// one embedded-hal transaction.
pub struct SharedI2c<B = I2cdev> {
    bus: Arc<Mutex<B>>,
}

impl<B> fmt::Debug for SharedI2c<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedI2c").finish_non_exhaustive()
    }
}

impl<B> Clone for SharedI2c<B> {
    fn clone(&self) -> Self {
        SharedI2c {
            bus: Arc::clone(&self.bus),
        }
    }
}

impl<B> SharedI2c<B> {
    pub(crate) fn lock(&self) -> MutexGuard<'_, B> {
        // See the module docs: a panic elsewhere cannot leave the bus in a
        // half-transferred state, so the poisoned bus is still usable.
        self.bus.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<B: I2c> ErrorType for SharedI2c<B> {
    type Error = B::Error;
}

impl<B: I2c> I2c<SevenBitAddress> for SharedI2c<B> {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        self.lock().transaction(address, operations)
    }

    fn read(&mut self, address: u8, read: &mut [u8]) -> Result<(), Self::Error> {
        self.lock().read(address, read)
    }

    fn write(&mut self, address: u8, write: &[u8]) -> Result<(), Self::Error> {
        self.lock().write(address, write)
    }

    fn write_read(
        &mut self,
        address: u8,
        write: &[u8],
        read: &mut [u8],
    ) -> Result<(), Self::Error> {
        self.lock().write_read(address, write, read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    #[test]
    fn missing_bus_names_the_path_and_the_overlay() {
        let err = I2cBus::open("/dev/i2c-97").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/dev/i2c-97"), "{msg}");
        assert!(msg.contains("dtparam=i2c_arm=on"), "{msg}");
        assert!(matches!(err, LinuxError::I2cOpen { .. }));
    }

    #[test]
    fn a_file_that_is_not_an_adapter_is_refused_with_its_path() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let err = I2cBus::open(file.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&file.path().display().to_string()), "{msg}");
        assert!(msg.contains("I2C adapter"), "{msg}");
    }

    #[test]
    fn handles_share_one_bus_in_call_order() {
        let mock = Mock::new(&[
            T::write(0x24, vec![0x01, 0x00]),
            T::write_read(0x4C, vec![0x00], vec![42]),
            T::read(0x4A, vec![1, 2]),
        ]);
        let bus = I2cBus::from_bus("/dev/i2c-test", mock);
        let mut a = bus.device();
        let mut b = bus.device();
        a.write(0x24, &[0x01, 0x00]).unwrap();
        let mut one = [0u8; 1];
        b.write_read(0x4C, &[0x00], &mut one).unwrap();
        assert_eq!(one, [42]);
        let mut two = [0u8; 2];
        a.clone().read(0x4A, &mut two).unwrap();
        assert_eq!(two, [1, 2]);
        drop((a, b));
        bus.device().lock().done();
    }

    #[test]
    fn handles_are_send_and_static() {
        fn is_send_static<T: Send + 'static>() {}
        is_send_static::<SharedI2c<I2cdev>>();
        is_send_static::<I2cBus<I2cdev>>();
    }

    #[test]
    fn a_poisoned_bus_is_still_usable() {
        let mock = Mock::new(&[T::write(0x24, vec![0x03])]);
        let bus = I2cBus::from_bus("/dev/i2c-test", mock);
        let handle = bus.device();
        let poisoner = bus.device();
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.bus.lock();
            panic!("poison the bus");
        })
        .join();
        assert!(bus.bus.is_poisoned());
        let mut h = handle;
        h.write(0x24, &[0x03]).unwrap();
        h.lock().done();
    }
}
