//! llama.cpp's SentencePiece tokenizer (`tokenizer.ggml.model = "llama"`: Gemma, Llama 2, Mistral,
//! Phi-3): special tokens are split out of the text first, then each stretch of text, spaces
//! written as `▁`, is merged pair by pair, always the adjacent pair whose union is the
//! vocabulary's best-scored piece; characters no piece covers fall back to byte tokens.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::{TYPE_BYTE, TYPE_CONTROL, TYPE_UNKNOWN, TYPE_USER_DEFINED, TokenizerError};
use crate::gguf::{GgufHeader, Value};

const SPACE: &str = "\u{2581}";

#[derive(Debug, Clone)]
pub(super) struct SentencePiece {
    pieces: Vec<String>,
    scores: Vec<f32>,
    types: Vec<i64>,
    /// Piece → id; where two ids share a piece, the later one (as llama.cpp's map keeps it).
    ids: HashMap<String, u32>,
    /// Control, user-defined and unknown tokens, longest first: matched in the raw text before
    /// anything else, in that order.
    specials: Vec<u32>,
    /// The `<0xXX>` token of each byte.
    bytes: [Option<u32>; 256],
    unknown: Option<u32>,
    /// Whether a stretch of text after a special token (or at the start) gets a leading space.
    add_space_prefix: bool,
}

/// A stretch of the text to tokenize, or a special token found in it.
enum Fragment<'a> {
    Text(&'a str),
    Token(u32),
}

impl SentencePiece {
    pub(super) fn from_gguf(header: &GgufHeader, pieces: Vec<String>, types: Vec<i64>) -> Result<Self, TokenizerError> {
        let scores: Vec<f32> = match header.get("tokenizer.ggml.scores").and_then(Value::as_array) {
            Some(items) => items.iter().map(|v| v.as_f64().map(|s| s as f32)).collect::<Option<_>>().ok_or_else(|| TokenizerError::Inconsistent("tokenizer.ggml.scores holds a non-number".into()))?,
            None => return Err(TokenizerError::Inconsistent("a SentencePiece vocabulary needs tokenizer.ggml.scores".into())),
        };
        if scores.len() != pieces.len() {
            return Err(TokenizerError::Inconsistent(format!("{} tokens but {} scores", pieces.len(), scores.len())));
        }
        let ids: HashMap<String, u32> = pieces.iter().enumerate().map(|(i, p)| (p.clone(), i as u32)).collect();
        let mut specials: Vec<u32> = (0..pieces.len() as u32).filter(|&i| matches!(types[i as usize], TYPE_CONTROL | TYPE_USER_DEFINED | TYPE_UNKNOWN) && !pieces[i as usize].is_empty()).collect();
        specials.sort_by_key(|&i| std::cmp::Reverse(pieces[i as usize].len()));
        let mut bytes = [None; 256];
        for (b, slot) in bytes.iter_mut().enumerate() {
            *slot = ids.get(&format!("<0x{b:02X}>")).or_else(|| ids.get(&char::from(b as u8).to_string()).filter(|_| b < 128)).copied();
        }
        let unknown = header.get("tokenizer.ggml.unknown_token_id").and_then(Value::as_u64).map(|v| v as u32);
        let add_space_prefix = header.get("tokenizer.ggml.add_space_prefix").and_then(Value::as_bool).unwrap_or(true);
        Ok(Self { pieces, scores, types, ids, specials, bytes, unknown, add_space_prefix })
    }

    pub(super) fn token_to_id(&self, piece: &str) -> Option<u32> {
        self.ids.get(piece).copied()
    }

    pub(super) fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let mut out = Vec::new();
        let mut after_special = true;
        for fragment in self.partition(text) {
            match fragment {
                Fragment::Token(id) => {
                    out.push(id);
                    after_special = true;
                }
                Fragment::Text(text) => {
                    let prefix = if self.add_space_prefix && after_special { SPACE } else { "" };
                    self.merge(&format!("{prefix}{}", text.replace(' ', SPACE)), &mut out)?;
                    after_special = false;
                }
            }
        }
        Ok(out)
    }

    /// The text cut at every occurrence of each special token, longest tokens first.
    fn partition<'a>(&self, text: &'a str) -> Vec<Fragment<'a>> {
        let mut fragments = vec![Fragment::Text(text)];
        for &id in &self.specials {
            let piece = self.pieces[id as usize].as_str();
            if !text.contains(piece) {
                continue;
            }
            fragments = fragments
                .into_iter()
                .flat_map(|fragment| match fragment {
                    Fragment::Text(t) if t.contains(piece) => {
                        let mut split = Vec::new();
                        for (i, part) in t.split(piece).enumerate() {
                            if i > 0 {
                                split.push(Fragment::Token(id));
                            }
                            if !part.is_empty() {
                                split.push(Fragment::Text(part));
                            }
                        }
                        split
                    }
                    other => vec![other],
                })
                .collect();
        }
        fragments
    }

    /// One stretch of text (spaces already `▁`): characters merged pair by pair.
    fn merge(&self, text: &str, out: &mut Vec<u32>) -> Result<(), TokenizerError> {
        // Each symbol is a byte range of `text`; merged-away symbols have length 0.
        let mut symbols: Vec<Symbol> = Vec::new();
        for (start, c) in text.char_indices() {
            let i = symbols.len();
            symbols.push(Symbol { start, len: c.len_utf8(), prev: i.checked_sub(1), next: None });
            if i > 0 {
                symbols[i - 1].next = Some(i);
            }
        }
        let mut queue = BinaryHeap::new();
        for i in 1..symbols.len() {
            self.push_pair(text, &symbols, i - 1, i, &mut queue);
        }
        while let Some(pair) = queue.pop() {
            let (left, right) = (symbols[pair.left], symbols[pair.right]);
            // Stale: one side has since been merged into something else.
            if left.len == 0 || right.len == 0 || left.len + right.len != pair.len {
                continue;
            }
            symbols[pair.left].len += right.len;
            symbols[pair.right].len = 0;
            symbols[pair.left].next = right.next;
            if let Some(next) = right.next {
                symbols[next].prev = Some(pair.left);
            }
            if let Some(prev) = left.prev {
                self.push_pair(text, &symbols, prev, pair.left, &mut queue);
            }
            if let Some(next) = right.next {
                self.push_pair(text, &symbols, pair.left, next, &mut queue);
            }
        }
        let mut at = (!symbols.is_empty()).then_some(0);
        while let Some(i) = at {
            let Symbol { start, len, next, .. } = symbols[i];
            let piece = &text[start..start + len];
            match self.ids.get(piece) {
                Some(&id) => out.push(id),
                // Only single characters can be missing: every merge forms a piece.
                None => {
                    for b in piece.bytes() {
                        let id = self.bytes[b as usize].or(self.unknown);
                        out.push(id.ok_or_else(|| TokenizerError::Inconsistent(format!("the vocabulary has no token for byte 0x{b:02X} and no unknown token")))?);
                    }
                }
            }
            at = next;
        }
        Ok(())
    }

    fn push_pair(&self, text: &str, symbols: &[Symbol], left: usize, right: usize, queue: &mut BinaryHeap<Pair>) {
        let (l, r) = (symbols[left], symbols[right]);
        let len = l.len + r.len;
        if let Some(&id) = self.ids.get(&text[l.start..l.start + len]) {
            queue.push(Pair { score: self.scores[id as usize], left, right, len });
        }
    }

    /// The bytes a token stands for: byte tokens their byte, text pieces with `▁` as a space,
    /// special tokens their own text.
    fn piece_bytes(&self, id: u32, out: &mut Vec<u8>) {
        let piece = &self.pieces[id as usize];
        match self.types[id as usize] {
            TYPE_BYTE => match piece.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => out.push(b),
                None => out.extend_from_slice(piece.as_bytes()),
            },
            TYPE_CONTROL | TYPE_USER_DEFINED | TYPE_UNKNOWN => out.extend_from_slice(piece.as_bytes()),
            _ => out.extend_from_slice(piece.replace(SPACE, " ").as_bytes()),
        }
    }

    /// Text of ids (all inside the vocabulary); the space `add_space_prefix` put before the text
    /// is dropped again, as llama.cpp's detokenizer does.
    pub(super) fn decode(&self, ids: &[u32]) -> String {
        let mut bytes = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let start = bytes.len();
            self.piece_bytes(id, &mut bytes);
            if i == 0 && self.add_space_prefix && bytes.get(start) == Some(&b' ') {
                bytes.remove(start);
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// Two adjacent symbols whose union is a piece, ranked by that piece's score, then leftmost.
#[derive(Debug)]
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then(other.left.cmp(&self.left))
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Pair {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Pair {}
