"""Weir example operator `join`, in Python: orders joined with a broadcast
price table, keyed by product.

Inputs, by index (the job file's `inputs`, with `broadcast` on the second):
- 0, orders (keyed, `key_by = true`): key = product, value = the quantity
  as decimal text;
- 1, prices (broadcast: every subtask sees every line): lines
  `product<TAB>price` with an empty key, the price in integer cents.

Behaviour:
- A price line sets the product's price in the broadcast map `prices`
  (product -> cents), replacing an earlier one.
- An order whose product has a price is emitted on the main output: key =
  product, value = `<quantity><TAB><quantity * price>`.
- An order whose product has no price yet waits in the keyed list `waiting`
  (the quantities of that product, oldest first). When the product's price
  arrives, the waiting orders are emitted, priced, in arrival order. The
  price event has no key (keyed state is not available for a broadcast
  event), so it reaches them with `retain_all`, a pass over the products
  that have orders waiting; every subtask makes that pass over its own key
  groups, since each one sees the price.
- At the end of the input (`finish`), the orders still waiting go to the
  side output `unpriced`, unchanged (key = product, value = quantity), in
  product order.
- An order whose quantity is not a count (one or more ASCII digits, at
  most 2**64 - 1), or whose product is not UTF-8, goes to the side output
  `bad` unchanged. A price line that is not `product<TAB>count` (product
  non-empty UTF-8) is ignored with a warning in the log. This is exactly
  what the Rust `examples/join` does, so the two give the same output.

Given the order in which its inputs' events arrive, the output is
deterministic: no clocks, no randomness, no iteration over unordered sets.

State: `prices` (broadcast map, STR -> U64) and `waiting` (keyed list of
STR): after a restore, at any parallelism, every subtask has the price table
again and the orders waiting in its key groups.

Build it with `cargo xtask build-guests` once it is listed in
`xtask/src/python.rs`; test it with
`python3 -m unittest discover -s examples/join-py`.
"""

import re

import weir
from weir import codec

ORDERS, PRICES = 0, 1
SIDE_OUTPUTS = ("unpriced", "bad")

_DIGITS = re.compile(rb"[0-9]+")
_PRICE_LINE = re.compile(rb"([^\t]*)\t([0-9]+)")


class Join(weir.Operator):
    def open(self, ctx):
        info = ctx.info
        # The wiring is the job file's: check it here, where a mistake fails
        # `init` with a message, not the first event that needs it.
        if len(info.inputs) != 2 or info.inputs[ORDERS].broadcast or not info.inputs[PRICES].broadcast:
            wired = ", ".join(f"{spec.name}{' (broadcast)' if spec.broadcast else ''}" for spec in info.inputs)
            raise weir.Error(
                "join needs two inputs: the orders (keyed) and the prices (broadcast = [the second]); "
                f"it has {wired or 'none'}"
            )
        missing = [name for name in SIDE_OUTPUTS if name not in info.side_outputs]
        if missing:
            raise weir.Error(f"join emits to the side outputs `unpriced` and `bad`: declare {missing} in side_outputs")
        self.report_bad_prices = info.subtask_index == 0
        self.prices = ctx.broadcast_map("prices", key_codec=codec.STR, codec=codec.U64)
        self.waiting = ctx.keyed_list("waiting", codec=codec.STR)

    def process(self, ctx, event):
        if event.input == PRICES:
            self._price(ctx, event)
        else:
            self._order(ctx, event)

    def _price(self, ctx, event):
        line = _PRICE_LINE.fullmatch(event.value)
        product = None if line is None else _text(line.group(1))
        price = None if line is None else _count(line.group(2))
        if not product or price is None:
            if self.report_bad_prices:
                weir.log.warn(f"ignoring price line {event.value!r}: expected product<TAB>price_cents")
            return
        self.prices.insert(product, price)
        # The orders of this product that waited for its price, if this
        # subtask holds any.
        waited = []

        def keep(key, quantities):
            if key == line.group(1):
                waited.extend(quantities)
                return False
            return True

        self.waiting.retain_all(keep)
        for quantity in waited:
            _emit_priced(ctx, line.group(1), int(quantity), price)

    def _order(self, ctx, event):
        product = _text(event.key)
        if product is None or _count(event.value) is None:
            ctx.emit_to("bad", event.key, event.value)
            return
        quantity = event.value.decode("ascii")
        price = self.prices.get(product)
        if price is None:
            self.waiting.push(quantity)
            return
        # Orders that waited are emitted first (none once prices flush them,
        # but a price and its orders may arrive in any order).
        if not self.waiting.is_empty():
            for waited in self.waiting.get():
                _emit_priced(ctx, event.key, int(waited), price)
            self.waiting.clear()
        _emit_priced(ctx, event.key, int(quantity), price)

    def finish(self, ctx):
        # No current key in `finish`: `retain_all` reaches every key.
        leftovers = []

        def take(key, quantities):
            leftovers.append((key, quantities))
            return False

        self.waiting.retain_all(take)
        for product, quantities in sorted(leftovers):
            for quantity in quantities:
                ctx.emit_to("unpriced", product, quantity)


def _emit_priced(ctx, product, quantity, price):
    ctx.emit(product, f"{quantity}\t{quantity * price}")


def _count(raw):
    """One or more ASCII digits that fit in 64 bits, as an int; else None."""
    if _DIGITS.fullmatch(raw) is None:
        return None
    value = int(raw)
    return value if value < 2**64 else None


def _text(raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


Operator = weir.export_operator(Join)
