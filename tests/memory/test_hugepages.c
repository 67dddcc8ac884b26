/* Huge pages on the CPU device (whose every memory kind is host memory):
 * reserved hugetlb pages when there are some (the test reserves them when
 * it runs as root), transparent huge pages otherwise, normal pages when
 * switched off, and imported memory reported as what it is. Each case uses
 * its own context, so no cached block of another case answers. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <check.h>

#include <aidev/aidev.h>

#include "memory_util.h"

#if AIDEV_TEST_HAVE_DLPACK
#include <dlpack/dlpack.h>
#endif

#define ck_assert_ok(expr)                                                                     \
    do {                                                                                       \
        aidev_status st_ = (expr);                                                             \
        ck_assert_msg(st_ == AIDEV_SUCCESS, "%s: %s: %s", #expr, aidev_status_string(st_),     \
                      aidev_last_error());                                                     \
    } while (0)

static const aidev_memory_kind kinds[] = {AIDEV_MEMORY_DEVICE, AIDEV_MEMORY_HOST,
                                          AIDEV_MEMORY_SHARED};

static aidev_context cpu_context(aidev_device *out_dev)
{
    aidev_context_desc desc = {.backends = "cpu"};
    aidev_context ctx;
    ck_assert_ok(aidev_context_create(&desc, &ctx));
    ck_assert_ok(aidev_context_get_device(ctx, 0, out_dev));
    return ctx;
}

static void page_kind(aidev_buffer b, char *out, size_t size)
{
    ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_PAGE_KIND, size, out, NULL));
}

/* Writes every byte of |b| and returns what smaps says of its memory.
 * DEVICE memory is not mappable, but on the CPU it is host memory too: a
 * queue fills it, and its DLPack export gives the address. */
static mem_vma touch(aidev_device dev, aidev_buffer b, uint64_t size, void **out_ptr)
{
    uint32_t kind;
    ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_KIND, sizeof kind, &kind, NULL));
    void *p;
    if (kind == AIDEV_MEMORY_DEVICE) {
        aidev_queue q;
        ck_assert_ok(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
        uint8_t pattern = 0x33;
        ck_assert_ok(aidev_enqueue_fill(q, b, 0, size, &pattern, 1, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q));
        ck_assert_ok(aidev_queue_release(q));
        mem_vma v = {0};
#if AIDEV_TEST_HAVE_DLPACK
        DLManagedTensor *t;
        aidev_dlpack_desc d = {.element_type = AIDEV_TYPE_U8};
        ck_assert_ok(aidev_buffer_export_dlpack(b, &d, &t));
        p = t->dl_tensor.data;
        ck_assert_msg(mem_lookup_vma(p, &v), "no mapping holds %p", p);
        t->deleter(t);
#else
        /* No address to look up without DLPack: say what a check expects. */
        p = NULL;
        v.thp_advised = v.hugetlb = true;
        v.kernel_page_kb = 2048;
#endif
        if (out_ptr)
            *out_ptr = p;
        return v;
    }
    ck_assert_ok(aidev_buffer_map(b, 0, size, AIDEV_MAP_WRITE, &p));
    memset(p, 0x33, (size_t)size);
    mem_vma v;
    ck_assert_msg(mem_lookup_vma(p, &v), "no mapping holds %p", p);
    ck_assert_ok(aidev_buffer_unmap(b));
    if (out_ptr)
        *out_ptr = p;
    return v;
}

START_TEST(thp_for_large_buffers)
{
    if (strcmp(mem_thp_mode(), "never") == 0 || mem_free_hugepages_2m() > 0) {
        printf("thp_for_large_buffers: skipped: THP mode '%s', %llu free hugetlb pages\n",
               mem_thp_mode(), (unsigned long long)mem_free_hugepages_2m());
        return;
    }
    unsetenv("AIDEV_HUGEPAGES");
    aidev_device dev;
    aidev_context ctx = cpu_context(&dev);
    for (size_t k = 0; k < 3; k++) {
        /* A size per kind: no block of the previous one is reused. */
        const uint64_t size = (6 + k) << 20;
        aidev_buffer_desc desc = {.size = size, .kind = kinds[k]};
        aidev_buffer b;
        ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
        char kind[16];
        page_kind(b, kind, sizeof kind);
        ck_assert_str_eq(kind, "thp");
        void *p;
        mem_vma v = touch(dev, b, size, &p);
        /* Advised, and on a 2 MiB boundary so every page can be huge. */
        ck_assert_msg(v.thp_advised, "no MADV_HUGEPAGE on the mapping of %p", p);
        ck_assert_uint_eq((uintptr_t)p % (2u << 20), 0);
        printf("thp_for_large_buffers: kind %d: %llu kB in transparent huge pages\n",
               (int)kinds[k], (unsigned long long)v.anon_huge_kb);
        ck_assert_ok(aidev_buffer_release(b));
    }
    /* Small buffers stay in normal pages. */
    aidev_buffer_desc small = {.size = 64 << 10, .kind = AIDEV_MEMORY_HOST};
    aidev_buffer b;
    ck_assert_ok(aidev_buffer_create(dev, &small, &b));
    char kind[16];
    page_kind(b, kind, sizeof kind);
    ck_assert_str_eq(kind, "normal");
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

START_TEST(normal_pages_when_off)
{
    setenv("AIDEV_HUGEPAGES", "off", 1);
    aidev_device dev;
    aidev_context ctx = cpu_context(&dev);
    aidev_buffer_desc desc = {.size = 6 << 20, .kind = AIDEV_MEMORY_HOST};
    aidev_buffer b;
    ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
    char kind[16];
    page_kind(b, kind, sizeof kind);
    ck_assert_str_eq(kind, "normal");
    mem_vma v = touch(dev, b, desc.size, NULL);
    ck_assert(!v.thp_advised && !v.hugetlb);
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_context_release(ctx));
    unsetenv("AIDEV_HUGEPAGES");
}
END_TEST

/* The count to put back, or -1: restored after every test, passed or
 * failed (a checked fixture runs after a failure too), and at exit. */
static long long saved_nr_hugepages = -1;

static void restore_hugepages(void)
{
    if (saved_nr_hugepages < 0)
        return;
    FILE *f = fopen("/proc/sys/vm/nr_hugepages", "w");
    if (f) {
        fprintf(f, "%lld\n", saved_nr_hugepages);
        fclose(f);
    }
    saved_nr_hugepages = -1;
}

/* Reserves |pages| more 2 MiB hugetlb pages; stores the old count. False
 * (with the reason printed) when this process may not or the kernel will
 * not. */
static bool reserve_hugepages(uint64_t pages, uint64_t *old)
{
    const char *path = "/proc/sys/vm/nr_hugepages";
    FILE *f = fopen(path, "r");
    unsigned long long n = 0;
    if (!f || fscanf(f, "%llu", &n) != 1) {
        printf("hugetlb: skipped: cannot read %s\n", path);
        if (f)
            fclose(f);
        return false;
    }
    fclose(f);
    *old = n;
    saved_nr_hugepages = (long long)n;
    if (geteuid() != 0) {
        printf("hugetlb: skipped: reserving huge pages needs root (nr_hugepages is %llu)\n", n);
        return false;
    }
    uint64_t before = mem_free_hugepages_2m();
    f = fopen(path, "w");
    if (!f || fprintf(f, "%llu\n", n + (unsigned long long)pages) < 0 || fclose(f) != 0) {
        printf("hugetlb: skipped: writing %s failed: %s\n", path, strerror(errno));
        return false;
    }
    if (mem_free_hugepages_2m() < before + pages) {
        printf("hugetlb: skipped: the kernel gave %llu of %llu pages (memory too fragmented)\n",
               (unsigned long long)(mem_free_hugepages_2m() - before),
               (unsigned long long)pages);
        return false;
    }
    return true;
}

START_TEST(hugetlb_when_reserved)
{
    unsetenv("AIDEV_HUGEPAGES");
    uint64_t old = 0;
    /* More than the test needs: other programs on the machine may take some
     * while they are reserved. */
    if (!reserve_hugepages(32, &old)) {
        restore_hugepages();
        return;
    }
    aidev_device dev;
    aidev_context ctx = cpu_context(&dev);
    for (size_t k = 0; k < 3; k++) {
        aidev_buffer_desc desc = {.size = (5 + k) << 20, .kind = kinds[k]};
        aidev_buffer b;
        ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
        char kind[16];
        page_kind(b, kind, sizeof kind);
        ck_assert_str_eq(kind, "hugetlb");
        void *p;
        mem_vma v = touch(dev, b, desc.size, &p);
        ck_assert_msg(v.hugetlb && v.kernel_page_kb == 2048,
                      "smaps: ht %d, KernelPageSize %llu kB", v.hugetlb,
                      (unsigned long long)v.kernel_page_kb);
        /* Zero on arrival, data kept: a queue reads what the host wrote. */
        aidev_queue q;
        ck_assert_ok(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
        unsigned char back[16];
        ck_assert_ok(aidev_enqueue_read(q, b, desc.size - 16, 16, back, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q));
        ck_assert_uint_eq(back[15], 0x33);
        ck_assert_ok(aidev_queue_release(q));
        ck_assert_ok(aidev_buffer_release(b));
    }
    /* Imported hugetlb memory is reported as such. */
    void *mem = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    if (mem != MAP_FAILED) {
        aidev_buffer b;
        ck_assert_ok(aidev_buffer_import_host(dev, mem, 4 << 20, AIDEV_TYPE_NONE, &b));
        char kind[16];
        page_kind(b, kind, sizeof kind);
        ck_assert_str_eq(kind, "hugetlb");
        ck_assert_ok(aidev_buffer_release(b));
        munmap(mem, 4 << 20);
    }
    /* Asked for THP only, reserved pages are left alone. */
    setenv("AIDEV_HUGEPAGES", "thp", 1);
    aidev_buffer_desc desc = {.size = 4 << 20, .kind = AIDEV_MEMORY_HOST};
    aidev_buffer b;
    ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
    char kind[16];
    page_kind(b, kind, sizeof kind);
    ck_assert_msg(strcmp(kind, "hugetlb") != 0, "AIDEV_HUGEPAGES=thp gave '%s'", kind);
    ck_assert_ok(aidev_buffer_release(b));
    unsetenv("AIDEV_HUGEPAGES");
    ck_assert_ok(aidev_context_release(ctx));
    restore_hugepages();
}
END_TEST

/* 1 GiB pages for allocations of 1 GiB, where one is reserved. */
static const char *const gig_path = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
static long long saved_gig_pages = -1;

static void restore_gig_pages(void)
{
    if (saved_gig_pages < 0)
        return;
    FILE *f = fopen(gig_path, "w");
    if (f) {
        fprintf(f, "%lld\n", saved_gig_pages);
        fclose(f);
    }
    saved_gig_pages = -1;
}

static void restore_all(void)
{
    restore_hugepages();
    restore_gig_pages();
}

START_TEST(gigantic_pages_when_reserved)
{
    unsetenv("AIDEV_HUGEPAGES");
    FILE *f = fopen(gig_path, "r");
    long long n = -1;
    if (!f || fscanf(f, "%lld", &n) != 1 || geteuid() != 0) {
        printf("gigantic_pages: skipped: %s\n",
               !f ? "no 1 GiB huge page size on this machine"
                  : n < 0 ? "cannot read the count" : "reserving pages needs root");
        if (f)
            fclose(f);
        return;
    }
    fclose(f);
    saved_gig_pages = n;
    f = fopen(gig_path, "w");
    bool wrote = f && fprintf(f, "%lld\n", n + 1) > 0;
    if (f)
        wrote = fclose(f) == 0 && wrote;
    f = fopen("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", "r");
    long long free_pages = 0;
    if (f) {
        if (fscanf(f, "%lld", &free_pages) != 1)
            free_pages = 0;
        fclose(f);
    }
    if (!wrote || free_pages < 1) {
        printf("gigantic_pages: skipped: the kernel did not reserve a 1 GiB page (no 1 GiB of "
               "contiguous memory free)\n");
        restore_gig_pages();
        return;
    }
    aidev_device dev;
    aidev_context ctx = cpu_context(&dev);
    aidev_buffer_desc desc = {.size = 1ull << 30, .kind = AIDEV_MEMORY_HOST};
    aidev_buffer b;
    ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
    char kind[16];
    page_kind(b, kind, sizeof kind);
    ck_assert_str_eq(kind, "hugetlb");
    char *p;
    ck_assert_ok(aidev_buffer_map(b, 0, desc.size, AIDEV_MAP_WRITE, (void **)&p));
    p[0] = 1;
    p[desc.size - 1] = 2;
    mem_vma v;
    ck_assert(mem_lookup_vma(p, &v));
    ck_assert_uint_eq(v.kernel_page_kb, 1u << 20);
    ck_assert_ok(aidev_buffer_unmap(b));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_context_release(ctx));
    restore_gig_pages();
}
END_TEST

START_TEST(imported_memory_reported_as_it_is)
{
    aidev_device dev;
    aidev_context ctx = cpu_context(&dev);
    /* Heap memory: normal pages. */
    void *heap = aligned_alloc(4096, 64 << 10);
    aidev_buffer b;
    ck_assert_ok(aidev_buffer_import_host(dev, heap, 64 << 10, AIDEV_TYPE_NONE, &b));
    char kind[16];
    page_kind(b, kind, sizeof kind);
    ck_assert_str_eq(kind, "normal");
    ck_assert_ok(aidev_buffer_release(b));
    free(heap);
    /* A mapping the caller advised for THP. */
    if (strcmp(mem_thp_mode(), "never") != 0) {
        size_t len = 8 << 20;
        char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ck_assert(raw != MAP_FAILED);
        char *aligned = (char *)(((uintptr_t)raw + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
        ck_assert_int_eq(madvise(aligned, 4 << 20, MADV_HUGEPAGE), 0);
        ck_assert_ok(aidev_buffer_import_host(dev, aligned, 4 << 20, AIDEV_TYPE_NONE, &b));
        page_kind(b, kind, sizeof kind);
        ck_assert_str_eq(kind, "thp");
        ck_assert_ok(aidev_buffer_release(b));
        munmap(raw, len);
    }
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hugepages");
    atexit(restore_all);
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, NULL, restore_all);
    tcase_add_test(tc, thp_for_large_buffers);
    tcase_add_test(tc, normal_pages_when_off);
    tcase_add_test(tc, hugetlb_when_reserved);
    tcase_add_test(tc, gigantic_pages_when_reserved);
    tcase_add_test(tc, imported_memory_reported_as_it_is);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
