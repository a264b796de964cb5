//! Every available backend against `scalar` and against known mainnet hashes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hearth_shacheck::{
    header_bits, header_from_hex, headers_from_bytes, Backend, BackendError, CheckError, Checker,
    Hash, Midstate, Target, TargetError, Targets,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

const MAINNET: [(&str, &str); 3] = [
    (
        "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c",
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
    ),
    (
        "010000006fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000982051fd1e4ba744bbbe680e1fee14677ba1a3c3540bf7b1cdb606e857233e0e61bc6649ffff001d01e36299",
        "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048",
    ),
    (
        "0100000050120119172a610421a6c3011dd330d9df07b63616c2cc1f1cd00200000000006657a9252aacd5c0b2940996ecff952228c3067cc38d4885efb5a4ac4247e9f337221b4d4c86041b0f2b5710",
        "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506",
    ),
];

fn checkers() -> Vec<Checker> {
    Backend::available()
        .into_iter()
        .map(|b| Checker::new(b).unwrap())
        .collect()
}

fn scalar() -> Checker {
    Checker::new(Backend::Scalar).unwrap()
}

/// SHA-256d with the `sha2` hasher, independent of every backend.
fn reference(header: &[u8]) -> Hash {
    let first = Sha256::digest(header);
    let second = Sha256::digest(first);
    let mut out = [0u8; 32];
    out.copy_from_slice(&second);
    Hash(out)
}

/// Deterministic pseudo-random bytes (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn header(&mut self) -> [u8; 80] {
        let mut h = [0u8; 80];
        for b in h.iter_mut() {
            *b = self.next() as u8;
        }
        h
    }
}

fn minus_one(t: Target) -> Target {
    let mut b = t.to_be_bytes();
    for byte in b.iter_mut().rev() {
        let (v, borrow) = byte.overflowing_sub(1);
        *byte = v;
        if !borrow {
            break;
        }
    }
    Target::from_be_bytes(b)
}

#[test]
fn scalar_is_always_available_and_detect_is_available() {
    let av = Backend::available();
    assert!(av.contains(&Backend::Scalar));
    assert!(av.contains(&Backend::detect()));
    eprintln!("available: {av:?}, detected: {}", Backend::detect());
}

/// CI runs the tests with HEARTH_EXPECT_BACKEND set (e.g. `ce` under plain
/// qemu, `neon` with the SHA-2 hwcaps masked) to prove which path ran.
#[test]
fn detection_chose_the_expected_backend() {
    if let Ok(expected) = std::env::var("HEARTH_EXPECT_BACKEND") {
        assert_eq!(Backend::detect().name(), expected.trim());
    }
}

#[test]
fn mainnet_vectors_every_backend() {
    let headers: Vec<[u8; 80]> = MAINNET
        .iter()
        .map(|(h, _)| header_from_hex(h).unwrap())
        .collect();
    for c in checkers() {
        let checked = c.check_headers(&headers, Targets::HeaderBits).unwrap();
        for ((_, want), got) in MAINNET.iter().zip(&checked) {
            assert_eq!(got.hash.to_string(), *want, "backend {}", c.backend());
            assert!(got.ok, "backend {}", c.backend());
        }
        // The nonce path on the same headers.
        for h in &headers {
            let mid = Midstate::new(&h[..64]).unwrap();
            let nonce = u32::from_le_bytes([h[76], h[77], h[78], h[79]]);
            let t = Target::from_compact(header_bits(h)).unwrap();
            let v = c.check_nonces(&mid, &h[64..], &[nonce], &t).unwrap();
            assert_eq!(v, vec![true], "backend {}", c.backend());
            let v = c
                .check_nonces(&mid, h, &[nonce, nonce.wrapping_add(1)], &t)
                .unwrap();
            assert_eq!(v, vec![true, false], "backend {}", c.backend());
        }
    }
}

#[test]
fn every_backend_matches_scalar_for_batch_sizes_0_to_40() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for n in 0..=40 {
        let headers: Vec<[u8; 80]> = (0..n).map(|_| rng.header()).collect();
        let want = scalar().hash_headers(&headers);
        for (h, w) in headers.iter().zip(&want) {
            assert_eq!(reference(h), *w);
        }
        // A target in the middle of the batch's hashes: some pass, some fail.
        let target = want
            .get(n / 2)
            .map(|h| h.as_target())
            .unwrap_or(Target::MAX);
        let want_checked = scalar()
            .check_headers(&headers, Targets::Same(target))
            .unwrap();
        for c in checkers() {
            assert_eq!(
                c.hash_headers(&headers),
                want,
                "backend {} n {n}",
                c.backend()
            );
            let got = c.check_headers(&headers, Targets::Same(target)).unwrap();
            assert_eq!(got, want_checked, "backend {} n {n}", c.backend());
        }
    }
}

#[test]
fn nonce_path_matches_header_path_for_counts_0_to_40() {
    let mut rng = Rng(42);
    let template = rng.header();
    let mid = Midstate::new(&template[..64]).unwrap();
    for n in 0..=40u32 {
        let nonces: Vec<u32> = (0..n).map(|_| rng.next() as u32).collect();
        let headers: Vec<[u8; 80]> = nonces
            .iter()
            .map(|nonce| {
                let mut h = template;
                h[76..].copy_from_slice(&nonce.to_le_bytes());
                h
            })
            .collect();
        let hashes = scalar().hash_headers(&headers);
        // Targets: the exact hash of one nonce (inclusive boundary), one
        // less, one sharing only the top 32 bits (the early stop must fall
        // back to the full comparison), and the extremes.
        let mut targets = vec![Target::MAX, Target::ZERO];
        if let Some(h) = hashes.get(n as usize / 3) {
            let t = h.as_target();
            targets.push(t);
            targets.push(minus_one(t));
            let mut top_only = [0u8; 32];
            top_only[..4].copy_from_slice(&t.to_be_bytes()[..4]);
            targets.push(Target::from_be_bytes(top_only));
        }
        for t in &targets {
            let want: Vec<bool> = hashes.iter().map(|h| t.is_met_by(h)).collect();
            for c in checkers() {
                let got = c.check_nonces(&mid, &template[64..], &nonces, t).unwrap();
                assert_eq!(got, want, "backend {} n {n} target {t}", c.backend());
            }
        }
    }
}

#[test]
fn boundary_is_inclusive_on_every_backend() {
    let header = header_from_hex(MAINNET[1].0).unwrap();
    let hash = scalar().hash_headers(&[header])[0];
    let exact = hash.as_target();
    let below = minus_one(exact);
    let mut above_b = exact.to_be_bytes();
    above_b[31] = above_b[31].wrapping_add(1);
    let above = Target::from_be_bytes(above_b);
    let mid = Midstate::new(&header[..64]).unwrap();
    let nonce = u32::from_le_bytes([header[76], header[77], header[78], header[79]]);
    for c in checkers() {
        let ts = [exact, below, above];
        let r = c.check_headers(&[header; 3], Targets::Each(&ts)).unwrap();
        assert_eq!(
            r.iter().map(|x| x.ok).collect::<Vec<_>>(),
            vec![true, false, true],
            "backend {}",
            c.backend()
        );
        for (t, want) in [(exact, true), (below, false), (above, true)] {
            let v = c.check_nonces(&mid, &header, &[nonce], &t).unwrap();
            assert_eq!(v, vec![want], "backend {} target {t}", c.backend());
        }
    }
}

#[test]
fn compact_targets() {
    assert_eq!(
        Target::from_compact(0x1d00ffff).unwrap().to_string(),
        "00000000ffff0000000000000000000000000000000000000000000000000000"
    );
    assert_eq!(
        Target::from_compact(0x1b0404cb).unwrap().to_string(),
        "00000000000404cb000000000000000000000000000000000000000000000000"
    );
    assert_eq!(
        Target::from_compact(0x03123456).unwrap().to_string(),
        format!("{:064x}", 0x123456)
    );
    assert_eq!(
        Target::from_compact(0x02123456).unwrap().to_string(),
        format!("{:064x}", 0x1234)
    );
    // Zero mantissa: the zero target, even with the sign bit.
    assert_eq!(Target::from_compact(0x1d000000).unwrap(), Target::ZERO);
    assert_eq!(Target::from_compact(0x04800000).unwrap(), Target::ZERO);
    assert_eq!(Target::from_compact(0).unwrap(), Target::ZERO);
    // Sign bit with a mantissa: negative.
    assert_eq!(
        Target::from_compact(0x1d80ffff),
        Err(TargetError::Negative { bits: 0x1d80ffff })
    );
    // Overflow, at exactly Bitcoin Core's limits.
    assert!(Target::from_compact(0x2200ffff).is_err());
    assert!(Target::from_compact(0x220000ff).is_ok());
    assert!(Target::from_compact(0x21010000).is_err());
    assert!(Target::from_compact(0x2100ffff).is_ok());
    assert!(Target::from_compact(0x23000001).is_err());
    assert_eq!(
        Target::from_compact(0xff123456),
        Err(TargetError::Overflow { bits: 0xff123456 })
    );
    assert!(Target::from_compact(0x1d00ffff).unwrap() < Target::MAX);
}

#[test]
fn malformed_input_is_an_error() {
    assert_eq!(
        headers_from_bytes(&[0u8; 79]),
        Err(CheckError::HeadersLength { len: 79 })
    );
    assert!(headers_from_bytes(&[0u8; 160]).is_ok());
    assert!(scalar()
        .check_header_bytes(&[0u8; 81], Targets::HeaderBits)
        .is_err());
    assert_eq!(
        Midstate::new(&[0u8; 63]),
        Err(CheckError::MidstateLength { len: 63 })
    );
    let mid = Midstate::new(&[0u8; 64]).unwrap();
    assert_eq!(
        scalar().check_nonces(&mid, &[0u8; 15], &[1], &Target::MAX),
        Err(CheckError::TailLength { len: 15 })
    );
    assert!(header_from_hex("00").is_err());
    assert!(header_from_hex(&"zz".repeat(80)).is_err());
    let mut bad = header_from_hex(MAINNET[0].0).unwrap();
    bad[72..76].copy_from_slice(&0x1d80ffffu32.to_le_bytes());
    for c in checkers() {
        assert!(matches!(
            c.check_headers(&[bad], Targets::HeaderBits),
            Err(CheckError::BadBits { index: 0, .. })
        ));
        assert!(matches!(
            c.check_headers(&[bad, bad], Targets::Each(&[Target::MAX])),
            Err(CheckError::TargetsLength { .. })
        ));
    }
}

#[test]
fn backend_names() {
    assert!(matches!(
        Backend::from_name("sha9000"),
        Err(BackendError::Unknown(_))
    ));
    assert_eq!(Backend::from_name("scalar").unwrap(), Backend::Scalar);
    for b in Backend::ALL {
        match Backend::from_name(b.name()) {
            Ok(got) => assert_eq!(got, b),
            Err(e) => {
                assert!(!b.is_supported());
                assert!(e.to_string().contains("not available"), "{e}");
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    assert!(Backend::from_name("neon").is_err());
    #[cfg(target_arch = "aarch64")]
    assert!(Backend::from_name("avx2").is_err());
}

/// Every padding case (lengths 0..=200 cross every block edge, with 55, 56,
/// 63, 64 among them) and every lane count up to 9 (one group short, one
/// whole, one spilling into the next), lanes of mixed lengths, against
/// `sha2` on every backend this CPU has.
#[test]
fn messages_of_every_length_and_lane_count_match_sha2() {
    let mut rng = Rng(0x5eed_0001);
    let pool: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
    for len in 0..=200usize {
        let m = &pool[len..2 * len];
        for c in checkers() {
            assert_eq!(
                c.sha256d_messages(&[m]),
                vec![reference(m)],
                "{} len {len}",
                c.backend()
            );
        }
    }
    for lanes in 0..=9usize {
        for _ in 0..20 {
            let msgs: Vec<&[u8]> = (0..lanes)
                .map(|_| {
                    let len = (rng.next() % 700) as usize;
                    let at = (rng.next() % 3000) as usize;
                    &pool[at..at + len]
                })
                .collect();
            let want: Vec<Hash> = msgs.iter().map(|m| reference(m)).collect();
            for c in checkers() {
                assert_eq!(
                    c.sha256d_messages(&msgs),
                    want,
                    "{} lanes {lanes}",
                    c.backend()
                );
            }
        }
    }
}

/// A 4.3 KB coinbase-sized message next to short ones, and the Bitcoin
/// genesis coinbase's known txid.
#[test]
fn messages_include_a_known_txid_and_long_lanes() {
    let genesis_coinbase = "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d0104455468652054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac00000000";
    let tx: Vec<u8> = (0..genesis_coinbase.len() / 2)
        .map(|i| u8::from_str_radix(&genesis_coinbase[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut txid = Hash([0; 32]);
    let want = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";
    for (i, b) in txid.0.iter_mut().rev().enumerate() {
        *b = u8::from_str_radix(&want[2 * i..2 * i + 2], 16).unwrap();
    }
    let long: Vec<u8> = (0..4300u32).map(|i| (i * 7 + 3) as u8).collect();
    let msgs: Vec<&[u8]> = vec![&long, &tx, b"", &long[..100], &tx, &long[..4299]];
    for c in checkers() {
        let got = c.sha256d_messages(&msgs);
        assert_eq!(got[1], txid, "{}", c.backend());
        assert_eq!(got[4], txid, "{}", c.backend());
        for (m, g) in msgs.iter().zip(&got) {
            assert_eq!(*g, reference(m), "{}", c.backend());
        }
    }
}

proptest! {
    #[test]
    fn random_messages_match_sha2(
        lens in prop::collection::vec(0usize..1200, 0..14),
        fill in any::<u64>(),
    ) {
        let mut rng = Rng(fill | 1);
        let owned: Vec<Vec<u8>> = lens.iter().map(|&n| (0..n).map(|_| rng.next() as u8).collect()).collect();
        let msgs: Vec<&[u8]> = owned.iter().map(|m| m.as_slice()).collect();
        let want: Vec<Hash> = msgs.iter().map(|m| reference(m)).collect();
        for c in checkers() {
            prop_assert_eq!(&c.sha256d_messages(&msgs), &want);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_headers_and_targets(
        bytes in prop::collection::vec(any::<u8>(), 0..=12 * 80),
        target_bytes in any::<[u8; 32]>(),
        zeros in 0usize..8,
    ) {
        let n = bytes.len() / 80;
        let headers = headers_from_bytes(&bytes[..n * 80]).unwrap();
        // Leading zero bytes make targets that some hashes meet.
        let mut tb = target_bytes;
        for b in tb.iter_mut().take(zeros) { *b = 0; }
        let target = Target::from_be_bytes(tb);
        for (h, c) in headers.iter().zip(scalar().hash_headers(&headers)) {
            prop_assert_eq!(reference(h), c);
        }
        let want = scalar().check_headers(&headers, Targets::Same(target)).unwrap();
        for (w, h) in want.iter().zip(&headers) {
            prop_assert_eq!(w.ok, reference(h).as_target() <= target);
        }
        for c in checkers() {
            let got = c.check_headers(&headers, Targets::Same(target)).unwrap();
            prop_assert_eq!(&got, &want);
        }
    }

    #[test]
    fn random_nonces(
        template in prop::collection::vec(any::<u8>(), 80),
        nonces in prop::collection::vec(any::<u32>(), 0..24),
        top in any::<u32>(),
    ) {
        let mid = Midstate::new(&template[..64]).unwrap();
        let mut tb = [0xffu8; 32];
        tb[..4].copy_from_slice(&top.to_be_bytes());
        let target = Target::from_be_bytes(tb);
        let want = scalar().check_nonces(&mid, &template, &nonces, &target).unwrap();
        for c in checkers() {
            prop_assert_eq!(&c.check_nonces(&mid, &template, &nonces, &target).unwrap(), &want);
        }
    }
}
