//! Every block format in the real files against gguf-py's independent numpy dequantiser.

use cotnpot_engine::quant::dequantize;

use crate::common::{QWEN, SMOLLM, fixture, model_file};

#[test]
fn dequantization_matches_gguf_py() {
    let fixtures = fixture("dequant.json");
    let files = [(SMOLLM, model_file(SMOLLM)), (QWEN, model_file(QWEN))];
    let mut types_seen = std::collections::BTreeSet::new();
    for case in fixtures.as_array().unwrap() {
        let file = &files.iter().find(|(n, _)| *n == case["file"].as_str().unwrap()).unwrap().1;
        let info = file.header.tensor(case["tensor"].as_str().unwrap()).unwrap();
        assert_eq!(info.elements(), case["elements"].as_u64().unwrap());
        let ours = dequantize(info.ty, &file.tensor_bytes(info).unwrap());
        for window in case["windows"].as_array().unwrap() {
            let start = window["start"].as_u64().unwrap() as usize;
            for (j, want) in window["values"].as_array().unwrap().iter().enumerate() {
                let want = want.as_f64().unwrap() as f32;
                let got = ours[start + j];
                // d·(q−8) vs d·q − 8d: the affine form may differ from ggml's by an ulp or two.
                let tolerance = 1e-6 + want.abs() * 1e-5;
                assert!((got - want).abs() <= tolerance, "{} {} [{}]: {got} vs {want}", case["file"], case["tensor"], start + j);
            }
        }
        types_seen.insert(case["type"].as_str().unwrap().to_string());
    }
    let want: std::collections::BTreeSet<String> =
        ["F32", "Q4_1", "Q8_0", "Q5_0", "Q4_K", "Q6_K"].iter().map(|s| s.to_string()).collect();
    assert_eq!(types_seen, want);
}
