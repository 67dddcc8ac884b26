/*
 * error.c - the thread-local message of libaidev-mpi's calls.
 *
 * libaidev keeps its own message (aidev_last_error) and offers no way to
 * set it from outside, so this library keeps one beside it; where a
 * libaidev call fails inside, its message is carried over.
 */
#include <stdio.h>
#include <string.h>

#include "mpi/internal.h"

#define MESSAGE_MAX 2048

static _Thread_local char mpi_thread_message[MESSAGE_MAX];

AIDEV_MPI_API const char *aidev_mpi_last_error(void)
{
    return mpi_thread_message;
}

void aidev_mpi_error_clear(void)
{
    mpi_thread_message[0] = '\0';
}

aidev_status aidev_mpi_fail(aidev_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mpi_thread_message, sizeof mpi_thread_message, fmt, ap);
    va_end(ap);
    return status;
}

aidev_status aidev_mpi_fail_aidev(aidev_status status, const char *call)
{
    return aidev_mpi_fail(status, "%s: %s: %s", call, aidev_status_string(status),
                          aidev_last_error());
}

void aidev_mpi_describe(int code, const char *call, char *out, size_t out_size)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", code);
    snprintf(out, out_size, "%s: %s", call, text);
}

void aidev_mpi_outcome_set(aidev_mpi_outcome *o, aidev_status status, const char *fmt, ...)
{
    o->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof o->message, fmt, ap);
    va_end(ap);
}
