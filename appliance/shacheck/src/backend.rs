//! Backend choice: what the CPU offers, the fastest of it, or a forced one.

use crate::{NoncePre, Target};
use std::fmt;

/// Environment variable that forces a backend by name.
pub const BACKEND_ENV: &str = "HEARTH_SHA_BACKEND";

/// A SHA-256d implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// RustCrypto `sha2` block compression, one header at a time (uses the
    /// CPU's SHA instructions itself when present). Always available.
    Scalar,
    /// aarch64 NEON, 4 headers per vector (Raspberry Pi 4).
    Neon,
    /// aarch64 SHA-2 instructions, two streams interleaved (Raspberry Pi 5).
    Ce,
    /// x86-64 SSE2, 4 headers per vector.
    Sse2,
    /// x86-64 AVX2, 8 headers per vector.
    Avx2,
    /// x86-64 SHA extensions, two streams interleaved.
    Shani,
}

/// Why a backend can't be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No backend has this name.
    #[error("unknown SHA-256 backend {0:?} (known: scalar, neon, ce, sse2, avx2, shani)")]
    Unknown(String),
    /// The backend exists but this CPU (or architecture) lacks what it needs.
    #[error("SHA-256 backend {backend} is not available on this CPU (available: {available})")]
    Unavailable {
        /// The refused backend.
        backend: Backend,
        /// What is available, comma-separated.
        available: String,
    },
}

impl Backend {
    /// Every backend, fastest first (the order [`Backend::detect`] tries).
    /// On this project's x86 machines SHA-NI beats AVX2's 8 lanes; see
    /// docs/performance.md.
    pub const ALL: [Backend; 6] = [
        Backend::Ce,
        Backend::Shani,
        Backend::Avx2,
        Backend::Neon,
        Backend::Sse2,
        Backend::Scalar,
    ];

    /// Lower-case name, as `HEARTH_SHA_BACKEND` and `--backend` take it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Neon => "neon",
            Backend::Ce => "ce",
            Backend::Sse2 => "sse2",
            Backend::Avx2 => "avx2",
            Backend::Shani => "shani",
        }
    }

    /// Whether this build and this CPU can run it (runtime detection).
    pub fn is_supported(self) -> bool {
        match self {
            Backend::Scalar => true,
            #[cfg(target_arch = "aarch64")]
            Backend::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "aarch64")]
            Backend::Ce => crate::ce::supported(),
            #[cfg(target_arch = "x86_64")]
            Backend::Sse2 => true,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => crate::x86::avx2_supported(),
            #[cfg(target_arch = "x86_64")]
            Backend::Shani => crate::shani::supported(),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The supported backends, fastest first.
    pub fn available() -> Vec<Backend> {
        Backend::ALL
            .into_iter()
            .filter(|b| b.is_supported())
            .collect()
    }

    /// The fastest supported backend (Pi 4: neon; Pi 5: ce).
    pub fn detect() -> Backend {
        Backend::ALL
            .into_iter()
            .find(|b| b.is_supported())
            .unwrap_or(Backend::Scalar)
    }

    /// The backend called `name`, refused when unknown or unsupported here.
    pub fn from_name(name: &str) -> Result<Backend, BackendError> {
        let wanted = name.trim().to_ascii_lowercase();
        let backend = Backend::ALL
            .into_iter()
            .find(|b| b.name() == wanted)
            .ok_or_else(|| BackendError::Unknown(name.to_string()))?;
        if backend.is_supported() {
            Ok(backend)
        } else {
            Err(BackendError::Unavailable {
                backend,
                available: Backend::available()
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }

    /// `HEARTH_SHA_BACKEND` when set (and non-empty), else [`Backend::detect`].
    pub fn from_env() -> Result<Backend, BackendError> {
        match std::env::var(BACKEND_ENV) {
            Ok(name) if !name.trim().is_empty() => Backend::from_name(&name),
            _ => Ok(Backend::detect()),
        }
    }

    pub(crate) fn hash_headers(self, headers: &[[u8; 80]], out: &mut [[u32; 8]]) {
        match self {
            #[cfg(target_arch = "aarch64")]
            Backend::Neon => crate::neon::hash_headers(headers, out),
            #[cfg(target_arch = "aarch64")]
            Backend::Ce => crate::ce::hash_headers(headers, out),
            #[cfg(target_arch = "x86_64")]
            Backend::Sse2 => crate::x86::sse2_hash_headers(headers, out),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => crate::x86::avx2_hash_headers(headers, out),
            #[cfg(target_arch = "x86_64")]
            Backend::Shani => crate::shani::hash_headers(headers, out),
            _ => crate::scalar::hash_headers(headers, out),
        }
    }

    /// SHA-256d of messages of any lengths (see
    /// [`crate::Checker::sha256d_messages`]): the lane backends hash them
    /// side by side; `scalar`, `shani` and `ce` one after another through
    /// `sha2`, which runs the CPU's SHA instructions itself.
    pub(crate) fn hash_messages(self, msgs: &[&[u8]], out: &mut [[u32; 8]]) {
        match self {
            #[cfg(target_arch = "aarch64")]
            Backend::Neon => crate::neon::hash_messages(msgs, out),
            #[cfg(target_arch = "x86_64")]
            Backend::Sse2 => crate::x86::sse2_hash_messages(msgs, out),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => crate::x86::avx2_hash_messages(msgs, out),
            _ => crate::scalar::hash_messages(msgs, out),
        }
    }

    pub(crate) fn check_nonces(
        self,
        pre: &NoncePre,
        nonces: &[u32],
        target: &Target,
        out: &mut [bool],
    ) {
        match self {
            #[cfg(target_arch = "aarch64")]
            Backend::Neon => crate::neon::check_nonces(pre, nonces, target, out),
            #[cfg(target_arch = "aarch64")]
            Backend::Ce => crate::ce::check_nonces(pre, nonces, target, out),
            #[cfg(target_arch = "x86_64")]
            Backend::Sse2 => crate::x86::sse2_check_nonces(pre, nonces, target, out),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => crate::x86::avx2_check_nonces(pre, nonces, target, out),
            #[cfg(target_arch = "x86_64")]
            Backend::Shani => crate::shani::check_nonces(pre, nonces, target, out),
            _ => crate::scalar::check_nonces(pre, nonces, target, out),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
