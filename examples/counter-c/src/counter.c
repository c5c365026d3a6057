/*
 * Weir example operator `counter`, in C: a keyed running count. For each
 * event it emits the event's key with the number of events seen so far for
 * that key, in decimal. It behaves exactly like the Rust `examples/counter`
 * and saves its state in the same format, so a checkpoint taken by either
 * restores into the other.
 *
 * Written from the contract alone, with no SDK and no generated bindings:
 *
 * - wit/operator.wit: the world `operator-component`; this module exports
 *   `weir:operator/operator@0.1.0` (init, process, snapshot, finish) and
 *   imports nothing (the `host` interface is optional to use);
 * - the canonical ABI (component-model, design/mvp/CanonicalABI.md): how
 *   those functions' parameters and results are flattened to core wasm
 *   values and laid out in linear memory (see "ABI layouts" below);
 * - wit/FRAMING.md: the packed batch of events;
 * - wit/STATE.md: the entries of a state chunk, and postcard's LEB128 varint
 *   for the `u64` count.
 *
 * State: one handle, "count", of kind keyed-value. `snapshot` always answers
 * with the complete state (`incremental: false`, version 1 chunks, one per
 * key group), which the contract allows for an incremental request too.
 * Restored chunks of other handles are kept and returned unchanged by every
 * snapshot, so that no state is dropped.
 *
 * The operator's input must be keyed (`key_by = true` in the job file).
 */
#include "abi.h"

/* ---- ABI layouts ---------------------------------------------------------
 *
 * Flattened signatures (MAX_FLAT_PARAMS = 16, MAX_FLAT_RESULTS = 1):
 *
 *   init(context: operator-context, restored: list<state-chunk>)
 *     params: operator-name (ptr, len), subtask-index, parallelism,
 *             max-parallelism, key-groups option<record{u16,u16}>
 *             (discriminant, start, end), config (ptr, len),
 *             restored (ptr, len): 12 i32
 *   process(input: list<u8>): (ptr, len)
 *   snapshot(checkpoint-id: u64, mode: snapshot-mode): (i64, i32)
 *   finish(): ()
 *
 * Every result is a `result<_, E>` that flattens to more than one value, so
 * each function returns an i32 pointer to the result in memory, and the
 * host calls `cabi_post_<name>` with that pointer once it has copied it.
 *
 * In memory (size/alignment):
 *   result<_, string>             disc u8 @0, string (ptr u32 @4, len u32 @8)
 *   result<list<u8>, string>      disc u8 @0, list/string ptr @4, len @8
 *   result<state-snapshot, string>
 *                                 disc u8 @0; ok: incremental bool @4,
 *                                 chunks ptr @8, len @12; err: string @4/@8
 *   state-chunk (24/4)            handle ptr @0, len @4; kind u8 @8;
 *                                 key-group option<u16>: disc u8 @10,
 *                                 value u16 @12; data ptr @16, len @20
 *   tuple<string, string> (16/4)  key ptr @0, len @4, value ptr @8, len @12
 */
#define CHUNK_SIZE 24u
#define CONFIG_ENTRY_SIZE 16u

enum state_kind { KEYED_VALUE, KEYED_MAP, KEYED_LIST, OPERATOR_VALUE, OPERATOR_LIST };
static const char *const KIND_NAMES[] = {"keyed-value", "keyed-map", "keyed-list", "operator-value",
                                         "operator-list"};

static const char HANDLE[] = "count";
#define HANDLE_LEN 5u

/* FRAMING.md */
#define BATCH_HEADER 8u
#define EVENT_OVERHEAD 18u
#define NO_KEY_GROUP 0xFFFFu
/* STATE.md */
#define CHUNK_VERSION 1u

/* The area every export's result is written to (aligned for any result). */
static uint64_t ret_area[2];

static uint8_t *ret_ok_list(const void *ptr, uint32_t len) {
    uint8_t *r = (uint8_t *)ret_area;
    r[0] = 0;
    put_u32(r + 4, (uint32_t)(uintptr_t)ptr);
    put_u32(r + 8, len);
    return r;
}

static uint8_t *ret_ok_unit(void) {
    uint8_t *r = (uint8_t *)ret_area;
    r[0] = 0;
    return r;
}

/* `err(message)`; the message's buffer is freed by post-return. */
static uint8_t *ret_err(buf_t *message) {
    uint8_t *r = (uint8_t *)ret_area;
    owned_add(message->data);
    r[0] = 1;
    put_u32(r + 4, (uint32_t)(uintptr_t)message->data);
    put_u32(r + 8, message->len);
    return r;
}

static uint8_t *ret_err_str(const char *text) {
    buf_t message = {0};
    buf_str(&message, text);
    return ret_err(&message);
}

/* ---- the keyed table: event key -> (count, key group) ------------------- */

typedef struct {
    uint64_t hash;
    uint64_t count;
    const uint8_t *key;
    uint32_t key_len;
    uint16_t key_group;
} entry_t;

static entry_t *entries;
static uint32_t n_entries, entries_cap;
/* Open addressing, linear probing: 0 = empty, else index into entries + 1. */
static uint32_t *slots;
static uint32_t slots_mask; /* slot count - 1; slots == 0 when empty */

/* Keys are copied into 64 KiB arena blocks (a key never goes away: the
 * counter never clears a count). Blocks are linked through their first word
 * so that a second `init` can free them. */
#define ARENA_BLOCK (65536u - 8u) /* one allocator class of 64 KiB */
static uint8_t *arena_blocks;
static uint8_t *arena_next;
static uint32_t arena_left;

static uint8_t *arena_block(uint32_t size) {
    uint8_t *block = mem_alloc(size);
    *(uint8_t **)block = arena_blocks;
    arena_blocks = block;
    return block + 8;
}

static const uint8_t *copy_key(const uint8_t *key, uint32_t len) {
    uint8_t *copy;
    if (len > ARENA_BLOCK / 4) {
        copy = arena_block(len + 8);
    } else {
        if (len > arena_left) {
            arena_next = arena_block(ARENA_BLOCK);
            arena_left = ARENA_BLOCK - 8;
        }
        copy = arena_next;
        arena_next += len;
        arena_left -= len;
    }
    memcpy(copy, key, len);
    return copy;
}

static uint64_t hash_key(const uint8_t *p, uint32_t len) {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static void rehash(uint32_t slot_count) {
    mem_free(slots);
    slots = mem_alloc((size_t)slot_count * 4);
    memset(slots, 0, (size_t)slot_count * 4);
    slots_mask = slot_count - 1;
    for (uint32_t i = 0; i < n_entries; i++) {
        uint32_t s = (uint32_t)entries[i].hash & slots_mask;
        while (slots[s]) s = (s + 1) & slots_mask;
        slots[s] = i + 1;
    }
}

/* The entry for `key`, or NULL; `*slot` is where a new one would go. */
static entry_t *lookup(const uint8_t *key, uint32_t len, uint64_t hash, uint32_t *slot) {
    uint32_t s = (uint32_t)hash & slots_mask;
    for (;;) {
        uint32_t index = slots[s];
        if (index == 0) {
            *slot = s;
            return 0;
        }
        entry_t *e = &entries[index - 1];
        if (e->hash == hash && e->key_len == len && memcmp(e->key, key, len) == 0) return e;
        s = (s + 1) & slots_mask;
    }
}

/* Looks `key` up, adding it with a count of 0 if absent. */
static entry_t *find_or_insert(const uint8_t *key, uint32_t len, uint16_t key_group, int *created) {
    uint64_t hash = hash_key(key, len);
    if (slots == 0 || (uint64_t)(n_entries + 1) * 2 > (uint64_t)slots_mask + 1) {
        rehash(slots ? (slots_mask + 1) * 2 : 64);
    }
    uint32_t slot;
    entry_t *found = lookup(key, len, hash, &slot);
    *created = found == 0;
    if (found) return found;
    if (n_entries == entries_cap) {
        entries_cap = entries_cap ? entries_cap * 2 : 64;
        entries = mem_realloc(entries, (size_t)entries_cap * sizeof(entry_t));
    }
    entry_t *e = &entries[n_entries++];
    e->hash = hash;
    e->count = 0;
    e->key = copy_key(key, len);
    e->key_len = len;
    e->key_group = key_group;
    slots[slot] = n_entries;
    return e;
}

/* ---- restored chunks of other handles, passed on unread ---------------- */

typedef struct {
    uint8_t *handle;
    uint32_t handle_len;
    uint8_t kind;
    uint8_t has_key_group;
    uint16_t key_group;
    uint8_t *data;
    uint32_t data_len;
} kept_chunk_t;

static kept_chunk_t *kept;
static uint32_t n_kept;

static int initialized;

static void reset_state(void) {
    while (arena_blocks) {
        uint8_t *next = *(uint8_t **)arena_blocks;
        mem_free(arena_blocks);
        arena_blocks = next;
    }
    arena_next = 0;
    arena_left = 0;
    mem_free(entries);
    mem_free(slots);
    entries = 0;
    slots = 0;
    n_entries = entries_cap = slots_mask = 0;
    for (uint32_t i = 0; i < n_kept; i++) {
        free_param(kept[i].handle, kept[i].handle_len);
        free_param(kept[i].data, kept[i].data_len);
    }
    mem_free(kept);
    kept = 0;
    n_kept = 0;
    initialized = 0;
}

/* ---- postcard varint (u64) ---------------------------------------------- */

static uint32_t varint_len(uint64_t v) {
    uint32_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v) {
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Decodes postcard's varint for a u64 (at most 10 bytes, the 10th at most
 * 1), which must fill `len` bytes exactly; 0 on success, else writes the
 * reason to `why` (in postcard's words, as the Rust SDK reports it). */
static int decode_u64(const uint8_t *p, uint32_t len, uint64_t *out, buf_t *why) {
    const char *problem = "Found a varint that didn't terminate. Is the usize too big for this platform?";
    uint64_t v = 0;
    for (uint32_t i = 0; i < 10; i++) {
        if (i == len) {
            problem = "Hit the end of buffer, expected more data";
            break;
        }
        uint8_t byte = p[i];
        v |= (uint64_t)(byte & 0x7f) << (7 * i);
        if ((byte & 0x80) == 0) {
            if (i == 9 && byte > 1) break;
            if (i + 1 != len) {
                buf_str(why, "state `count`: a restored value has ");
                buf_u64(why, len - i - 1);
                buf_str(why, " bytes left over after decoding it as u64");
                return -1;
            }
            *out = v;
            return 0;
        }
    }
    buf_str(why, "state `count`: cannot decode a restored value as u64: ");
    buf_str(why, problem);
    return -1;
}

/* ---- restore ------------------------------------------------------------ */

static void chunk_prefix(buf_t *why, uint16_t key_group) {
    buf_str(why, "state `count` (key group ");
    buf_u64(why, key_group);
    buf_str(why, "): ");
}

/* Loads one version 1 keyed-value chunk of "count" (STATE.md). */
static int restore_chunk(uint16_t key_group, const uint8_t *data, uint32_t len, buf_t *why) {
    const char *truncated = 0;
    if (len < 1) {
        truncated = "state chunk version";
    } else if (data[0] != CHUNK_VERSION) {
        chunk_prefix(why, key_group);
        buf_str(why, "malformed restored chunk: unknown format version ");
        buf_u64(why, data[0]);
        return -1;
    }
    uint32_t at = 1;
    while (!truncated && at < len) {
        const uint8_t *parts[2];
        uint32_t part_lens[2];
        for (int part = 0; part < 2 && !truncated; part++) {
            const char *what = part == 0 ? "state key" : "state value";
            if (len - at < 4) {
                truncated = what;
                break;
            }
            uint32_t n = get_u32(data + at);
            at += 4;
            if (n > len - at) {
                truncated = what;
                break;
            }
            parts[part] = data + at;
            part_lens[part] = n;
            at += n;
        }
        if (truncated) break;
        int created;
        entry_t *e = find_or_insert(parts[0], part_lens[0], key_group, &created);
        if (!created) {
            chunk_prefix(why, key_group);
            buf_str(why, "the restored chunk holds key \"");
            buf_escaped(why, parts[0], part_lens[0]);
            buf_str(why, "\" twice");
            return -1;
        }
        if (decode_u64(parts[1], part_lens[1], &e->count, why)) return -1;
    }
    if (truncated) {
        chunk_prefix(why, key_group);
        buf_str(why, "malformed restored chunk: truncated while reading ");
        buf_str(why, truncated);
        return -1;
    }
    return 0;
}

/* ---- exports -------------------------------------------------------------- */

WEIR_EXPORT("weir:operator/operator@0.1.0#init")
uint8_t *weir_init(uint8_t *name, uint32_t name_len, uint32_t subtask_index, uint32_t parallelism,
                   uint32_t max_parallelism, uint32_t has_key_groups, uint32_t key_groups_start,
                   uint32_t key_groups_end, uint8_t *config, uint32_t config_len, uint8_t *restored,
                   uint32_t restored_len) {
    (void)subtask_index, (void)parallelism, (void)max_parallelism;
    (void)has_key_groups, (void)key_groups_start, (void)key_groups_end;
    owned_release();
    reset_state();

    /* The counter needs nothing from its context: free it. */
    free_param(name, name_len);
    for (uint32_t i = 0; i < config_len; i++) {
        uint8_t *entry = config + i * CONFIG_ENTRY_SIZE;
        free_param((void *)(uintptr_t)get_u32(entry), get_u32(entry + 4));
        free_param((void *)(uintptr_t)get_u32(entry + 8), get_u32(entry + 12));
    }
    free_param(config, config_len * CONFIG_ENTRY_SIZE);

    buf_t why = {0};
    int failed = 0;
    if (restored_len) kept = mem_alloc((size_t)restored_len * sizeof(kept_chunk_t));
    for (uint32_t i = 0; i < restored_len; i++) {
        uint8_t *chunk = restored + i * CHUNK_SIZE;
        uint8_t *handle = (uint8_t *)(uintptr_t)get_u32(chunk);
        uint32_t handle_len = get_u32(chunk + 4);
        uint8_t kind = chunk[8];
        uint8_t has_key_group = chunk[10];
        uint16_t key_group = get_u16(chunk + 12);
        uint8_t *data = (uint8_t *)(uintptr_t)get_u32(chunk + 16);
        uint32_t data_len = get_u32(chunk + 20);
        int mine = handle_len == HANDLE_LEN && memcmp(handle, HANDLE, HANDLE_LEN) == 0;
        if (!mine) {
            /* Another handle's state: kept as it is (owned from now on). */
            kept[n_kept++] = (kept_chunk_t){handle, handle_len, kind, has_key_group, key_group, data, data_len};
            continue;
        }
        if (!failed) {
            if (kind != KEYED_VALUE) {
                buf_str(&why, "state handle `count` is declared as keyed-value but the restored checkpoint holds it as ");
                buf_str(&why, kind < 5 ? KIND_NAMES[kind] : "an unknown kind");
                failed = 1;
            } else if (!has_key_group) {
                buf_str(&why, "state `count`: a restored keyed-value chunk has no key group");
                failed = 1;
            } else {
                failed = restore_chunk(key_group, data, data_len, &why) != 0;
            }
        }
        free_param(handle, handle_len);
        free_param(data, data_len);
    }
    free_param(restored, restored_len * CHUNK_SIZE);

    if (failed) {
        reset_state();
        return ret_err(&why);
    }
    initialized = 1;
    return ret_ok_unit();
}

WEIR_EXPORT("cabi_post_weir:operator/operator@0.1.0#init")
void weir_init_post(uint8_t *ret) {
    (void)ret;
    owned_release();
}

/* Reads the FRAMING.md batch and emits (key, decimal count) per event, with
 * the input event's timestamp and no key group. */
static uint8_t *process_batch(const uint8_t *in, uint32_t len) {
    if (len == 0) return ret_ok_list(0, 0);
    /* The header's fields in order, each checked as soon as it is read. */
    buf_t header_error = {0};
    buf_str(&header_error, "malformed input batch: ");
    if (len < 2) {
        buf_str(&header_error, "truncated while reading batch header");
        return ret_err(&header_error);
    }
    if (in[0] != 'W' || in[1] != 'B') {
        buf_str(&header_error, "bad magic (not a Weir batch)");
        return ret_err(&header_error);
    }
    if (len >= 3 && in[2] != 1) {
        buf_str(&header_error, "unknown format version ");
        buf_u64(&header_error, in[2]);
        return ret_err(&header_error);
    }
    if (len >= 4 && in[3] != 0) {
        static const char hex[] = "0123456789abcdef";
        buf_str(&header_error, "unknown flags 0x");
        uint8_t digits[2] = {(uint8_t)hex[in[3] >> 4], (uint8_t)hex[in[3] & 15]};
        buf_push(&header_error, digits, 2);
        return ret_err(&header_error);
    }
    if (len < BATCH_HEADER) {
        buf_str(&header_error, "truncated while reading batch header");
        return ret_err(&header_error);
    }
    uint32_t count = get_u32(in + 4);
    if (count > (len - BATCH_HEADER) / EVENT_OVERHEAD) {
        buf_str(&header_error, "truncated while reading event count");
        return ret_err(&header_error);
    }
    mem_free(header_error.data);
    if (count == 0) {
        if (len != BATCH_HEADER) {
            buf_t message = {0};
            buf_str(&message, "malformed input batch: ");
            buf_u64(&message, len - BATCH_HEADER);
            buf_str(&message, " bytes left after the last entry");
            return ret_err(&message);
        }
        return ret_ok_list(0, 0);
    }

    /* Each output event is at most 20 bytes (the count's digits) longer than
     * its input event's 18 bytes of framing plus key: this bounds the output. */
    uint64_t bound = (uint64_t)len + (uint64_t)count * 20;
    if (bound > 0x7ffffff0u) return ret_err_str("the output batch would exceed 2 GiB");
    uint8_t *out = mem_alloc((size_t)bound);
    memcpy(out, "WB\x01\x00", 4);
    put_u32(out + 4, count);
    uint8_t *w = out + BATCH_HEADER;

    uint32_t at = BATCH_HEADER;
    for (uint32_t i = 0; i < count; i++) {
        const char *truncated = 0;
        if (len - at < EVENT_OVERHEAD) {
            truncated = len - at < 2 ? "event key group" : len - at < 10 ? "event timestamp"
                        : len - at < 14 ? "event key length" : "event value length";
        }
        uint16_t key_group = 0;
        uint32_t key_len = 0, value_len = 0;
        const uint8_t *timestamp = 0, *key = 0;
        if (!truncated) {
            key_group = get_u16(in + at);
            timestamp = in + at + 2;
            key_len = get_u32(in + at + 10);
            value_len = get_u32(in + at + 14);
            at += EVENT_OVERHEAD;
            key = in + at;
            if (key_len > len - at) {
                truncated = "event key";
            } else if (value_len > len - at - key_len) {
                truncated = "event value";
            }
        }
        if (truncated) {
            mem_free(out);
            buf_t message = {0};
            buf_str(&message, "malformed input batch: truncated while reading ");
            buf_str(&message, truncated);
            return ret_err(&message);
        }
        at += key_len + value_len;
        if (key_group == NO_KEY_GROUP) {
            mem_free(out);
            return ret_err_str("keyed state `count` was used for an event without a key group: the operator's "
                               "input is not keyed (set `key_by = true` on it in the job file)");
        }

        int created;
        entry_t *e = find_or_insert(key, key_len, key_group, &created);
        e->count += 1;

        uint8_t digits[20];
        uint32_t n_digits = fmt_u64(digits, e->count);
        put_u16(w, NO_KEY_GROUP);
        memcpy(w + 2, timestamp, 8);
        put_u32(w + 10, key_len);
        put_u32(w + 14, n_digits);
        memcpy(w + EVENT_OVERHEAD, key, key_len);
        memcpy(w + EVENT_OVERHEAD + key_len, digits, n_digits);
        w += EVENT_OVERHEAD + key_len + n_digits;
    }
    if (at != len) {
        mem_free(out);
        buf_t message = {0};
        buf_str(&message, "malformed input batch: ");
        buf_u64(&message, len - at);
        buf_str(&message, " bytes left after the last entry");
        return ret_err(&message);
    }
    owned_add(out);
    return ret_ok_list(out, (uint32_t)(w - out));
}

WEIR_EXPORT("weir:operator/operator@0.1.0#process")
uint8_t *weir_process(uint8_t *input, uint32_t len) {
    owned_release();
    uint8_t *result = initialized ? process_batch(input, len) : ret_err_str("`process` was called before `init`");
    free_param(input, len);
    return result;
}

WEIR_EXPORT("cabi_post_weir:operator/operator@0.1.0#process")
void weir_process_post(uint8_t *ret) {
    (void)ret;
    owned_release();
}

/* The complete state: one version 1 chunk of "count" per key group that has
 * entries, in key group order, then the kept chunks of other handles. */
static uint8_t *snapshot_state(void) {
    uint32_t n = n_entries;
    /* Entry indices sorted by key group: two stable counting passes. */
    uint32_t *order = mem_alloc((size_t)n * 4), *tmp = mem_alloc((size_t)n * 4);
    for (int pass = 0; pass < 2; pass++) {
        uint32_t counts[257] = {0};
        uint32_t shift = pass * 8;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t index = pass == 0 ? i : tmp[i];
            counts[((entries[index].key_group >> shift) & 0xff) + 1]++;
        }
        for (uint32_t b = 0; b < 256; b++) counts[b + 1] += counts[b];
        for (uint32_t i = 0; i < n; i++) {
            uint32_t index = pass == 0 ? i : tmp[i];
            (pass == 0 ? tmp : order)[counts[(entries[index].key_group >> shift) & 0xff]++] = index;
        }
    }
    mem_free(tmp);

    uint32_t groups = 0;
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        const entry_t *e = &entries[order[i]];
        if (i == 0 || e->key_group != entries[order[i - 1]].key_group) {
            groups++;
            total += 1; /* version byte */
        }
        total += 8 + (uint64_t)e->key_len + varint_len(e->count);
    }
    if (total > 0x7ffffff0u) {
        mem_free(order);
        return ret_err_str("state `count` is larger than 2 GiB");
    }

    uint32_t n_chunks = groups + n_kept;
    uint8_t *chunks = mem_alloc((size_t)n_chunks * CHUNK_SIZE);
    uint8_t *data = mem_alloc((size_t)total);
    owned_add(chunks);
    owned_add(data);
    memset(chunks, 0, (size_t)n_chunks * CHUNK_SIZE);

    uint8_t *w = data;
    uint8_t *chunk = chunks - CHUNK_SIZE;
    for (uint32_t i = 0; i < n; i++) {
        const entry_t *e = &entries[order[i]];
        if (i == 0 || e->key_group != entries[order[i - 1]].key_group) {
            chunk += CHUNK_SIZE;
            put_u32(chunk, (uint32_t)(uintptr_t)HANDLE);
            put_u32(chunk + 4, HANDLE_LEN);
            chunk[8] = KEYED_VALUE;
            chunk[10] = 1;
            put_u16(chunk + 12, e->key_group);
            put_u32(chunk + 16, (uint32_t)(uintptr_t)w);
            *w++ = CHUNK_VERSION;
        }
        put_u32(w, e->key_len);
        memcpy(w + 4, e->key, e->key_len);
        w += 4 + e->key_len;
        uint8_t *value = w + 4;
        uint8_t *end = put_varint(value, e->count);
        put_u32(w, (uint32_t)(end - value));
        w = end;
        /* The chunk's length so far; the last write for a group is right. */
        put_u32(chunk + 20, (uint32_t)(w - (uint8_t *)(uintptr_t)get_u32(chunk + 16)));
    }
    mem_free(order);

    for (uint32_t i = 0; i < n_kept; i++) {
        chunk += CHUNK_SIZE;
        const kept_chunk_t *k = &kept[i];
        put_u32(chunk, (uint32_t)(uintptr_t)k->handle);
        put_u32(chunk + 4, k->handle_len);
        chunk[8] = k->kind;
        chunk[10] = k->has_key_group;
        put_u16(chunk + 12, k->key_group);
        put_u32(chunk + 16, (uint32_t)(uintptr_t)k->data);
        put_u32(chunk + 20, k->data_len);
    }

    uint8_t *r = (uint8_t *)ret_area;
    r[0] = 0;
    r[4] = 0; /* incremental: false, whatever the mode asked for */
    put_u32(r + 8, n_chunks ? (uint32_t)(uintptr_t)chunks : 0);
    put_u32(r + 12, n_chunks);
    return r;
}

WEIR_EXPORT("weir:operator/operator@0.1.0#snapshot")
uint8_t *weir_snapshot(uint64_t checkpoint_id, uint32_t mode) {
    (void)checkpoint_id, (void)mode;
    owned_release();
    if (!initialized) return ret_err_str("`snapshot` was called before `init`");
    return snapshot_state();
}

WEIR_EXPORT("cabi_post_weir:operator/operator@0.1.0#snapshot")
void weir_snapshot_post(uint8_t *ret) {
    (void)ret;
    owned_release();
}

WEIR_EXPORT("weir:operator/operator@0.1.0#finish")
uint8_t *weir_finish(void) {
    owned_release();
    if (!initialized) return ret_err_str("`finish` was called before `init`");
    return ret_ok_list(0, 0);
}

WEIR_EXPORT("cabi_post_weir:operator/operator@0.1.0#finish")
void weir_finish_post(uint8_t *ret) {
    (void)ret;
    owned_release();
}
