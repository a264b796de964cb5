//! Bytes from a sharechain peer: the frame reader (fed as a socket read
//! would, never more than it asks for), every message decoder, and a share
//! on its own. A decoded message must survive a round trip through the
//! encoder unchanged (what we relay is what we accepted), and the reader
//! never buffers more than one frame. Shares in `shares` and `newshare`
//! messages stay their bytes (`ReceivedShare`, coinbase not decoded): each
//! must be what rust-bitcoin's decoder reads from those bytes (header,
//! info, id, the same bytes again), so the codec accepts nothing that
//! decoder refuses.
#![no_main]

use hearth_sharechain::p2p::{decode_payload, encode_frame, FrameReader, Message};
use hearth_sharechain::{ChainParams, Network, ReceivedShare, Share};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let id = ChainParams::for_network(Network::Regtest).consensus_id();

    // 1. The payload decoders directly, for every command byte.
    if let Ok(m) = decode_payload(selector, bytes) {
        let kept: Vec<&ReceivedShare> = match &m {
            Message::Shares(v) => v.iter().collect(),
            Message::NewShare(s) => vec![s.as_ref()],
            _ => Vec::new(),
        };
        for r in kept {
            let share = r.decode().expect("a kept share decodes");
            assert_eq!(share.to_bytes(), r.bytes(), "kept bytes are the share's");
            assert_eq!(share.hash(), r.hash());
            assert_eq!((&share.header, &share.info), (r.header(), r.info()));
        }
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

    // 3. A share as stored and relayed, and as a stored row is read back.
    if let Ok(share) = Share::from_bytes(bytes) {
        let again = Share::from_bytes(&share.to_bytes());
        assert!(again.is_ok(), "a decoded share must re-encode decodably");
    }
    let view = ReceivedShare::from_bytes(bytes.to_vec());
    assert_eq!(
        view.as_ref().map(|r| r.decode()).ok(),
        Share::from_bytes(bytes).ok().map(Ok),
        "a row reads as a received share exactly when it decodes"
    );
});
