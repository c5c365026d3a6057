//! [`Harness`]: runs an operator natively, without a host, for unit tests.
//!
//! The harness drives the same [`Runtime`] the export glue uses, so what
//! passes here behaves the same inside a component: events go through the
//! batch framing, state through snapshot chunks.
//!
//! ```
//! use weir_guest::testing::Harness;
//! use weir_guest::{Context, Event, OpenContext, Operator, Result};
//!
//! struct Upper;
//!
//! impl Operator for Upper {
//!     fn open(_ctx: &mut OpenContext) -> Result<Self> {
//!         Ok(Upper)
//!     }
//!     fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
//!         ctx.emit(event.key(), event.value_str()?.to_uppercase());
//!         Ok(())
//!     }
//! }
//!
//! let mut harness = Harness::<Upper>::new()?;
//! assert_eq!(harness.process("k", "hi", 0)?, [("k", "HI")]);
//! assert!(harness.process("k", [0xff], 0).is_err());
//! # Ok::<(), weir_guest::Error>(())
//! ```

use std::fmt;

use weir_wire::batch::{BatchReader, BatchWriter, NO_TIMESTAMP};

use crate::runtime::Runtime;
use crate::state::Chunk;
use crate::{Error, Operator, OperatorInfo, Result};

pub use weir_wire::batch::NO_KEY_GROUP;

/// One operator instance under test.
pub struct Harness<O> {
    runtime: Runtime<O>,
    info: OperatorInfo,
    checkpoint_id: u64,
}

impl<O: Operator> Harness<O> {
    /// A fresh instance with [`OperatorInfo::new("test")`](OperatorInfo::new):
    /// subtask 0 of 1, owning key groups `0..128`.
    pub fn new() -> Result<Self> {
        Self::restore_with_info(OperatorInfo::new("test"), Vec::new())
    }

    /// A fresh instance with this info (name, config, key groups...).
    pub fn with_info(info: OperatorInfo) -> Result<Self> {
        Self::restore_with_info(info, Vec::new())
    }

    /// An instance restored from chunks returned by [`Harness::snapshot`].
    pub fn restore(chunks: Vec<Chunk>) -> Result<Self> {
        Self::restore_with_info(OperatorInfo::new("test"), chunks)
    }

    /// An instance with this info, restored from these chunks.
    pub fn restore_with_info(info: OperatorInfo, chunks: Vec<Chunk>) -> Result<Self> {
        let runtime = Runtime::init(info.clone(), chunks)?;
        Ok(Harness { runtime, info, checkpoint_id: 0 })
    }

    /// Processes one event without a timestamp. `key_group` is what the host
    /// would have hashed the key into; pass [`NO_KEY_GROUP`] for an unkeyed
    /// input.
    pub fn process(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>, key_group: u16) -> Result<Vec<Output>> {
        self.process_at(key, value, key_group, NO_TIMESTAMP)
    }

    /// Processes one event with a timestamp (milliseconds since the epoch).
    pub fn process_at(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        key_group: u16,
        timestamp: i64,
    ) -> Result<Vec<Output>> {
        let mut batch = BatchWriter::new();
        batch.push(key_group, timestamp, key.as_ref(), value.as_ref());
        self.process_batch(batch.as_bytes())
    }

    /// Processes several `(key, value, key_group)` events as one batch.
    pub fn process_all<K, V>(&mut self, events: impl IntoIterator<Item = (K, V, u16)>) -> Result<Vec<Output>>
    where
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut batch = BatchWriter::new();
        for (key, value, key_group) in events {
            batch.push(key_group, NO_TIMESTAMP, key.as_ref(), value.as_ref());
        }
        self.process_batch(batch.as_bytes())
    }

    /// Processes a packed batch as the host would pass it (`wit/FRAMING.md`).
    pub fn process_batch(&mut self, batch: &[u8]) -> Result<Vec<Output>> {
        let output = self.runtime.process(batch)?;
        decode_output(&output)
    }

    /// Takes a snapshot (as at a checkpoint barrier); pass the chunks to
    /// [`Harness::restore`] to continue from it.
    pub fn snapshot(&mut self) -> Result<Vec<Chunk>> {
        self.checkpoint_id += 1;
        self.runtime.snapshot(self.checkpoint_id)
    }

    /// Ends the input: runs [`Operator::finish`].
    pub fn finish(&mut self) -> Result<Vec<Output>> {
        let output = self.runtime.finish()?;
        decode_output(&output)
    }

    /// The operator instance.
    pub fn operator(&self) -> &O {
        self.runtime.operator()
    }

    /// The info the instance was created with.
    pub fn info(&self) -> &OperatorInfo {
        &self.info
    }
}

fn decode_output(batch: &[u8]) -> Result<Vec<Output>> {
    let malformed = |e| Error::msg(format!("the SDK wrote a malformed output batch: {e}"));
    BatchReader::new(batch)
        .map_err(malformed)?
        .map(|event| {
            let event = event.map_err(malformed)?;
            Ok(Output {
                key: event.key.to_vec(),
                value: event.value.to_vec(),
                timestamp: (event.timestamp != NO_TIMESTAMP).then_some(event.timestamp),
            })
        })
        .collect()
}

/// One event an operator emitted.
///
/// Compares equal to a `(key, value)` pair of strings, so that
/// `assert_eq!(outputs, [("a", "1")])` works.
#[derive(Clone, PartialEq, Eq)]
pub struct Output {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub timestamp: Option<i64>,
}

impl Output {
    /// The key as UTF-8 text.
    pub fn key_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.key).map_err(|e| Error::msg(format!("output key is not UTF-8 ({e})")))
    }

    /// The value as UTF-8 text.
    pub fn value_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.value).map_err(|e| Error::msg(format!("output value is not UTF-8 ({e})")))
    }
}

impl PartialEq<(&str, &str)> for Output {
    fn eq(&self, (key, value): &(&str, &str)) -> bool {
        self.key == key.as_bytes() && self.value == value.as_bytes()
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tuple = f.debug_tuple("Output");
        tuple.field(&String::from_utf8_lossy(&self.key)).field(&String::from_utf8_lossy(&self.value));
        if let Some(timestamp) = self.timestamp {
            tuple.field(&timestamp);
        }
        tuple.finish()
    }
}
