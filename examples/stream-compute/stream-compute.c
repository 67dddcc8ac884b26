/*
 * stream-compute - read a large file in chunks and compute on each chunk on
 * a device, double-buffered: chunk k+1 loads (I/O queue) while chunk k
 * computes (compute queue). Events order everything; the host only waits
 * at the end. Prints how much of the shorter stage the overlap hid.
 *
 *   stream-compute [-d DEVICE] [-c CHUNK_MIB] FILE
 *   stream-compute [-d DEVICE] [-c CHUNK_MIB] --generate MIB   (a temp file)
 *
 * The file is read as float32 values; each chunk is added into an
 * accumulator (axpy with alpha 1), so the result is the element-wise sum of
 * all chunks, checked against the host at the end.
 *
 * AIDEV_TRACE=trace.json stream-compute ... writes a trace to open in
 * Perfetto: the reads and the kernels side by side on their tracks.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <aidev/aidev.h>

#define CHECK(call)                                                                            \
    do {                                                                                       \
        aidev_status st_ = (call);                                                             \
        if (st_ != AIDEV_SUCCESS) {                                                            \
            fprintf(stderr, "stream-compute: %s: %s (%s)\n", #call, aidev_last_error(),        \
                    aidev_status_string(st_));                                                 \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

static int generate(uint64_t mib)
{
    char path[] = "/tmp/stream-compute-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        exit(1);
    }
    unlink(path);
    enum { BLOCK = 1 << 18 };
    float *block = malloc(BLOCK * sizeof(float));
    for (uint64_t done = 0; done < mib << 20; done += BLOCK * sizeof(float)) {
        for (uint32_t i = 0; i < BLOCK; i++)
            block[i] = (float)((done / sizeof(float) + i) % 1000) * 0.25f;
        if (pwrite(fd, block, BLOCK * sizeof(float), (off_t)done) < 0) {
            perror("pwrite");
            exit(1);
        }
    }
    free(block);
    return fd;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

int main(int argc, char **argv)
{
    uint32_t device_index = 0;
    uint64_t chunk_mib = 16, generate_mib = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            device_index = (uint32_t)atoi(argv[++i]);
        else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            chunk_mib = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--generate") == 0 && i + 1 < argc)
            generate_mib = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "usage: stream-compute [-d DEVICE] [-c CHUNK_MIB] "
                            "(FILE | --generate MIB)\n");
            return 2;
        }
    }
    if ((!path && !generate_mib) || chunk_mib == 0) {
        fprintf(stderr, "stream-compute: give a FILE or --generate MIB\n");
        return 2;
    }
    int fd = path ? open(path, O_RDONLY) : generate(generate_mib);
    if (fd < 0) {
        fprintf(stderr, "stream-compute: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct stat st;
    fstat(fd, &st);
    const uint64_t chunk_bytes = chunk_mib << 20;
    const uint32_t n = (uint32_t)(chunk_bytes / sizeof(float));
    const uint64_t chunks = (uint64_t)st.st_size / chunk_bytes;
    if (chunks < 2) {
        fprintf(stderr, "stream-compute: the file holds fewer than 2 chunks of %llu MiB\n",
                (unsigned long long)chunk_mib);
        return 1;
    }

    aidev_context ctx;
    aidev_device dev;
    CHECK(aidev_context_create(NULL, &ctx));
    CHECK(aidev_context_get_device(ctx, device_index, &dev));
    char name[256], backend[32];
    CHECK(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NAME, sizeof name, name, NULL));
    CHECK(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend, NULL));

    /* One queue loads, one computes: their commands may overlap. */
    aidev_queue io, compute;
    CHECK(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &io));
    CHECK(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_HIGH, &compute));
    aidev_buffer_desc desc = {.size = chunk_bytes, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    aidev_buffer chunk[2], acc;
    CHECK(aidev_buffer_create(dev, &desc, &chunk[0]));
    CHECK(aidev_buffer_create(dev, &desc, &chunk[1]));
    CHECK(aidev_buffer_create(dev, &desc, &acc)); /* reads as zero */
    aidev_kernel axpy;
    CHECK(aidev_kernel_get(dev, "axpy", &axpy));

    aidev_event *loaded = calloc(chunks, sizeof *loaded);
    aidev_event *computed = calloc(chunks, sizeof *computed);
    for (uint64_t k = 0; k < chunks; k++) {
        /* Chunk k reuses the buffer of chunk k-2: wait for its kernel. */
        CHECK(aidev_enqueue_file_read(io, chunk[k % 2], 0, fd, k * chunk_bytes, chunk_bytes, 0,
                                      k >= 2, k >= 2 ? &computed[k - 2] : NULL, &loaded[k]));
        aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(1.0f),
                            aidev_arg_buffer(chunk[k % 2], 0), aidev_arg_buffer(acc, 0)};
        CHECK(aidev_enqueue_dispatch(compute, axpy, NULL, NULL, 4, args, 1, &loaded[k],
                                     &computed[k]));
    }
    float *result = malloc(chunk_bytes);
    aidev_event done;
    CHECK(aidev_enqueue_read(compute, acc, 0, chunk_bytes, result, 0, NULL, &done));
    CHECK(aidev_event_wait(done, AIDEV_WAIT_FOREVER));

    /* Timings from the events: one clock for every device. */
    uint64_t read_ns = 0, compute_ns = 0, first = UINT64_MAX, last = 0, hidden = 0;
    for (uint64_t k = 0; k < chunks; k++) {
        aidev_event_times r, c;
        CHECK(aidev_event_get_times(loaded[k], &r));
        CHECK(aidev_event_get_times(computed[k], &c));
        read_ns += r.end - r.start;
        compute_ns += c.end - c.start;
        first = r.start < first ? r.start : first;
        last = c.end > last ? c.end : last;
        if (k + 1 < chunks) {
            aidev_event_times next;
            CHECK(aidev_event_get_times(loaded[k + 1], &next));
            uint64_t lo = next.start > c.start ? next.start : c.start;
            uint64_t hi = next.end < c.end ? next.end : c.end;
            hidden += hi > lo ? hi - lo : 0;
        }
    }
    uint64_t total = last - first;
    uint64_t shorter = read_ns < compute_ns ? read_ns : compute_ns;
    char engine[16] = "";
    aidev_event_get_info(loaded[0], AIDEV_EVENT_INFO_IO_ENGINE, sizeof engine, engine, NULL);

    /* Check: each accumulator element is the sum over chunks. */
    float *expect = calloc(n, sizeof(float)), *piece = malloc(chunk_bytes);
    for (uint64_t k = 0; k < chunks; k++) {
        if (pread(fd, piece, chunk_bytes, (off_t)(k * chunk_bytes)) != (ssize_t)chunk_bytes) {
            perror("pread");
            return 1;
        }
        for (uint32_t i = 0; i < n; i++)
            expect[i] += piece[i];
    }
    uint32_t bad = 0;
    for (uint32_t i = 0; i < n; i++)
        bad += fabsf(result[i] - expect[i]) > 1e-3f * (1.0f + fabsf(expect[i]));

    printf("device        %u: %s (%s)\n", device_index, name, backend);
    printf("chunks        %llu x %llu MiB, file read with %s\n", (unsigned long long)chunks,
           (unsigned long long)chunk_mib, engine);
    printf("total         %.2f ms\n", ms(total));
    printf("reads         %.2f ms (sum of read commands)\n", ms(read_ns));
    printf("compute       %.2f ms (sum of kernels)\n", ms(compute_ns));
    printf("overlap       %.2f ms of reads ran beside kernels: %.0f%% of the shorter stage\n",
           ms(hidden), shorter ? 100.0 * (double)hidden / (double)shorter : 0.0);
    printf("vs serial     %.2f ms serial would take: %.2fx\n", ms(read_ns + compute_ns),
           total ? (double)(read_ns + compute_ns) / (double)total : 0.0);
    printf("result        %s\n", bad ? "WRONG" : "ok");

    for (uint64_t k = 0; k < chunks; k++) {
        aidev_event_release(loaded[k]);
        aidev_event_release(computed[k]);
    }
    free(loaded);
    free(computed);
    free(result);
    free(expect);
    free(piece);
    close(fd);
    CHECK(aidev_context_release(ctx));
    return bad ? 1 : 0;
}
