//! Weir example operator `join`: orders joined with a broadcast price table,
//! keyed by product. It shows two inputs, broadcast state and side outputs;
//! `examples/join-py` is the same operator in Python, and both must produce
//! the same output for the same input, so the rules below are exact.
//!
//! **Inputs.** Input 0, orders, must be keyed (`key_by = true`): the event
//! key is the product, the value the quantity. Input 1, prices, must be
//! broadcast: the key is ignored, the value is a line
//! `product<TAB>price_cents`. **Side outputs:** `unpriced` and `bad` (both
//! must be declared).
//!
//! A *count* (a quantity, or a price in cents) is one or more ASCII digits
//! `0`-`9` and nothing else (no sign, no spaces), at most 18446744073709551615
//! (`u64::MAX`); leading zeros are allowed and dropped (`007` is 7). Counts
//! are written back in decimal without leading zeros; a total is
//! `quantity * price` computed exactly (it fits in 128 bits).
//!
//! - **A price line** is split at its first TAB: the product is the text
//!   before it (UTF-8, not empty), the price the text after it (a count). It
//!   sets the product's price in the broadcast map `prices` (product →
//!   cents), replacing any previous one. A line that does not parse so (not
//!   UTF-8, no TAB, empty product, bad price) is ignored with a warning in
//!   the log.
//! - **An order** whose key is not UTF-8, or whose value is not a count, goes
//!   to side output `bad` unchanged (same key, same value).
//! - **An order whose product has a price** first releases that product's
//!   waiting orders, in arrival order, then itself: each is emitted to the
//!   main output with key = product, value = `<quantity>\t<total>`.
//! - **An order whose product has no price yet** is appended to the keyed
//!   list state `waiting` (the quantities of that product, in arrival
//!   order), and nothing is emitted. A price arriving later does not release
//!   it by itself: the next order of the product does, or `finish`.
//! - **`finish`** walks every product with waiting orders, in ascending
//!   byte order of the product, each one's orders in arrival order: with a
//!   price known by now, to the main output as above; without one, to side
//!   output `unpriced` with key = product, value = `<quantity>`. The waiting
//!   lists are then cleared.
//!
//! Every emitted event carries the timestamp of the order event being
//! processed (none in `finish`). With parallelism above 1 each subtask
//! holds its share of the orders and the whole price table.

use weir_guest::{BroadcastMapState, Context, Error, Event, ListState, OpenContext, Operator, Result};

/// The index of the orders input in `OperatorInfo::inputs`.
pub const ORDERS: u32 = 0;
/// The index of the prices input (broadcast).
pub const PRICES: u32 = 1;
/// Side output for orders still without a price at `finish`.
pub const UNPRICED: &str = "unpriced";
/// Side output for orders that do not parse.
pub const BAD: &str = "bad";

pub struct Join {
    /// product -> price in cents; the same in every subtask.
    prices: BroadcastMapState<String, u64>,
    /// Per product (the event key): quantities of orders waiting for a price.
    waiting: ListState<u64>,
}

impl Operator for Join {
    fn open(ctx: &mut OpenContext) -> Result<Self> {
        check_shape(ctx)?;
        Ok(Join { prices: ctx.broadcast_map("prices")?, waiting: ctx.keyed_list("waiting")? })
    }

    fn process(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        match event.input() {
            PRICES => self.price(ctx, event),
            _ => self.order(ctx, event),
        }
    }

    fn finish(&mut self, ctx: &mut Context) -> Result<()> {
        let mut waiting: Vec<(Vec<u8>, Vec<u64>)> = self
            .waiting
            .iter_all_keys(ctx)
            .map(|(product, quantities)| (product.to_vec(), quantities.to_vec()))
            .collect();
        waiting.sort();
        for (product, quantities) in waiting {
            // Keys of the waiting list were checked to be UTF-8 before they were stored.
            let price = std::str::from_utf8(&product).ok().and_then(|name| self.prices.get(ctx, name)).copied();
            for quantity in quantities {
                match price {
                    Some(price) => emit_priced(ctx, &product, quantity, price),
                    None => ctx.emit_to(UNPRICED, &product, quantity.to_string())?,
                }
            }
        }
        self.waiting.retain_all(ctx, |_, _| false);
        Ok(())
    }
}

impl Join {
    fn price(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        match parse_price(event.value()) {
            Some((product, price)) => {
                self.prices.insert(ctx, product.to_owned(), price);
            }
            None => weir_guest::warn!(
                "ignoring price line {:?}: expected product<TAB>price_cents",
                String::from_utf8_lossy(event.value())
            ),
        }
        Ok(())
    }

    fn order(&mut self, ctx: &mut Context, event: Event<'_>) -> Result<()> {
        let (Ok(product), Some(quantity)) = (event.key_str(), parse_count(event.value())) else {
            return ctx.emit_to(BAD, event.key(), event.value());
        };
        let Some(price) = self.prices.get(ctx, product).copied() else {
            self.waiting.push(ctx, quantity);
            return Ok(());
        };
        if !self.waiting.is_empty(ctx) {
            let waiting = self.waiting.get(ctx).to_vec();
            self.waiting.clear(ctx);
            for earlier in waiting {
                emit_priced(ctx, product.as_bytes(), earlier, price);
            }
        }
        emit_priced(ctx, product.as_bytes(), quantity, price);
        Ok(())
    }
}

fn emit_priced(ctx: &mut Context, product: &[u8], quantity: u64, price: u64) {
    let total = u128::from(quantity) * u128::from(price);
    ctx.emit(product, format!("{quantity}\t{total}"));
}

/// A count: one or more ASCII digits, at most `u64::MAX`.
pub fn parse_count(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Only digits: from_utf8 cannot fail, and parse fails only on overflow
    // (u64's FromStr alone would also accept a leading '+').
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// `product<TAB>price_cents`, split at the first TAB.
pub fn parse_price(line: &[u8]) -> Option<(&str, u64)> {
    let (product, price) = std::str::from_utf8(line).ok()?.split_once('\t')?;
    if product.is_empty() {
        return None;
    }
    Some((product, parse_count(price.as_bytes())?))
}

/// Two inputs, orders (partitioned) then prices (broadcast), and both side
/// outputs: a job file that wires the operator otherwise fails at `open`,
/// not at the first odd event.
fn check_shape(ctx: &OpenContext) -> Result<()> {
    let info = ctx.info();
    let inputs = info.inputs();
    if inputs.len() != 2 || inputs[ORDERS as usize].is_broadcast() || !inputs[PRICES as usize].is_broadcast() {
        return Err(Error::msg(format!(
            "operator '{}' (join) needs two inputs: orders (keyed), then prices (broadcast); it has {}",
            info.name(),
            describe_inputs(inputs)
        )));
    }
    for side_output in [UNPRICED, BAD] {
        if info.side_output_index(side_output).is_none() {
            return Err(Error::msg(format!(
                "operator '{}' (join) emits to side outputs `{UNPRICED}` and `{BAD}`: declare both in \
                 its side_outputs",
                info.name()
            )));
        }
    }
    Ok(())
}

fn describe_inputs(inputs: &[weir_guest::InputInfo]) -> String {
    if inputs.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<String> = inputs
        .iter()
        .map(|input| format!("`{}`{}", input.name(), if input.is_broadcast() { " (broadcast)" } else { "" }))
        .collect();
    names.join(", ")
}

weir_guest::export_operator!(Join);

#[cfg(test)]
mod tests {
    use weir_guest::testing::{Harness, NO_KEY_GROUP, Output, merge_snapshots};
    use weir_guest::{InputInfo, OperatorInfo};

    use super::*;

    fn info() -> OperatorInfo {
        OperatorInfo::new("join")
            .with_inputs([InputInfo::new("orders"), InputInfo::broadcast("prices")])
            .with_side_outputs([UNPRICED, BAD])
    }

    fn harness() -> Harness<Join> {
        Harness::with_info(info()).unwrap()
    }

    /// The key group the host would give a product (any fixed choice per
    /// product will do for the operator).
    fn group(product: &str) -> u16 {
        product.len() as u16
    }

    fn order(h: &mut Harness<Join>, product: &str, quantity: &str) -> Vec<Output> {
        h.process_input(ORDERS, product, quantity, group(product)).unwrap()
    }

    fn price(h: &mut Harness<Join>, line: &str) {
        assert!(h.process_input(PRICES, "", line, NO_KEY_GROUP).unwrap().is_empty());
    }

    #[test]
    fn an_order_with_a_known_price_is_emitted_priced() {
        let mut h = harness();
        price(&mut h, "apple\t30");
        assert_eq!(order(&mut h, "apple", "4"), [("apple", "4\t120")]);
        // A new price replaces the old one; leading zeros are dropped.
        price(&mut h, "apple\t0025");
        assert_eq!(order(&mut h, "apple", "007"), [("apple", "7\t175")]);
        assert_eq!(order(&mut h, "apple", "0"), [("apple", "0\t0")]);
    }

    #[test]
    fn totals_do_not_overflow() {
        let mut h = harness();
        price(&mut h, "gold\t18446744073709551615");
        let out = order(&mut h, "gold", "18446744073709551615");
        assert_eq!(out, [("gold", "18446744073709551615\t340282366920938463426481119284349108225")]);
    }

    #[test]
    fn orders_wait_for_a_price_and_the_next_order_releases_them_in_order() {
        let mut h = harness();
        assert!(order(&mut h, "pear", "1").is_empty());
        assert!(order(&mut h, "pear", "2").is_empty());
        assert!(order(&mut h, "plum", "5").is_empty());
        // A price alone releases nothing.
        price(&mut h, "pear\t10");
        assert!(h.side_output(UNPRICED).is_empty());
        assert_eq!(order(&mut h, "pear", "3"), [("pear", "1\t10"), ("pear", "2\t20"), ("pear", "3\t30")]);
        // Released orders are gone from the waiting list.
        assert_eq!(order(&mut h, "pear", "4"), [("pear", "4\t40")]);
        assert!(h.finish().unwrap().is_empty());
        assert_eq!(h.side_output(UNPRICED), [("plum", "5")]);
    }

    #[test]
    fn finish_prices_what_it_can_and_sends_the_rest_to_unpriced_sorted_by_product() {
        let mut h = harness();
        for (product, quantity) in [("kiwi", "1"), ("fig", "2"), ("kiwi", "3"), ("date", "4"), ("fig", "5")] {
            assert!(order(&mut h, product, quantity).is_empty());
        }
        price(&mut h, "kiwi\t7");
        price(&mut h, "date\t2");
        assert_eq!(h.finish().unwrap(), [("date", "4\t8"), ("kiwi", "1\t7"), ("kiwi", "3\t21")]);
        assert_eq!(h.side_output(UNPRICED), [("fig", "2"), ("fig", "5")]);
        assert!(h.side_output(BAD).is_empty());
    }

    #[test]
    fn bad_orders_go_to_the_bad_side_output_unchanged() {
        let mut h = harness();
        price(&mut h, "apple\t30");
        for quantity in ["", "-1", "+1", "1.5", " 1", "1 ", "x", "18446744073709551616", "٣"] {
            assert!(order(&mut h, "apple", quantity).is_empty(), "{quantity:?}");
        }
        let not_utf8 = h.process_input(ORDERS, [0xff], "1", 1).unwrap();
        assert!(not_utf8.is_empty());
        let bad = h.side_output(BAD);
        let values: Vec<&str> = bad[..9].iter().map(|o| o.value_str().unwrap()).collect();
        assert_eq!(values, ["", "-1", "+1", "1.5", " 1", "1 ", "x", "18446744073709551616", "٣"]);
        assert!(bad[..9].iter().all(|o| o.key == b"apple"));
        assert_eq!((bad[9].key.as_slice(), bad[9].value.as_slice()), (&[0xff][..], &b"1"[..]));
        // Nothing waits, and bad orders release nothing.
        assert!(h.finish().unwrap().is_empty());
        assert!(h.side_output(UNPRICED).is_empty());
    }

    #[test]
    fn price_lines_that_do_not_parse_are_ignored() {
        let mut h = harness();
        for line in ["apple", "apple 30", "\t30", "apple\t", "apple\t-3", "apple\t30\t1", "apple\t3x"] {
            price(&mut h, line);
        }
        assert!(h.process_input(PRICES, "", [b'a', b'\t', 0xff], NO_KEY_GROUP).unwrap().is_empty());
        assert!(order(&mut h, "apple", "1").is_empty());
        assert!(h.finish().unwrap().is_empty());
        assert_eq!(h.side_output(UNPRICED), [("apple", "1")]);
        // The key of a price event plays no part; a product may hold spaces.
        let mut h = harness();
        h.process_input(PRICES, "ignored", "green apple\t5", NO_KEY_GROUP).unwrap();
        assert_eq!(order(&mut h, "green apple", "2"), [("green apple", "2\t10")]);
        assert!(order(&mut h, "apple", "1").is_empty());
    }

    #[test]
    fn parsing_rules() {
        assert_eq!(parse_count(b"0"), Some(0));
        assert_eq!(parse_count(b"00012"), Some(12));
        assert_eq!(parse_count(b"18446744073709551615"), Some(u64::MAX));
        for bad in [&b""[..], b"+1", b"-0", b"1_000", b"1e3", b"18446744073709551616"] {
            assert_eq!(parse_count(bad), None, "{bad:?}");
        }
        assert_eq!(parse_price(b"a b\t12"), Some(("a b", 12)));
        assert_eq!(parse_price(b"a\t1\t2"), None);
    }

    #[test]
    fn state_survives_a_restore_broadcast_and_keyed() {
        let mut h = harness();
        price(&mut h, "apple\t30");
        assert!(order(&mut h, "pear", "2").is_empty());
        assert!(order(&mut h, "fig", "1").is_empty());
        let chunks = h.snapshot().unwrap();

        let mut restored = Harness::<Join>::restore_with_info(info(), chunks.clone()).unwrap();
        assert_eq!(order(&mut restored, "apple", "1"), [("apple", "1\t30")]);
        price(&mut restored, "pear\t5");
        assert_eq!(order(&mut restored, "pear", "3"), [("pear", "2\t10"), ("pear", "3\t15")]);
        assert!(restored.finish().unwrap().is_empty());
        assert_eq!(restored.side_output(UNPRICED), [("fig", "1")]);

        // Another subtask, at another parallelism, gets the same price table
        // and only the waiting orders of its key groups (fig is in group 3).
        let subtask = info().with_subtask(1, 2).with_key_groups(Some(0..4));
        let share: Vec<_> = chunks.into_iter().filter(|c| c.key_group.is_none_or(|g| g < 4)).collect();
        let mut other = Harness::<Join>::restore_with_info(subtask, share).unwrap();
        assert_eq!(order(&mut other, "apple", "2"), [("apple", "2\t60")]);
        assert!(other.finish().unwrap().is_empty());
        assert_eq!(other.side_output(UNPRICED), [("fig", "1")]);
    }

    #[test]
    fn incremental_snapshots_restore_the_same_state() {
        let mut h = harness();
        price(&mut h, "apple\t30");
        assert!(order(&mut h, "pear", "2").is_empty());
        let base = h.snapshot().unwrap();
        assert!(order(&mut h, "pear", "4").is_empty());
        let delta1 = h.snapshot_incremental().unwrap();
        price(&mut h, "pear\t1");
        assert_eq!(order(&mut h, "apple", "1"), [("apple", "1\t30")]);
        let delta2 = h.snapshot_incremental().unwrap();

        let mut restored =
            Harness::<Join>::restore_with_info(info(), merge_snapshots(base, [delta1, delta2]).unwrap()).unwrap();
        assert_eq!(restored.finish().unwrap(), [("pear", "2\t2"), ("pear", "4\t4")]);
        assert!(restored.side_output(UNPRICED).is_empty());
    }

    #[test]
    fn the_job_must_wire_two_inputs_and_both_side_outputs() {
        let err = |info: OperatorInfo| Harness::<Join>::with_info(info).err().unwrap().to_string();
        assert_eq!(
            err(OperatorInfo::new("j").with_side_outputs([UNPRICED, BAD])),
            "operator 'j' (join) needs two inputs: orders (keyed), then prices (broadcast); it has `input`"
        );
        let swapped = info().with_inputs([InputInfo::broadcast("p"), InputInfo::new("o")]);
        assert!(err(swapped).ends_with("it has `p` (broadcast), `o`"));
        assert_eq!(
            err(info().with_side_outputs([BAD])),
            "operator 'join' (join) emits to side outputs `unpriced` and `bad`: declare both in its side_outputs"
        );
        let unkeyed = info().with_key_groups(None);
        assert!(err(unkeyed).contains("state `waiting` is keyed"));
    }
}
