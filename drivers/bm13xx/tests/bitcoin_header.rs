//! A job built from a real mainnet header, sent through the codec and
//! completed by a nonce response, must rebuild that header byte for byte and
//! hash to the block's known id.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hearth_bm13xx::registers::version::rolled_version;
use hearth_bm13xx::registers::version::FULL_VERSION_MASK;
use hearth_bm13xx::{
    decode_job, decode_midstate_job, encode_nonce_response, ChipKind, JobFrame, JobId,
    MidstateJobFrame, MidstateJobId, NonceResponse, Response, ResponseLayout, ResponseParser,
};
use sha2::{Digest, Sha256};

fn hex(text: &str) -> Vec<u8> {
    assert_eq!(text.len() % 2, 0);
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap()
}

/// Hex as block explorers print it (big-endian), reversed into header order.
fn display_hash(text: &str) -> [u8; 32] {
    let mut bytes = array::<32>(&hex(text));
    bytes.reverse();
    bytes
}

/// The block id as explorers print it: double SHA-256, reversed.
fn block_id(header: &[u8; 80]) -> [u8; 32] {
    let mut id: [u8; 32] = Sha256::digest(Sha256::digest(header)).into();
    id.reverse();
    id
}

const GENESIS_HEADER: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
const GENESIS_ID: &str = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f";

/// Build the job from the header's fields (not by slicing the header), push
/// it through the wire format, then let a BM1370 nonce response complete it.
fn rebuild_through_the_codec(fields: &JobFrame, nonce: u32, real_header: &[u8; 80]) {
    let wire = fields.to_bytes();
    let job = decode_job(&wire).unwrap();
    assert_eq!(&job, fields);

    // The chip reports the nonce (rolled bits zero: these blocks predate
    // version rolling).
    let layout = ResponseLayout::new(ChipKind::Bm1370, true);
    let report = NonceResponse {
        nonce,
        excess_difficulty: 0,
        job_id: job.job_id.get(),
        small_core_id: 3,
        version_bits: Some(0),
    };
    let frame = encode_nonce_response(&report, layout).unwrap();
    let mut parser = ResponseParser::new(layout);
    let mut responses = Vec::new();
    parser.feed(frame.as_bytes(), |r| responses.push(r));
    let [Ok(Response::Nonce(found))] = responses.as_slice() else {
        panic!("expected one nonce, got {responses:?}");
    };
    assert_eq!(found.job_id, job.job_id.get());

    let header = job.block_header(found.nonce, found.rolled_version(job.version));
    assert_eq!(&header, real_header);
    // The header's nonce bytes are the response's nonce bytes, unchanged.
    assert_eq!(&header[76..80], &frame.as_bytes()[2..6]);
}

/// The BM1397 path: the host splits the header into four midstates (one per
/// rolled version), the frame crosses the wire, a 9-byte nonce response names
/// job and midstate 0, and the host rebuilds the real header from the fields
/// it kept. Other indexes rebuild the same header with rolled versions.
fn rebuild_through_midstates(fields: &JobFrame, nonce: u32, real_header: &[u8; 80]) {
    let id = MidstateJobId::new(fields.job_id.get()).unwrap();
    let built = MidstateJobFrame::from_fields(id, fields, FULL_VERSION_MASK, 4).unwrap();
    let wire = built.to_bytes();
    assert_eq!(wire.as_bytes().len(), 152);
    assert_eq!(&wire.as_bytes()[..4], &[0x55, 0xAA, 0x21, 0x96]);
    let job = decode_midstate_job(wire.as_bytes()).unwrap();
    assert_eq!(job, built);
    assert_eq!(&job.merkle_root_tail, &real_header[64..68]);

    let layout = ResponseLayout::new(ChipKind::Bm1397, false);
    for index in 0..4u8 {
        let report = NonceResponse {
            nonce,
            excess_difficulty: 0,
            job_id: job.job_id.get(),
            small_core_id: index,
            version_bits: None,
        };
        let frame = encode_nonce_response(&report, layout).unwrap();
        assert_eq!(frame.as_bytes().len(), 9);
        let mut parser = ResponseParser::new(layout);
        let mut responses = Vec::new();
        parser.feed(frame.as_bytes(), |r| responses.push(r));
        let [Ok(Response::Nonce(found))] = responses.as_slice() else {
            panic!("expected one nonce, got {responses:?}");
        };
        assert_eq!(
            (found.job_id, found.small_core_id),
            (job.job_id.get(), index)
        );
        let header = job
            .block_header(fields, FULL_VERSION_MASK, found.nonce, found.small_core_id)
            .unwrap();
        let version = fields.version | (u32::from(index) << 13);
        assert_eq!(header, fields.block_header(nonce, version));
        if index == 0 {
            assert_eq!(&header, real_header);
        }
    }
}

#[test]
fn genesis_block_header_rebuilds_and_hashes() {
    let real = array::<80>(&hex(GENESIS_HEADER));
    let fields = JobFrame {
        job_id: JobId::new(7).unwrap(),
        version: 1,
        prev_block_hash: [0; 32],
        merkle_root: display_hash(
            "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b",
        ),
        ntime: 1_231_006_505,
        nbits: 0x1D00_FFFF,
        starting_nonce: 0,
    };
    rebuild_through_the_codec(&fields, 2_083_236_893, &real);
    rebuild_through_midstates(&fields, 2_083_236_893, &real);
    assert_eq!(block_id(&real), array::<32>(&hex(GENESIS_ID)));
    // Building the job by slicing the header gives the same job.
    assert_eq!(JobFrame::from_block_header(&real, fields.job_id), fields);
}

#[test]
fn block_125552_header_rebuilds_and_hashes() {
    let real = array::<80>(&hex(concat!(
        "01000000",
        "81cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000",
        "e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122b",
        "c7f5d74d",
        "f2b9441a",
        "42a14695"
    )));
    let fields = JobFrame {
        job_id: JobId::new(15).unwrap(),
        version: 1,
        prev_block_hash: display_hash(
            "00000000000008a3a41b85b8b29ad444def299fee21793cd8b9e567eab02cd81",
        ),
        merkle_root: display_hash(
            "2b12fcf1b09288fcaff797d71e950e71ae42b91e8bdb2304758dfcffc2b620e3",
        ),
        ntime: 1_305_998_791,
        nbits: 0x1A44_B9F2,
        starting_nonce: 0,
    };
    rebuild_through_the_codec(&fields, 2_504_433_986, &real);
    rebuild_through_midstates(&fields, 2_504_433_986, &real);
    assert_eq!(
        block_id(&real),
        array::<32>(&hex(
            "00000000000000001e8d6829a8a21adc5d38d0a473b144b6765798e61f98bd1d"
        ))
    );
}

#[test]
fn job_wire_bytes_follow_the_documented_transformations() {
    let real = array::<80>(&hex(GENESIS_HEADER));
    let job = JobFrame::from_block_header(&real, JobId::new(2).unwrap());
    let wire = job.to_bytes();
    // Header byte (job id 2 in bits 6-3) and one midstate.
    assert_eq!(&wire[2..6], &[0x21, 0x36, 0x10, 0x01]);
    // nbits and ntime: the header's own little-endian bytes.
    assert_eq!(&wire[10..14], &real[72..76]);
    assert_eq!(&wire[14..18], &real[68..72]);
    // Merkle root: header bytes 36..68 with the 4-byte words in reverse order.
    for word in 0..8 {
        let wire_at = 18 + 4 * word;
        let header_at = 36 + 4 * (7 - word);
        assert_eq!(&wire[wire_at..wire_at + 4], &real[header_at..header_at + 4]);
    }
    // Version: little-endian, as in the header.
    assert_eq!(&wire[82..86], &real[0..4]);
}

#[test]
fn rolled_version_lands_in_the_header() {
    let real = array::<80>(&hex(GENESIS_HEADER));
    let mut job = JobFrame::from_block_header(&real, JobId::new(0).unwrap());
    job.version = 0x2000_0000;
    let version = rolled_version(job.version, 0x22F9);
    let header = job.block_header(0x40A6_0018, version);
    assert_eq!(&header[0..4], &[0x00, 0x20, 0x5F, 0x24]);
    assert_eq!(&header[76..80], &[0x18, 0x00, 0xA6, 0x40]);
}
