//! Bytes from a sharechain peer: the frame reader (fed as a socket read
//! would, never more than it asks for), every message decoder, and a share
//! on its own. A decoded message must survive a round trip through the
//! encoder unchanged (what we relay is what we accepted), and the reader
//! never buffers more than one frame.
#![no_main]

use hearth_sharechain::p2p::{decode_payload, encode_frame, FrameReader};
use hearth_sharechain::{ChainParams, Network, Share};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let id = ChainParams::for_network(Network::Regtest).consensus_id();

    // 1. The payload decoders directly, for every command byte.
    if let Ok(m) = decode_payload(selector, bytes) {
        let frame = encode_frame(&id, &m);
        let mut again = FrameReader::new(&id);
        again.push(&frame);
        match again.next_message() {
            Some(Ok(back)) => assert_eq!(back, m, "round trip changed the message"),
            other => panic!("our own frame did not decode: {other:?}"),
        }
    }

    // 2. A stream: the magic of our chain in front (so the fuzzer gets past
    // it), read in chunks no larger than the reader wants.
    let mut stream = id.0[..4].to_vec();
    stream.extend_from_slice(bytes);
    let mut reader = FrameReader::new(&id);
    let chunk = usize::from(selector % 61) + 1;
    let mut at = 0;
    while at < stream.len() {
        let n = reader.wanted().min(chunk).min(stream.len() - at);
        reader.push(&stream[at..at + n]);
        at += n;
        match reader.next_message() {
            None => {}
            Some(Ok(_)) => {}
            Some(Err(_)) => break, // the connection ends
        }
    }

    // 3. A share as stored and relayed.
    if let Ok(share) = Share::from_bytes(bytes) {
        let again = Share::from_bytes(&share.to_bytes());
        assert!(again.is_ok(), "a decoded share must re-encode decodably");
    }
});
