/*
 * The Vulkan backend's own behaviour, through the aidev API, on every Vulkan
 * device found (lavapipe here): what it says of the device, memory (zeroed,
 * sub-allocated, freed while in use, imported; file reads straight into the
 * DEVICE memory of a CPU device), odd-sized transfers, events that complete
 * with their batch (not once the device is idle), waits
 * across queues on the GPU and on the host, dependency failures, user
 * SPIR-V kernels and their signature checks, arguments at offsets the
 * device cannot bind directly, timestamps, batching.
 *
 * Exits 77 (skipped) when the Vulkan backend has no device on this machine
 * for a reason it states (no loader, no driver); fails when it failed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dlpack/dlpack.h>

#include "harness.h"

static const uint32_t scale_spv[] =
#include "scale.spv.h"
    ;
static const uint32_t fixed_spv[] =
#include "fixed.spv.h"
    ;
static const uint32_t mixed_spv[] =
#include "mixed.spv.h"
    ;
static const uint32_t uniform_spv[] =
#include "uniform.spv.h"
    ;
static const uint32_t spin_spv[] =
#include "spin.spv.h"
    ;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* TCase names live until the runner is freed (harness_run). */
static char *case_names[256];
static int case_name_count;

static void add_vulkan_case(Suite *s, const char *name, const TTest *fn, int timeout)
{
    for (uint32_t d = 0; d < harness_device_count(); d++) {
        if (strcmp(harness_device_backend((int)d), "vulkan") != 0 || case_name_count == 256)
            continue;
        char label[400];
        snprintf(label, sizeof label, "%s@%s", name, harness_device_label((int)d));
        char *kept = strdup(label);
        case_names[case_name_count++] = kept;
        TCase *tc = tcase_create(kept);
        tcase_set_timeout(tc, timeout);
        tcase_add_loop_test(tc, fn, (int)d, (int)d + 1);
        suite_add_tcase(s, tc);
    }
}

static void read_back(aidev_queue q, aidev_buffer b, uint64_t offset, uint64_t size, void *dst)
{
    ck_assert_ok(aidev_enqueue_read(q, b, offset, size, dst, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
}

static aidev_kernel make_kernel(aidev_device dev, const uint32_t *spv, size_t size,
                                const aidev_kernel_arg_desc *args, uint32_t n,
                                aidev_status expect)
{
    aidev_kernel_desc d = {.name = "main",
                           .source_kind = AIDEV_KERNEL_SOURCE_SPIRV,
                           .data = spv,
                           .size = size,
                           .arg_count = n,
                           .args = args};
    aidev_kernel k = NULL;
    ck_assert_status(aidev_kernel_create(dev, &d, &k), expect);
    return k;
}

/* ------------------------------------------------------------------------ */
/* Device info                                                              */
/* ------------------------------------------------------------------------ */

/* vulkaninfo --summary's deviceName and deviceUUID lines, as
 * "name|uuid\n" records; "" when vulkaninfo is missing. */
static void vulkaninfo_devices(char *out, size_t size)
{
    out[0] = '\0';
    FILE *p = popen("vulkaninfo --summary 2>/dev/null", "r");
    if (!p)
        return;
    char line[512], name[300] = "";
    size_t used = 0;
    while (fgets(line, sizeof line, p)) {
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        char *value = eq + 2;
        value[strcspn(value, "\n")] = '\0';
        if (strstr(line, "deviceName"))
            snprintf(name, sizeof name, "%s", value);
        else if (strstr(line, "deviceUUID") && used < size)
            used += (size_t)snprintf(out + used, size - used, "%s|%s\n", name, value);
    }
    pclose(p);
}

START_TEST(info_matches_vulkaninfo)
{
    aidev_device dev = harness_device(_i);
    char name[256], api[64], driver[128];
    uint8_t uuid[16];
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NAME, sizeof name, name, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_API_VERSION, sizeof api, api, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_DRIVER_VERSION, sizeof driver,
                                       driver, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_UUID, sizeof uuid, uuid, NULL));
    ck_assert_msg(strncmp(api, "Vulkan 1.", 9) == 0, "api version '%s'", api);
    ck_assert_msg(driver[0], "empty driver version");
    uint64_t features = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features,
                                       &features, NULL));
    ck_assert(features & AIDEV_FEATURE_KERNEL_SPIRV);
    ck_assert(features & AIDEV_FEATURE_TIMELINE_SEMAPHORES);
    ck_assert(!(features & AIDEV_FEATURE_KERNEL_OPENCL_C));
    uint32_t dims[3];
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MAX_WORKGROUP_DIMS, sizeof dims,
                                       dims, NULL));
    ck_assert(dims[0] >= 128 && dims[1] >= 1 && dims[2] >= 1);

    /* Name and UUID exactly as vulkaninfo prints them. */
    char records[8192], mine[340];
    vulkaninfo_devices(records, sizeof records);
    if (!records[0]) {
        fprintf(stderr, "info_matches_vulkaninfo: vulkaninfo not found; name not compared\n");
        return;
    }
    char hex[40];
    snprintf(hex, sizeof hex,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", uuid[0],
             uuid[1], uuid[2], uuid[3], uuid[4], uuid[5], uuid[6], uuid[7], uuid[8], uuid[9],
             uuid[10], uuid[11], uuid[12], uuid[13], uuid[14], uuid[15]);
    snprintf(mine, sizeof mine, "%s|%s\n", name, hex);
    ck_assert_msg(strstr(records, mine), "device '%s' (UUID %s) not in vulkaninfo's:\n%s", name,
                  hex, records);
}
END_TEST

START_TEST(free_memory_only_when_known)
{
    aidev_device dev = harness_device(_i);
    uint64_t total = 0, free_bytes = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MEMORY_BYTES, sizeof total, &total,
                                       NULL));
    ck_assert_uint_gt(total, 0);
    aidev_status st = aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES,
                                            sizeof free_bytes, &free_bytes, NULL);
    /* VK_EXT_memory_budget where the driver has it; else unknown. */
    ck_assert_msg(st == AIDEV_SUCCESS || st == AIDEV_ERROR_UNSUPPORTED, "%s",
                  aidev_status_string(st));
    if (st == AIDEV_SUCCESS)
        ck_assert_uint_le(free_bytes, total);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

/* Memory freed by one buffer and taken by the next reads as zero. */
START_TEST(new_buffers_read_zero)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    enum { SIZE = 3 * 4096 + 20 };
    unsigned char *out = malloc(SIZE), *zero = calloc(1, SIZE);
    for (int kind = 0; kind < AIDEV_MEMORY_KIND_COUNT_; kind++) {
        if (!harness_has_kind(dev, (aidev_memory_kind)kind))
            continue;
        for (int round = 0; round < 3; round++) {
            aidev_buffer dirty = harness_buffer(dev, (aidev_memory_kind)kind, SIZE,
                                                AIDEV_TYPE_NONE);
            unsigned char ff = 0xab;
            ck_assert_ok(aidev_enqueue_fill(q, dirty, 0, SIZE, &ff, 1, 0, NULL, NULL));
            ck_assert_ok(aidev_queue_finish(q));
            ck_assert_ok(aidev_buffer_release(dirty));
            aidev_buffer fresh = harness_buffer(dev, (aidev_memory_kind)kind, SIZE,
                                                AIDEV_TYPE_NONE);
            read_back(q, fresh, 0, SIZE, out);
            ck_assert_msg(memcmp(out, zero, SIZE) == 0, "kind %d round %d: not zero", kind,
                          round);
            ck_assert_ok(aidev_buffer_release(fresh));
        }
    }
    /* UNINITIALIZED skips the clearing; the buffer still works. */
    aidev_buffer_desc desc = {.size = SIZE, .kind = AIDEV_MEMORY_DEVICE,
                              .flags = AIDEV_BUFFER_UNINITIALIZED};
    aidev_buffer u;
    ck_assert_ok(aidev_buffer_create(dev, &desc, &u));
    memset(zero, 7, SIZE);
    ck_assert_ok(aidev_enqueue_write(q, u, 0, SIZE, zero, 0, NULL, NULL));
    read_back(q, u, 0, SIZE, out);
    ck_assert_int_eq(memcmp(out, zero, SIZE), 0);
    aidev_buffer_release(u);
    free(out);
    free(zero);
    aidev_queue_release(q);
}
END_TEST

/* Many live buffers of many sizes share blocks without overlapping; one
 * above half a block gets its own. */
START_TEST(suballocated_buffers_do_not_overlap)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    enum { N = 48 };
    aidev_buffer b[N];
    uint64_t size[N];
    for (int i = 0; i < N; i++) {
        size[i] = 4 + (uint64_t)((i * 7919) % 5000) * 4;
        if (i == N / 2)
            size[i] = 40u << 20; /* a dedicated block */
        b[i] = harness_buffer(dev, i % 3 == 2 && harness_has_kind(dev, AIDEV_MEMORY_HOST)
                                       ? AIDEV_MEMORY_HOST
                                       : AIDEV_MEMORY_DEVICE,
                              size[i], AIDEV_TYPE_U32);
        uint32_t tag = 0x1000u + (uint32_t)i;
        ck_assert_ok(aidev_enqueue_fill(q, b[i], 0, size[i], &tag, 4, 0, NULL, NULL));
        /* Release some as we go, so later buffers reuse their ranges. */
        if (i % 5 == 4) {
            ck_assert_ok(aidev_buffer_release(b[i - 2]));
            b[i - 2] = NULL;
        }
    }
    ck_assert_ok(aidev_queue_finish(q));
    for (int i = 0; i < N; i++) {
        if (!b[i])
            continue;
        uint32_t *out = malloc(size[i]);
        read_back(q, b[i], 0, size[i], out);
        uint64_t bad = size[i] / 4;
        for (uint64_t k = 0; k < size[i] / 4 && bad == size[i] / 4; k++)
            if (out[k] != 0x1000u + (uint32_t)i)
                bad = k;
        ck_assert_msg(bad == size[i] / 4, "buffer %d word %llu = %#x", i,
                      (unsigned long long)bad, bad < size[i] / 4 ? out[bad] : 0);
        free(out);
        aidev_buffer_release(b[i]);
    }
    aidev_queue_release(q);
}
END_TEST

/* Buffers released while commands that use them are pending stay alive
 * until those commands are done. */
START_TEST(release_while_pending)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    enum { N = 1 << 20 };
    float *x = malloc(N * 4), *y = malloc(N * 4), *out = malloc(N * 4);
    for (int i = 0; i < N; i++)
        x[i] = (float)(i % 1000), y[i] = 1.0f;
    for (int round = 0; round < 4; round++) {
        aidev_buffer bx = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
        aidev_buffer by = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
        aidev_buffer bz = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
        ck_assert_ok(aidev_enqueue_write(q, bx, 0, N * 4, x, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_write(q, by, 0, N * 4, y, 0, NULL, NULL));
        aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(bx, 0),
                            aidev_arg_buffer(by, 0)};
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_copy(q, by, 0, bz, 0, N * 4, 0, NULL, NULL));
        /* Gone from the user's view; the queue still needs them. */
        ck_assert_ok(aidev_buffer_release(bx));
        ck_assert_ok(aidev_buffer_release(by));
        /* New buffers must not take their memory while it is in use. */
        aidev_buffer junk = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
        float big = 1e9f;
        ck_assert_ok(aidev_enqueue_fill(q, junk, 0, N * 4, &big, 4, 0, NULL, NULL));
        read_back(q, bz, 0, N * 4, out);
        int i = 0;
        while (i < N && out[i] == 2.0f * (float)(i % 1000) + 1.0f)
            i++;
        ck_assert_msg(i == N, "round %d: out[%d] = %g", round, i, i < N ? out[i] : 0.0f);
        aidev_buffer_release(bz);
        aidev_buffer_release(junk);
    }
    aidev_kernel_release(k);
    free(x);
    free(y);
    free(out);
    aidev_queue_release(q);
}
END_TEST

/* Fills of 1, 2 and 4-byte patterns and copies at byte offsets that are
 * not multiples of 4 (vkCmdFillBuffer's own rule). */
START_TEST(unaligned_fill_and_copy)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    enum { SIZE = 301 };
    unsigned char model[SIZE], out[SIZE];
    for (int i = 0; i < SIZE; i++)
        model[i] = (unsigned char)(i * 13 + 1);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, SIZE, AIDEV_TYPE_NONE);
    aidev_buffer c = harness_buffer(dev, AIDEV_MEMORY_DEVICE, SIZE, AIDEV_TYPE_NONE);
    ck_assert_ok(aidev_enqueue_write(q, b, 0, SIZE, model, 0, NULL, NULL));
    const struct {
        uint64_t offset, size;
        uint32_t pattern_size;
        unsigned char pattern[4];
    } fills[] = {
        {1, 1, 1, {0xa1}},         {2, 5, 1, {0xa2}},       {9, 3, 1, {0xa3}},
        {13, 40, 1, {0xa4}},       {2, 2, 2, {0xb1, 0xb2}}, {58, 14, 2, {0xb3, 0xb4}},
        {100, 26, 2, {0xb5, 0xb6}}, {4, 4, 4, {1, 2, 3, 4}}, {140, 60, 4, {5, 6, 7, 8}},
        {203, 97, 1, {0xcc}},
    };
    for (size_t f = 0; f < sizeof fills / sizeof fills[0]; f++) {
        ck_assert_ok(aidev_enqueue_fill(q, b, fills[f].offset, fills[f].size, fills[f].pattern,
                                        fills[f].pattern_size, 0, NULL, NULL));
        for (uint64_t i = 0; i < fills[f].size; i++)
            model[fills[f].offset + i] = fills[f].pattern[i % fills[f].pattern_size];
    }
    read_back(q, b, 0, SIZE, out);
    for (int i = 0; i < SIZE; i++)
        ck_assert_msg(out[i] == model[i], "fill: byte %d = %#x, want %#x", i, out[i], model[i]);
    /* Copies and partial reads/writes at odd offsets. */
    ck_assert_ok(aidev_enqueue_copy(q, b, 3, c, 7, 201, 0, NULL, NULL));
    unsigned char cm[SIZE] = {0};
    memcpy(cm + 7, model + 3, 201);
    const unsigned char patch[5] = {9, 8, 7, 6, 5};
    ck_assert_ok(aidev_enqueue_write(q, c, 211, 5, patch, 0, NULL, NULL));
    memcpy(cm + 211, patch, 5);
    read_back(q, c, 1, SIZE - 1, out);
    for (int i = 1; i < SIZE; i++)
        ck_assert_msg(out[i - 1] == cm[i], "copy: byte %d = %#x, want %#x", i, out[i - 1], cm[i]);
    aidev_buffer_release(b);
    aidev_buffer_release(c);
    aidev_queue_release(q);
}
END_TEST

/* Host memory wrapped without a copy, at a page-aligned and at an
 * unaligned address; kernels read and write it in place. */
START_TEST(import_host_memory)
{
    aidev_device dev = harness_device(_i);
    uint64_t features = 0;
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features, &features, NULL);
    enum { N = 10000 };
    /* aligned_alloc takes a multiple of the alignment. */
    char *raw = aligned_alloc(4096, (4 * 4096 + 2 * N * 4 + 4095) / 4096 * 4096);
    aidev_buffer probe;
    aidev_status st = aidev_buffer_import_host(dev, raw, 4096, AIDEV_TYPE_NONE, &probe);
    if (!(features & AIDEV_FEATURE_HOST_IMPORT)) {
        /* The refusal states the rule. */
        ck_assert_error_names(st, AIDEV_ERROR_UNSUPPORTED, "external_memory_host");
        free(raw);
        return;
    }
    ck_assert_ok(st);
    aidev_buffer_release(probe);
    aidev_queue q = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    const size_t shifts[] = {0, 4, 4096 + 20};
    for (size_t s = 0; s < sizeof shifts / sizeof shifts[0]; s++) {
        float *x = (float *)(raw + shifts[s]);
        float *y = x + N;
        for (int i = 0; i < N; i++)
            x[i] = (float)i, y[i] = 3.0f;
        aidev_buffer bx, by;
        ck_assert_ok(aidev_buffer_import_host(dev, x, N * 4, AIDEV_TYPE_F32, &bx));
        ck_assert_ok(aidev_buffer_import_host(dev, y, N * 4, AIDEV_TYPE_F32, &by));
        uint32_t imported = 0;
        ck_assert_ok(aidev_buffer_get_info(bx, AIDEV_BUFFER_INFO_IMPORTED, sizeof imported,
                                           &imported, NULL));
        ck_assert_uint_eq(imported, 1);
        aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(0.5f), aidev_arg_buffer(bx, 0),
                            aidev_arg_buffer(by, 0)};
        aidev_event e;
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, &e));
        ck_assert_ok(aidev_event_wait(e, AIDEV_WAIT_FOREVER));
        aidev_event_release(e);
        /* The result is in the caller's memory itself. */
        int i = 0;
        while (i < N && y[i] == 0.5f * (float)i + 3.0f)
            i++;
        ck_assert_msg(i == N, "shift %zu: y[%d] = %g", shifts[s], i, i < N ? y[i] : 0.0f);
        aidev_buffer_release(bx);
        aidev_buffer_release(by);
    }
    aidev_kernel_release(k);
    aidev_queue_release(q);
    free(raw);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* File reads into DEVICE memory                                            */
/* ------------------------------------------------------------------------ */

static unsigned char file_byte(uint64_t at)
{
    return (unsigned char)((at * 2654435761u) >> 11);
}

/* An unlinked file in the build tree holding file_byte over [0, size). */
static int pattern_file(uint64_t size)
{
    const char *root = getenv("AIDEV_TEST_BUILD_ROOT");
    char path[4096];
    snprintf(path, sizeof path, "%s/aidev-vulkan-read-XXXXXX", root ? root : "/tmp");
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp(%s): %s", path, strerror(errno));
    unlink(path);
    unsigned char *bytes = malloc(size);
    for (uint64_t i = 0; i < size; i++)
        bytes[i] = file_byte(i);
    ck_assert_int_eq(pwrite(fd, bytes, size, 0), (ssize_t)size);
    free(bytes);
    return fd;
}

static void expect_file_bytes(const unsigned char *got, uint64_t size, const char *what)
{
    uint64_t i = 0;
    while (i < size && got[i] == file_byte(i))
        i++;
    ck_assert_msg(i == size, "%s: byte %llu of %llu is %#x, want %#x", what,
                  (unsigned long long)i, (unsigned long long)size, i < size ? got[i] : 0,
                  file_byte(i));
}

static const aidev_kernel_arg_desc spin_args[] = {
    {"flags", AIDEV_ARG_BUFFER, AIDEV_TYPE_U32, AIDEV_ACCESS_READ_WRITE, NULL},
    {"limit", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
};

/* The spin kernel's budget: workgroups of 64 invocations, each polling
 * up to SPIN_POLLS times. On lavapipe a workgroup spins for about 0.1 s on
 * one core: over a minute in all on two cores, far beyond what the tests
 * wait for meanwhile; after the go the rest end in milliseconds. */
#define SPIN_GROUPS 2000u
#define SPIN_POLLS 60000u

/* A kernel holding the device until the host lets it go (shaders/spin.comp):
 * its flag words live in a mapped HOST buffer. */
typedef struct spinner {
    aidev_buffer flags;
    volatile uint32_t *word; /* 0: go, 1: started, 2: saw the go */
    aidev_kernel kernel;
    aidev_event done;
    bool started;
} spinner;

static bool wait_word(volatile uint32_t *word, uint32_t want, double seconds)
{
    struct timespec nap = {0, 1000000};
    for (double waited = 0; waited < seconds; waited += 1e-3) {
        if (__atomic_load_n(word, __ATOMIC_ACQUIRE) == want)
            return true;
        nanosleep(&nap, NULL);
    }
    return __atomic_load_n(word, __ATOMIC_ACQUIRE) == want;
}

/* Makes the kernel and its flags, and runs it once with the go given, so
 * that its pipeline exists before it is needed. */
static void spin_prepare(aidev_device dev, aidev_queue q, spinner *sp)
{
    sp->flags = harness_buffer(dev, AIDEV_MEMORY_HOST, 64, AIDEV_TYPE_U32);
    ck_assert_ok(aidev_buffer_map(sp->flags, 0, 64, AIDEV_MAP_READ | AIDEV_MAP_WRITE,
                                  (void **)&sp->word));
    sp->kernel = make_kernel(dev, spin_spv, sizeof spin_spv, spin_args, 2, AIDEV_SUCCESS);
    sp->word[0] = 1;
    aidev_arg args[] = {aidev_arg_buffer(sp->flags, 0), aidev_arg_u32(SPIN_POLLS)};
    uint32_t grid[3] = {64, 1, 1};
    ck_assert_ok(aidev_enqueue_dispatch(q, sp->kernel, grid, NULL, 2, args, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_uint_eq(sp->word[2], 1);
    for (int i = 0; i < 3; i++)
        sp->word[i] = 0;
}

/* Enqueues the kernel on |q| and waits (up to 30 s) until it runs. */
static void spin_run(aidev_queue q, spinner *sp)
{
    aidev_arg args[] = {aidev_arg_buffer(sp->flags, 0), aidev_arg_u32(SPIN_POLLS)};
    uint32_t grid[3] = {SPIN_GROUPS * 64, 1, 1};
    ck_assert_ok(aidev_enqueue_dispatch(q, sp->kernel, grid, NULL, 2, args, 0, NULL, &sp->done));
    sp->started = wait_word(&sp->word[1], 1, 30.0);
}

/* Lets the kernel go and waits for it; then checks it had started and was
 * still running at the go. Call before any check that may end the test. */
static void spin_release(spinner *sp)
{
    __atomic_store_n(&sp->word[0], 1u, __ATOMIC_RELEASE);
    ck_assert_ok(aidev_event_wait(sp->done, AIDEV_WAIT_FOREVER));
    ck_assert_msg(sp->started, "the spin kernel did not start within 30 s");
    ck_assert_uint_eq(sp->word[2], 1); /* still running at the go */
    ck_assert_ok(aidev_buffer_unmap(sp->flags));
    ck_assert_ok(aidev_event_release(sp->done));
    aidev_kernel_release(sp->kernel);
    aidev_buffer_release(sp->flags);
}

/* A CPU device's DEVICE memory is host memory: libaidev gets its address,
 * and a file read lands in it with no command on the device. The proof: a
 * kernel of another queue spins on the device's only VkQueue (lavapipe has
 * one) until the host lets it go, and the read completes meanwhile, with
 * the file's bytes; a staged read's copies would queue behind the kernel.
 * DLPack hands out the same address. Elsewhere - a GPU, or a CPU device in
 * the discrete emulation (vulkan-backend-discrete) - the address stays
 * the backend's: DLPack names the VkBuffer, the read is staged and, on a
 * CPU device, cannot complete before the kernel does. Either way the
 * memory is not mappable through the API. */
START_TEST(file_read_into_device_memory)
{
    aidev_device dev = harness_device(_i);
    uint32_t type = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_TYPE, sizeof type, &type, NULL));
    const char *emulate = getenv("AIDEV_VULKAN_EMULATE_DISCRETE");
    bool cpu = type == AIDEV_DEVICE_TYPE_CPU;
    bool direct = cpu && !(emulate && emulate[0] && strcmp(emulate, "0") != 0);

    enum { SIZE = 3 << 20 };
    int fd = pattern_file(SIZE);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, SIZE, AIDEV_TYPE_U8);
    void *mapped = NULL;
    ck_assert_error_names(aidev_buffer_map(b, 0, SIZE, AIDEV_MAP_READ, &mapped),
                          AIDEV_ERROR_UNSUPPORTED, "not mappable");
    DLManagedTensor *t = NULL;
    ck_assert_ok(aidev_buffer_export_dlpack(b, NULL, &t));
    const unsigned char *address = NULL;
    if (direct) {
        ck_assert_int_eq(t->dl_tensor.device.device_type, kDLCPU);
        address = (const unsigned char *)t->dl_tensor.data + t->dl_tensor.byte_offset;
        /* Large ranges start on a page, for O_DIRECT, and live in the
         * same host memory as HOST buffers (huge pages where there are). */
        ck_assert_uint_eq((uintptr_t)address % 4096, 0);
        aidev_buffer host = harness_buffer(dev, AIDEV_MEMORY_HOST, SIZE, AIDEV_TYPE_U8);
        char pages[32], host_pages[32];
        ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_PAGE_KIND, sizeof pages, pages,
                                           NULL));
        ck_assert_ok(aidev_buffer_get_info(host, AIDEV_BUFFER_INFO_PAGE_KIND, sizeof host_pages,
                                           host_pages, NULL));
        ck_assert_str_eq(pages, host_pages);
        aidev_buffer_release(host);
    } else {
        ck_assert_int_eq(t->dl_tensor.device.device_type, kDLVulkan);
    }

    /* The kernel takes the device; the read, while it holds it. */
    aidev_queue compute = harness_queue(dev), io = harness_queue(dev);
    spinner sp;
    spin_prepare(dev, compute, &sp);
    spin_run(compute, &sp);
    aidev_event read = NULL;
    aidev_status during = AIDEV_ERROR_TIMEOUT, kernel_during = AIDEV_NOT_READY;
    if (sp.started) {
        ck_assert_ok(aidev_enqueue_file_read(io, b, 0, fd, 0, SIZE, AIDEV_FILE_READ_DIRECT, 0,
                                             NULL, &read));
        /* Direct: done in milliseconds. Staged: not before the kernel. */
        during = aidev_event_wait(read, direct ? 20000000000ull : 300000000ull);
        kernel_during = aidev_event_query(sp.done);
    }
    spin_release(&sp);
    if (direct) {
        ck_assert_msg(during == AIDEV_SUCCESS, "the read did not complete while the kernel "
                      "ran: %s", aidev_status_string(during));
        ck_assert_msg(kernel_during == AIDEV_NOT_READY, "the kernel ended before the read");
    } else if (cpu) {
        ck_assert_msg(during == AIDEV_ERROR_TIMEOUT, "a staged read completed while the kernel "
                      "held the device: %s", aidev_status_string(during));
    }
    ck_assert_ok(aidev_event_wait(read, AIDEV_WAIT_FOREVER));
    char engine[32] = "";
    ck_assert_ok(aidev_event_get_info(read, AIDEV_EVENT_INFO_IO_ENGINE, sizeof engine, engine,
                                      NULL));
    ck_assert_msg(engine[0] != '\0', "no I/O engine named");

    /* The bytes, through the device and through the address. */
    unsigned char *got = malloc(SIZE);
    read_back(compute, b, 0, SIZE, got);
    expect_file_bytes(got, SIZE, "read back");
    if (address)
        expect_file_bytes(address, SIZE, "at the buffer's address");
    free(got);

    t->deleter(t);
    ck_assert_ok(aidev_event_release(read));
    aidev_buffer_release(b);
    aidev_queue_release(io);
    aidev_queue_release(compute);
    close(fd);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Queues and events                                                        */
/* ------------------------------------------------------------------------ */

/* An event completes when its batch is done, not once the device is idle:
 * a kernel's event completes while a kernel enqueued just after it, on
 * another queue, holds the device. (lavapipe's vkGetQueryPoolResults waits
 * for the device to go idle; the batch copies its timestamps for the host
 * itself instead.) Its times are in order. */
START_TEST(event_completes_before_later_work)
{
    aidev_device dev = harness_device(_i);
    aidev_queue first = harness_queue(dev), later = harness_queue(dev);
    spinner sp;
    spin_prepare(dev, later, &sp);
    enum { N = 4 << 20 }; /* tens of milliseconds on lavapipe */
    aidev_buffer x = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
    aidev_buffer y = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
    aidev_kernel axpy;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &axpy));
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(x, 0),
                        aidev_arg_buffer(y, 0)};
    aidev_event e;
    ck_assert_ok(aidev_enqueue_dispatch(first, axpy, NULL, NULL, 4, args, 0, NULL, &e));
    spin_run(later, &sp);
    aidev_status st = sp.started ? aidev_event_wait(e, 20000000000ull) : AIDEV_ERROR_TIMEOUT;
    aidev_status spin_during = aidev_event_query(sp.done);
    spin_release(&sp);
    ck_assert_msg(st == AIDEV_SUCCESS, "the first kernel's event did not complete while a later "
                  "kernel held the device: %s", aidev_status_string(st));
    ck_assert_msg(spin_during == AIDEV_NOT_READY, "the later kernel ended first");
    aidev_event_times t;
    ck_assert_ok(aidev_event_get_times(e, &t));
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
    ck_assert_msg(t.queued <= t.start && t.start <= t.end && t.end <= now_ns,
                  "times %llu %llu %llu, now %llu", (unsigned long long)t.queued,
                  (unsigned long long)t.start, (unsigned long long)t.end,
                  (unsigned long long)now_ns);
    ck_assert_ok(aidev_event_release(e));
    aidev_kernel_release(axpy);
    aidev_buffer_release(x);
    aidev_buffer_release(y);
    aidev_queue_release(first);
    aidev_queue_release(later);
}
END_TEST

/* Three queues of one device chained by events: the waits are semaphore
 * waits on the GPU, and the enqueuing thread never blocks. */
START_TEST(cross_queue_chain)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q[3] = {harness_queue(dev), harness_queue(dev), harness_queue(dev)};
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    enum { N = 100000 };
    float *x = malloc(N * 4), *out = malloc(N * 4);
    for (int i = 0; i < N; i++)
        x[i] = (float)(i % 100);
    aidev_buffer bx = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
    aidev_buffer by = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
    aidev_event e[8];
    ck_assert_ok(aidev_enqueue_write(q[0], bx, 0, N * 4, x, 0, NULL, &e[0]));
    /* y = 0 (new buffer); each queue adds x once, in the chain's order. */
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(1.0f), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    for (int s = 0; s < 6; s++)
        ck_assert_ok(aidev_enqueue_dispatch(q[(s + 1) % 3], k, NULL, NULL, 4, args, 1, &e[s],
                                            &e[s + 1]));
    aidev_arg scale[] = {aidev_arg_u32(N), aidev_arg_f32(-1.0f), aidev_arg_buffer(bx, 0),
                         aidev_arg_buffer(by, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q[1], k, NULL, NULL, 4, scale, 1, &e[6], &e[7]));
    ck_assert_ok(aidev_enqueue_read(q[2], by, 0, N * 4, out, 1, &e[7], NULL));
    ck_assert_ok(aidev_queue_finish(q[2]));
    int i = 0;
    while (i < N && out[i] == 5.0f * (float)(i % 100))
        i++;
    ck_assert_msg(i == N, "out[%d] = %g", i, i < N ? out[i] : 0.0f);
    /* Each event's times are ordered, and each command started after the
     * one it waited on ended. */
    aidev_event_times prev = {0, 0, 0};
    for (int s = 0; s < 8; s++) {
        aidev_event_times t;
        ck_assert_ok(aidev_event_get_times(e[s], &t));
        ck_assert_uint_le(t.queued, t.start);
        ck_assert_uint_le(t.start, t.end);
        if (s)
            ck_assert_msg(t.end >= prev.end, "event %d ended before event %d", s, s - 1);
        prev = t;
        aidev_event_release(e[s]);
    }
    aidev_kernel_release(k);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    for (int j = 0; j < 3; j++)
        aidev_queue_release(q[j]);
    free(x);
    free(out);
}
END_TEST

typedef struct slow_callback {
    float *src;
    int n;
} slow_callback;

static void fill_later(void *user)
{
    slow_callback *c = user;
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
    for (int i = 0; i < c->n; i++)
        c->src[i] = (float)i * 0.25f;
}

/* A command that waits on an event with no GPU payload (a host callback of
 * another queue) is held until it completes, and the commands after it
 * keep their order. */
START_TEST(wait_on_host_callback_event)
{
    aidev_device dev = harness_device(_i);
    aidev_queue qa = harness_queue(dev), qb = harness_queue(dev);
    enum { N = 4096 };
    float *src = calloc(N, 4), *out = malloc(N * 4);
    slow_callback cb = {src, N};
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
    aidev_event host;
    ck_assert_ok(aidev_enqueue_host_callback(qa, fill_later, &cb, 0, NULL, &host));
    /* Written only once the callback filled |src|. */
    ck_assert_ok(aidev_enqueue_write(qb, b, 0, N * 4, src, 1, &host, NULL));
    float two = 2.0f;
    ck_assert_ok(aidev_enqueue_fill(qb, b, 4, 4, &two, 4, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_read(qb, b, 0, N * 4, out, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(qb));
    ck_assert_int_eq(aidev_event_query(host), AIDEV_SUCCESS);
    for (int i = 0; i < N; i++)
        ck_assert_msg(out[i] == (i == 1 ? 2.0f : (float)i * 0.25f), "out[%d] = %g", i, out[i]);
    aidev_event_release(host);
    aidev_buffer_release(b);
    aidev_queue_release(qa);
    aidev_queue_release(qb);
    free(src);
    free(out);
}
END_TEST

/* A failed event fails the commands that wait on it (held on another queue
 * of the device) with AIDEV_ERROR_DEPENDENCY, and no others. */
START_TEST(failed_dependency_fails_only_dependents)
{
    aidev_device dev = harness_device(_i);
    aidev_queue qa = harness_queue(dev), qb = harness_queue(dev);
    aidev_event user, a, b1, b2;
    ck_assert_ok(aidev_event_create_user(harness_context(), &user));
    aidev_buffer buf = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_U32);
    uint32_t v1 = 11, v2 = 22, out[16];
    /* a waits on the user event (held by libaidev); b1 on a (held by
     * libaidev too: a has no payload yet); b2 follows b1 on qb, waiting on
     * nothing. */
    ck_assert_ok(aidev_enqueue_fill(qa, buf, 0, 64, &v1, 4, 1, &user, &a));
    ck_assert_ok(aidev_enqueue_fill(qb, buf, 0, 32, &v1, 4, 1, &a, &b1));
    ck_assert_ok(aidev_enqueue_fill(qb, buf, 32, 32, &v2, 4, 0, NULL, &b2));
    ck_assert_int_eq(aidev_event_query(b2), AIDEV_NOT_READY);
    ck_assert_ok(aidev_event_set_status(user, AIDEV_ERROR_IO, "the disk went away"));
    ck_assert_status(aidev_event_wait(a, AIDEV_WAIT_FOREVER), AIDEV_ERROR_DEPENDENCY);
    ck_assert_status(aidev_event_wait(b1, AIDEV_WAIT_FOREVER), AIDEV_ERROR_DEPENDENCY);
    ck_assert_msg(strstr(aidev_event_message(b1), "AIDEV_ERROR_DEPENDENCY"),
                  "b1's message does not give the cause: %s", aidev_event_message(b1));
    ck_assert_ok(aidev_event_wait(b2, AIDEV_WAIT_FOREVER));
    /* Each queue's finish reports its own failure, once. */
    ck_assert_status(aidev_queue_finish(qa), AIDEV_ERROR_DEPENDENCY);
    ck_assert_status(aidev_queue_finish(qb), AIDEV_ERROR_DEPENDENCY);
    read_back(qb, buf, 0, 64, out);
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(out[i], i < 8 ? 0 : 22);
    /* The queues still work. */
    ck_assert_ok(aidev_enqueue_fill(qa, buf, 0, 64, &v1, 4, 0, NULL, NULL));
    read_back(qa, buf, 0, 64, out);
    ck_assert_uint_eq(out[15], 11);
    aidev_event_release(user);
    aidev_event_release(a);
    aidev_event_release(b1);
    aidev_event_release(b2);
    aidev_buffer_release(buf);
    aidev_queue_release(qa);
    aidev_queue_release(qb);
}
END_TEST

/* A write reads its source when it runs, in queue order: after a read-back
 * into the same host memory on its queue, after a read-back of another
 * queue it waits on, after a kernel that wrote the mapped memory it copies
 * from. */
START_TEST(write_reads_its_source_in_order)
{
    aidev_device dev = harness_device(_i);
    aidev_queue qa = harness_queue(dev), qb = harness_queue(dev);
    enum { N = 1 << 16 };
    float *host = calloc(N, 4), *out = malloc(N * 4), *init = malloc(N * 4);
    for (int i = 0; i < N; i++)
        init[i] = (float)i + 0.5f;
    aidev_buffer src = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
    aidev_buffer dst = harness_buffer(dev, AIDEV_MEMORY_DEVICE, N * 4, AIDEV_TYPE_F32);
    for (int round = 0; round < 3; round++) {
        memset(host, 0, N * 4);
        float v = (float)round;
        ck_assert_ok(aidev_enqueue_write(qa, src, 0, N * 4, init, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_fill(qa, src, 0, 4, &v, 4, 0, NULL, NULL));
        /* Same queue: read into |host|, then write from it. */
        ck_assert_ok(aidev_enqueue_read(qa, src, 0, N * 4, host, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_write(qa, dst, 0, N * 4, host, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_read(qa, dst, 0, N * 4, out, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(qa));
        ck_assert_msg(out[0] == v && out[N - 1] == init[N - 1] && out[N / 2] == init[N / 2],
                      "same queue, round %d: out[0] = %g, out[N-1] = %g", round, out[0],
                      out[N - 1]);
        /* Across queues: b's write waits on a's read-back. */
        memset(host, 0, N * 4);
        aidev_event e;
        ck_assert_ok(aidev_enqueue_read(qa, src, 0, N * 4, host, 0, NULL, &e));
        ck_assert_ok(aidev_enqueue_write(qb, dst, 0, N * 4, host, 1, &e, NULL));
        ck_assert_ok(aidev_enqueue_read(qb, dst, 0, N * 4, out, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(qb));
        ck_assert_msg(out[0] == v && out[N - 1] == init[N - 1],
                      "across queues, round %d: out[0] = %g", round, out[0]);
        aidev_event_release(e);
    }
    /* From mapped memory a kernel wrote. */
    if (harness_has_kind(dev, AIDEV_MEMORY_HOST)) {
        aidev_buffer h = harness_buffer(dev, AIDEV_MEMORY_HOST, N * 4, AIDEV_TYPE_F32);
        float *mapped;
        ck_assert_ok(aidev_buffer_map(h, 0, N * 4, AIDEV_MAP_READ, (void **)&mapped));
        ck_assert_ok(aidev_buffer_unmap(h));
        aidev_kernel k;
        ck_assert_ok(aidev_kernel_get(dev, "fill_f32", &k));
        aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(7.0f), aidev_arg_buffer(h, 0)};
        ck_assert_ok(aidev_enqueue_dispatch(qa, k, NULL, NULL, 3, args, 0, NULL, NULL));
        /* |mapped| is stable for HOST memory: the write copies what the
         * kernel left there. */
        ck_assert_ok(aidev_enqueue_write(qa, dst, 0, N * 4, mapped, 0, NULL, NULL));
        ck_assert_ok(aidev_enqueue_read(qa, dst, 0, N * 4, out, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(qa));
        ck_assert_msg(out[0] == 7.0f && out[N - 1] == 7.0f, "from mapped memory: out[0] = %g",
                      out[0]);
        aidev_kernel_release(k);
        aidev_buffer_release(h);
    }
    aidev_buffer_release(src);
    aidev_buffer_release(dst);
    aidev_queue_release(qa);
    aidev_queue_release(qb);
    free(host);
    free(out);
    free(init);
}
END_TEST

/* A thousand dispatches back to back (batched into few submissions), some
 * with events in between; the result counts every one. */
START_TEST(many_dispatches)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    enum { N = 3000, D = 1000 };
    float ones[N], out[N];
    for (int i = 0; i < N; i++)
        ones[i] = 1.0f;
    aidev_buffer bx = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof ones, AIDEV_TYPE_F32);
    aidev_buffer by = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof ones, AIDEV_TYPE_F32);
    ck_assert_ok(aidev_enqueue_write(q, bx, 0, sizeof ones, ones, 0, NULL, NULL));
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(1.0f), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    aidev_event mid = NULL;
    for (int d = 0; d < D; d++) {
        bool with_event = d == D / 2;
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL,
                                            with_event ? &mid : NULL));
    }
    ck_assert_ok(aidev_event_wait(mid, AIDEV_WAIT_FOREVER));
    read_back(q, by, 0, sizeof out, out);
    for (int i = 0; i < N; i++)
        ck_assert_msg(out[i] == (float)D, "out[%d] = %g", i, out[i]);
    aidev_event_release(mid);
    aidev_kernel_release(k);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_queue_release(q);
}
END_TEST

typedef struct thread_job {
    aidev_device dev;
    aidev_queue q;
    aidev_kernel k;
    int id;
    int errors;
} thread_job;

static void *enqueue_thread(void *arg)
{
    thread_job *j = arg;
    enum { N = 2048 };
    float x[N], out[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)j->id;
    aidev_buffer_desc desc = {.size = sizeof x, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    aidev_buffer bx, by;
    if (aidev_buffer_create(j->dev, &desc, &bx) || aidev_buffer_create(j->dev, &desc, &by)) {
        j->errors++;
        return NULL;
    }
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(1.0f), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    aidev_event done;
    j->errors += aidev_enqueue_write(j->q, bx, 0, sizeof x, x, 0, NULL, NULL) != 0;
    for (int r = 0; r < 50; r++)
        j->errors += aidev_enqueue_dispatch(j->q, j->k, NULL, NULL, 4, args, 0, NULL, NULL) != 0;
    j->errors += aidev_enqueue_read(j->q, by, 0, sizeof out, out, 0, NULL, &done) != 0;
    j->errors += aidev_event_wait(done, AIDEV_WAIT_FOREVER) != 0;
    for (int i = 0; i < N; i++)
        j->errors += out[i] != 50.0f * (float)j->id;
    aidev_event_release(done);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    return NULL;
}

/* Threads enqueue at once, on one shared queue and on queues of their own;
 * each thread's commands stay in its order. */
START_TEST(threads_enqueue_at_once)
{
    aidev_device dev = harness_device(_i);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    aidev_queue shared = harness_queue(dev);
    enum { T = 6 };
    pthread_t t[T];
    thread_job jobs[T];
    for (int i = 0; i < T; i++) {
        jobs[i] = (thread_job){dev, i < T / 2 ? shared : harness_queue(dev), k, i + 1, 0};
        pthread_create(&t[i], NULL, enqueue_thread, &jobs[i]);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(t[i], NULL);
        ck_assert_msg(jobs[i].errors == 0, "thread %d: %d errors", i, jobs[i].errors);
        if (i >= T / 2)
            aidev_queue_release(jobs[i].q);
    }
    aidev_queue_release(shared);
    aidev_kernel_release(k);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Kernels                                                                  */
/* ------------------------------------------------------------------------ */

static const aidev_kernel_arg_desc scale_args[] = {
    {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
    {"a", AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, 0, NULL},
    {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ, "n"},
    {"y", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_WRITE, "n"},
};

/* A user SPIR-V kernel whose declared signature matches the module runs;
 * its workgroup, a specialization constant, follows the dispatch. */
START_TEST(spirv_kernel_matching_signature)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_kernel k = make_kernel(dev, scale_spv, sizeof scale_spv, scale_args, 4, AIDEV_SUCCESS);
    enum { N = 1000 };
    float x[N], out[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i;
    aidev_buffer bx = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof x, AIDEV_TYPE_F32);
    aidev_buffer by = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof x, AIDEV_TYPE_F32);
    ck_assert_ok(aidev_enqueue_write(q, bx, 0, sizeof x, x, 0, NULL, NULL));
    const uint32_t groups[] = {0, 1, 32, 128};
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        float a = 1.5f + (float)g;
        aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(a), aidev_arg_buffer(bx, 0),
                            aidev_arg_buffer(by, 0)};
        uint32_t grid[3] = {N, 1, 1}, wg[3] = {groups[g], 1, 1};
        ck_assert_ok(aidev_enqueue_dispatch(q, k, grid, groups[g] ? wg : NULL, 4, args, 0, NULL,
                                            NULL));
        read_back(q, by, 0, sizeof out, out);
        for (int i = 0; i < N; i++)
            ck_assert_msg(out[i] == a * (float)i, "workgroup %u: out[%d] = %g", groups[g], i,
                          out[i]);
    }
    aidev_kernel_release(k);

    /* A fixed workgroup is taken as it is, and refused when it differs. */
    aidev_kernel_arg_desc fixed_args[4];
    memcpy(fixed_args, scale_args, sizeof fixed_args);
    fixed_args[3].access = AIDEV_ACCESS_READ_WRITE;
    aidev_kernel f = make_kernel(dev, fixed_spv, sizeof fixed_spv, fixed_args, 4, AIDEV_SUCCESS);
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(-1.0f), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    uint32_t grid[3] = {N, 1, 1}, wg32[3] = {32, 1, 1}, wg64[3] = {64, 1, 1};
    ck_assert_ok(aidev_enqueue_dispatch(q, f, grid, wg32, 4, args, 0, NULL, NULL));
    read_back(q, by, 0, sizeof out, out);
    for (int i = 0; i < N; i++)
        ck_assert_msg(out[i] == 3.5f * (float)i, "fixed: out[%d] = %g", i, out[i]);
    ck_assert_error_names(aidev_enqueue_dispatch(q, f, grid, wg64, 4, args, 0, NULL, NULL),
                          AIDEV_ERROR_KERNEL_ARGS, "workgroup[0]");
    aidev_kernel_release(f);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_queue_release(q);
}
END_TEST

/* A stream of dispatches recorded into one command buffer (or, in the
 * discrete run, batches of 3 with descriptor sets): a user kernel whose
 * workgroup (a pipeline variant) and push constants change between
 * dispatches, the library's axpy with another layout in between, and a
 * user kernel released and made again. Each dispatch records only the
 * state that differs from the one before it; each must see its own. */
START_TEST(dispatch_stream_state_changes)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_kernel axpy;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &axpy));
    enum { N = 512 };
    float x[N], y[N], want[N], out[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(i % 9);
        y[i] = want[i] = 0.0f;
    }
    aidev_buffer bx = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof x, AIDEV_TYPE_F32);
    aidev_buffer by = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof y, AIDEV_TYPE_F32);
    ck_assert_ok(aidev_enqueue_write(q, bx, 0, sizeof x, x, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    aidev_kernel k = make_kernel(dev, scale_spv, sizeof scale_spv, scale_args, 4, AIDEV_SUCCESS);
    const uint32_t grid[3] = {N, 1, 1};
    for (int round = 0; round < 3; round++) {
        for (int step = 0; step < 6; step++) {
            float a = (float)(step + 1);
            uint32_t wg[3] = {step % 2 ? 32 : 64, 1, 1};
            if (step == 3) {
                /* y += a * x through axpy, between two scale dispatches. */
                aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(a), aidev_arg_buffer(bx, 0),
                                    aidev_arg_buffer(by, 0)};
                ck_assert_ok(aidev_enqueue_dispatch(q, axpy, NULL, NULL, 4, args, 0, NULL, NULL));
                for (int i = 0; i < N; i++)
                    want[i] += a * x[i];
                continue;
            }
            /* y = a * x, or x = a * y: the buffers swap roles too. */
            bool swap = step == 4;
            uint32_t n = step == 5 ? N / 2 : N;
            aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(a),
                                aidev_arg_buffer(swap ? by : bx, 0),
                                aidev_arg_buffer(swap ? bx : by, 0)};
            ck_assert_ok(aidev_enqueue_dispatch(q, k, grid, step == 2 ? NULL : wg, 4, args, 0,
                                                NULL, NULL));
            for (uint32_t i = 0; i < n; i++) {
                if (swap)
                    x[i] = a * want[i];
                else
                    want[i] = a * x[i];
            }
        }
        if (round == 1) {
            /* A new kernel object (another pipeline) in place of the old. */
            ck_assert_ok(aidev_kernel_release(k));
            k = make_kernel(dev, scale_spv, sizeof scale_spv, scale_args, 4, AIDEV_SUCCESS);
        }
    }
    read_back(q, by, 0, sizeof out, out);
    for (int i = 0; i < N; i++)
        ck_assert_msg(out[i] == want[i], "y[%d] = %g, want %g", i, out[i], want[i]);
    read_back(q, bx, 0, sizeof out, out);
    for (int i = 0; i < N; i++)
        ck_assert_msg(out[i] == x[i], "x[%d] = %g, want %g", i, out[i], x[i]);
    aidev_kernel_release(k);
    aidev_kernel_release(axpy);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_queue_release(q);
}
END_TEST

/* An 8-byte scalar between 4-byte ones, and a 2D grid. */
START_TEST(spirv_kernel_push_constant_layout)
{
    aidev_device dev = harness_device(_i);
    uint64_t features = 0;
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features, &features, NULL);
    static const aidev_kernel_arg_desc args_desc[] = {
        {"cols", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
        {"big", AIDEV_ARG_SCALAR, AIDEV_TYPE_U64, 0, NULL},
        {"a", AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, 0, NULL},
        {"rows", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
        {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_I32, AIDEV_ACCESS_READ, "rows*cols"},
        {"y", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_WRITE, "rows*cols"},
    };
    aidev_queue q = harness_queue(dev);
    aidev_kernel k = make_kernel(dev, mixed_spv, sizeof mixed_spv, args_desc, 6, AIDEV_SUCCESS);
    enum { ROWS = 37, COLS = 29 };
    int32_t x[ROWS * COLS];
    float out[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++)
        x[i] = i - 100;
    aidev_buffer bx = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof x, AIDEV_TYPE_I32);
    aidev_buffer by = harness_buffer(dev, AIDEV_MEMORY_DEVICE, sizeof out, AIDEV_TYPE_F32);
    ck_assert_ok(aidev_enqueue_write(q, bx, 0, sizeof x, x, 0, NULL, NULL));
    aidev_arg args[] = {aidev_arg_u32(COLS), aidev_arg_u64(5000000000123ull),
                        aidev_arg_f32(2.0f), aidev_arg_u32(ROWS), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    uint32_t grid[3] = {COLS, ROWS, 1};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, grid, NULL, 6, args, 0, NULL, NULL));
    read_back(q, by, 0, sizeof out, out);
    for (int i = 0; i < ROWS * COLS; i++)
        ck_assert_msg(out[i] == 123.0f + 2.0f * (float)(i - 100), "out[%d] = %g", i, out[i]);
    aidev_kernel_release(k);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_queue_release(q);
}
END_TEST

/* Signatures that do not match the module are refused at creation with
 * AIDEV_ERROR_KERNEL_ARGS, naming what does not match. */
START_TEST(spirv_kernel_mismatching_signature)
{
    aidev_device dev = harness_device(_i);
    aidev_kernel_arg_desc a[5];

    /* One buffer too few: the module's binding 1 has no argument. */
    memcpy(a, scale_args, sizeof scale_args);
    make_kernel(dev, scale_spv, sizeof scale_spv, a, 3, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "binding 1"), "%s", aidev_last_error());

    /* One buffer too many: the extra argument has no binding. */
    memcpy(a, scale_args, sizeof scale_args);
    a[4] = (aidev_kernel_arg_desc){"z", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_WRITE,
                                   NULL};
    make_kernel(dev, scale_spv, sizeof scale_spv, a, 5, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "'z'"), "%s", aidev_last_error());

    /* Buffers swapped: the written one lands on the readonly binding. */
    memcpy(a, scale_args, sizeof scale_args);
    a[2] = scale_args[3];
    a[3] = scale_args[2];
    make_kernel(dev, scale_spv, sizeof scale_spv, a, 4, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "'y'") && strstr(aidev_last_error(), "readonly"),
                  "%s", aidev_last_error());

    /* Element type of another kind. */
    memcpy(a, scale_args, sizeof scale_args);
    a[2].type = AIDEV_TYPE_I32;
    make_kernel(dev, scale_spv, sizeof scale_spv, a, 4, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "'x'"), "%s", aidev_last_error());

    /* Scalar of another type. */
    memcpy(a, scale_args, sizeof scale_args);
    a[1].type = AIDEV_TYPE_U32;
    make_kernel(dev, scale_spv, sizeof scale_spv, a, 4, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "'a'"), "%s", aidev_last_error());

    /* An 8-byte scalar where the module has a 4-byte one. */
    memcpy(a, scale_args, sizeof scale_args);
    a[0].type = AIDEV_TYPE_U64;
    make_kernel(dev, scale_spv, sizeof scale_spv, a, 4, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "'n'"), "%s", aidev_last_error());

    /* A scalar before the first one shifts the others: 'n' lands where
     * the module has the float. */
    aidev_kernel_arg_desc shifted[5] = {
        {"pad", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL}, scale_args[0], scale_args[1],
        scale_args[2], scale_args[3]};
    make_kernel(dev, scale_spv, sizeof scale_spv, shifted, 5, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "'n'"), "%s", aidev_last_error());

    /* A u64 where the module reads a u32 at offset 4 and a float at 8. */
    aidev_kernel_arg_desc wide[5] = {
        scale_args[0], {"w", AIDEV_ARG_SCALAR, AIDEV_TYPE_U64, 0, NULL}, scale_args[1],
        scale_args[2], scale_args[3]};
    make_kernel(dev, scale_spv, sizeof scale_spv, wide, 5, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "'w'") && strstr(aidev_last_error(), "offset"),
                  "%s", aidev_last_error());

    /* A scalar the push-constant block does not have. */
    memcpy(a, scale_args, sizeof scale_args);
    memmove(&a[3], &a[2], 2 * sizeof a[0]);
    a[2] = (aidev_kernel_arg_desc){"extra", AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, 0, NULL};
    make_kernel(dev, scale_spv, sizeof scale_spv, a, 5, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "'extra'"), "%s", aidev_last_error());

    /* A scalar too few: the module's member has no argument. */
    aidev_kernel_arg_desc b[3] = {scale_args[0], scale_args[2], scale_args[3]};
    make_kernel(dev, scale_spv, sizeof scale_spv, b, 3, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "push-constant"), "%s", aidev_last_error());

    /* Resources aidev never binds. */
    aidev_kernel_arg_desc u[1] = {
        {"y", AIDEV_ARG_BUFFER, AIDEV_TYPE_F32, AIDEV_ACCESS_READ_WRITE, NULL}};
    make_kernel(dev, uniform_spv, sizeof uniform_spv, u, 1, AIDEV_ERROR_KERNEL_ARGS);
    ck_assert_msg(strstr(aidev_last_error(), "uniform buffer"), "%s", aidev_last_error());

    /* Not SPIR-V at all, and source kinds Vulkan does not take. */
    static const uint32_t garbage[] = {0xdeadbeef, 1, 2, 3, 4, 5, 6, 7};
    make_kernel(dev, garbage, sizeof garbage, scale_args, 4, AIDEV_ERROR_COMPILE);
    uint32_t broken[sizeof scale_spv / 4];
    memcpy(broken, scale_spv, sizeof broken);
    for (size_t i = 5; i < sizeof broken / 4; i += 3)
        broken[i] = 0xffffffffu;
    make_kernel(dev, broken, sizeof broken, scale_args, 4, AIDEV_ERROR_COMPILE);
    aidev_kernel_desc cl = {.name = "k", .source_kind = AIDEV_KERNEL_SOURCE_OPENCL_C,
                            .data = "kernel void k() {}"};
    aidev_kernel k;
    ck_assert_status(aidev_kernel_create(dev, &cl, &k), AIDEV_ERROR_UNSUPPORTED);
}
END_TEST

/* Buffer arguments at offsets the device cannot bind directly
 * (minStorageBufferOffsetAlignment) are realigned through a copy; the
 * bytes around them stay as they were. */
START_TEST(dispatch_at_unaligned_offsets)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    enum { N = 777, PAD = 64 };
    float host[N + PAD], out[N + PAD];
    for (int kind = 0; kind < AIDEV_MEMORY_KIND_COUNT_; kind++) {
        if (!harness_has_kind(dev, (aidev_memory_kind)kind))
            continue;
        aidev_buffer bx = harness_buffer(dev, (aidev_memory_kind)kind, sizeof host,
                                         AIDEV_TYPE_F32);
        aidev_buffer by = harness_buffer(dev, (aidev_memory_kind)kind, sizeof host,
                                         AIDEV_TYPE_F32);
        for (int i = 0; i < N + PAD; i++)
            host[i] = (float)i;
        ck_assert_ok(aidev_enqueue_write(q, bx, 0, sizeof host, host, 0, NULL, NULL));
        for (int i = 0; i < N + PAD; i++)
            host[i] = 1000.0f;
        ck_assert_ok(aidev_enqueue_write(q, by, 0, sizeof host, host, 0, NULL, NULL));
        const uint64_t xo = 4 * 3, yo = 4 * 5; /* 12 and 20 bytes */
        aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(2.0f), aidev_arg_buffer(bx, xo),
                            aidev_arg_buffer(by, yo)};
        ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL));
        read_back(q, by, 0, sizeof out, out);
        for (int i = 0; i < N + PAD; i++) {
            float want = i >= 5 && i < 5 + N ? 2.0f * (float)(i - 5 + 3) + 1000.0f : 1000.0f;
            ck_assert_msg(out[i] == want, "kind %d: y[%d] = %g, want %g", kind, i, out[i], want);
        }
        aidev_buffer_release(bx);
        aidev_buffer_release(by);
    }
    aidev_kernel_release(k);
    aidev_queue_release(q);
}
END_TEST

int main(void)
{
    harness_init();
    uint32_t vulkan = 0;
    for (uint32_t d = 0; d < harness_device_count(); d++)
        vulkan += strcmp(harness_device_backend((int)d), "vulkan") == 0;
    if (vulkan == 0) {
        /* Say why, and skip when the machine simply has no Vulkan. */
        aidev_backend_report reports[32];
        uint32_t n = 32;
        aidev_context_get_backends(harness_context(), &n, reports);
        int code = 77;
        for (uint32_t i = 0; i < n; i++)
            if (strcmp(reports[i].name, "vulkan") == 0) {
                fprintf(stderr, "vulkan backend %s: %s\n",
                        aidev_backend_state_string(reports[i].state), reports[i].reason);
                if (reports[i].state == AIDEV_BACKEND_FAILED)
                    code = 1;
            }
        harness_shutdown();
        return code;
    }
    Suite *s = suite_create("vulkan_backend");
    add_vulkan_case(s, "info_matches_vulkaninfo", info_matches_vulkaninfo, 60);
    add_vulkan_case(s, "free_memory_only_when_known", free_memory_only_when_known, 60);
    add_vulkan_case(s, "new_buffers_read_zero", new_buffers_read_zero, 120);
    add_vulkan_case(s, "suballocated_buffers_do_not_overlap", suballocated_buffers_do_not_overlap,
                    120);
    add_vulkan_case(s, "release_while_pending", release_while_pending, 120);
    add_vulkan_case(s, "unaligned_fill_and_copy", unaligned_fill_and_copy, 60);
    add_vulkan_case(s, "import_host_memory", import_host_memory, 60);
    add_vulkan_case(s, "file_read_into_device_memory", file_read_into_device_memory, 120);
    add_vulkan_case(s, "event_completes_before_later_work", event_completes_before_later_work,
                    120);
    add_vulkan_case(s, "cross_queue_chain", cross_queue_chain, 60);
    add_vulkan_case(s, "wait_on_host_callback_event", wait_on_host_callback_event, 60);
    add_vulkan_case(s, "failed_dependency_fails_only_dependents",
                    failed_dependency_fails_only_dependents, 60);
    add_vulkan_case(s, "write_reads_its_source_in_order", write_reads_its_source_in_order, 120);
    add_vulkan_case(s, "many_dispatches", many_dispatches, 120);
    add_vulkan_case(s, "threads_enqueue_at_once", threads_enqueue_at_once, 120);
    add_vulkan_case(s, "spirv_kernel_matching_signature", spirv_kernel_matching_signature, 60);
    add_vulkan_case(s, "dispatch_stream_state_changes", dispatch_stream_state_changes, 60);
    add_vulkan_case(s, "spirv_kernel_push_constant_layout", spirv_kernel_push_constant_layout,
                    60);
    add_vulkan_case(s, "spirv_kernel_mismatching_signature", spirv_kernel_mismatching_signature,
                    60);
    add_vulkan_case(s, "dispatch_at_unaligned_offsets", dispatch_at_unaligned_offsets, 60);
    int status = harness_run(s);
    for (int i = 0; i < case_name_count; i++)
        free(case_names[i]);
    return status;
}
