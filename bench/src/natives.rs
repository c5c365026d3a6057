//! The operators of the benchmarks, compiled natively from the very crates
//! their components are built from: the only difference from the Wasm runs
//! is the sandbox.

pub use {counter, store, tokenizer};
