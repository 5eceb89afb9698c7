//! Any byte string fed to the GGUF reader gives a header or a typed error, never a panic.
//! Run from fuzz/: `RUSTC_BOOTSTRAP=1 cargo fuzz run gguf_parse` (a good seed: tests/fixtures/format_samples.gguf).
#![no_main]

use libfuzzer_sys::fuzz_target;

// The reader has no dependency on burn; including its module directly keeps the sanitizer
// build small (the engine crate would pull in the whole tensor stack).
#[allow(dead_code)]
#[path = "../../engine/src/gguf/mod.rs"]
mod gguf;

fuzz_target!(|data: &[u8]| {
    if gguf::GgufHeader::parse(data).is_ok() {
        let _ = gguf::GgufFile::from_bytes(data.to_vec());
    }
    let mut chunks = gguf::ChunkedBytes::new();
    for piece in data.chunks(7) {
        chunks.push(piece.to_vec());
    }
    let _ = gguf::GgufFile::from_chunks(chunks);
});
