//! BM13xx bytes from the chain (responses, every chip and layout) and from
//! the host (commands, jobs): the resynchronising parsers must never panic,
//! never hold more than their bound, and account for every byte.
#![no_main]

use hearth_bm13xx::{
    decode_command, decode_job, decode_midstate_job, decode_response, ChipKind, HostFrameParser,
    JobFormat, ResponseLayout, ResponseParser,
};
use libfuzzer_sys::fuzz_target;

const CHIPS: [ChipKind; 4] = [
    ChipKind::Bm1366,
    ChipKind::Bm1368,
    ChipKind::Bm1370,
    ChipKind::Bm1397,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let chip = CHIPS[usize::from(selector & 3)];
    let layout = ResponseLayout::new(chip, selector & 4 != 0);
    // Split the stream where the selector says, as a UART read would.
    let split = usize::from(selector >> 3).min(bytes.len());
    let mut parser = ResponseParser::new(layout);
    let mut frames = 0u64;
    for part in [&bytes[..split], &bytes[split..]] {
        parser.feed(part, |_| frames += 1);
    }
    assert!(parser.buffered().len() <= bytes.len());
    let _ = decode_response(bytes, layout);

    let format = if selector & 0x80 != 0 {
        JobFormat::Midstate
    } else {
        JobFormat::FullHeader
    };
    let mut host = HostFrameParser::with_job_format(format);
    host.feed(bytes, |_| {});
    let _ = decode_command(bytes);
    let _ = decode_job(bytes);
    let _ = decode_midstate_job(bytes);
});
