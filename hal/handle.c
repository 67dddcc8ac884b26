/*
 * handle.c - the process-wide handle table.
 *
 * Slots live in chunks that are never moved or freed while the process runs,
 * so a lookup is lock-free: load the chunk, compare the slot's tag. Only
 * allocation and release take the lock.
 */
#include "hal/handle.h"

#include <pthread.h>
#include <stdatomic.h>
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
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t free_head;  /* index + 1, 0: empty */
static uint32_t slots_made; /* slots handed out at least once */
static uint64_t generation_of_next = 1;
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
    handle_key = key & ~(uintptr_t)((1u << SLOT_BITS) - 1);
}

static slot *slot_at(uint32_t index)
{
    slot *chunk = atomic_load_explicit(&chunks[index >> CHUNK_BITS], memory_order_acquire);
    return chunk ? &chunk[index & (CHUNK_SLOTS - 1)] : NULL;
}

uintptr_t aidev_handle_alloc(aidev_handle_type type, void *object)
{
    uintptr_t handle = 0;

    pthread_mutex_lock(&table_lock);
    if (slots_made == 0 && !handle_key)
        choose_key();
    uint32_t index;
    if (free_head) {
        index = free_head - 1;
        free_head = slot_at(index)->next_free;
    } else {
        if (slots_made >= MAX_CHUNKS * CHUNK_SLOTS - 1)
            goto out;
        index = slots_made;
        if ((index & (CHUNK_SLOTS - 1)) == 0) {
            slot *chunk = calloc(CHUNK_SLOTS, sizeof(slot));
            if (!chunk)
                goto out;
            atomic_store_explicit(&chunks[index >> CHUNK_BITS], chunk, memory_order_release);
        }
        slots_made++;
    }
    /* One counter for all slots: a handle value is never reused until the
     * generation wraps after 2^40 allocations. */
    uint64_t gen = generation_of_next++ & GEN_MASK;
    if (gen == 0)
        gen = generation_of_next++ & GEN_MASK;
    slot *s = slot_at(index);
    atomic_store_explicit(&s->object, object, memory_order_relaxed);
    atomic_store_explicit(&s->tag, (gen << 8) | (uint64_t)type, memory_order_release);
    handle = (((uintptr_t)gen << SLOT_BITS) | (uintptr_t)(index + 1)) ^ handle_key;
out:
    pthread_mutex_unlock(&table_lock);
    return handle;
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
    pthread_mutex_lock(&table_lock);
    uint64_t tag;
    slot *s = slot_of(handle, &tag);
    if (s && (tag & 0xff) != AIDEV_HANDLE_NONE) {
        atomic_store_explicit(&s->tag, 0, memory_order_release);
        atomic_store_explicit(&s->object, NULL, memory_order_relaxed);
        uint32_t index = (uint32_t)((handle ^ handle_key) & ((1u << SLOT_BITS) - 1)) - 1;
        s->next_free = free_head;
        free_head = index + 1;
    }
    pthread_mutex_unlock(&table_lock);
}

const char *aidev_handle_type_name(aidev_handle_type type)
{
    static const char *const names[AIDEV_HANDLE_TYPE_COUNT_] = {
        "none", "context", "device", "buffer", "queue", "event", "kernel",
    };
    return (unsigned)type < AIDEV_HANDLE_TYPE_COUNT_ ? names[type] : "?";
}
