//! What a chain task needs from its byte stream: read, write, and switch the
//! host's baud rate when the chips switch theirs.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

pub trait ChainPort: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    fn set_baud(&mut self, baud: u32) -> io::Result<()>;
}

impl ChainPort for tokio_serial::SerialStream {
    fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        tokio_serial::SerialPort::set_baud_rate(self, baud).map_err(io::Error::other)
    }
}

/// An in-memory byte stream for tests; baud changes are recorded, not
/// applied, since there is no line to clock.
#[derive(Debug)]
pub struct MemoryPort {
    pub stream: DuplexStream,
    pub baud: u32,
}

impl ChainPort for MemoryPort {
    fn set_baud(&mut self, baud: u32) -> io::Result<()> {
        self.baud = baud;
        Ok(())
    }
}

impl AsyncRead for MemoryPort {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for MemoryPort {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
