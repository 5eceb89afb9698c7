//! Engine tests against real model files and llama.cpp / gguf-py golden fixtures.

mod common;
mod dequant;
mod fit;
mod device_sampling;
mod generation;
mod gguf_files;
mod tokenizer;
mod parity;
mod random_models;
mod step;
mod verifier;
