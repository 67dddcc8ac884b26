/*
 * services.c - what libaidev offers backends besides events: the clock,
 * debug output and the kernel cache folder (and whether it may be trusted).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* ------------------------------------------------------------------------ */
/* The kernel cache folder                                                  */
/* ------------------------------------------------------------------------ */

/* The caches hold what the process loads and runs (driver binaries: native
 * code on PoCL; pipeline data): whoever may write them may plant code. So
 * the loader's rule for plugins applies, stricter still: the folder and
 * every entry must be owned by this process's user and writable by no one
 * else, and the folder comes from secure_getenv, so a setuid program never
 * takes it from its caller. Anything else bypasses the cache: kernels are
 * built from source and nothing is written. */

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

/* Whether |st| (of |path|) is this user's and writable by no one else. */
static bool cache_private(const char *path, const struct stat *st, char *why, size_t why_size)
{
    if (st->st_uid != geteuid()) {
        snprintf(why, why_size, "%s is owned by user %u, not by this process's user %u", path,
                 (unsigned)st->st_uid, (unsigned)geteuid());
        return false;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(why, why_size, "%s is writable by %s (mode %04o)", path,
                 st->st_mode & S_IWOTH ? "every user" : "its group",
                 (unsigned)(st->st_mode & 07777));
        return false;
    }
    return true;
}

/* Says under AIDEV_DEBUG=cache, once per process, why the caches are not
 * used. */
static void cache_bypassed(const char *why)
{
    static atomic_bool said;
    if (aidev_backend_debug_enabled("cache") && !atomic_exchange(&said, true))
        aidev_backend_debug("cache", "%s: the kernel caches are bypassed (kernels are built from "
                            "source, nothing is written)", why);
}

/* Makes |path| and checks that it is a private folder of this user. */
static bool cache_folder_ready(char *path)
{
    char why[4400];
    struct stat st;
    if (!make_dirs(path) || stat(path, &st) != 0) {
        aidev_backend_debug("cache", "%s: %s", path, strerror(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, sizeof why, "%s is not a folder", path);
        cache_bypassed(why);
        return false;
    }
    if (!cache_private(path, &st, why, sizeof why)) {
        cache_bypassed(why);
        return false;
    }
    return true;
}

AIDEV_API bool aidev_backend_cache_dir(char *out, size_t out_size)
{
    const char *xdg = secure_getenv("XDG_CACHE_HOME");
    const char *home = secure_getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(out, out_size, "%s/aidev", xdg);
    else if (home && home[0] == '/')
        n = snprintf(out, out_size, "%s/.cache/aidev", home);
    else
        return false;
    if (n < 0 || (size_t)n >= out_size)
        return false;
    return cache_folder_ready(out);
}

AIDEV_API bool aidev_backend_cache_subdir(const char *name, char *out, size_t out_size)
{
    if (!name || !name[0] || strchr(name, '/') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0 || !aidev_backend_cache_dir(out, out_size))
        return false;
    size_t len = strlen(out);
    int n = snprintf(out + len, out_size - len, "/%s", name);
    if (n < 0 || (size_t)n >= out_size - len)
        return false;
    return cache_folder_ready(out);
}

AIDEV_API int aidev_backend_cache_open(const char *path)
{
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash || slash == path || !slash[1]) {
        errno = EINVAL;
        return -1;
    }
    char folder[4096], why[4400];
    snprintf(folder, sizeof folder, "%.*s", (int)(slash - path), path);
    /* The folder checked is the folder opened in: nothing can be swapped
     * between the check and the open. */
    int dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    struct stat st;
    int fd = -1;
    if (fstat(dir, &st) != 0 || !cache_private(folder, &st, why, sizeof why))
        goto untrusted;
    /* No link, and no FIFO that would block the open. */
    fd = openat(dir, slash + 1, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int err = errno;
        close(dir);
        if (err == ELOOP) {
            aidev_backend_debug("cache", "%s not used: a symbolic link", path);
            err = EPERM;
        }
        errno = err;
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, sizeof why, "%s is not a regular file", path);
        goto untrusted;
    }
    if (!cache_private(path, &st, why, sizeof why))
        goto untrusted;
    close(dir);
    return fd;
untrusted:
    aidev_backend_debug("cache", "%s not used: %s", path, why);
    if (fd >= 0)
        close(fd);
    close(dir);
    errno = EPERM;
    return -1;
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
