/* The compressed memory tier on every device: evict and restore round
 * trips bit-exact for f32, bf16, int8, all-zero and random data in every
 * memory kind, restored by each kind of command and by a map; an eviction
 * that waits for commands pending on another queue; an eviction called
 * off by a later command; the context's counts; the refusals; under a
 * memory limit, automatic eviction of the least recently used idle
 * buffers, a round-robin workload over twice the limit, and the refusal
 * when nothing is idle. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Several chunks of 1 MiB, and a short one at the end. */
enum { TIER_SIZE = (2 << 20) + 4096 };

static const aidev_memory_kind tier_kinds[] = {AIDEV_MEMORY_DEVICE, AIDEV_MEMORY_HOST,
                                               AIDEV_MEMORY_SHARED};

static uint64_t tier_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static bool tier_available(void)
{
    const char *codecs;
    aidev_memory_tier_codec(&codecs);
    return codecs[0] != '\0';
}

/* |n| bytes of one of five kinds of data, and their element type. */
static unsigned char *tier_data(int kind, size_t n, aidev_type *type)
{
    unsigned char *p = malloc(n);
    uint64_t s = 0x2545F4914F6CDD1Dull + (uint64_t)kind;
    *type = AIDEV_TYPE_NONE;
    for (size_t i = 0; i < n; i += 4) {
        double u = (double)(tier_rng(&s) >> 11) / 9007199254740992.0;
        float f = (float)((u - 0.5) * 0.1);
        uint32_t bits;
        memcpy(&bits, &f, 4);
        switch (kind) {
        case 0: /* f32 weights */
            *type = AIDEV_TYPE_F32;
            memcpy(p + i, &f, 4);
            break;
        case 1: /* bf16: the high halves of floats */
            *type = AIDEV_TYPE_BF16;
            p[i] = (unsigned char)(bits >> 16), p[i + 1] = (unsigned char)(bits >> 24);
            bits = (uint32_t)tier_rng(&s) & 0x3F7FFFFFu;
            p[i + 2] = (unsigned char)(bits >> 16), p[i + 3] = (unsigned char)(bits >> 24);
            break;
        case 2: /* int8 */
            *type = AIDEV_TYPE_I8;
            for (int b = 0; b < 4; b++)
                p[i + b] = (unsigned char)(int8_t)(int)((u - 0.5) * 40.0 + b);
            break;
        case 3: /* all zero */
            *type = AIDEV_TYPE_F32;
            memset(p + i, 0, 4);
            break;
        default: /* random bytes */
            bits = (uint32_t)tier_rng(&s);
            memcpy(p + i, &bits, 4);
        }
    }
    return p;
}

static uint32_t tier_resident(aidev_buffer b)
{
    uint32_t r = 7;
    ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_RESIDENT, sizeof r, &r, NULL));
    return r;
}

static void tier_evict_wait(aidev_queue q, aidev_buffer b)
{
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_evict(q, b, 0, NULL, &ev));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    char cmd[16];
    ck_assert_ok(aidev_event_get_info(ev, AIDEV_EVENT_INFO_COMMAND, sizeof cmd, cmd, NULL));
    ck_assert_str_eq(cmd, "evict");
    ck_assert_ok(aidev_event_release(ev));
    ck_assert_uint_eq(tier_resident(b), 0);
}

/* Each data kind in each memory kind: evicted, counted, read back. */
START_TEST(round_trip_every_kind)
{
    if (!tier_available())
        return;
    aidev_device dev = harness_device(_i);
    aidev_context ctx = harness_context();
    aidev_queue q = harness_queue(dev);
    unsigned char *back = malloc(TIER_SIZE);
    for (int k = 0; k < 3; k++) {
        if (!harness_has_kind(dev, tier_kinds[k]))
            continue;
        for (int d = 0; d < 5; d++) {
            aidev_type type;
            unsigned char *src = tier_data(d, TIER_SIZE, &type);
            aidev_buffer b = harness_buffer(dev, tier_kinds[k], TIER_SIZE, type);
            ck_assert_ok(aidev_enqueue_write(q, b, 0, TIER_SIZE, src, 0, NULL, NULL));
            uint64_t res0, ev0, comp0, res1, ev1, comp1, stored;
            ck_assert_ok(aidev_context_get_memory_tiers(ctx, &res0, &ev0, &comp0));
            tier_evict_wait(q, b);
            ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_STORED_BYTES, sizeof stored,
                                               &stored, NULL));
            ck_assert_ok(aidev_context_get_memory_tiers(ctx, &res1, &ev1, &comp1));
            ck_assert_uint_eq(res0 - res1, TIER_SIZE);
            ck_assert_uint_eq(ev1 - ev0, TIER_SIZE);
            ck_assert_uint_eq(comp1 - comp0, stored);
            ck_assert_uint_gt(stored, 0);
            if (d == 3)
                ck_assert_uint_lt(stored, TIER_SIZE / 100); /* zeros compress */
            char page[16];
            ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_PAGE_KIND, sizeof page, page,
                                               NULL));
            ck_assert_str_eq(page, "evicted");
            /* A second eviction of an evicted buffer does nothing. */
            tier_evict_wait(q, b);
            memset(back, 0x5A, TIER_SIZE);
            ck_assert_ok(aidev_enqueue_read(q, b, 0, TIER_SIZE, back, 0, NULL, NULL));
            ck_assert_uint_eq(tier_resident(b), 1);
            ck_assert_ok(aidev_queue_finish(q));
            ck_assert_msg(memcmp(src, back, TIER_SIZE) == 0, "kind %d data %d: not bit-exact",
                          k, d);
            ck_assert_ok(aidev_context_get_memory_tiers(ctx, &res1, &ev1, &comp1));
            ck_assert_uint_eq(res1, res0);
            ck_assert_uint_eq(ev1, ev0);
            ck_assert_uint_eq(comp1, comp0);
            ck_assert_ok(aidev_buffer_release(b));
            free(src);
        }
    }
    free(back);
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

/* A dispatch, a copy, a fill, a map and an explicit restore each bring an
 * evicted buffer back. */
START_TEST(restored_by_each_use)
{
    if (!tier_available())
        return;
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    enum { N = 300000 };
    aidev_buffer x = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
    aidev_buffer y = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
    float *hx = malloc(N * 4), *hy = malloc(N * 4), *out = malloc(N * 4);
    for (int i = 0; i < N; i++)
        hx[i] = (float)(i % 977) * 0.25f, hy[i] = (float)(i % 13);
    ck_assert_ok(aidev_enqueue_write(q, x, 0, N * 4, hx, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_write(q, y, 0, N * 4, hy, 0, NULL, NULL));
    tier_evict_wait(q, x);
    tier_evict_wait(q, y);

    /* Dispatch: y += 2 x, both restored. */
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(x, 0),
                        aidev_arg_buffer(y, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, y, 0, N * 4, out, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(out[i], hy[i] + 2.0f * hx[i]);

    /* Copy from an evicted source; fill into an evicted destination. */
    tier_evict_wait(q, x);
    tier_evict_wait(q, y);
    ck_assert_ok(aidev_enqueue_copy(q, x, 0, y, 0, N * 4, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, y, 0, N * 4, out, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(memcmp(out, hx, N * 4), 0);
    tier_evict_wait(q, y);
    const float one = 1.0f;
    ck_assert_ok(aidev_enqueue_fill(q, y, 4, 8, &one, 4, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, y, 0, N * 4, out, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_float_eq(out[0], hx[0]);
    ck_assert_float_eq(out[1], 1.0f);
    ck_assert_float_eq(out[2], 1.0f);
    ck_assert_int_eq(memcmp(out + 3, hx + 3, (N - 3) * 4), 0);

    /* An explicit restore, with its own event. */
    tier_evict_wait(q, x);
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_restore(q, x, 0, NULL, &ev));
    ck_assert_uint_eq(tier_resident(x), 1);
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    char cmd[16];
    ck_assert_ok(aidev_event_get_info(ev, AIDEV_EVENT_INFO_COMMAND, sizeof cmd, cmd, NULL));
    ck_assert_str_eq(cmd, "restore");
    ck_assert_ok(aidev_event_release(ev));

    /* A map of a HOST buffer. */
    if (harness_has_kind(dev, AIDEV_MEMORY_HOST)) {
        aidev_buffer h = harness_buffer(dev, AIDEV_MEMORY_HOST, N * 4, AIDEV_TYPE_F32);
        ck_assert_ok(aidev_enqueue_write(q, h, 0, N * 4, hx, 0, NULL, NULL));
        tier_evict_wait(q, h);
        void *p;
        ck_assert_ok(aidev_buffer_map(h, 0, N * 4, AIDEV_MAP_READ, &p));
        ck_assert_uint_eq(tier_resident(h), 1);
        ck_assert_int_eq(memcmp(p, hx, N * 4), 0);
        /* Mapped: not evictable. */
        ck_assert_error_names(aidev_enqueue_evict(q, h, 0, NULL, NULL),
                              AIDEV_ERROR_INVALID_STATE, "mapped");
        ck_assert_ok(aidev_buffer_unmap(h));
        ck_assert_ok(aidev_buffer_release(h));
    }
    free(hx);
    free(hy);
    free(out);
    ck_assert_ok(aidev_kernel_release(k));
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_ok(aidev_buffer_release(y));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

/* An eviction on one queue waits for a write pending on another (held by
 * a user event), then evicts what it wrote. */
START_TEST(waits_for_pending_commands)
{
    if (!tier_available())
        return;
    aidev_device dev = harness_device(_i);
    aidev_queue qa = harness_queue(dev), qb = harness_queue(dev);
    aidev_type type;
    unsigned char *src = tier_data(1, TIER_SIZE, &type), *back = malloc(TIER_SIZE);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, TIER_SIZE, type);
    aidev_event gate, wrote, evicted;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_ok(aidev_enqueue_write(qa, b, 0, TIER_SIZE, src, 1, &gate, &wrote));
    ck_assert_ok(aidev_enqueue_evict(qb, b, 0, NULL, &evicted));
    /* However long it is given, it does not run before the write. */
    ck_assert_status(aidev_event_wait(evicted, 200 * 1000 * 1000ull), AIDEV_ERROR_TIMEOUT);
    ck_assert_uint_eq(tier_resident(b), 1);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_wait(evicted, AIDEV_WAIT_FOREVER));
    ck_assert_status(aidev_event_query(wrote), AIDEV_SUCCESS);
    ck_assert_uint_eq(tier_resident(b), 0);
    ck_assert_ok(aidev_enqueue_read(qb, b, 0, TIER_SIZE, back, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qb));
    ck_assert_int_eq(memcmp(src, back, TIER_SIZE), 0);
    ck_assert_ok(aidev_event_release(gate));
    ck_assert_ok(aidev_event_release(wrote));
    ck_assert_ok(aidev_event_release(evicted));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(qa));
    ck_assert_ok(aidev_queue_release(qb));
    free(src);
    free(back);
}
END_TEST

/* A command enqueued after an eviction that has not run yet calls it off:
 * the buffer stays resident and holds what the command wrote. */
START_TEST(later_command_calls_it_off)
{
    if (!tier_available())
        return;
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_type type;
    unsigned char *src = tier_data(0, TIER_SIZE, &type), *back = malloc(TIER_SIZE);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, TIER_SIZE, type);
    aidev_event gate, evicted;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_ok(aidev_enqueue_evict(q, b, 1, &gate, &evicted));
    ck_assert_ok(aidev_enqueue_write(q, b, 0, TIER_SIZE, src, 0, NULL, NULL));
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_wait(evicted, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_uint_eq(tier_resident(b), 1);
    ck_assert_ok(aidev_enqueue_read(q, b, 0, TIER_SIZE, back, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(memcmp(src, back, TIER_SIZE), 0);
    ck_assert_ok(aidev_event_release(gate));
    ck_assert_ok(aidev_event_release(evicted));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
    free(src);
    free(back);
}
END_TEST

/* A restore needs room under the limit; without it the command is refused
 * with AIDEV_ERROR_QUOTA and the buffer stays evicted, its data intact. */
START_TEST(restore_needs_room)
{
    if (!tier_available())
        return;
    aidev_device dev = harness_device(_i);
    aidev_context ctx = harness_context();
    aidev_queue q = harness_queue(dev);
    uint64_t used, limit;
    ck_assert_ok(aidev_context_get_memory_usage(ctx, &used, &limit));
    aidev_type type;
    unsigned char *src = tier_data(2, TIER_SIZE, &type), *back = malloc(TIER_SIZE);
    aidev_buffer a = harness_buffer(dev, AIDEV_MEMORY_DEVICE, TIER_SIZE, type);
    ck_assert_ok(aidev_enqueue_write(q, a, 0, TIER_SIZE, src, 0, NULL, NULL));
    tier_evict_wait(q, a);
    ck_assert_ok(aidev_context_set_memory_limit(ctx, used + TIER_SIZE));
    /* Pinned: it takes the room, and automatic eviction leaves it. */
    aidev_buffer c = harness_buffer(dev, AIDEV_MEMORY_DEVICE, TIER_SIZE, type);
    ck_assert_ok(aidev_buffer_set_pinned(c, 1));
    ck_assert_error_names(aidev_enqueue_read(q, a, 0, TIER_SIZE, back, 0, NULL, NULL),
                          AIDEV_ERROR_QUOTA, "restoring");
    ck_assert_ptr_nonnull(strstr(aidev_last_error(), "1 pinned"));
    ck_assert_uint_eq(tier_resident(a), 0);
    /* Unpinned, it is evicted to make room for the restore. */
    ck_assert_ok(aidev_buffer_set_pinned(c, 0));
    ck_assert_ok(aidev_enqueue_read(q, a, 0, TIER_SIZE, back, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(memcmp(src, back, TIER_SIZE), 0);
    ck_assert_uint_eq(tier_resident(c), 0);
    ck_assert_ok(aidev_buffer_release(c));
    ck_assert_ok(aidev_context_set_memory_limit(ctx, limit));
    ck_assert_ok(aidev_buffer_release(a));
    ck_assert_ok(aidev_queue_release(q));
    free(src);
    free(back);
}
END_TEST

/* The round-robin workload: |n| buffers of |count| floats, filled from
 * |seed|, then |rounds| passes of y_i += 0.5 x_{i+1} (axpy), one step in
 * flight while the next is enqueued; the results read into |out|. Under a
 * limit, each step restores what it names and evicts what is idle. */
static void tier_round_robin(aidev_context ctx, aidev_device dev, uint32_t n, uint32_t count,
                             int rounds, float *out, uint64_t *out_most_evicted)
{
    uint64_t evicted = 0;
    *out_most_evicted = 0;
    aidev_queue q = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    aidev_buffer *b = calloc(n, sizeof *b);
    float *init = malloc((size_t)count * 4);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < count; j++)
            init[j] = (float)(tier_rng(&s) >> 40) * 0x1p-20f - 8.0f;
        b[i] = harness_buffer(dev, AIDEV_MEMORY_DEVICE, (uint64_t)count * 4, AIDEV_TYPE_F32);
        ck_assert_ok(aidev_enqueue_write(q, b[i], 0, (uint64_t)count * 4, init, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q)); /* idle before the next creation */
    }
    aidev_event prev = NULL;
    for (int r = 0; r < rounds; r++) {
        for (uint32_t i = 0; i < n; i++) {
            aidev_arg args[] = {aidev_arg_u32(count), aidev_arg_f32(0.5f),
                                aidev_arg_buffer(b[(i + 1) % n], 0), aidev_arg_buffer(b[i], 0)};
            aidev_event cur;
            aidev_status st = aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, &cur);
            ck_assert_msg(st == AIDEV_SUCCESS, "round %d step %u: %s: %s", r, i,
                          aidev_status_string(st), aidev_last_error());
            if (prev) {
                ck_assert_ok(aidev_event_wait(prev, AIDEV_WAIT_FOREVER));
                ck_assert_ok(aidev_event_release(prev));
            }
            prev = cur;
            ck_assert_ok(aidev_context_get_memory_tiers(ctx, NULL, &evicted, NULL));
            if (evicted > *out_most_evicted)
                *out_most_evicted = evicted;
        }
    }
    ck_assert_ok(aidev_event_wait(prev, AIDEV_WAIT_FOREVER));
    ck_assert_ok(aidev_event_release(prev));
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_ok(aidev_enqueue_read(q, b[i], 0, (uint64_t)count * 4, out + (size_t)i * count,
                                        0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q));
    }
    for (uint32_t i = 0; i < n; i++)
        ck_assert_ok(aidev_buffer_release(b[i]));
    ck_assert_ok(aidev_kernel_release(k));
    ck_assert_ok(aidev_queue_release(q));
    free(init);
    free(b);
}

/* Device |i| of the harness, in a context of its own made from |desc|. */
static aidev_device tier_device_in(int i, const aidev_context_desc *desc, aidev_context *ctx)
{
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(harness_device(i), AIDEV_DEVICE_INFO_INDEX, sizeof index,
                                       &index, NULL));
    ck_assert_ok(aidev_context_create(desc, ctx));
    aidev_device dev;
    ck_assert_ok(aidev_context_get_device(*ctx, index, &dev));
    return dev;
}

/* A context with a limit of L runs a workload over buffers totalling 2L,
 * round-robin: its results equal the unlimited run's, bit for bit, and
 * buffers were evicted and restored on the way. */
START_TEST(round_robin_under_limit)
{
    if (!tier_available())
        return;
    enum { N = 8, COUNT = 96 * 1024 + 16 }; /* 384 KiB + 64 B each */
    const uint64_t size = (uint64_t)COUNT * 4;
    float *free_run = malloc((size_t)N * COUNT * 4), *limited = malloc((size_t)N * COUNT * 4);
    aidev_context ctx;
    aidev_device dev = tier_device_in(_i, NULL, &ctx);
    uint64_t most_evicted;
    tier_round_robin(ctx, dev, N, COUNT, 3, free_run, &most_evicted);
    ck_assert_uint_eq(most_evicted, 0);
    ck_assert_ok(aidev_context_release(ctx));

    aidev_context_desc desc = {.memory_limit = N / 2 * size};
    dev = tier_device_in(_i, &desc, &ctx);
    tier_round_robin(ctx, dev, N, COUNT, 3, limited, &most_evicted);
    /* At least half of the buffers were out at a time. */
    ck_assert_uint_ge(most_evicted, N / 2 * size);
    ck_assert_msg(memcmp(free_run, limited, (size_t)N * COUNT * 4) == 0,
                  "the run under a limit differs from the unlimited run");
    uint64_t used = 1, evicted = 1, compressed = 1;
    ck_assert_ok(aidev_context_get_memory_tiers(ctx, &used, &evicted, &compressed));
    ck_assert_uint_eq(used, 0);
    ck_assert_uint_eq(evicted, 0);
    ck_assert_uint_eq(compressed, 0);
    ck_assert_ok(aidev_context_release(ctx));
    free(free_run);
    free(limited);
}
END_TEST

/* Under a limit, a buffer that does not fit evicts the least recently used
 * idle buffer; one that still does not fit (pinned, mapped, in use by a
 * command held back by an event) fails with AIDEV_ERROR_QUOTA, saying
 * what was tried; nothing is lost. */
START_TEST(eviction_under_pressure)
{
    if (!tier_available())
        return;
    aidev_context_desc desc = {.memory_limit = 3 * TIER_SIZE};
    aidev_context ctx;
    aidev_device dev = tier_device_in(_i, &desc, &ctx);
    aidev_queue q = harness_queue(dev);
    aidev_type type;
    unsigned char *src = tier_data(0, TIER_SIZE, &type), *back = malloc(TIER_SIZE);
    aidev_buffer b[4];
    for (int i = 0; i < 3; i++) {
        b[i] = harness_buffer(dev, AIDEV_MEMORY_DEVICE, TIER_SIZE, type);
        ck_assert_ok(aidev_enqueue_write(q, b[i], 0, TIER_SIZE, src, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q));
    }
    /* b[0] used last, so b[1] is the least recently used. */
    ck_assert_ok(aidev_enqueue_read(q, b[0], 0, TIER_SIZE, back, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    b[3] = harness_buffer(dev, AIDEV_MEMORY_DEVICE, TIER_SIZE, type);
    ck_assert_uint_eq(tier_resident(b[1]), 0);
    ck_assert_uint_eq(tier_resident(b[0]) + tier_resident(b[2]) + tier_resident(b[3]), 3);

    /* Nothing idle: b[0] pinned, b[2] waited on by a held write, b[3]
     * mapped where it can be, else pinned too. */
    aidev_event gate, wrote;
    ck_assert_ok(aidev_event_create_user(ctx, &gate));
    ck_assert_ok(aidev_buffer_set_pinned(b[0], 1));
    ck_assert_ok(aidev_enqueue_write(q, b[2], 0, TIER_SIZE, src, 1, &gate, &wrote));
    ck_assert_ok(aidev_buffer_set_pinned(b[3], 1));
    aidev_buffer_desc more = {.size = 4096, .kind = AIDEV_MEMORY_DEVICE};
    aidev_buffer x = NULL;
    ck_assert_error_names(aidev_buffer_create(dev, &more, &x), AIDEV_ERROR_QUOTA,
                          "automatic eviction");
    const char *msg = aidev_last_error();
    ck_assert_msg(strstr(msg, "1 in use by commands") && strstr(msg, "2 pinned"), "%s", msg);
    /* The restore of b[1] finds no room either; it stays evicted. */
    ck_assert_error_names(aidev_enqueue_read(q, b[1], 0, TIER_SIZE, back, 0, NULL, NULL),
                          AIDEV_ERROR_QUOTA, "restoring");
    ck_assert_uint_eq(tier_resident(b[1]), 0);
    /* Once the write ran, b[2] is idle: the restore evicts it. */
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_wait(wrote, AIDEV_WAIT_FOREVER));
    memset(back, 0, TIER_SIZE);
    ck_assert_ok(aidev_enqueue_read(q, b[1], 0, TIER_SIZE, back, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(memcmp(src, back, TIER_SIZE), 0);
    ck_assert_uint_eq(tier_resident(b[2]), 0);
    memset(back, 0, TIER_SIZE);
    ck_assert_ok(aidev_buffer_set_pinned(b[3], 0));
    ck_assert_ok(aidev_enqueue_read(q, b[2], 0, TIER_SIZE, back, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(memcmp(src, back, TIER_SIZE), 0);
    /* A size above the limit itself evicts nothing. */
    more.size = 4 * TIER_SIZE;
    ck_assert_error_names(aidev_buffer_create(dev, &more, &x), AIDEV_ERROR_QUOTA, "limit");
    ck_assert_uint_eq(tier_resident(b[1]) + tier_resident(b[2]) + tier_resident(b[3]), 2);
    ck_assert_ok(aidev_event_release(gate));
    ck_assert_ok(aidev_event_release(wrote));
    ck_assert_ok(aidev_queue_release(q));
    ck_assert_ok(aidev_context_release(ctx));
    free(src);
    free(back);
}
END_TEST

/* Imported memory and foreign handles are refused, naming why. */
START_TEST(refusals)
{
    if (!tier_available())
        return;
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 4096, AIDEV_TYPE_NONE);
    ck_assert_error_names(aidev_enqueue_evict(q, NULL, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, "buffer");
    ck_assert_error_names(aidev_enqueue_evict(NULL, b, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, "queue");
    ck_assert_error_names(aidev_enqueue_evict(q, b, 2, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "wait_events");
    static char host[8192] __attribute__((aligned(4096)));
    aidev_buffer imp;
    if (aidev_buffer_import_host(dev, host, sizeof host, AIDEV_TYPE_NONE, &imp) ==
        AIDEV_SUCCESS) {
        ck_assert_error_names(aidev_enqueue_evict(q, imp, 0, NULL, NULL),
                              AIDEV_ERROR_UNSUPPORTED, "imported");
        ck_assert_ok(aidev_buffer_release(imp));
    }
    for (uint32_t i = 0; i < harness_device_count(); i++) {
        if ((int)i == _i)
            continue;
        aidev_buffer other = harness_buffer(harness_device((int)i), AIDEV_MEMORY_DEVICE, 4096,
                                            AIDEV_TYPE_NONE);
        ck_assert_error_names(aidev_enqueue_evict(q, other, 0, NULL, NULL),
                              AIDEV_ERROR_INVALID_ARGUMENT, "device");
        ck_assert_ok(aidev_buffer_release(other));
        break;
    }
    /* A buffer released while evicted frees its copy and its counts. */
    uint64_t ev0, comp0, ev1, comp1;
    ck_assert_ok(aidev_context_get_memory_tiers(harness_context(), NULL, &ev0, &comp0));
    tier_evict_wait(q, b);
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_context_get_memory_tiers(harness_context(), NULL, &ev1, &comp1));
    ck_assert_uint_eq(ev1, ev0);
    ck_assert_uint_eq(comp1, comp0);
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("tier");
    harness_add_per_device(s, "round_trip_every_kind", round_trip_every_kind, 300);
    harness_add_per_device(s, "restored_by_each_use", restored_by_each_use, 300);
    harness_add_per_device(s, "waits_for_pending_commands", waits_for_pending_commands, 120);
    harness_add_per_device(s, "later_command_calls_it_off", later_command_calls_it_off, 120);
    harness_add_per_device(s, "restore_needs_room", restore_needs_room, 120);
    harness_add_per_device(s, "refusals", refusals, 120);
    harness_add_per_device(s, "round_robin_under_limit", round_robin_under_limit, 300);
    harness_add_per_device(s, "eviction_under_pressure", eviction_under_pressure, 120);
    int rc = harness_run(s);
    harness_shutdown();
    return rc;
}
