/*
 * bench_memory.c - what the OS-level memory work buys, on every device.
 *
 *   memory.random_4k_reads   reads at random 4 KiB strides over a HOST buffer
 *                            of 4 GiB (1 GiB with --quick; less where the
 *                            device's largest buffer is), in the huge pages
 *                            aidev gave it, against the same reads over an
 *                            mmap of the same size kept in 4 KiB pages
 *                            (MADV_NOHUGEPAGE). Below 1: fewer TLB misses.
 *   memory.zeroed_alloc_1g   a zeroed 1 GiB HOST buffer made and every page
 *                            first touched (the zeroing happens in the
 *                            kernel's page faults, or in the driver),
 *                            against memset of 1 GiB of resident memory.
 *   memory.uninit_alloc_1g   the same with AIDEV_BUFFER_UNINITIALIZED,
 *                            against the zeroed one: what zeroing costs.
 *   memory.map_shared_1g     aidev_buffer_map + unmap of a whole 1 GiB
 *                            SHARED buffer, against the same of a 4 KiB one.
 *                            Near 1: the map moves no data (zero-copy).
 *
 * Each row first checks MemAvailable and is skipped, with a message on
 * stderr, where the machine has too little.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#define GIB ((uint64_t)1 << 30)
#define PAGE 4096u

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static uint64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kb << 10;
}

/* Room for |bytes| with 512 MiB to spare; says why not on stderr. */
static bool have_memory(const char *row, const char *device, uint64_t bytes)
{
    uint64_t avail = mem_available();
    if (avail >= bytes + (512ull << 20))
        return true;
    fprintf(stderr,
            "aidev-bench: %s on %s: skipped: needs %" PRIu64 " MiB free, MemAvailable is %" PRIu64
            " MiB\n",
            row, device, (bytes >> 20) + 512, avail >> 20);
    return false;
}

static bool offers(aidev_device dev, aidev_memory_kind kind)
{
    uint32_t kinds = 0;
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MEMORY_KINDS, sizeof kinds, &kinds, NULL);
    return (kinds & AIDEV_MEMORY_KIND_BIT(kind)) != 0;
}

/* Writes one byte of every page: makes the memory resident. */
static void touch_pages(volatile char *p, uint64_t size)
{
    for (uint64_t off = 0; off < size; off += PAGE)
        p[off] = 1;
}

/* |reads| loads at random page-aligned strides (plus a varying offset in
 * the page); ns per load. */
static double random_reads(const char *p, uint64_t size, uint64_t reads)
{
    uint64_t pages = size / PAGE, x = 0x9e3779b97f4a7c15ull, sum = 0;
    double t0 = bench_now();
    for (uint64_t i = 0; i < reads; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        sum += *(const volatile uint64_t *)(p + (x % pages) * PAGE + (i & 63) * 64 % PAGE);
    }
    double t = bench_now() - t0;
    if (sum == 42) /* keeps the loads */
        fprintf(stderr, " ");
    return t * 1e9 / (double)reads;
}

/* ------------------------------------------------------------------------ */
/* Rows                                                                     */
/* ------------------------------------------------------------------------ */

static void random_reads_row(const bench_options *opt, aidev_device dev, const char *name,
                             const char *backend)
{
    const char *row_name = "memory.random_4k_reads";
    uint64_t size = opt->quick ? GIB : 4 * GIB;
    uint64_t reads = opt->quick ? (2u << 20) : (16u << 20);
    if (!bench_selected(opt, row_name) || !offers(dev, AIDEV_MEMORY_HOST))
        return;
    /* Within the device's largest buffer (2 GiB on some drivers). */
    uint64_t max_alloc = 0;
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MAX_ALLOC_BYTES, sizeof max_alloc, &max_alloc,
                          NULL);
    while (max_alloc && size > max_alloc && size > GIB)
        size /= 2;
    if (!have_memory(row_name, name, size))
        return;
    aidev_buffer_desc desc = {.size = size, .kind = AIDEV_MEMORY_HOST};
    aidev_buffer b;
    char *p;
    char kind[16] = "?";
    if (aidev_buffer_create(dev, &desc, &b) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: %s on %s: %s\n", row_name, name, aidev_last_error());
        return;
    }
    aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_PAGE_KIND, sizeof kind, kind, NULL);
    if (aidev_buffer_map(b, 0, size, AIDEV_MAP_READ | AIDEV_MAP_WRITE, (void **)&p) !=
        AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: %s on %s: %s\n", row_name, name, aidev_last_error());
        aidev_buffer_release(b);
        return;
    }
    touch_pages(p, size);
    random_reads(p, size, reads / 8); /* warm the page tables */
    double aidev_ns = random_reads(p, size, reads);
    aidev_buffer_unmap(b);
    aidev_buffer_release(b);

    /* The baseline after the buffer is gone: one of the two at a time. */
    char *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        fprintf(stderr, "aidev-bench: %s: mmap of the baseline failed\n", row_name);
        return;
    }
    madvise(base, size, MADV_NOHUGEPAGE);
    touch_pages(base, size);
    random_reads(base, size, reads / 8);
    double base_ns = random_reads(base, size, reads);
    munmap(base, size);

    char baseline[128];
    snprintf(baseline, sizeof baseline,
             "mmap in 4 KiB pages (MADV_NOHUGEPAGE); aidev: %s pages, %" PRIu64 " GiB", kind,
             size / GIB);
    bench_row row = {
        .name = row_name,
        .device = name,
        .backend = backend,
        .value = aidev_ns,
        .unit = "ns/read (lower is better)",
        .baseline = baseline,
        .baseline_value = base_ns,
    };
    bench_emit(opt, &row);
}

/* Seconds to make a 1 GiB HOST buffer with |flags| and touch every page. */
static double alloc_and_touch(aidev_device dev, uint32_t flags, bool *ok)
{
    aidev_buffer_desc desc = {.size = GIB, .kind = AIDEV_MEMORY_HOST, .flags = flags};
    aidev_buffer b;
    char *p;
    double t0 = bench_now();
    *ok = aidev_buffer_create(dev, &desc, &b) == AIDEV_SUCCESS;
    if (!*ok)
        return 0;
    *ok = aidev_buffer_map(b, 0, GIB, AIDEV_MAP_WRITE, (void **)&p) == AIDEV_SUCCESS;
    if (*ok) {
        touch_pages(p, GIB);
        aidev_buffer_unmap(b);
    }
    double t = bench_now() - t0;
    aidev_buffer_release(b);
    return t;
}

static void zeroing_rows(const bench_options *opt, aidev_device dev, const char *name,
                         const char *backend)
{
    const char *zeroed_name = "memory.zeroed_alloc_1g", *uninit_name = "memory.uninit_alloc_1g";
    bool want_zeroed = bench_selected(opt, zeroed_name);
    bool want_uninit = bench_selected(opt, uninit_name);
    if ((!want_zeroed && !want_uninit) || !offers(dev, AIDEV_MEMORY_HOST) ||
        !have_memory(zeroed_name, name, GIB))
        return;
    const int reps = opt->quick ? 1 : 3;
    double zeroed[3], uninit[3], memset_s[3];
    bool ok = true;
    /* Unmeasured first: the kernel's first huge-page faults may compact. */
    alloc_and_touch(dev, AIDEV_BUFFER_UNINITIALIZED, &ok);
    for (int i = 0; i < reps && ok; i++) {
        zeroed[i] = alloc_and_touch(dev, 0, &ok);
        if (ok)
            uninit[i] = alloc_and_touch(dev, AIDEV_BUFFER_UNINITIALIZED, &ok);
    }
    if (!ok) {
        fprintf(stderr, "aidev-bench: %s on %s: %s\n", zeroed_name, name, aidev_last_error());
        return;
    }
    /* memset of memory that is already resident: the cost of zeroing alone. */
    char *m = malloc(GIB);
    if (!m)
        return;
    memset(m, 1, GIB);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        memset(m, 0, GIB);
        memset_s[i] = bench_now() - t0;
        if (m[i * 4096] != 0)
            fprintf(stderr, " ");
    }
    free(m);
    double z = bench_median(zeroed, reps) * 1e3;
    if (want_zeroed) {
        bench_row row = {.name = zeroed_name, .device = name, .backend = backend, .value = z,
                         .unit = "ms (lower is better)",
                         .baseline = "memset 1 GiB of resident memory",
                         .baseline_value = bench_median(memset_s, reps) * 1e3};
        bench_emit(opt, &row);
    }
    if (want_uninit) {
        bench_row row = {.name = uninit_name, .device = name, .backend = backend,
                         .value = bench_median(uninit, reps) * 1e3,
                         .unit = "ms (lower is better)",
                         .baseline = "zeroed 1 GiB alloc + first touch", .baseline_value = z};
        bench_emit(opt, &row);
    }
}

/* Median seconds of map + unmap of all of |b|. */
static double map_unmap(aidev_buffer b, uint64_t size, int reps, bool *ok)
{
    double t[32];
    for (int i = 0; i < reps; i++) {
        void *p;
        double t0 = bench_now();
        *ok = aidev_buffer_map(b, 0, size, AIDEV_MAP_READ | AIDEV_MAP_WRITE, &p) ==
                  AIDEV_SUCCESS &&
              aidev_buffer_unmap(b) == AIDEV_SUCCESS;
        t[i] = bench_now() - t0;
        if (!*ok)
            return 0;
    }
    return bench_median(t, reps);
}

static void map_row(const bench_options *opt, aidev_device dev, const char *name,
                    const char *backend)
{
    const char *row_name = "memory.map_shared_1g";
    if (!bench_selected(opt, row_name) || !offers(dev, AIDEV_MEMORY_SHARED) ||
        !have_memory(row_name, name, GIB))
        return;
    aidev_buffer_desc big = {.size = GIB, .kind = AIDEV_MEMORY_SHARED};
    aidev_buffer_desc small = {.size = PAGE, .kind = AIDEV_MEMORY_SHARED};
    aidev_buffer b = NULL, s = NULL;
    bool ok = aidev_buffer_create(dev, &big, &b) == AIDEV_SUCCESS &&
              aidev_buffer_create(dev, &small, &s) == AIDEV_SUCCESS;
    const int reps = opt->quick ? 5 : 31;
    double tb = 0, ts = 0;
    if (ok) {
        /* Resident first, so neither side pays first-touch faults. */
        char *p;
        ok = aidev_buffer_map(b, 0, GIB, AIDEV_MAP_WRITE, (void **)&p) == AIDEV_SUCCESS;
        if (ok) {
            touch_pages(p, GIB);
            aidev_buffer_unmap(b);
            tb = map_unmap(b, GIB, reps, &ok);
        }
        if (ok)
            ts = map_unmap(s, PAGE, reps, &ok);
    }
    if (ok) {
        bench_row row = {.name = row_name, .device = name, .backend = backend,
                         .value = tb * 1e6, .unit = "us (lower is better)",
                         .baseline = "map + unmap of a 4 KiB SHARED buffer",
                         .baseline_value = ts * 1e6};
        bench_emit(opt, &row);
    } else {
        fprintf(stderr, "aidev-bench: %s on %s: %s\n", row_name, name, aidev_last_error());
    }
    if (b)
        aidev_buffer_release(b);
    if (s)
        aidev_buffer_release(s);
}

void bench_memory(const bench_options *opt)
{
    uint32_t n = 0;
    aidev_context_get_devices(opt->context, &n, NULL);
    for (uint32_t i = 0; i < n; i++) {
        aidev_device dev;
        aidev_context_get_device(opt->context, i, &dev);
        char name[256], backend[32];
        bench_device_names(dev, name, sizeof name, backend, sizeof backend);
        random_reads_row(opt, dev, name, backend);
        zeroing_rows(opt, dev, name, backend);
        map_row(opt, dev, name, backend);
    }
}
