//! Newline-delimited reading with a bound: a peer that never sends a
//! newline cannot grow a buffer past [`hearth_work::stratum::MAX_LINE`].

use hearth_work::stratum::MAX_LINE;
use tokio::io::{AsyncRead, AsyncReadExt};

#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    /// Inside a line that was too long: drop bytes until its newline.
    skipping: bool,
    /// Lines dropped for length.
    pub too_long: u64,
}

/// What one read produced.
#[derive(Debug)]
pub enum Read {
    Lines(Vec<String>),
    Closed,
}

impl LineReader {
    /// Reads once (whatever the peer sent) and returns the complete lines.
    pub async fn read<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> std::io::Result<Read> {
        let mut chunk = [0u8; 8192];
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Read::Closed);
        }
        let mut lines = Vec::new();
        for &b in &chunk[..n] {
            if b == b'\n' {
                if self.skipping {
                    self.skipping = false;
                } else {
                    let line = String::from_utf8_lossy(&self.buf).trim().to_string();
                    if !line.is_empty() {
                        lines.push(line);
                    }
                }
                self.buf.clear();
            } else if !self.skipping {
                self.buf.push(b);
                if self.buf.len() > MAX_LINE {
                    self.buf.clear();
                    self.skipping = true;
                    self.too_long += 1;
                }
            }
        }
        Ok(Read::Lines(lines))
    }
}
