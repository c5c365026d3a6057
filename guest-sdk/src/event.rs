//! [`Event`]: one input event, borrowed from the batch the host passed in.

use std::fmt;

use weir_wire::batch::{EventRef, NO_KEY_GROUP, NO_TIMESTAMP};

use crate::{Error, InputInfo, Result};

/// One input event. Its key and value borrow from the input batch: reading
/// them copies nothing.
#[derive(Clone, Copy)]
pub struct Event<'a> {
    raw: EventRef<'a>,
    input: u32,
    input_info: &'a InputInfo,
}

impl<'a> Event<'a> {
    pub(crate) fn new(raw: EventRef<'a>, input: u32, input_info: &'a InputInfo) -> Self {
        Event { raw, input, input_info }
    }

    /// The index of the input the event came from, into
    /// [`OperatorInfo::inputs`](crate::OperatorInfo::inputs) (0 for an
    /// operator with one input).
    pub fn input(&self) -> u32 {
        self.input
    }

    /// The name of the input the event came from: the node that feeds it
    /// (`op`, or `op.NAME` for a side output).
    pub fn input_name(&self) -> &'a str {
        self.input_info.name()
    }

    /// Whether the event came from a broadcast input (it has no key group,
    /// and every subtask sees it).
    pub fn is_broadcast(&self) -> bool {
        self.input_info.is_broadcast()
    }

    /// The key, as bytes.
    pub fn key(&self) -> &'a [u8] {
        self.raw.key
    }

    /// The value, as bytes.
    pub fn value(&self) -> &'a [u8] {
        self.raw.value
    }

    /// The key as UTF-8 text; an error if it is not UTF-8.
    pub fn key_str(&self) -> Result<&'a str> {
        utf8(self.raw.key, "key")
    }

    /// The value as UTF-8 text; an error if it is not UTF-8.
    pub fn value_str(&self) -> Result<&'a str> {
        utf8(self.raw.value, "value")
    }

    /// Milliseconds since the Unix epoch, if the event has a timestamp.
    pub fn timestamp(&self) -> Option<i64> {
        (self.raw.timestamp != NO_TIMESTAMP).then_some(self.raw.timestamp)
    }

    /// The key group the host hashed the key into; `None` when the
    /// operator's input is not keyed (`key_by = false`).
    pub fn key_group(&self) -> Option<u16> {
        (self.raw.key_group != NO_KEY_GROUP).then_some(self.raw.key_group)
    }
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| Error::msg(format!("event {what} is not UTF-8 ({e})")))
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("key", &String::from_utf8_lossy(self.raw.key))
            .field("value", &String::from_utf8_lossy(self.raw.value))
            .field("timestamp", &self.timestamp())
            .field("key_group", &self.key_group())
            .field("input", &self.input)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors_map_the_sentinels_to_none() {
        let input = InputInfo::broadcast("prices");
        let raw = EventRef { key_group: NO_KEY_GROUP, timestamp: NO_TIMESTAMP, key: b"k", value: b"v" };
        let event = Event::new(raw, 1, &input);
        assert_eq!((event.key_str().unwrap(), event.value_str().unwrap()), ("k", "v"));
        assert_eq!((event.timestamp(), event.key_group()), (None, None));
        assert_eq!((event.input(), event.input_name(), event.is_broadcast()), (1, "prices", true));

        let input = InputInfo::new("orders");
        let raw = EventRef { key_group: 3, timestamp: 42, key: b"k", value: &[0xff] };
        let event = Event::new(raw, 0, &input);
        assert_eq!((event.input(), event.input_name(), event.is_broadcast()), (0, "orders", false));
        assert_eq!((event.timestamp(), event.key_group()), (Some(42), Some(3)));
        let err = event.value_str().unwrap_err().to_string();
        assert!(err.starts_with("event value is not UTF-8"), "{err}");
    }
}
