/*
 * error.c - status names and the thread-local error message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "aidev_config.h"
#include "hal/internal.h"

#define MESSAGE_MAX 4096

static _Thread_local char thread_message[MESSAGE_MAX];

AIDEV_API const char *aidev_version(void)
{
    return AIDEV_VERSION_STRING;
}

AIDEV_API const char *aidev_status_string(aidev_status status)
{
    switch (status) {
#define NAME(s) \
    case s:     \
        return #s;
        NAME(AIDEV_SUCCESS)
        NAME(AIDEV_NOT_READY)
        NAME(AIDEV_ERROR_INVALID_ARGUMENT)
        NAME(AIDEV_ERROR_INVALID_HANDLE)
        NAME(AIDEV_ERROR_OUT_OF_RANGE)
        NAME(AIDEV_ERROR_OUT_OF_HOST_MEMORY)
        NAME(AIDEV_ERROR_OUT_OF_DEVICE_MEMORY)
        NAME(AIDEV_ERROR_UNSUPPORTED)
        NAME(AIDEV_ERROR_NOT_FOUND)
        NAME(AIDEV_ERROR_KERNEL_ARGS)
        NAME(AIDEV_ERROR_COMPILE)
        NAME(AIDEV_ERROR_BACKEND)
        NAME(AIDEV_ERROR_DEVICE_LOST)
        NAME(AIDEV_ERROR_DEPENDENCY)
        NAME(AIDEV_ERROR_TIMEOUT)
        NAME(AIDEV_ERROR_INVALID_STATE)
        NAME(AIDEV_ERROR_QUOTA)
        NAME(AIDEV_ERROR_IO)
        NAME(AIDEV_ERROR_PLUGIN)
        NAME(AIDEV_ERROR_CANCELLED)
#undef NAME
    }
    return "AIDEV_ERROR_UNKNOWN";
}

bool aidev_status_is_known(aidev_status status)
{
    return strcmp(aidev_status_string(status), "AIDEV_ERROR_UNKNOWN") != 0;
}

AIDEV_API const char *aidev_last_error(void)
{
    return thread_message;
}

void aidev_error_clear(void)
{
    thread_message[0] = '\0';
}

char *aidev_error_buffer(void)
{
    return thread_message;
}

const char *aidev_error_message(void)
{
    return thread_message;
}

aidev_status aidev_errorv(aidev_status status, const char *fmt, va_list ap)
{
    /* The message may be built from itself (a prefix added to a backend's
     * text), so format into a copy first. */
    char tmp[MESSAGE_MAX];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    memcpy(thread_message, tmp, sizeof tmp);
    return status;
}

aidev_status aidev_error(aidev_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    aidev_errorv(status, fmt, ap);
    va_end(ap);
    return status;
}

AIDEV_API aidev_status aidev_backend_set_error(aidev_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    aidev_errorv(status, fmt, ap);
    va_end(ap);
    return status;
}

AIDEV_API size_t aidev_type_size(aidev_type type)
{
    return aidev_type_bytes(type);
}

AIDEV_API const char *aidev_type_name(aidev_type type)
{
    static const char *const names[AIDEV_TYPE_COUNT_] = {
        [AIDEV_TYPE_NONE] = "bytes", [AIDEV_TYPE_I8] = "i8",   [AIDEV_TYPE_U8] = "u8",
        [AIDEV_TYPE_I16] = "i16",    [AIDEV_TYPE_U16] = "u16", [AIDEV_TYPE_I32] = "i32",
        [AIDEV_TYPE_U32] = "u32",    [AIDEV_TYPE_I64] = "i64", [AIDEV_TYPE_U64] = "u64",
        [AIDEV_TYPE_F16] = "f16",    [AIDEV_TYPE_F32] = "f32", [AIDEV_TYPE_F64] = "f64",
        [AIDEV_TYPE_BF16] = "bf16",
    };
    return (unsigned)type < AIDEV_TYPE_COUNT_ ? names[type] : "?";
}

AIDEV_API const char *aidev_backend_state_string(aidev_backend_state state)
{
    switch (state) {
    case AIDEV_BACKEND_LOADED:
        return "loaded";
    case AIDEV_BACKEND_SKIPPED:
        return "skipped";
    case AIDEV_BACKEND_FAILED:
        return "failed";
    }
    return "?";
}
