//! Every block format against gguf-py's independent numpy dequantiser: on the two real model
//! files, and on a small file of seeded random blocks in every supported format
//! (tests/reference/make_format_samples.py) for the formats neither model uses.

use std::collections::BTreeSet;

use cotnpot_engine::gguf::GgufFile;
use cotnpot_engine::quant::dequantize;

use crate::common::{QWEN, SMOLLM, fixture, model_file, repo};

/// Checks each fixture tensor's windows; returns the types seen.
fn check(fixture_name: &str, files: &[(&str, GgufFile)]) -> BTreeSet<String> {
    let mut types_seen = BTreeSet::new();
    for case in fixture(fixture_name).as_array().unwrap() {
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
    types_seen
}

fn names(types: &[&str]) -> BTreeSet<String> {
    types.iter().map(|s| s.to_string()).collect()
}

#[test]
fn real_model_tensors_match_gguf_py() {
    let files = [(SMOLLM, model_file(SMOLLM)), (QWEN, model_file(QWEN))];
    assert_eq!(check("dequant.json", &files), names(&["F32", "Q4_1", "Q8_0", "Q5_0", "Q4_K", "Q6_K"]));
}

#[test]
fn every_format_matches_gguf_py() {
    let bytes = std::fs::read(repo().join("tests/fixtures/format_samples.gguf")).unwrap();
    let files = [("format_samples.gguf", GgufFile::from_bytes(bytes).unwrap())];
    let all = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "F16", "BF16"];
    assert_eq!(check("dequant_formats.json", &files), names(&all));
}
