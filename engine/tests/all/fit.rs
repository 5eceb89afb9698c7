//! The memory estimate from a GGUF header against what loading the model puts on the device.

use cotnpot_engine::LanguageModel;
use cotnpot_engine::fit::estimate;
use cotnpot_engine::gguf::GgufHeader;

use crate::common::{GEMMA, QWEN, SMOLLM, model_bytes, model_file};
use crate::parity::wgpu_device;

/// The weights' estimate, from the header alone, is to the byte what the loaded model holds on
/// the device: its matrices as `device_bytes` counts them, plus the vectors (norms, biases) as
/// f32. A header read from a prefix of the file, as the page reads it with a range request,
/// gives the same estimate.
#[test]
fn the_estimate_from_the_header_is_what_the_device_holds() {
    for name in [SMOLLM, QWEN, GEMMA] {
        let bytes = model_bytes(name);
        let file = model_file(name);
        let full = estimate(&file.header, 8, 200, 512).unwrap();
        let prefix = GgufHeader::parse_prefix(&bytes[..file.header.data_offset as usize], bytes.len() as u64).unwrap();
        assert_eq!(estimate(&prefix, 8, 200, 512).unwrap(), full, "{name}: the header's prefix estimates otherwise");
        let matrices = LanguageModel::load(&file, None, &wgpu_device()).unwrap().model.device_bytes() as u64;
        let vectors: u64 = file.header.tensors.iter().filter(|t| t.shape.len() == 1).map(|t| t.shape[0] * 4).sum();
        assert_eq!(full.weights, matrices + vectors, "{name}: estimated bytes of weights against the device's");
        eprintln!("{name}: {full:?}, total {:.0} MB", full.total() as f64 / 1e6);
    }
}
