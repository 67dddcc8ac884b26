/* The Vulkan backend's block sub-allocator (backends/vulkan/allocator.c):
 * alignment, exhaustion, fragmentation, coalescing, and a randomised run
 * checked against a byte map. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "backends/vulkan/allocator.h"

/* The allocator's own invariants: free ranges sorted, apart, in bounds,
 * summing to free_bytes. */
static void check_invariants(const vkb_suballoc *a)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < a->range_count; i++) {
        const vkb_range *r = &a->ranges[i];
        ck_assert_uint_gt(r->size, 0);
        ck_assert_uint_le(r->offset + r->size, a->size);
        if (i > 0) /* sorted, and never adjacent: adjacent ranges merge */
            ck_assert_uint_lt(a->ranges[i - 1].offset + a->ranges[i - 1].size, r->offset);
        sum += r->size;
    }
    ck_assert_uint_eq(sum, a->free_bytes);
    ck_assert_uint_le(a->range_count, a->allocations + 1);
}

START_TEST(alignment)
{
    vkb_suballoc a;
    ck_assert(vkb_suballoc_init(&a, 1 << 20));
    const uint64_t aligns[] = {1, 4, 16, 64, 256, 4096, 48, 3};
    uint64_t off;
    for (int round = 0; round < 4; round++)
        for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
            ck_assert(vkb_suballoc_alloc(&a, 1 + 7 * i, aligns[i], &off));
            ck_assert_uint_eq(off % aligns[i], 0);
            check_invariants(&a);
        }
    /* The padding an alignment skips stays free and usable. */
    vkb_suballoc b;
    ck_assert(vkb_suballoc_init(&b, 8192));
    ck_assert(vkb_suballoc_alloc(&b, 10, 1, &off));
    ck_assert_uint_eq(off, 0);
    ck_assert(vkb_suballoc_alloc(&b, 100, 4096, &off));
    ck_assert_uint_eq(off, 4096);
    ck_assert(vkb_suballoc_alloc(&b, 4000, 1, &off));
    ck_assert_uint_eq(off, 10); /* the padding before 4096 */
    check_invariants(&b);
    vkb_suballoc_finish(&b);
    vkb_suballoc_finish(&a);
}
END_TEST

START_TEST(exhaustion)
{
    vkb_suballoc a;
    ck_assert(vkb_suballoc_init(&a, 1000));
    uint64_t off, offs[10];
    for (int i = 0; i < 10; i++) {
        ck_assert(vkb_suballoc_alloc(&a, 100, 1, &offs[i]));
        check_invariants(&a);
    }
    ck_assert_uint_eq(a.free_bytes, 0);
    ck_assert(!vkb_suballoc_alloc(&a, 1, 1, &off));
    vkb_suballoc_free(&a, offs[3], 100);
    ck_assert(!vkb_suballoc_alloc(&a, 101, 1, &off));
    ck_assert(!vkb_suballoc_alloc(&a, 100, 64, &off)); /* 300 is not 64-aligned */
    ck_assert(vkb_suballoc_alloc(&a, 100, 4, &off));
    ck_assert_uint_eq(off, 300);
    /* Requests larger than the block, zero sizes and zero alignments fail. */
    ck_assert(!vkb_suballoc_alloc(&a, 2000, 1, &off));
    ck_assert(!vkb_suballoc_alloc(&a, 0, 1, &off));
    vkb_suballoc_free(&a, offs[0], 100);
    ck_assert(!vkb_suballoc_alloc(&a, 10, 0, &off));
    check_invariants(&a);
    vkb_suballoc_finish(&a);
}
END_TEST

START_TEST(fragmentation_and_coalescing)
{
    enum { N = 64, SIZE = 256 };
    vkb_suballoc a;
    ck_assert(vkb_suballoc_init(&a, N * SIZE));
    uint64_t offs[N];
    for (int i = 0; i < N; i++)
        ck_assert(vkb_suballoc_alloc(&a, SIZE, SIZE, &offs[i]));
    /* Free every other one: half the block is free, in N/2 holes. */
    for (int i = 0; i < N; i += 2)
        vkb_suballoc_free(&a, offs[i], SIZE);
    check_invariants(&a);
    ck_assert_uint_eq(a.free_bytes, N / 2 * SIZE);
    ck_assert_uint_eq(a.range_count, N / 2);
    ck_assert_uint_eq(vkb_suballoc_largest_free(&a), SIZE);
    uint64_t off;
    ck_assert(!vkb_suballoc_alloc(&a, 2 * SIZE, 1, &off)); /* fragmented */
    /* Best fit: a request that fits a hole exactly takes one. */
    ck_assert(vkb_suballoc_alloc(&a, SIZE, 1, &off));
    ck_assert_uint_eq(off % (2 * SIZE), 0);
    vkb_suballoc_free(&a, off, SIZE);
    /* Freeing the rest, in a scrambled order, merges all into one range. */
    for (int i = 1; i < N; i += 4)
        vkb_suballoc_free(&a, offs[i], SIZE);
    check_invariants(&a);
    for (int i = N - 1; i > 0; i -= 4)
        vkb_suballoc_free(&a, offs[i], SIZE);
    check_invariants(&a);
    ck_assert_uint_eq(a.range_count, 1);
    ck_assert_uint_eq(a.free_bytes, N * SIZE);
    ck_assert(vkb_suballoc_empty(&a));
    ck_assert(vkb_suballoc_alloc(&a, N * SIZE, 1, &off));
    ck_assert_uint_eq(off, 0);
    vkb_suballoc_finish(&a);
}
END_TEST

START_TEST(merges_both_sides)
{
    vkb_suballoc a;
    ck_assert(vkb_suballoc_init(&a, 300));
    uint64_t x, y, z;
    ck_assert(vkb_suballoc_alloc(&a, 100, 1, &x));
    ck_assert(vkb_suballoc_alloc(&a, 100, 1, &y));
    ck_assert(vkb_suballoc_alloc(&a, 100, 1, &z));
    vkb_suballoc_free(&a, x, 100);
    vkb_suballoc_free(&a, z, 100);
    ck_assert_uint_eq(a.range_count, 2);
    vkb_suballoc_free(&a, y, 100); /* joins the ranges before and after */
    ck_assert_uint_eq(a.range_count, 1);
    ck_assert_uint_eq(a.ranges[0].offset, 0);
    ck_assert_uint_eq(a.ranges[0].size, 300);
    vkb_suballoc_finish(&a);
}
END_TEST

/* Random allocations and frees against a byte map: no two live ranges
 * overlap, everything stays in bounds and aligned, and all of it comes
 * back. */
START_TEST(random_against_map)
{
    enum { SIZE = 1 << 16, SLOTS = 200 };
    vkb_suballoc a;
    ck_assert(vkb_suballoc_init(&a, SIZE));
    unsigned char *map = calloc(SIZE, 1);
    uint64_t off[SLOTS], len[SLOTS];
    bool live[SLOTS] = {false};
    unsigned seed = 12345;
    int allocated = 0, refused = 0;
    for (int step = 0; step < 20000; step++) {
        seed = seed * 1103515245u + 12345u;
        int s = (int)((seed >> 8) % SLOTS);
        if (live[s]) {
            memset(map + off[s], 0, len[s]);
            vkb_suballoc_free(&a, off[s], len[s]);
            live[s] = false;
        } else {
            seed = seed * 1103515245u + 12345u;
            len[s] = 1 + (seed >> 8) % 2000;
            uint64_t align = 1ull << ((seed >> 20) % 9);
            if (vkb_suballoc_alloc(&a, len[s], align, &off[s])) {
                ck_assert_uint_eq(off[s] % align, 0);
                ck_assert_uint_le(off[s] + len[s], SIZE);
                /* memchr, not an assert per byte: this loop runs a lot. */
                unsigned char *taken = memchr(map + off[s], 1, len[s]);
                ck_assert_msg(!taken, "overlap at %lld",
                              taken ? (long long)(taken - map) : -1ll);
                memset(map + off[s], 1, len[s]);
                live[s] = true;
                allocated++;
            } else {
                refused++;
            }
        }
        if (step % 500 == 0)
            check_invariants(&a);
    }
    ck_assert_int_gt(allocated, 1000);
    ck_assert_int_gt(refused, 0); /* the run did reach exhaustion */
    for (int s = 0; s < SLOTS; s++)
        if (live[s])
            vkb_suballoc_free(&a, off[s], len[s]);
    check_invariants(&a);
    ck_assert_uint_eq(a.range_count, 1);
    ck_assert_uint_eq(a.free_bytes, SIZE);
    free(map);
    vkb_suballoc_finish(&a);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vulkan_allocator");
    TCase *tc = tcase_create("suballoc");
    tcase_add_test(tc, alignment);
    tcase_add_test(tc, exhaustion);
    tcase_add_test(tc, fragmentation_and_coalescing);
    tcase_add_test(tc, merges_both_sides);
    tcase_add_test(tc, random_against_map);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
