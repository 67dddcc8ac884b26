/*
 * cache.c - building programs, through an on-disk cache of their binaries.
 *
 * PoCL compiles a program in about a second; a GPU driver in tens of
 * milliseconds. The binary of every program built from source is kept in
 * aidev_backend_cache_dir()/opencl, one file per key:
 *
 *   key   = the device's identity (platform, device, vendor, driver and
 *           their versions) + the build options + a 128-bit hash of the
 *           source; the file name is a 128-bit hash of the key
 *   file  = header {magic, format, key size, payload size, checksum of
 *           key and payload} + key + payload (the driver's binary)
 *
 * The folder and every entry must be this user's alone (owned by the
 * process's user, writable by no one else; aidev_backend_cache_subdir and
 * aidev_backend_cache_open check), else what another user planted would
 * run: a folder that is not bypasses the cache, an entry that is not is
 * treated as damaged. A file whose header, key or checksum does not match,
 * or whose binary the driver refuses, is never trusted: it is removed and
 * the program built from source again, which writes a fresh entry. (The
 * checksum catches damage, not a writer: anyone can compute it.) Entries are written to a
 * temporary file and renamed into place, so a reader never sees half of
 * one, and two processes may race harmlessly.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/opencl/ocl_internal.h"

#define CACHE_MAGIC "AIDEVCL"
#define CACHE_FORMAT 1u
/* An entry larger than this is not a program binary. */
#define CACHE_MAX_PAYLOAD (512u << 20)
/* Room for the build log in an error message (libaidev keeps 4 KiB). */
#define LOG_ROOM 3000

typedef struct cache_header {
    char magic[8];
    uint32_t format;
    uint32_t key_size;
    uint64_t payload_size;
    uint64_t checksum;
} cache_header;

/* ------------------------------------------------------------------------ */
/* Hashing                                                                  */
/* ------------------------------------------------------------------------ */

/* FNV-1a over the bytes, then a 64-bit finaliser so that every input bit
 * reaches every output bit. */
static uint64_t hash64(const void *data, size_t size, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < size; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static void hash128_hex(const void *data, size_t size, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)hash64(data, size, 0),
             (unsigned long long)hash64(data, size, 0x9e3779b97f4a7c15ull));
}

static uint64_t entry_checksum(const char *key, size_t key_size, const void *payload,
                               size_t payload_size)
{
    uint64_t h = hash64(key, key_size, 0x243f6a8885a308d3ull);
    return hash64(payload, payload_size, h);
}

/* ------------------------------------------------------------------------ */
/* Entries                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct cache_entry {
    char path[4200];
    char *key;
    size_t key_size;
} cache_entry;

/* Fills the key and path of the entry of |source| built with |options|;
 * false when there is no cache folder. */
static bool entry_init(cache_entry *e, const ocl_device *dev, const char *source,
                       size_t source_size, const char *options)
{
    char dir[4096];
    if (!aidev_backend_cache_subdir("opencl", dir, sizeof dir))
        return false;
    char source_hash[33], key_hash[33];
    hash128_hex(source, source_size, source_hash);
    size_t size = strlen(dev->desc->identity) + strlen(options) + sizeof source_hash + 8;
    e->key = malloc(size);
    if (!e->key)
        return false;
    e->key_size = (size_t)snprintf(e->key, size, "%s\n%s\n%s", dev->desc->identity, options,
                                   source_hash);
    hash128_hex(e->key, e->key_size, key_hash);
    snprintf(e->path, sizeof e->path, "%s/%s.bin", dir, key_hash);
    return true;
}

/* Reads the entry's payload; NULL, with |why| said, when it is absent or
 * cannot be trusted. */
static unsigned char *entry_read(const cache_entry *e, size_t *out_size, const char **why)
{
    int fd = aidev_backend_cache_open(e->path);
    if (fd < 0) {
        *why = errno == EPERM ? "not this user's alone (AIDEV_DEBUG=cache says why)" : "absent";
        return NULL;
    }
    unsigned char *data = NULL;
    cache_header h;
    struct stat st;
    *why = "shorter than its header";
    if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof h ||
        read(fd, &h, sizeof h) != (ssize_t)sizeof h)
        goto out;
    *why = "not an aidev cache entry of this format";
    if (memcmp(h.magic, CACHE_MAGIC, sizeof CACHE_MAGIC) != 0 || h.format != CACHE_FORMAT)
        goto out;
    *why = "its sizes do not match the file";
    if (h.key_size != e->key_size || h.payload_size == 0 || h.payload_size > CACHE_MAX_PAYLOAD ||
        (uint64_t)st.st_size != sizeof h + h.key_size + h.payload_size)
        goto out;
    *why = "out of host memory";
    data = malloc(h.key_size + h.payload_size);
    if (!data)
        goto out;
    *why = "truncated";
    size_t want = h.key_size + (size_t)h.payload_size;
    if (read(fd, data, want) != (ssize_t)want)
        goto fail;
    *why = "made for another key";
    if (memcmp(data, e->key, e->key_size) != 0)
        goto fail;
    *why = "checksum mismatch";
    if (entry_checksum(e->key, e->key_size, data + h.key_size, (size_t)h.payload_size) !=
        h.checksum)
        goto fail;
    memmove(data, data + h.key_size, (size_t)h.payload_size);
    *out_size = (size_t)h.payload_size;
    *why = NULL;
    goto out;
fail:
    free(data);
    data = NULL;
out:
    close(fd);
    return data;
}

static bool write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        size -= (size_t)n;
    }
    return true;
}

static void entry_write(const cache_entry *e, const unsigned char *payload, size_t size)
{
    char tmp[sizeof e->path + 16];
    snprintf(tmp, sizeof tmp, "%s.XXXXXX", e->path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        aidev_backend_debug("opencl", "cache: cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    cache_header h = {.format = CACHE_FORMAT,
                      .key_size = (uint32_t)e->key_size,
                      .payload_size = size,
                      .checksum = entry_checksum(e->key, e->key_size, payload, size)};
    memcpy(h.magic, CACHE_MAGIC, sizeof CACHE_MAGIC);
    bool ok = write_all(fd, &h, sizeof h) && write_all(fd, e->key, e->key_size) &&
              write_all(fd, payload, size);
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, e->path) != 0) {
        aidev_backend_debug("opencl", "cache: cannot write %s: %s", e->path, strerror(errno));
        unlink(tmp);
    }
}

/* ------------------------------------------------------------------------ */
/* Building                                                                 */
/* ------------------------------------------------------------------------ */

/* The program's binary for our one device, malloc'd; NULL when the driver
 * gives none. */
static unsigned char *program_binary(cl_program program, size_t *out_size)
{
    size_t size = 0;
    if (ocl.clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0 || size > CACHE_MAX_PAYLOAD)
        return NULL;
    unsigned char *binary = malloc(size);
    if (!binary)
        return NULL;
    if (ocl.clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof binary, &binary, NULL) !=
        CL_SUCCESS) {
        free(binary);
        return NULL;
    }
    *out_size = size;
    return binary;
}

static cl_program build_from_binary(ocl_device *dev, const unsigned char *binary, size_t size,
                                    const char *options)
{
    cl_int err, status = CL_SUCCESS;
    cl_program program =
        ocl.clCreateProgramWithBinary(dev->context, 1, &dev->id, &size, &binary, &status, &err);
    if (!program)
        return NULL;
    if (status != CL_SUCCESS ||
        ocl.clBuildProgram(program, 1, &dev->id, options, NULL, NULL) != CL_SUCCESS) {
        ocl.clReleaseProgram(program);
        return NULL;
    }
    return program;
}

static aidev_status build_failure(ocl_device *dev, cl_program program, const char *name,
                                  cl_int err)
{
    size_t size = 0;
    char *log = NULL;
    if (ocl.clGetProgramBuildInfo(program, dev->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &size) ==
            CL_SUCCESS &&
        size && (log = malloc(size + 1)) != NULL) {
        if (ocl.clGetProgramBuildInfo(program, dev->id, CL_PROGRAM_BUILD_LOG, size, log, NULL) !=
            CL_SUCCESS)
            log[0] = '\0';
        log[size] = '\0';
    }
    aidev_status st = ocl_status(err);
    if (err == CL_BUILD_PROGRAM_FAILURE || err == CL_INVALID_BUILD_OPTIONS)
        st = AIDEV_ERROR_COMPILE;
    st = aidev_backend_set_error(st,
                                 "kernel '%s': OpenCL C build failed on '%s': clBuildProgram: "
                                 "%s (%d)\nbuild log:\n%.*s",
                                 name, dev->desc->info.name, ocl_error_name(err), (int)err,
                                 LOG_ROOM, log && log[0] ? log : "(the driver gave no log)");
    free(log);
    return st;
}

static aidev_status build_from_source(ocl_device *dev, const char *name, const char *source,
                                      size_t size, const char *options, cl_program *out)
{
    cl_int err;
    cl_program program = ocl.clCreateProgramWithSource(dev->context, 1, &source, &size, &err);
    if (!program)
        return ocl_fail("clCreateProgramWithSource", err, "kernel '%s'", name);
    uint64_t t0 = aidev_backend_now_ns();
    err = ocl.clBuildProgram(program, 1, &dev->id, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        aidev_status st = build_failure(dev, program, name, err);
        ocl.clReleaseProgram(program);
        return st;
    }
    aidev_backend_debug("opencl", "built '%s' for %s from source in %.1f ms", name,
                        dev->desc->info.name, (double)(aidev_backend_now_ns() - t0) / 1e6);
    *out = program;
    return AIDEV_SUCCESS;
}

aidev_status ocl_program_build(ocl_device *dev, const char *name, const char *source,
                               size_t source_size, const char *options, cl_program *out)
{
    if (!options)
        options = "";
    cache_entry e = {.key = NULL};
    bool cached = entry_init(&e, dev, source, source_size, options);
    if (cached) {
        size_t size = 0;
        const char *why;
        unsigned char *binary = entry_read(&e, &size, &why);
        bool read_ok = binary != NULL;
        cl_program program = read_ok ? build_from_binary(dev, binary, size, options) : NULL;
        free(binary);
        if (program) {
            aidev_backend_debug("opencl", "cache hit: '%s' from %s", name, e.path);
            free(e.key);
            *out = program;
            return AIDEV_SUCCESS;
        }
        if (read_ok)
            why = "the driver refused its binary (stale)";
        aidev_backend_debug("opencl", "cache miss: '%s' (%s: %s)", name, e.path, why);
        if (strcmp(why, "absent") != 0)
            unlink(e.path); /* never trusted again */
    }
    aidev_status st = build_from_source(dev, name, source, source_size, options, out);
    if (st == AIDEV_SUCCESS && cached) {
        size_t size = 0;
        unsigned char *binary = program_binary(*out, &size);
        if (binary)
            entry_write(&e, binary, size);
        free(binary);
    }
    free(e.key);
    return st;
}
