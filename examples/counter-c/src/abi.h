/*
 * The few runtime pieces a freestanding WebAssembly guest needs to speak the
 * component model's canonical ABI, written from the specs alone:
 *
 * - an allocator over linear memory (no libc), behind `cabi_realloc`, which
 *   the host calls to place the strings and lists it passes in;
 * - "owned" allocations released by the post-return functions once the host
 *   has copied a result out;
 * - little-endian readers and writers, and an error-message builder.
 *
 * Built with `-nostdlib` for wasm32-freestanding: nothing here imports
 * anything, so the component imports nothing either.
 */
#ifndef WEIR_ABI_H
#define WEIR_ABI_H

#include <stddef.h>
#include <stdint.h>

#define WEIR_EXPORT(name) __attribute__((export_name(name)))

/* Allocation; every failure traps (like a Rust guest that runs out of
 * memory), so callers never see NULL. `mem_free` accepts NULL and the
 * address returned for zero-sized allocations. */
void *mem_alloc(size_t size);
void *mem_realloc(void *ptr, size_t size);
void mem_free(void *ptr);

void *cabi_realloc(void *old_ptr, size_t old_size, size_t align, size_t new_size);

/* Memory a result points into, freed by `owned_release` (called from every
 * post-return function, and at the start of every export in case the host
 * skipped one). */
void owned_add(void *ptr);
void owned_release(void);

/* Frees a list or string the host passed in (a zero-length one may point
 * anywhere, so it is left alone). */
void free_param(void *ptr, uint32_t len);

/* Growable byte buffer. */
typedef struct {
    uint8_t *data;
    uint32_t len;
    uint32_t cap;
} buf_t;

void buf_reserve(buf_t *b, uint32_t extra);
void buf_push(buf_t *b, const void *bytes, uint32_t len);
void buf_str(buf_t *b, const char *s);
void buf_u64(buf_t *b, uint64_t v); /* decimal */
/* Bytes as text for a message: printable ASCII kept, the rest as \xNN, so the
 * message is valid UTF-8 whatever the bytes are. */
void buf_escaped(buf_t *b, const uint8_t *bytes, uint32_t len);

/* Decimal digits of `v` into `out` (at least 20 bytes); returns the length. */
uint32_t fmt_u64(uint8_t *out, uint64_t v);

static inline uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static inline void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)v);
    put_u32(p + 4, (uint32_t)(v >> 32));
}

/* memcpy/memset/memcmp lower to bulk-memory instructions or small loops; the
 * compiler may also emit calls to them, so abi.c defines them. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

#endif
