/*
 * services.c - what libaidev offers backends besides events: the clock,
 * debug output and the kernel cache folder.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "hal/internal.h"
#include "hal/library.h"

uint64_t aidev_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

AIDEV_API uint64_t aidev_backend_now_ns(void)
{
    return aidev_now_ns();
}

/* AIDEV_DEBUG is a comma-separated list of topics; "all" enables every one. */
AIDEV_API bool aidev_backend_debug_enabled(const char *topic)
{
    const char *env = getenv("AIDEV_DEBUG");
    if (!env || !*env || !topic)
        return false;
    size_t len = strlen(topic);
    for (const char *p = env; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if ((n == len && strncmp(p, topic, n) == 0) || (n == 3 && strncmp(p, "all", 3) == 0))
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

AIDEV_API void aidev_backend_debug(const char *topic, const char *fmt, ...)
{
    if (!aidev_backend_debug_enabled(topic))
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "aidev: %s: %s\n", topic, line);
}

static bool make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        bool ok = mkdir(path, 0700) == 0 || errno == EEXIST;
        *p = '/';
        if (!ok)
            return false;
    }
    return mkdir(path, 0700) == 0 || errno == EEXIST;
}

AIDEV_API bool aidev_backend_cache_dir(char *out, size_t out_size)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(out, out_size, "%s/aidev", xdg);
    else if (home && home[0] == '/')
        n = snprintf(out, out_size, "%s/.cache/aidev", home);
    else
        return false;
    if (n < 0 || (size_t)n >= out_size)
        return false;
    return make_dirs(out);
}

AIDEV_API aidev_host_kernel_fn aidev_backend_library_host_fn(uint32_t library_index)
{
    if (library_index >= aidev_library_entry_count)
        return NULL;
    return aidev_library_entries[library_index].desc.host_fn;
}

aidev_status aidev_info_put(const void *src, size_t size, size_t value_size, void *value,
                           size_t *size_ret, const char *key_name)
{
    if (size_ret)
        *size_ret = size;
    if (!value) {
        if (!size_ret)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "value and size_ret: both NULL, nothing to return for %s",
                               key_name);
        return AIDEV_SUCCESS;
    }
    if (value_size < size)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "value_size: %zu bytes, but %s needs %zu", value_size, key_name, size);
    memcpy(value, src, size);
    return AIDEV_SUCCESS;
}

aidev_status aidev_info_put_string(const char *s, size_t value_size, void *value,
                                   size_t *size_ret, const char *key_name)
{
    return aidev_info_put(s, strlen(s) + 1, value_size, value, size_ret, key_name);
}

uint32_t aidev_library_find(const char *name)
{
    for (uint32_t i = 0; i < aidev_library_entry_count; i++)
        if (strcmp(aidev_library_entries[i].desc.name, name) == 0)
            return i;
    return UINT32_MAX;
}

/* The public kernels lead the table, so their index here is the
 * library_index backends get; the internal ones follow. */
AIDEV_API uint32_t aidev_library_kernel_count(void)
{
    return aidev_library_public_count;
}

AIDEV_API const aidev_kernel_desc *aidev_library_kernel(uint32_t index)
{
    return index < aidev_library_public_count ? &aidev_library_entries[index].desc : NULL;
}

AIDEV_API uint32_t aidev_backend_library_size(void)
{
    return aidev_library_entry_count;
}

AIDEV_API uint32_t aidev_library_op_count(void)
{
    return aidev_library_op_count_;
}

AIDEV_API const aidev_op_info *aidev_library_op(uint32_t index)
{
    return index < aidev_library_op_count_ ? &aidev_library_ops[index] : NULL;
}
