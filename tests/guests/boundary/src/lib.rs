//! Benchmark guest for `host/benches/boundary.rs`: the keyed running count
//! of `examples/counter`, exported once taking a `list<record>` and once
//! taking a packed batch, so that the difference is the boundary alone.
//!
//! Written against wit-bindgen directly (not the SDK): the SDK only speaks
//! the packed form.

use std::cell::RefCell;

use hashbrown::HashMap;
use weir_wire::batch::{BatchReader, BatchWriter, NO_KEY_GROUP, NO_TIMESTAMP};

wit_bindgen::generate!({ path: "wit", world: "boundary" });

thread_local! {
    static COUNTS: RefCell<HashMap<Vec<u8>, u64>> = RefCell::new(HashMap::new());
}

/// The counter's logic: bump and return the key's count.
fn bump(counts: &mut HashMap<Vec<u8>, u64>, key: &[u8]) -> u64 {
    if let Some(count) = counts.get_mut(key) {
        *count += 1;
        return *count;
    }
    counts.insert(key.to_vec(), 1);
    1
}

struct Boundary;

impl Guest for Boundary {
    fn noop() {}

    fn count_records(events: Vec<Event>) -> Vec<Event> {
        COUNTS.with_borrow_mut(|counts| {
            events
                .into_iter()
                .map(|event| {
                    let count = bump(counts, &event.key);
                    Event {
                        key_group: NO_KEY_GROUP,
                        timestamp: NO_TIMESTAMP,
                        value: count.to_string().into_bytes(),
                        key: event.key,
                    }
                })
                .collect()
        })
    }

    fn count_packed(batch: Vec<u8>) -> Vec<u8> {
        COUNTS.with_borrow_mut(|counts| {
            let mut out = BatchWriter::with_capacity(batch.len() + 64);
            let Ok(reader) = BatchReader::new(&batch) else {
                return Vec::new();
            };
            let mut digits = itoa_buffer();
            for event in reader.flatten() {
                let count = bump(counts, event.key);
                out.push(NO_KEY_GROUP, NO_TIMESTAMP, event.key, format_u64(count, &mut digits));
            }
            out.finish()
        })
    }
}

fn itoa_buffer() -> [u8; 20] {
    [0; 20]
}

/// Decimal digits of `n` without allocating (the records form allocates its
/// value anyway: it has to return an owned list).
fn format_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

export!(Boundary);
