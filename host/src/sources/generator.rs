//! The `generator` source: deterministic synthetic events for tests and
//! benchmarks. Position: the sequence number of the next event.

use super::{Emit, Emitted, Source, SourceError, Split};

/// Settings of the `generator` source. Event `i` (from 0) has a key drawn
/// from `keys` distinct keys by a seeded hash of `i`, a value of
/// `value_size` bytes, and timestamp `i`; the same settings always produce
/// the same events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorSpec {
    /// Number of events; the source ends after the last one.
    pub count: u64,
    /// Key cardinality.
    pub keys: u64,
    pub value_size: usize,
    pub seed: u64,
    pub rate_limit: Option<u64>,
}

impl Default for GeneratorSpec {
    fn default() -> Self {
        GeneratorSpec { count: 1_000_000, keys: 10_000, value_size: 16, seed: 0, rate_limit: None }
    }
}

pub(crate) struct GeneratorSource {
    spec: GeneratorSpec,
    next: u64,
    /// One past the last sequence number of this reader's split.
    end: u64,
    key: Vec<u8>,
    /// Twice the value size, so that every value is a slice of it.
    pattern: Vec<u8>,
}

impl GeneratorSource {
    /// A reader of the sequence numbers of `split`.
    pub(crate) fn new(spec: GeneratorSpec, split: Split) -> crate::error::Result<Self> {
        if split.next > spec.count {
            return Err(crate::Error::Source(format!(
                "generator: the checkpoint's position ({}) is beyond count ({})",
                split.next, spec.count
            )));
        }
        let pattern = (0..spec.value_size * 2 + 26).map(|i| b'a' + (i % 26) as u8).collect();
        let end = split.end.min(spec.count);
        Ok(GeneratorSource { spec, next: split.next, end, key: Vec::with_capacity(32), pattern })
    }
}

/// SplitMix64: a fixed, well-mixed function of the sequence number.
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The key of event `sequence`: `key-<n>` with `n` in `0..keys`.
pub(crate) fn generator_key(seed: u64, sequence: u64, keys: u64, out: &mut Vec<u8>) {
    out.clear();
    let n = splitmix64(seed ^ splitmix64(sequence)) % keys;
    out.extend_from_slice(b"key-");
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

impl Source for GeneratorSource {
    fn emit(&mut self, out: &mut dyn Emit, max_events: usize) -> Result<Emitted, SourceError> {
        let end = self.end.min(self.next.saturating_add(max_events as u64));
        for sequence in self.next..end {
            generator_key(self.spec.seed, sequence, self.spec.keys, &mut self.key);
            let start = (sequence % 26) as usize;
            let value = &self.pattern[start..start + self.spec.value_size];
            out.push_from(sequence, sequence as i64, &self.key, value)?;
        }
        let events = (end - self.next) as usize;
        self.next = end;
        Ok(Emitted { events, exhausted: end >= self.end })
    }

    fn position(&self) -> u64 {
        self.next
    }
}
