//! Benchmark guest `store`: keeps the last value seen for every key in a
//! keyed `ValueState` named `"last"`, so that its state grows to (number of
//! keys) × (value size) and the benchmarks can give a job, or one instance,
//! any amount of keyed state.
//!
//! Emits nothing, unless the operator's config has `pass_through = "true"`:
//! then every event goes on unchanged. The input must be keyed.

use serde::de::{Deserializer, Error as _, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use weir_guest::{Context, Event, OpenContext, Operator, Result, ValueState};

/// A value's bytes, encoded as one postcard byte string (a length, then the
/// bytes) instead of a sequence of `u8`s: the same bytes on the wire as a
/// `Vec<u8>`, without serde's per-element calls (what `serde_bytes` does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct BytesVisitor;

        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Bytes;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a byte string")
            }

            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }

            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> std::result::Result<Bytes, E> {
                Ok(Bytes(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Bytes, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                Ok(Bytes(bytes))
            }
        }

        deserializer.deserialize_byte_buf(BytesVisitor).map_err(|e: D::Error| D::Error::custom(e))
    }
}

pub struct Store {
    last: ValueState<Bytes>,
    pass_through: bool,
}

impl Operator for Store {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        let pass_through = ctx.info().config("pass_through") == Some("true");
        Ok(Store { last: ctx.keyed_value("last")?, pass_through })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        self.last.set(ctx, Bytes(event.value().to_vec()));
        if self.pass_through {
            ctx.emit(event.key(), event.value());
        }
        Ok(())
    }
}

weir_guest::export_operator!(Store);

#[cfg(test)]
mod tests {
    use weir_guest::OperatorInfo;
    use weir_guest::state::Kind;
    use weir_guest::testing::Harness;
    use weir_wire::state::{ChunkReader, Entry};

    use super::*;

    #[test]
    fn keeps_the_last_value_per_key_as_a_byte_string() {
        let mut harness = Harness::<Store>::new().unwrap();
        let out = harness.process_all([("a", "1", 5), ("b", "22", 9), ("a", "333", 5)]).unwrap();
        assert!(out.is_empty());
        let mut chunks = harness.snapshot().unwrap();
        chunks.sort_by_key(|c| c.key_group);
        assert_eq!(chunks.iter().map(|c| c.key_group).collect::<Vec<_>>(), [Some(5), Some(9)]);
        let entries: Vec<Entry<'_>> =
            ChunkReader::new(Kind::KeyedValue, &chunks[0].data).unwrap().collect::<Result<_, _>>().unwrap();
        // postcard byte string: a varint length, then the bytes.
        assert_eq!(entries, [Entry::KeyedValue { key: b"a", value: b"\x03333" }]);

        let mut restored = Harness::<Store>::restore(chunks.clone()).unwrap();
        let mut again = restored.snapshot().unwrap();
        again.sort_by_key(|c| c.key_group);
        assert_eq!(again, chunks);
    }

    #[test]
    fn passes_events_through_when_configured() {
        let info = OperatorInfo::new("store").with_config("pass_through", "true");
        let mut harness = Harness::<Store>::with_info(info).unwrap();
        assert_eq!(harness.process("k", "v", 1).unwrap(), [("k", "v")]);
    }
}
