/* Commands: write, read, copy, fill, barrier, host callback; their ranges,
 * their order, and their bad inputs. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

enum { SIZE = 1 << 16 };

static void fill_pattern(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131u + seed) >> 3);
}

START_TEST(write_read_with_offsets)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, SIZE, AIDEV_TYPE_NONE);
    unsigned char *src = malloc(SIZE), *dst = calloc(1, SIZE);
    fill_pattern(src, SIZE, 7);
    /* Odd offsets and sizes, written in pieces, read back in other pieces. */
    ck_assert_ok(aidev_enqueue_write(q, b, 0, 1, src, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_write(q, b, 1, 4095, src + 1, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_write(q, b, 4096, SIZE - 4096, src + 4096, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, b, 3, SIZE - 3, dst + 3, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, b, 0, 3, dst, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(memcmp(src, dst, SIZE), 0);
    free(src);
    free(dst);
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

START_TEST(copy_between_buffers_and_kinds)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    const aidev_memory_kind kinds[] = {AIDEV_MEMORY_DEVICE, AIDEV_MEMORY_HOST, AIDEV_MEMORY_SHARED};
    unsigned char *src = malloc(SIZE), *dst = malloc(SIZE);
    fill_pattern(src, SIZE, 11);
    for (int a = 0; a < 3; a++) {
        for (int c = 0; c < 3; c++) {
            if (!harness_has_kind(dev, kinds[a]) || !harness_has_kind(dev, kinds[c]))
                continue;
            aidev_buffer x = harness_buffer(dev, kinds[a], SIZE, AIDEV_TYPE_NONE);
            aidev_buffer y = harness_buffer(dev, kinds[c], SIZE, AIDEV_TYPE_NONE);
            memset(dst, 0, SIZE);
            ck_assert_ok(aidev_enqueue_write(q, x, 0, SIZE, src, 0, NULL, NULL));
            ck_assert_ok(aidev_enqueue_copy(q, x, 100, y, 36, SIZE - 100, 0, NULL, NULL));
            ck_assert_ok(aidev_enqueue_read(q, y, 36, SIZE - 100, dst, 0, NULL, NULL));
            ck_assert_ok(aidev_queue_finish(q));
            ck_assert_msg(memcmp(src + 100, dst, SIZE - 100) == 0, "copy kind %d -> %d", a, c);
            ck_assert_ok(aidev_buffer_release(x));
            ck_assert_ok(aidev_buffer_release(y));
        }
    }
    /* Within one buffer, disjoint ranges. */
    aidev_buffer z = harness_buffer(dev, AIDEV_MEMORY_DEVICE, SIZE, AIDEV_TYPE_NONE);
    ck_assert_ok(aidev_enqueue_write(q, z, 0, SIZE / 2, src, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_copy(q, z, 0, z, SIZE / 2, SIZE / 2, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, z, SIZE / 2, SIZE / 2, dst, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(memcmp(src, dst, SIZE / 2), 0);
    ck_assert_error_names(aidev_enqueue_copy(q, z, 0, z, 100, 200, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "overlap");
    ck_assert_ok(aidev_buffer_release(z));
    free(src);
    free(dst);
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

START_TEST(fill_patterns)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 4096, AIDEV_TYPE_NONE);
    unsigned char out[4096];
    const uint8_t p1 = 0xab;
    const uint16_t p2 = 0x1234;
    const uint32_t p4 = 0xcafebabe;
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, 4096, &p4, 4, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_fill(q, b, 5, 7, &p1, 1, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_fill(q, b, 1026, 10, &p2, 2, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, b, 0, sizeof out, out, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    for (int i = 0; i < 4096; i++) {
        uint8_t want = ((const uint8_t *)&p4)[i % 4];
        if (i >= 5 && i < 12)
            want = p1;
        if (i >= 1026 && i < 1036)
            want = ((const uint8_t *)&p2)[(i - 1026) % 2];
        ck_assert_msg(out[i] == want, "byte %d: %#x, want %#x", i, out[i], want);
    }
    ck_assert_error_names(aidev_enqueue_fill(q, b, 0, 12, &p4, 3, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "pattern_size");
    ck_assert_error_names(aidev_enqueue_fill(q, b, 2, 12, &p4, 4, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "multiples of pattern_size");
    ck_assert_error_names(aidev_enqueue_fill(q, b, 0, 8192, &p4, 4, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "outside the buffer");
    ck_assert_error_names(aidev_enqueue_fill(q, b, 0, 16, NULL, 4, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "pattern");
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

START_TEST(range_and_argument_errors)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 1024, AIDEV_TYPE_NONE);
    aidev_buffer c = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 1024, AIDEV_TYPE_NONE);
    char data[2048] = {0};
    aidev_event ev = (aidev_event)(uintptr_t)1;
    ck_assert_error_names(aidev_enqueue_write(q, b, 1000, 100, data, 0, NULL, &ev),
                          AIDEV_ERROR_OUT_OF_RANGE, "offset 1000 + size 100");
    ck_assert_ptr_null(ev); /* no event for a refused command */
    ck_assert_error_names(aidev_enqueue_write(q, b, 1025, 1, data, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "offset");
    /* offset + size overflowing 64 bits must not wrap into range */
    ck_assert_error_names(aidev_enqueue_read(q, b, UINT64_MAX - 10, 20, data, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "offset");
    ck_assert_error_names(aidev_enqueue_read(q, b, 10, UINT64_MAX, data, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "size");
    ck_assert_error_names(aidev_enqueue_write(q, b, 0, 0, data, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "size");
    ck_assert_error_names(aidev_enqueue_write(q, b, 0, 16, NULL, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "src");
    ck_assert_error_names(aidev_enqueue_read(q, b, 0, 16, NULL, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "dst");
    ck_assert_error_names(aidev_enqueue_copy(q, b, 0, c, 1000, 100, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "dst");
    ck_assert_error_names(aidev_enqueue_copy(q, b, UINT64_MAX, c, 0, 1, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "src");
    ck_assert_error_names(aidev_enqueue_barrier(q, 2, NULL, NULL), AIDEV_ERROR_INVALID_ARGUMENT,
                          "wait_events");
    aidev_event bogus = (aidev_event)(uintptr_t)12345;
    ck_assert_error_names(aidev_enqueue_barrier(q, 1, &bogus, NULL), AIDEV_ERROR_INVALID_HANDLE,
                          "wait_events[0]");
    ck_assert_error_names(aidev_enqueue_host_callback(q, NULL, NULL, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "fn");
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_buffer_release(c));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

/* A host callback sees the queue's earlier commands done, and the later ones
 * not started. */
typedef struct callback_probe {
    aidev_buffer buffer;
    unsigned char seen[16];
    const unsigned char *host_copy;
    int calls;
} callback_probe;

static void probe_callback(void *user)
{
    callback_probe *p = user;
    memcpy(p->seen, p->host_copy, sizeof p->seen);
    p->calls++;
}

START_TEST(host_callback_in_order)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 16, AIDEV_TYPE_NONE);
    unsigned char first[16], second[16], host[16] = {0};
    memset(first, 1, sizeof first);
    memset(second, 2, sizeof second);
    callback_probe probe = {.buffer = b, .host_copy = host};
    aidev_event done;
    ck_assert_ok(aidev_enqueue_write(q, b, 0, 16, first, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, b, 0, 16, host, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_host_callback(q, probe_callback, &probe, 0, NULL, &done));
    ck_assert_ok(aidev_enqueue_write(q, b, 0, 16, second, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(q, b, 0, 16, host, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(probe.calls, 1);
    ck_assert_int_eq(memcmp(probe.seen, first, 16), 0);
    ck_assert_int_eq(memcmp(host, second, 16), 0);
    ck_assert_ok(aidev_event_query(done));
    ck_assert_ok(aidev_event_release(done));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

START_TEST(buffer_released_while_in_use)
{
    /* Releasing a buffer right after enqueueing work on it is legal: the
     * memory lives until the work is done. */
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    unsigned char *src = malloc(SIZE), *dst = calloc(1, SIZE);
    fill_pattern(src, SIZE, 3);
    aidev_buffer a = harness_buffer(dev, AIDEV_MEMORY_DEVICE, SIZE, AIDEV_TYPE_NONE);
    aidev_buffer c = harness_buffer(dev, AIDEV_MEMORY_DEVICE, SIZE, AIDEV_TYPE_NONE);
    ck_assert_ok(aidev_enqueue_write(q, a, 0, SIZE, src, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_copy(q, a, 0, c, 0, SIZE, 0, NULL, NULL));
    ck_assert_ok(aidev_buffer_release(a));
    ck_assert_ok(aidev_enqueue_read(q, c, 0, SIZE, dst, 0, NULL, NULL));
    ck_assert_ok(aidev_buffer_release(c));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_int_eq(memcmp(src, dst, SIZE), 0);
    free(src);
    free(dst);
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("commands");
    harness_add_per_device(s, "write_read_with_offsets", write_read_with_offsets, 0);
    harness_add_per_device(s, "copy_between_buffers_and_kinds", copy_between_buffers_and_kinds, 0);
    harness_add_per_device(s, "fill_patterns", fill_patterns, 0);
    harness_add_per_device(s, "range_and_argument_errors", range_and_argument_errors, 0);
    harness_add_per_device(s, "host_callback_in_order", host_callback_in_order, 0);
    harness_add_per_device(s, "buffer_released_while_in_use", buffer_released_while_in_use, 0);
    return harness_run(s);
}
