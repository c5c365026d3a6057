/*
 * Allocator, owned-result bookkeeping and small helpers; see abi.h.
 */
#include "abi.h"

/* ---- memory primitives (no libc) ---------------------------------------- */
/* Built with bulk memory enabled, so the builtins lower to `memory.copy` and
 * `memory.fill` instructions rather than calls back into these functions. */

void *memcpy(void *dst, const void *src, size_t n) {
    __builtin_memcpy(dst, src, n);
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    __builtin_memmove(dst, src, n);
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    __builtin_memset(dst, c, n);
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}

/* ---- allocator ---------------------------------------------------------- */
/*
 * Power-of-two size classes with one free list each. A block starts with an
 * 8-byte header holding its class, so user pointers are 8-aligned (the
 * largest alignment the canonical ABI asks for). Blocks come from a bump
 * pointer above `__heap_base`, growing the memory as needed, and return to
 * their class's free list when freed: a batch buffer of the same size is
 * reused call after call.
 */

extern unsigned char __heap_base;

#define PAGE 65536u
#define HEADER 8u
#define MIN_CLASS 4u  /* 16-byte blocks */
#define MAX_CLASS 31u /* 2 GiB blocks */

static uint8_t *free_lists[MAX_CLASS + 1];
static uintptr_t heap_top;
static uint64_t heap_end;

/* Handed out for zero-sized allocations: never freed, never written. */
static uint64_t zero_sized;

static void *bump(uint32_t bytes) {
    if (heap_top == 0) {
        heap_top = ((uintptr_t)&__heap_base + 7u) & ~(uintptr_t)7u;
        heap_end = (uint64_t)__builtin_wasm_memory_size(0) * PAGE;
    }
    if ((uint64_t)heap_top + bytes > heap_end) {
        uint64_t need = (uint64_t)heap_top + bytes - heap_end;
        uint64_t pages = (need + PAGE - 1) / PAGE;
        if (__builtin_wasm_memory_grow(0, (size_t)pages) == (size_t)-1) __builtin_trap();
        heap_end += pages * PAGE;
    }
    void *block = (void *)heap_top;
    heap_top += bytes;
    return block;
}

void *mem_alloc(size_t size) {
    if (size == 0) return &zero_sized;
    if (size > (1u << MAX_CLASS) - HEADER) __builtin_trap();
    uint32_t need = (uint32_t)size + HEADER;
    uint32_t class = MIN_CLASS;
    while ((1u << class) < need) class++;
    uint8_t *block = free_lists[class];
    if (block) {
        free_lists[class] = *(uint8_t **)(block + HEADER);
    } else {
        block = bump(1u << class);
    }
    *(uint32_t *)block = class;
    return block + HEADER;
}

void mem_free(void *ptr) {
    if (ptr == 0 || ptr == (void *)&zero_sized) return;
    uint8_t *block = (uint8_t *)ptr - HEADER;
    uint32_t class = *(uint32_t *)block;
    *(uint8_t **)(block + HEADER) = free_lists[class];
    free_lists[class] = block;
}

static uint32_t capacity(void *ptr) {
    if (ptr == 0 || ptr == (void *)&zero_sized) return 0;
    return (1u << *(uint32_t *)((uint8_t *)ptr - HEADER)) - HEADER;
}

void *mem_realloc(void *ptr, size_t size) {
    uint32_t cap = capacity(ptr);
    if (size <= cap) return ptr;
    void *grown = mem_alloc(size);
    if (cap) memcpy(grown, ptr, cap);
    mem_free(ptr);
    return grown;
}

/* The canonical ABI's allocation entry point: the host calls it (old_ptr 0,
 * old_size 0) for every string and list it lowers into this instance. */
WEIR_EXPORT("cabi_realloc")
void *cabi_realloc(void *old_ptr, size_t old_size, size_t align, size_t new_size) {
    (void)old_size;
    if (align > HEADER) __builtin_trap();
    if (old_ptr == 0) return mem_alloc(new_size);
    if (new_size == 0) {
        mem_free(old_ptr);
        return &zero_sized;
    }
    return mem_realloc(old_ptr, new_size);
}

void free_param(void *ptr, uint32_t len) {
    if (len) mem_free(ptr);
}

/* ---- owned results ------------------------------------------------------ */

static void **owned;
static uint32_t owned_len, owned_cap;

void owned_add(void *ptr) {
    if (owned_len == owned_cap) {
        owned_cap = owned_cap ? owned_cap * 2 : 8;
        owned = mem_realloc(owned, owned_cap * sizeof(void *));
    }
    owned[owned_len++] = ptr;
}

void owned_release(void) {
    for (uint32_t i = 0; i < owned_len; i++) mem_free(owned[i]);
    owned_len = 0;
}

/* ---- buffers and text --------------------------------------------------- */

void buf_reserve(buf_t *b, uint32_t extra) {
    uint64_t want = (uint64_t)b->len + extra;
    if (want <= b->cap) return;
    if (want > (1u << MAX_CLASS) - HEADER) __builtin_trap();
    uint64_t cap = b->cap ? b->cap : 64;
    while (cap < want) cap *= 2;
    if (cap > (1u << MAX_CLASS) - HEADER) cap = want;
    b->data = mem_realloc(b->data, (size_t)cap);
    b->cap = capacity(b->data);
}

void buf_push(buf_t *b, const void *bytes, uint32_t len) {
    buf_reserve(b, len);
    memcpy(b->data + b->len, bytes, len);
    b->len += len;
}

void buf_str(buf_t *b, const char *s) {
    uint32_t len = 0;
    while (s[len]) len++;
    buf_push(b, s, len);
}

uint32_t fmt_u64(uint8_t *out, uint64_t v) {
    uint8_t tmp[20];
    uint32_t n = 0;
    do {
        tmp[n++] = (uint8_t)('0' + v % 10);
        v /= 10;
    } while (v);
    for (uint32_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

void buf_u64(buf_t *b, uint64_t v) {
    uint8_t digits[20];
    buf_push(b, digits, fmt_u64(digits, v));
}

void buf_escaped(buf_t *b, const uint8_t *bytes, uint32_t len) {
    static const char hex[] = "0123456789abcdef";
    for (uint32_t i = 0; i < len; i++) {
        uint8_t c = bytes[i];
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"') {
            buf_push(b, &c, 1);
        } else {
            uint8_t esc[4] = {'\\', 'x', (uint8_t)hex[c >> 4], (uint8_t)hex[c & 15]};
            buf_push(b, esc, 4);
        }
    }
}
