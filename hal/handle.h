/*
 * handle.h - the table behind every public handle.
 *
 * A handle is (generation << 24 | slot + 1), XORed with a per-process key.
 * Looking one up checks the slot
 * exists, holds an object of the expected type and has the same generation:
 * a released handle (generation bumped), a handle of another type, or any
 * garbage value fails the check without a single pointer being followed.
 */
#ifndef AIDEV_HAL_HANDLE_H
#define AIDEV_HAL_HANDLE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum aidev_handle_type {
    AIDEV_HANDLE_NONE = 0,
    AIDEV_HANDLE_CONTEXT,
    AIDEV_HANDLE_DEVICE,
    AIDEV_HANDLE_BUFFER,
    AIDEV_HANDLE_QUEUE,
    AIDEV_HANDLE_EVENT,
    AIDEV_HANDLE_KERNEL,
    AIDEV_HANDLE_GRAPH,
    AIDEV_HANDLE_GRAPH_EXEC,
    AIDEV_HANDLE_CONTEXT_BUFFER, /* hal/placement.h */
    AIDEV_HANDLE_TYPE_COUNT_
} aidev_handle_type;

/* A new handle for |object| of |type|, or 0 when the table is full. */
uintptr_t aidev_handle_alloc(aidev_handle_type type, void *object);

/* The table, shared with the inline lookup below: every API call looks up
 * one or more handles, so the lookup is a few loads and compares in the
 * caller, not a call. */
#define AIDEV_HANDLE_SLOT_BITS 24u
#define AIDEV_HANDLE_CHUNK_BITS 12u
#define AIDEV_HANDLE_CHUNK_SLOTS (1u << AIDEV_HANDLE_CHUNK_BITS)
#define AIDEV_HANDLE_MAX_CHUNKS (1u << (AIDEV_HANDLE_SLOT_BITS - AIDEV_HANDLE_CHUNK_BITS))

typedef struct aidev_handle_slot {
    /* generation << 8 | type; type 0 marks a free slot */
    _Atomic uint64_t tag;
    void *_Atomic object;
    _Atomic uint32_t next_free; /* index + 1 in the free list, 0: end */
} aidev_handle_slot;

extern aidev_handle_slot *_Atomic aidev_handle_chunks[AIDEV_HANDLE_MAX_CHUNKS];
extern uintptr_t aidev_handle_key;

/* The slot |handle| names if its generation is the live one, with its tag. */
static inline aidev_handle_slot *aidev_handle_slot_of(uintptr_t handle, uint64_t *out_tag)
{
    handle ^= __atomic_load_n(&aidev_handle_key, __ATOMIC_RELAXED);
    uintptr_t low = handle & ((1u << AIDEV_HANDLE_SLOT_BITS) - 1);
    if (low == 0)
        return NULL;
    uint32_t index = (uint32_t)low - 1;
    aidev_handle_slot *chunk = __atomic_load_n(&aidev_handle_chunks[index >> AIDEV_HANDLE_CHUNK_BITS],
                                               __ATOMIC_ACQUIRE);
    if (!chunk)
        return NULL;
    aidev_handle_slot *s = &chunk[index & (AIDEV_HANDLE_CHUNK_SLOTS - 1)];
    uint64_t tag = __atomic_load_n(&s->tag, __ATOMIC_ACQUIRE);
    if ((tag >> 8) != (uint64_t)(handle >> AIDEV_HANDLE_SLOT_BITS))
        return NULL;
    *out_tag = tag;
    return s;
}

/* The object behind |handle| if it is live and of |type|, else NULL. */
static inline void *aidev_handle_get(uintptr_t handle, aidev_handle_type type)
{
    uint64_t tag;
    aidev_handle_slot *s = aidev_handle_slot_of(handle, &tag);
    if (!s || (tag & 0xff) != (uint64_t)type)
        return NULL;
    return __atomic_load_n(&s->object, __ATOMIC_RELAXED);
}
/* The type of a live handle, AIDEV_HANDLE_NONE otherwise. */
aidev_handle_type aidev_handle_type_of(uintptr_t handle);
/* Ends |handle|: every later lookup of it fails. */
void aidev_handle_free(uintptr_t handle);
const char *aidev_handle_type_name(aidev_handle_type type);

#endif
