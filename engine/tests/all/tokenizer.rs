//! Token ids identical to llama.cpp's tokenizer on the fixture corpus.

use cotnpot_engine::tokenizer::Tokenizer;

use crate::common::{GEMMA, QWEN, SMOLLM, fixture, model_file};

fn check(model: &str, fixture_name: &str) {
    let tokenizer = Tokenizer::from_gguf(&model_file(model).header).unwrap();
    let corpus = fixture("tokenizer_corpus.json");
    let expected = fixture(fixture_name);
    let corpus = corpus.as_array().unwrap();
    let expected = expected["tokenizer"].as_array().unwrap();
    assert!(corpus.len() >= 300);
    let mut mismatches = Vec::new();
    for (text, want) in corpus.iter().zip(expected) {
        let text = text.as_str().unwrap();
        let want: Vec<u32> = want.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let got = tokenizer.encode_plain(text).unwrap();
        if got != want {
            mismatches.push(format!("{text:?}\n  ours  {got:?}\n  llama {want:?}"));
        }
    }
    assert!(mismatches.is_empty(), "{} of {} differ:\n{}", mismatches.len(), corpus.len(), mismatches.join("\n"));
}

#[test]
fn smollm2_tokens_match_llama_cpp() {
    check(SMOLLM, "smollm2.json");
}

#[test]
fn qwen2_tokens_match_llama_cpp() {
    check(QWEN, "qwen2.json");
}

#[test]
fn gemma3_sentencepiece_tokens_match_llama_cpp() {
    check(GEMMA, "gemma3.json");
}

#[test]
fn decode_round_trips_and_rejects_unknown_ids() {
    let tokenizer = Tokenizer::from_gguf(&model_file(SMOLLM).header).unwrap();
    let text = "Natalia sold 48 clips — ünïcödé 你好 🙂\n\tdone";
    assert_eq!(tokenizer.decode(&tokenizer.encode_plain(text).unwrap()).unwrap(), text);
    assert!(tokenizer.decode(&[49152]).is_err());
    assert!(tokenizer.is_stop(tokenizer.token_to_id("<|im_end|>").unwrap()));
}

/// SentencePiece: text (with bytes no piece covers, runs of spaces and newlines that are tokens of
/// their own) survives encode → decode; BOS is added once, also to a prompt that writes it.
#[test]
fn sentencepiece_round_trips_and_adds_bos_once() {
    let tokenizer = Tokenizer::from_gguf(&model_file(GEMMA).header).unwrap();
    let text = "Natalia sold 48 clips — ünïcödé 你好 🙂 \u{1F9EC}\n\n\tdone    x";
    assert_eq!(tokenizer.decode(&tokenizer.encode_plain(text).unwrap()).unwrap(), text);
    let bos = tokenizer.bos.unwrap();
    assert_eq!(tokenizer.encode("Hi").unwrap()[0], bos);
    let written = tokenizer.encode("<bos>Hi").unwrap();
    assert_eq!((written[0], written[1] != bos), (bos, true), "{written:?}");
    assert!(tokenizer.is_stop(tokenizer.token_to_id("<end_of_turn>").unwrap()));
    assert!(tokenizer.decode(&[262_144]).is_err());
}

#[test]
fn chat_templates_render_like_llama_cpp_python() {
    let golden = fixture("chat.json");
    for model in [SMOLLM, QWEN] {
        let file = model_file(model);
        let template = cotnpot_engine::tokenizer::ChatTemplate::from_gguf(&file.header).unwrap();
        for case in golden[model].as_array().unwrap() {
            let messages: Vec<cotnpot_engine::tokenizer::Message> = case["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| cotnpot_engine::tokenizer::Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
                .collect();
            assert_eq!(template.render(&messages).unwrap(), case["prompt"].as_str().unwrap(), "{model}");
        }
    }
}
