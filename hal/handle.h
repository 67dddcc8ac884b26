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

#include <stdint.h>

typedef enum aidev_handle_type {
    AIDEV_HANDLE_NONE = 0,
    AIDEV_HANDLE_CONTEXT,
    AIDEV_HANDLE_DEVICE,
    AIDEV_HANDLE_BUFFER,
    AIDEV_HANDLE_QUEUE,
    AIDEV_HANDLE_EVENT,
    AIDEV_HANDLE_KERNEL,
    AIDEV_HANDLE_TYPE_COUNT_
} aidev_handle_type;

/* A new handle for |object| of |type|, or 0 when the table is full. */
uintptr_t aidev_handle_alloc(aidev_handle_type type, void *object);
/* The object behind |handle| if it is live and of |type|, else NULL. */
void *aidev_handle_get(uintptr_t handle, aidev_handle_type type);
/* The type of a live handle, AIDEV_HANDLE_NONE otherwise. */
aidev_handle_type aidev_handle_type_of(uintptr_t handle);
/* Ends |handle|: every later lookup of it fails. */
void aidev_handle_free(uintptr_t handle);
const char *aidev_handle_type_name(aidev_handle_type type);

#endif
