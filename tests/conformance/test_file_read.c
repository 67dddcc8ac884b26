/* File reads into every memory kind of every device: byte-for-byte, past
 * 4 GiB, the failure cases, chains across devices, and overlap with compute
 * proven from event timestamps. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static const aidev_memory_kind kinds[] = {AIDEV_MEMORY_DEVICE, AIDEV_MEMORY_HOST,
                                          AIDEV_MEMORY_SHARED};

static unsigned char pattern_byte(uint64_t file_offset)
{
    return (unsigned char)((file_offset * 2654435761u) >> 13);
}

/* A temporary file in the build tree (a real file system, unlike /tmp on
 * some machines) holding the pattern over [0, size). Unlinked at once: the
 * fd keeps it. */
static int make_file(uint64_t size)
{
    const char *root = getenv("AIDEV_TEST_BUILD_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/aidev-file-read-XXXXXX", root ? root : "/tmp");
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp(%s): %s", path, strerror(errno));
    unlink(path);
    enum { BLOCK = 1 << 20 };
    unsigned char *block = malloc(BLOCK);
    for (uint64_t at = 0; at < size; at += BLOCK) {
        uint64_t n = size - at < BLOCK ? size - at : BLOCK;
        for (uint64_t i = 0; i < n; i++)
            block[i] = pattern_byte(at + i);
        ck_assert_int_eq(pwrite(fd, block, n, (off_t)at), (ssize_t)n);
    }
    free(block);
    return fd;
}

/* Checks |size| bytes of |b| at |buffer_offset| hold the pattern from
 * |file_offset|. */
static void expect_pattern(aidev_device dev, aidev_buffer b, uint64_t buffer_offset,
                           uint64_t file_offset, uint64_t size)
{
    unsigned char *out = malloc(size);
    aidev_queue q = harness_queue(dev);
    ck_assert_ok(aidev_enqueue_read(q, b, buffer_offset, size, out, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_ok(aidev_queue_release(q));
    uint64_t i = 0;
    while (i < size && out[i] == pattern_byte(file_offset + i))
        i++;
    ck_assert_msg(i == size, "byte %llu of %llu differs: %#x, want %#x", (unsigned long long)i,
                  (unsigned long long)size, i < size ? out[i] : 0,
                  pattern_byte(file_offset + i));
    free(out);
}

START_TEST(read_into_every_kind)
{
    aidev_device dev = harness_device(_i);
    /* Several chunks, and neither the size nor the offsets page multiples. */
    const uint64_t file_size = (20u << 20) + 4321, size = (18u << 20) + 777;
    int fd = make_file(file_size);
    aidev_queue q = harness_queue(dev);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (!harness_has_kind(dev, kinds[k]))
            continue;
        aidev_buffer b = harness_buffer(dev, kinds[k], size + 100, AIDEV_TYPE_NONE);
        aidev_event ev;
        ck_assert_ok(aidev_enqueue_file_read(q, b, 100, fd, 1234, size, 0, 0, NULL, &ev));
        ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
        char engine[16], command[16];
        uint64_t bytes;
        ck_assert_ok(aidev_event_get_info(ev, AIDEV_EVENT_INFO_IO_ENGINE, sizeof engine, engine,
                                          NULL));
        ck_assert_msg(strcmp(engine, "io_uring") == 0 || strcmp(engine, "pread") == 0, "%s",
                      engine);
        ck_assert_ok(aidev_event_get_info(ev, AIDEV_EVENT_INFO_COMMAND, sizeof command, command,
                                          NULL));
        ck_assert_str_eq(command, "file_read");
        ck_assert_ok(aidev_event_get_info(ev, AIDEV_EVENT_INFO_BYTES, sizeof bytes, &bytes, NULL));
        ck_assert_uint_eq(bytes, size);
        aidev_event_times t;
        ck_assert_ok(aidev_event_get_times(ev, &t));
        ck_assert_uint_le(t.queued, t.start);
        ck_assert_uint_lt(t.start, t.end);
        expect_pattern(dev, b, 100, 1234, size);
        ck_assert_ok(aidev_event_release(ev));
        ck_assert_ok(aidev_buffer_release(b));
    }
    ck_assert_ok(aidev_queue_release(q));
    close(fd);
}
END_TEST

/* A read after dispatches that write its buffer, with no event between
 * them (the hal hands such dispatches to the backend on its plain path):
 * the queue's order puts the read last, so the file's bytes are what
 * stays. The hal skips a read's barrier only when nothing reached the
 * backend since the last op; every path that submits must count. */
START_TEST(read_after_dispatches_lands_last)
{
    aidev_device dev = harness_device(_i);
    enum { N = 1 << 20 };
    const uint64_t size = N * 4ull;
    int fd = make_file(size);
    aidev_queue q = harness_queue(dev);
    aidev_kernel fill;
    ck_assert_ok(aidev_kernel_get(dev, "fill_f32", &fill));
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, size, AIDEV_TYPE_F32);
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 24; k++) {
            aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32((float)k), aidev_arg_buffer(b, 0)};
            ck_assert_ok(aidev_enqueue_dispatch(q, fill, NULL, NULL, 3, args, 0, NULL, NULL));
        }
        ck_assert_ok(aidev_enqueue_file_read(q, b, 0, fd, 0, size, 0, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q));
        expect_pattern(dev, b, 0, 0, size);
    }
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_kernel_release(fill));
    ck_assert_ok(aidev_queue_release(q));
    close(fd);
}
END_TEST

START_TEST(read_past_4_gib_of_a_sparse_file)
{
    aidev_device dev = harness_device(_i);
    const uint64_t at = (4ull << 30) + 12345, size = 3 * 4096 + 17;
    int fd = make_file(0);
    ck_assert_int_eq(ftruncate(fd, (off_t)(at + size + 999)), 0);
    unsigned char data[3 * 4096 + 17];
    for (uint64_t i = 0; i < size; i++)
        data[i] = pattern_byte(at + i);
    ck_assert_int_eq(pwrite(fd, data, size, (off_t)at), (ssize_t)size);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, size, AIDEV_TYPE_NONE);
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_file_read(q, b, 0, fd, at, size, 0, 0, NULL, &ev));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    expect_pattern(dev, b, 0, at, size);
    ck_assert_ok(aidev_event_release(ev));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
    close(fd);
}
END_TEST

START_TEST(direct_read_when_aligned)
{
    aidev_device dev = harness_device(_i);
    const uint64_t size = 2u << 20;
    int fd = make_file(size + 8192);
    aidev_queue q = harness_queue(dev);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (!harness_has_kind(dev, kinds[k]))
            continue;
        aidev_buffer b = harness_buffer(dev, kinds[k], size, AIDEV_TYPE_NONE);
        aidev_event ev;
        ck_assert_ok(aidev_enqueue_file_read(q, b, 0, fd, 8192, size, AIDEV_FILE_READ_DIRECT, 0,
                                             NULL, &ev));
        ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
        /* O_DIRECT where the file system takes it; the data either way. */
        uint32_t direct = 2;
        ck_assert_ok(aidev_event_get_info(ev, AIDEV_EVENT_INFO_IO_DIRECT, sizeof direct, &direct,
                                          NULL));
        ck_assert_uint_le(direct, 1);
        expect_pattern(dev, b, 0, 8192, size);
        ck_assert_ok(aidev_event_release(ev));
        ck_assert_ok(aidev_buffer_release(b));
    }
    /* Unaligned: never direct, still right. */
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 1000, AIDEV_TYPE_NONE);
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_file_read(q, b, 0, fd, 3, 1000, AIDEV_FILE_READ_DIRECT, 0, NULL,
                                         &ev));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    uint32_t direct = 1;
    ck_assert_ok(aidev_event_get_info(ev, AIDEV_EVENT_INFO_IO_DIRECT, sizeof direct, &direct,
                                      NULL));
    ck_assert_uint_eq(direct, 0);
    expect_pattern(dev, b, 0, 3, 1000);
    ck_assert_ok(aidev_event_release(ev));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
    close(fd);
}
END_TEST

/* Each failure ends in a failed event with a message, and the queue goes on. */
START_TEST(read_failures_fail_the_event)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 1 << 20, AIDEV_TYPE_NONE);
    int fd = make_file(5000);
    aidev_event ev, after;

    /* End of file before |size|, in the first chunk and in a later one. */
    ck_assert_ok(aidev_enqueue_file_read(q, b, 0, fd, 0, 8000, 0, 0, NULL, &ev));
    ck_assert_ok(aidev_enqueue_barrier(q, 1, &ev, &after));
    ck_assert_error_names(aidev_event_wait(ev, AIDEV_WAIT_FOREVER), AIDEV_ERROR_IO,
                          "end of file");
    ck_assert_status(aidev_event_wait(after, AIDEV_WAIT_FOREVER), AIDEV_ERROR_DEPENDENCY);
    aidev_event_release(ev);
    aidev_event_release(after);
    ck_assert_ok(aidev_enqueue_file_read(q, b, 0, fd, 6000, 10, 0, 0, NULL, &ev));
    ck_assert_error_names(aidev_event_wait(ev, AIDEV_WAIT_FOREVER), AIDEV_ERROR_IO,
                          "end of file");
    aidev_event_release(ev);

    /* A closed fd, a negative fd: the event fails, the enqueue does not. */
    int closed = dup(fd);
    close(closed);
    ck_assert_ok(aidev_enqueue_file_read(q, b, 0, closed, 0, 100, 0, 0, NULL, &ev));
    ck_assert_error_names(aidev_event_wait(ev, AIDEV_WAIT_FOREVER), AIDEV_ERROR_IO,
                          "not an open file");
    aidev_event_release(ev);
    ck_assert_ok(aidev_enqueue_file_read(q, b, 0, -1, 0, 100, 0, 0, NULL, &ev));
    ck_assert_error_names(aidev_event_wait(ev, AIDEV_WAIT_FOREVER), AIDEV_ERROR_IO, "fd");
    aidev_event_release(ev);

    /* An I/O error from the kernel: reading a directory (EISDIR). */
    int dir = open(".", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(dir, 0);
    ck_assert_ok(aidev_enqueue_file_read(q, b, 0, dir, 0, 100, 0, 0, NULL, &ev));
    ck_assert_error_names(aidev_event_wait(ev, AIDEV_WAIT_FOREVER), AIDEV_ERROR_IO,
                          "a directory");
    aidev_event_release(ev);
    close(dir);

    /* The caller may close its fd right after the enqueue. */
    int mine = dup(fd);
    ck_assert_ok(aidev_enqueue_file_read(q, b, 0, mine, 0, 5000, 0, 0, NULL, &ev));
    close(mine);
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    aidev_event_release(ev);
    expect_pattern(dev, b, 0, 0, 5000);

    /* Refused at once: bad ranges and flags. */
    ck_assert_error_names(aidev_enqueue_file_read(q, b, 1 << 20, fd, 0, 1, 0, 0, NULL, NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "buffer");
    ck_assert_error_names(aidev_enqueue_file_read(q, b, 0, fd, 0, 0, 0, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "size");
    ck_assert_error_names(aidev_enqueue_file_read(q, b, 0, fd, UINT64_MAX - 5, 100, 0, 0, NULL,
                                                  NULL),
                          AIDEV_ERROR_OUT_OF_RANGE, "file_offset");
    ck_assert_error_names(aidev_enqueue_file_read(q, b, 0, fd, 0, 100, 0x80, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "flags");
    /* The queue's finish reports the first failure since its last finish
     * (refusals of the enqueue itself are not among them). */
    ck_assert_error_names(aidev_queue_finish(q), AIDEV_ERROR_IO, "file_read of 8000 bytes");
    ck_assert_ptr_nonnull(strstr(aidev_last_error(), "end of file"));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
    close(fd);
}
END_TEST

START_TEST(pread_engine)
{
    /* AIDEV_IO_ENGINE=pread is read when a context makes its engine. */
    aidev_device dev = harness_device(_i);
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_INDEX, sizeof index, &index, NULL));
    setenv("AIDEV_IO_ENGINE", "pread", 1);
    aidev_context ctx;
    ck_assert_ok(aidev_context_create(NULL, &ctx));
    aidev_device d;
    ck_assert_ok(aidev_context_get_device(ctx, index, &d));
    int fd = make_file(3 << 20);
    aidev_queue q = harness_queue(d);
    aidev_buffer b = harness_buffer(d, AIDEV_MEMORY_DEVICE, 3 << 20, AIDEV_TYPE_NONE);
    aidev_event ev;
    ck_assert_ok(aidev_enqueue_file_read(q, b, 0, fd, 0, 3 << 20, 0, 0, NULL, &ev));
    ck_assert_ok(aidev_event_wait(ev, AIDEV_WAIT_FOREVER));
    char engine[16];
    ck_assert_ok(aidev_event_get_info(ev, AIDEV_EVENT_INFO_IO_ENGINE, sizeof engine, engine,
                                      NULL));
    ck_assert_str_eq(engine, "pread");
    expect_pattern(d, b, 0, 0, 3 << 20);
    unsetenv("AIDEV_IO_ENGINE");
    ck_assert_ok(aidev_context_release(ctx));
    close(fd);
}
END_TEST

/* file -> device A -> kernel on A -> host -> device B -> kernel on B ->
 * host, ordered by events only, A and B of different backends where the
 * machine has them. */
START_TEST(chain_across_devices)
{
    uint32_t n = harness_device_count();
    aidev_device a = harness_device(_i), b = harness_device((_i + 1) % (int)n);
    enum { N = 100003 };
    const uint64_t bytes = N * sizeof(float);
    /* The file holds floats 0..N-1. */
    int fd = make_file(0);
    float *values = malloc(bytes), *hop = malloc(bytes), *out = malloc(bytes);
    for (int i = 0; i < N; i++)
        values[i] = (float)i;
    ck_assert_int_eq(pwrite(fd, values, bytes, 0), (ssize_t)bytes);

    aidev_queue qa = harness_queue(a), qb = harness_queue(b);
    aidev_buffer xa = harness_buffer(a, AIDEV_MEMORY_DEVICE, bytes, AIDEV_TYPE_F32);
    aidev_buffer ya = harness_buffer(a, AIDEV_MEMORY_DEVICE, bytes, AIDEV_TYPE_F32);
    aidev_buffer yb = harness_buffer(b, AIDEV_MEMORY_DEVICE, bytes, AIDEV_TYPE_F32);
    aidev_kernel ka, kb;
    ck_assert_ok(aidev_kernel_get(a, "axpy", &ka));
    ck_assert_ok(aidev_kernel_get(b, "axpy", &kb));
    float one = 1.0f;
    aidev_event e[6];
    ck_assert_ok(aidev_enqueue_fill(qa, ya, 0, bytes, &one, 4, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_file_read(qa, xa, 0, fd, 0, bytes, 0, 0, NULL, &e[0]));
    aidev_arg args_a[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(xa, 0),
                          aidev_arg_buffer(ya, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(qa, ka, NULL, NULL, 4, args_a, 1, &e[0], &e[1]));
    ck_assert_ok(aidev_enqueue_read(qa, ya, 0, bytes, hop, 1, &e[1], &e[2]));
    /* On B: y = 3 * hop + y, with y = hop first. */
    ck_assert_ok(aidev_enqueue_write(qb, yb, 0, bytes, hop, 1, &e[2], &e[3]));
    aidev_arg args_b[] = {aidev_arg_u32(N), aidev_arg_f32(3.0f), aidev_arg_buffer(yb, 0),
                          aidev_arg_buffer(yb, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(qb, kb, NULL, NULL, 4, args_b, 1, &e[3], &e[4]));
    ck_assert_ok(aidev_enqueue_read(qb, yb, 0, bytes, out, 1, &e[4], &e[5]));
    ck_assert_ok(aidev_event_wait(e[5], AIDEV_WAIT_FOREVER));
    int i = 0;
    while (i < N && out[i] == 4.0f * (2.0f * (float)i + 1.0f))
        i++;
    ck_assert_msg(i == N, "out[%d] = %g, want %g", i, i < N ? out[i] : 0.0f,
                  4.0f * (2.0f * (float)i + 1.0f));
    for (int k = 0; k < 6; k++)
        aidev_event_release(e[k]);
    aidev_kernel_release(ka);
    aidev_kernel_release(kb);
    aidev_buffer_release(xa);
    aidev_buffer_release(ya);
    aidev_buffer_release(yb);
    aidev_queue_release(qa);
    aidev_queue_release(qb);
    free(values);
    free(hop);
    free(out);
    close(fd);
}
END_TEST

/* Double buffering: the read of chunk k+1 (I/O queue) and the compute on
 * chunk k (compute queue: PASSES dispatches) both wait only on the read of
 * chunk k, so they start together; their intervals must intersect. Proven
 * from the events' timestamps, not from a duration. */
START_TEST(reads_overlap_compute)
{
    aidev_device dev = harness_device(_i);
    enum { CHUNKS = 4, PASSES = 4 };
    const uint32_t n = 4u << 20; /* floats per chunk: 16 MiB */
    const uint64_t bytes = (uint64_t)n * 4;
    int fd = make_file(bytes * CHUNKS);
    aidev_queue io = harness_queue(dev), compute = harness_queue(dev);
    aidev_buffer buf[2] = {harness_buffer(dev, AIDEV_MEMORY_DEVICE, bytes, AIDEV_TYPE_F32),
                           harness_buffer(dev, AIDEV_MEMORY_DEVICE, bytes, AIDEV_TYPE_F32)};
    aidev_buffer acc = harness_buffer(dev, AIDEV_MEMORY_DEVICE, bytes, AIDEV_TYPE_F32);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    aidev_event read[CHUNKS], first[CHUNKS], last[CHUNKS];
    for (int c = 0; c < CHUNKS; c++) {
        /* The buffer is free again once the compute two chunks back is done. */
        uint32_t nw = c >= 2 ? 1 : 0;
        /* O_DIRECT where the file system takes it: the disk moves the data,
         * so the read lasts while the compute runs instead of being a copy
         * that competes with it for the cores. */
        ck_assert_ok(aidev_enqueue_file_read(io, buf[c % 2], 0, fd, (uint64_t)c * bytes, bytes,
                                             AIDEV_FILE_READ_DIRECT, nw,
                                             c >= 2 ? &last[c - 2] : NULL, &read[c]));
        aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(1.0f), aidev_arg_buffer(buf[c % 2], 0),
                            aidev_arg_buffer(acc, 0)};
        /* Several passes make the compute stage long against the scheduler's
         * time slices on a loaded machine. */
        ck_assert_ok(aidev_enqueue_dispatch(compute, k, NULL, NULL, 4, args, 1, &read[c],
                                            &first[c]));
        for (int p = 1; p < PASSES - 1; p++)
            ck_assert_ok(aidev_enqueue_dispatch(compute, k, NULL, NULL, 4, args, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_dispatch(compute, k, NULL, NULL, 4, args, 0, NULL, &last[c]));
    }
    ck_assert_ok(aidev_queue_finish(compute));
    ck_assert_ok(aidev_queue_finish(io));
    int overlapping = 0;
    char timeline[1024] = "";
    size_t used = 0;
    aidev_event_times t0;
    ck_assert_ok(aidev_event_get_times(read[0], &t0));
    for (int c = 0; c + 1 < CHUNKS; c++) {
        aidev_event_times r, kf, kl;
        ck_assert_ok(aidev_event_get_times(read[c + 1], &r));
        ck_assert_ok(aidev_event_get_times(first[c], &kf));
        ck_assert_ok(aidev_event_get_times(last[c], &kl));
        uint64_t lo = r.start > kf.start ? r.start : kf.start;
        uint64_t hi = r.end < kl.end ? r.end : kl.end;
        overlapping += lo < hi;
        used += (size_t)snprintf(timeline + used, sizeof timeline - used,
                                 " read%d [%.2f, %.2f] compute%d [%.2f, %.2f] ms;", c + 1,
                                 (double)(r.start - t0.start) / 1e6,
                                 (double)(r.end - t0.start) / 1e6, c,
                                 (double)(kf.start - t0.start) / 1e6,
                                 (double)(kl.end - t0.start) / 1e6);
    }
    /* Every pair starts together, but a loaded machine may deschedule one
     * thread for longer than a stage runs: one intersecting pair is the
     * proof that reads and compute run at once. */
    ck_assert_msg(overlapping >= 1, "none of %d reads of chunk k+1 overlapped the compute on "
                  "chunk k:%s", CHUNKS - 1, timeline);
    for (int c = 0; c < CHUNKS; c++) {
        aidev_event_release(read[c]);
        aidev_event_release(first[c]);
        aidev_event_release(last[c]);
    }
    aidev_kernel_release(k);
    aidev_buffer_release(buf[0]);
    aidev_buffer_release(buf[1]);
    aidev_buffer_release(acc);
    aidev_queue_release(io);
    aidev_queue_release(compute);
    close(fd);
}
END_TEST

/* Open descriptors of this process. */
static int open_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Reads refused by the queue's own checks (after the read duplicated its
 * fd) give back what they made: 1,000 rounds leave no descriptor open. */
START_TEST(refused_reads_leave_no_fd)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_HOST, 4096, AIDEV_TYPE_NONE);
    int fd = make_file(4096);
    aidev_event stale, many[1025] = {0};
    ck_assert_ok(aidev_event_create_user(harness_context(), &stale));
    ck_assert_ok(aidev_event_set_status(stale, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_release(stale));
    const int before = open_fd_count();
    for (int round = 0; round < 1000; round++) {
        aidev_event ev = NULL;
        ck_assert_error_names(aidev_enqueue_file_read(q, b, 0, fd, 0, 4096, 0, 1, NULL, &ev),
                              AIDEV_ERROR_INVALID_ARGUMENT, "wait_events");
        ck_assert_ptr_null(ev);
        ck_assert_error_names(aidev_enqueue_file_read(q, b, 0, fd, 0, 4096, 0, 1025, many, &ev),
                              AIDEV_ERROR_INVALID_ARGUMENT, "wait_count");
        ck_assert_error_names(aidev_enqueue_file_read(q, b, 0, fd, 0, 4096, 0, 1, &stale, NULL),
                              AIDEV_ERROR_INVALID_HANDLE, "wait_events[0]");
    }
    ck_assert_int_eq(open_fd_count(), before);
    /* The queue still reads. */
    ck_assert_ok(aidev_enqueue_file_read(q, b, 0, fd, 0, 4096, 0, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    expect_pattern(dev, b, 0, 0, 4096);
    ck_assert_int_eq(open_fd_count(), before);
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
    close(fd);
}
END_TEST

/* A pipe and a socket whose writers stay open and silent, on |dev|'s
 * queue: each read fails at once with a message naming what the fd is,
 * and the queue goes on. */
static void expect_streams_refused(aidev_device dev, const char *engine)
{
    aidev_queue q = harness_queue(dev);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 4096, AIDEV_TYPE_NONE);
    int p[2], sv[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    const struct {
        int fd, writer;
        const char *what;
    } streams[] = {{p[0], p[1], "a pipe"}, {sv[0], sv[1], "a socket"}};
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++) {
        aidev_event ev, after;
        ck_assert_ok(aidev_enqueue_file_read(q, b, 0, streams[i].fd, 0, 4096, 0, 0, NULL, &ev));
        ck_assert_ok(aidev_enqueue_barrier(q, 0, NULL, &after));
        aidev_status st = aidev_event_wait(after, 30ull * 1000 * 1000 * 1000);
        if (st == AIDEV_ERROR_TIMEOUT)
            close(streams[i].writer); /* ends the read, so the case can fail */
        ck_assert_msg(st == AIDEV_SUCCESS, "%s engine, %s: the queue stalled behind the read (%s)",
                      engine, streams[i].what, aidev_status_string(st));
        ck_assert_error_names(aidev_event_wait(ev, AIDEV_WAIT_FOREVER), AIDEV_ERROR_IO,
                              streams[i].what);
        ck_assert_ptr_nonnull(strstr(aidev_event_message(ev), "regular file"));
        ck_assert_ok(aidev_event_release(ev));
        ck_assert_ok(aidev_event_release(after));
    }
    ck_assert_error_names(aidev_queue_finish(q), AIDEV_ERROR_IO, "a pipe");
    for (int i = 0; i < 2; i++) {
        close(p[i]);
        close(sv[i]);
    }
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_queue_release(q));
}

/* Both engines refuse fds without file offsets the same way (io_uring used
 * to wait in the kernel for a writer, stalling the queue; pread failed
 * with ESPIPE). */
START_TEST(reads_from_streams_are_refused)
{
    aidev_device dev = harness_device(_i);
    expect_streams_refused(dev, "default");
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_INDEX, sizeof index, &index, NULL));
    setenv("AIDEV_IO_ENGINE", "pread", 1);
    aidev_context ctx;
    ck_assert_ok(aidev_context_create(NULL, &ctx));
    aidev_device d;
    ck_assert_ok(aidev_context_get_device(ctx, index, &d));
    expect_streams_refused(d, "pread");
    unsetenv("AIDEV_IO_ENGINE");
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("file_read");
    harness_add_per_device(s, "read_into_every_kind", read_into_every_kind, 120);
    harness_add_per_device(s, "read_past_4_gib_of_a_sparse_file", read_past_4_gib_of_a_sparse_file,
                           60);
    harness_add_per_device(s, "direct_read_when_aligned", direct_read_when_aligned, 60);
    harness_add_per_device(s, "read_failures_fail_the_event", read_failures_fail_the_event, 60);
    harness_add_per_device(s, "pread_engine", pread_engine, 60);
    harness_add_per_device(s, "chain_across_devices", chain_across_devices, 120);
    harness_add_per_device(s, "reads_overlap_compute", reads_overlap_compute, 120);
    harness_add_per_device(s, "read_after_dispatches_lands_last",
                           read_after_dispatches_lands_last, 120);
    harness_add_per_device(s, "refused_reads_leave_no_fd", refused_reads_leave_no_fd, 120);
    harness_add_per_device(s, "reads_from_streams_are_refused", reads_from_streams_are_refused,
                           120);
    return harness_run(s);
}
