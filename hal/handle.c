/*
 * handle.c - the process-wide handle table.
 *
 * Slots live in chunks that are never moved or freed while the process runs,
 * so a lookup is lock-free: load the chunk, compare the slot's tag.
 * Released slots wait in a lock-free stack and go to the next allocations
 * (a framework makes and releases thousands of small buffers, each with a
 * handle: a lock pair each way was a tenth of a small buffer's cost); only
 * a slot never used before takes the lock, to grow the table.
 */
#include "hal/handle.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#define SLOT_BITS AIDEV_HANDLE_SLOT_BITS
#define CHUNK_BITS AIDEV_HANDLE_CHUNK_BITS
#define CHUNK_SLOTS AIDEV_HANDLE_CHUNK_SLOTS
#define MAX_CHUNKS AIDEV_HANDLE_MAX_CHUNKS
#define GEN_MASK ((UINTPTR_MAX >> SLOT_BITS))

_Static_assert(sizeof(uintptr_t) >= 8, "aidev handles need 64-bit pointers");

typedef aidev_handle_slot slot;

aidev_handle_slot *_Atomic aidev_handle_chunks[MAX_CHUNKS];
#define chunks aidev_handle_chunks
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER; /* growth */
static uint32_t slots_made; /* slots handed out at least once; under the lock */
/* The stack of released slots: its top's index + 1 (0: empty) in the low
 * 32 bits, and above them a count bumped by every push and pop, so a pop
 * whose top was popped and pushed again meanwhile (ABA) fails its
 * compare-exchange and retries. */
static _Atomic uint64_t free_top;
static _Atomic uint64_t generation_of_next = 1;
/* Handles are XORed with a per-process key (low slot bits clear), so small
 * integers, addresses and other garbage almost never decode to a live slot
 * and generation. */
uintptr_t aidev_handle_key;
#define handle_key aidev_handle_key

static void choose_key(void)
{
    uintptr_t key = 0;
    if (getrandom(&key, sizeof key, GRND_NONBLOCK) != (ssize_t)sizeof key) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        key = (uintptr_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uintptr_t)&ts;
    }
    /* (Lookups read it without the lock.) */
    __atomic_store_n(&handle_key, key & ~(uintptr_t)((1u << SLOT_BITS) - 1), __ATOMIC_RELAXED);
}

static slot *slot_at(uint32_t index)
{
    slot *chunk = atomic_load_explicit(&chunks[index >> CHUNK_BITS], memory_order_acquire);
    return chunk ? &chunk[index & (CHUNK_SLOTS - 1)] : NULL;
}

/* A released slot's index, taken off the stack; false when it is empty. */
static bool pop_free(uint32_t *out_index)
{
    uint64_t top = atomic_load_explicit(&free_top, memory_order_acquire);
    while ((uint32_t)top) {
        uint32_t index = (uint32_t)top - 1;
        /* The slot may be popped and reused by another thread meanwhile:
         * then |next| is stale and the exchange fails on the count. */
        uint32_t next = atomic_load_explicit(&slot_at(index)->next_free, memory_order_relaxed);
        uint64_t popped = ((top >> 32) + 1) << 32 | next;
        if (atomic_compare_exchange_weak_explicit(&free_top, &top, popped, memory_order_acquire,
                                                  memory_order_acquire)) {
            *out_index = index;
            return true;
        }
    }
    return false;
}

static void push_free(uint32_t index)
{
    slot *s = slot_at(index);
    uint64_t top = atomic_load_explicit(&free_top, memory_order_relaxed);
    uint64_t pushed;
    do {
        atomic_store_explicit(&s->next_free, (uint32_t)top, memory_order_relaxed);
        pushed = ((top >> 32) + 1) << 32 | (index + 1);
    } while (!atomic_compare_exchange_weak_explicit(&free_top, &top, pushed, memory_order_release,
                                                    memory_order_relaxed));
}

/* A slot never used before (the table grows by a chunk when it must);
 * false when the table is full or out of memory. */
static bool take_new_slot(uint32_t *out_index)
{
    bool ok = false;
    pthread_mutex_lock(&table_lock);
    if (slots_made == 0 && !handle_key)
        choose_key();
    uint32_t index = slots_made;
    if (index >= MAX_CHUNKS * CHUNK_SLOTS - 1)
        goto out;
    if ((index & (CHUNK_SLOTS - 1)) == 0) {
        slot *chunk = calloc(CHUNK_SLOTS, sizeof(slot));
        if (!chunk)
            goto out;
        atomic_store_explicit(&chunks[index >> CHUNK_BITS], chunk, memory_order_release);
    }
    slots_made++;
    *out_index = index;
    ok = true;
out:
    pthread_mutex_unlock(&table_lock);
    return ok;
}

static uint64_t next_generation(void)
{
    return atomic_fetch_add_explicit(&generation_of_next, 1, memory_order_relaxed) & GEN_MASK;
}

uintptr_t aidev_handle_alloc(aidev_handle_type type, void *object)
{
    uint32_t index;
    if (!pop_free(&index) && !take_new_slot(&index))
        return 0;
    /* One counter for all slots: a handle value is never reused until the
     * generation wraps after 2^40 allocations. */
    uint64_t gen = next_generation();
    if (gen == 0)
        gen = next_generation();
    slot *s = slot_at(index);
    atomic_store_explicit(&s->object, object, memory_order_relaxed);
    atomic_store_explicit(&s->tag, (gen << 8) | (uint64_t)type, memory_order_release);
    uintptr_t key = __atomic_load_n(&handle_key, __ATOMIC_RELAXED);
    return (((uintptr_t)gen << SLOT_BITS) | (uintptr_t)(index + 1)) ^ key;
}

static slot *slot_of(uintptr_t handle, uint64_t *out_tag)
{
    return aidev_handle_slot_of(handle, out_tag);
}

aidev_handle_type aidev_handle_type_of(uintptr_t handle)
{
    uint64_t tag;
    slot *s = slot_of(handle, &tag);
    return s ? (aidev_handle_type)(tag & 0xff) : AIDEV_HANDLE_NONE;
}

void aidev_handle_free(uintptr_t handle)
{
    uint64_t tag;
    slot *s = slot_of(handle, &tag);
    /* Whoever clears the tag frees the slot: of two releases of one
     * handle, one does. */
    if (!s || (tag & 0xff) == AIDEV_HANDLE_NONE ||
        !atomic_compare_exchange_strong_explicit(&s->tag, &tag, 0, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return;
    atomic_store_explicit(&s->object, NULL, memory_order_relaxed);
    uintptr_t key = __atomic_load_n(&handle_key, __ATOMIC_RELAXED);
    push_free((uint32_t)((handle ^ key) & ((1u << SLOT_BITS) - 1)) - 1);
}

const char *aidev_handle_type_name(aidev_handle_type type)
{
    static const char *const names[AIDEV_HANDLE_TYPE_COUNT_] = {
        "none", "context", "device", "buffer", "queue", "event", "kernel", "graph", "graph exec",
        "context buffer",
    };
    return (unsigned)type < AIDEV_HANDLE_TYPE_COUNT_ ? names[type] : "?";
}
