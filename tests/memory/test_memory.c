/* Memory the OS way, on every device: page kinds, quotas, isolation of
 * contexts, zeroing and scrubbing, SHARED memory without copies, prefetch,
 * device selection and NUMA placement. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/mempolicy.h>

#include "harness.h"
#include "memory_util.h"

static const aidev_memory_kind kinds[] = {AIDEV_MEMORY_DEVICE, AIDEV_MEMORY_HOST,
                                          AIDEV_MEMORY_SHARED};
static const char *const kind_names[] = {"DEVICE", "HOST", "SHARED"};

/* The same device in a new context made with |desc|. */
static aidev_device same_device_in(aidev_device dev, const aidev_context_desc *desc,
                                   aidev_context *out_ctx)
{
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_INDEX, sizeof index, &index, NULL));
    ck_assert_ok(aidev_context_create(desc, out_ctx));
    aidev_device d;
    ck_assert_ok(aidev_context_get_device(*out_ctx, index, &d));
    return d;
}

static aidev_memory_kind first_kind(aidev_device dev)
{
    for (size_t k = 0; k < 3; k++)
        if (harness_has_kind(dev, kinds[k]))
            return kinds[k];
    ck_abort_msg("device offers no memory kind");
    return AIDEV_MEMORY_DEVICE;
}

static void finish_release(aidev_queue q)
{
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_ok(aidev_queue_release(q));
}

/* ------------------------------------------------------------------------ */
/* Page kinds                                                               */
/* ------------------------------------------------------------------------ */

START_TEST(page_kind_is_true)
{
    aidev_device dev = harness_device(_i);
    const uint64_t sizes[] = {64 << 10, 4 << 20};
    for (size_t k = 0; k < 3; k++) {
        if (!harness_has_kind(dev, kinds[k]))
            continue;
        for (size_t s = 0; s < 2; s++) {
            aidev_buffer b = harness_buffer(dev, kinds[k], sizes[s], AIDEV_TYPE_NONE);
            char page[16] = "";
            if (kinds[k] == AIDEV_MEMORY_DEVICE) {
                ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_PAGE_KIND, sizeof page,
                                                   page, NULL));
                ck_assert_msg(strcmp(page, "hugetlb") == 0 || strcmp(page, "thp") == 0 ||
                                  strcmp(page, "normal") == 0 || strcmp(page, "device") == 0,
                              "page kind '%s'", page);
                ck_assert_ok(aidev_buffer_release(b));
                continue;
            }
            /* Host memory is never "device", and what it says matches what
             * the kernel says of the address. Pages exist first, so that
             * both see the same AnonHugePages. */
            void *p;
            ck_assert_ok(aidev_buffer_map(b, 0, sizes[s], AIDEV_MAP_WRITE, &p));
            memset(p, 1, (size_t)sizes[s]);
            ck_assert_ok(
                aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_PAGE_KIND, sizeof page, page, NULL));
            mem_vma vma;
            ck_assert_msg(mem_lookup_vma(p, &vma), "no mapping holds %p", p);
            const char *actual = mem_vma_page_kind(&vma);
            ck_assert_ok(aidev_buffer_unmap(b));
            ck_assert_msg(strcmp(page, actual) == 0 ||
                              /* advised for THP: the kernel may not have given one yet */
                              (strcmp(page, "thp") == 0 && vma.thp_advised),
                          "%s buffer of %llu bytes says '%s', smaps says '%s'", kind_names[k],
                          (unsigned long long)sizes[s], page, actual);
            ck_assert_ok(aidev_buffer_release(b));
        }
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Quotas                                                                   */
/* ------------------------------------------------------------------------ */

static void usage_is(aidev_context ctx, uint64_t used, uint64_t limit)
{
    uint64_t u = 1, l = 1;
    ck_assert_ok(aidev_context_get_memory_usage(ctx, &u, &l));
    ck_assert_msg(u == used && l == limit, "usage %llu / limit %llu, want %llu / %llu",
                  (unsigned long long)u, (unsigned long long)l, (unsigned long long)used,
                  (unsigned long long)limit);
}

START_TEST(quota_hit_and_recovered)
{
    aidev_context_desc desc = {.memory_limit = 1 << 20};
    aidev_context ctx;
    aidev_device dev = same_device_in(harness_device(_i), &desc, &ctx);
    aidev_memory_kind kind = first_kind(dev);
    usage_is(ctx, 0, 1 << 20);

    aidev_buffer a = harness_buffer(dev, kind, 768 << 10, AIDEV_TYPE_NONE);
    usage_is(ctx, 768 << 10, 1 << 20);
    /* Pinned: not evicted to make room (the tier's tests cover that). */
    ck_assert_ok(aidev_buffer_set_pinned(a, 1));
    aidev_buffer_desc big = {.size = 512 << 10, .kind = kind};
    aidev_buffer b = NULL;
    /* The message names the size, the limit, where it came from, and the usage. */
    aidev_status st = aidev_buffer_create(dev, &big, &b);
    ck_assert_msg(st == AIDEV_ERROR_QUOTA, "over the limit: %s", aidev_status_string(st));
    const char *msg = aidev_last_error();
    ck_assert_msg(strstr(msg, "524288") && strstr(msg, "1048576") && strstr(msg, "786432") &&
                      strstr(msg, "memory_limit"),
                  "quota message: %s", msg);
    ck_assert_ptr_null(b);
    usage_is(ctx, 768 << 10, 1 << 20);

    /* Freeing gives it back. */
    ck_assert_ok(aidev_buffer_release(a));
    usage_is(ctx, 0, 1 << 20);
    ck_assert_ok(aidev_buffer_create(dev, &big, &b));
    ck_assert_ok(aidev_buffer_set_pinned(b, 1));
    usage_is(ctx, 512 << 10, 1 << 20);

    /* The limit changes at run time, also below the usage. */
    ck_assert_ok(aidev_context_set_memory_limit(ctx, 256 << 10));
    usage_is(ctx, 512 << 10, 256 << 10);
    aidev_buffer_desc one = {.size = 64, .kind = kind};
    aidev_buffer c = NULL;
    ck_assert_error_names(aidev_buffer_create(dev, &one, &c), AIDEV_ERROR_QUOTA,
                          "aidev_context_set_memory_limit");
    ck_assert_ok(aidev_context_set_memory_limit(ctx, 0));
    ck_assert_ok(aidev_buffer_create(dev, &one, &c));
    usage_is(ctx, (512 << 10) + 64, 0);

    /* A buffer released while a command still waits to use it is given
     * back at once; the command still runs on its memory. */
    ck_assert_ok(aidev_context_set_memory_limit(ctx, 1 << 20));
    aidev_queue q = harness_queue(dev);
    aidev_event gate, wrote;
    ck_assert_ok(aidev_event_create_user(ctx, &gate));
    static char data[64];
    ck_assert_ok(aidev_enqueue_write(q, c, 0, sizeof data, data, 1, &gate, &wrote));
    ck_assert_ok(aidev_buffer_release(c));
    usage_is(ctx, 512 << 10, 1 << 20);
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_wait(wrote, AIDEV_WAIT_FOREVER));
    finish_release(q);
    usage_is(ctx, 512 << 10, 1 << 20);
    ck_assert_ok(aidev_event_release(gate));
    ck_assert_ok(aidev_event_release(wrote));
    ck_assert_ok(aidev_buffer_release(b));
    usage_is(ctx, 0, 1 << 20);

    /* Imported memory counts too. */
    uint64_t features = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features,
                                       &features, NULL));
    if (features & AIDEV_FEATURE_HOST_IMPORT) {
        void *host = aligned_alloc(4096, 2 << 20);
        aidev_buffer imp = NULL;
        ck_assert_error_names(aidev_buffer_import_host(dev, host, 2 << 20, AIDEV_TYPE_NONE, &imp),
                              AIDEV_ERROR_QUOTA, "limit");
        ck_assert_ok(aidev_buffer_import_host(dev, host, 4096, AIDEV_TYPE_NONE, &imp));
        usage_is(ctx, 4096, 1 << 20);
        ck_assert_ok(aidev_buffer_release(imp));
        free(host);
    }
    ck_assert_status(aidev_context_get_memory_usage(NULL, NULL, NULL), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_status(aidev_context_set_memory_limit(NULL, 0), AIDEV_ERROR_INVALID_HANDLE);
    ck_assert_ok(aidev_context_release(ctx));
}
END_TEST

START_TEST(quota_from_environment)
{
    setenv("AIDEV_MEM_LIMIT", "64k", 1);
    aidev_context ctx;
    aidev_device dev = same_device_in(harness_device(_i), NULL, &ctx);
    usage_is(ctx, 0, 64 << 10);
    aidev_buffer_desc desc = {.size = 65 << 10, .kind = first_kind(dev)};
    aidev_buffer b;
    ck_assert_error_names(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_QUOTA,
                          "AIDEV_MEM_LIMIT");
    ck_assert_ok(aidev_context_release(ctx));
    /* The descriptor wins over the environment. */
    aidev_context_desc cd = {.memory_limit = 1 << 20};
    same_device_in(harness_device(_i), &cd, &ctx);
    usage_is(ctx, 0, 1 << 20);
    ck_assert_ok(aidev_context_release(ctx));
    /* One rule: digits with an optional K/M/G/T (and B or iB); no sign,
     * no space, nothing past 2^64-1 bytes. -1 was "no limit" (it wrapped)
     * while -1K was refused. */
    const char *refused[] = {"12Q", "-1", "-1K", "+64k", " 64k", "64kk", "1.5G",
                             "18446744073709551616", "17179869184G", "k", ""};
    for (size_t i = 0; i + 1 < sizeof refused / sizeof refused[0]; i++) {
        setenv("AIDEV_MEM_LIMIT", refused[i], 1);
        ctx = (aidev_context)(uintptr_t)1;
        ck_assert_error_names(aidev_context_create(NULL, &ctx), AIDEV_ERROR_INVALID_ARGUMENT,
                              "AIDEV_MEM_LIMIT");
        ck_assert_ptr_null(ctx);
    }
    /* 0 (and empty) mean no limit; every suffix form is taken. */
    const struct {
        const char *value;
        uint64_t limit;
    } taken[] = {{"0", 0}, {"", 0}, {"64KiB", 64 << 10}, {"2m", 2 << 20}, {"1GB", 1 << 30}};
    for (size_t i = 0; i < sizeof taken / sizeof taken[0]; i++) {
        setenv("AIDEV_MEM_LIMIT", taken[i].value, 1);
        same_device_in(harness_device(_i), NULL, &ctx);
        usage_is(ctx, 0, taken[i].limit);
        ck_assert_ok(aidev_context_release(ctx));
    }
    unsetenv("AIDEV_MEM_LIMIT");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Isolation                                                                */
/* ------------------------------------------------------------------------ */

static void host_fn(void *user)
{
    (void)user;
}

START_TEST(cross_context_handles_refused)
{
    aidev_device dev = harness_device(_i);
    aidev_context other;
    aidev_device odev = same_device_in(dev, NULL, &other);
    aidev_memory_kind kind = first_kind(dev);

    aidev_queue q = harness_queue(dev), oq = harness_queue(odev);
    aidev_buffer mine = harness_buffer(dev, kind, 4096, AIDEV_TYPE_F32);
    aidev_buffer theirs = harness_buffer(odev, kind, 4096, AIDEV_TYPE_F32);
    aidev_kernel k, ok;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    ck_assert_ok(aidev_kernel_get(odev, "axpy", &ok));
    aidev_event their_event;
    ck_assert_ok(aidev_event_create_user(other, &their_event));
    char host[4096] = {0};
    uint32_t zero = 0;
    const char *ctx_msg = "another context";

    /* A buffer of the other context with our queue... */
    ck_assert_error_names(aidev_enqueue_write(q, theirs, 0, 16, host, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_read(q, theirs, 0, 16, host, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_fill(q, theirs, 0, 16, &zero, 4, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_copy(q, theirs, 0, mine, 0, 16, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_copy(q, mine, 0, theirs, 0, 16, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_file_read(q, theirs, 0, 0, 0, 16, 0, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(
        aidev_enqueue_prefetch(q, theirs, 0, 16, AIDEV_PREFETCH_TO_DEVICE, 0, NULL, NULL),
        AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    /* ...and ours with their queue. */
    ck_assert_error_names(aidev_enqueue_write(oq, mine, 0, 16, host, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_copy(oq, theirs, 0, mine, 0, 16, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);

    /* Kernels and kernel arguments. */
    aidev_arg args[] = {aidev_arg_u32(16), aidev_arg_f32(1.0f), aidev_arg_buffer(mine, 0),
                        aidev_arg_buffer(mine, 0)};
    ck_assert_error_names(aidev_enqueue_dispatch(q, ok, NULL, NULL, 4, args, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    args[3] = aidev_arg_buffer(theirs, 0);
    ck_assert_error_names(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);

    /* Events of the other context in a wait list, of every command. */
    args[3] = aidev_arg_buffer(mine, 0);
    ck_assert_error_names(aidev_enqueue_barrier(q, 1, &their_event, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_write(q, mine, 0, 16, host, 1, &their_event, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_read(q, mine, 0, 16, host, 1, &their_event, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_fill(q, mine, 0, 16, &zero, 4, 1, &their_event, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_host_callback(q, host_fn, NULL, 1, &their_event, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);
    ck_assert_error_names(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 1, &their_event,
                                                 NULL),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);

    /* Device selection near a buffer of another context. */
    aidev_device_requirements req = {.near_buffer = theirs};
    aidev_device picked;
    ck_assert_error_names(aidev_device_select(harness_context(), &req, &picked),
                          AIDEV_ERROR_INVALID_HANDLE, ctx_msg);

    /* Nothing ran, nothing broke: both contexts still work. */
    ck_assert_ok(aidev_enqueue_write(q, mine, 0, 16, host, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_write(oq, theirs, 0, 16, host, 0, NULL, NULL));
    finish_release(q);
    finish_release(oq);
    ck_assert_ok(aidev_kernel_release(k));
    ck_assert_ok(aidev_buffer_release(mine));
    ck_assert_ok(aidev_event_set_status(their_event, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_context_release(other));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Zeroing and scrubbing                                                    */
/* ------------------------------------------------------------------------ */

static const uint32_t secret = 0x5ec7e7a1u;

/* Index of the first 4-byte word equal to |secret|, or |n| / 4. */
static size_t find_secret(const uint32_t *words, size_t n)
{
    size_t i = 0;
    while (i < n / 4 && words[i] != secret)
        i++;
    return i;
}

static void read_all(aidev_device dev, aidev_buffer b, void *dst, uint64_t size)
{
    aidev_queue q = harness_queue(dev);
    ck_assert_ok(aidev_enqueue_read(q, b, 0, size, dst, 0, NULL, NULL));
    finish_release(q);
}

/* A buffer of |size| bytes full of |secret|, released again. */
static void leave_secret(aidev_device dev, aidev_memory_kind kind, uint64_t size, uint32_t flags)
{
    aidev_buffer_desc desc = {.size = size, .kind = kind, .flags = flags};
    aidev_buffer b;
    ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
    aidev_queue q = harness_queue(dev);
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, size, &secret, 4, 0, NULL, NULL));
    finish_release(q);
    ck_assert_ok(aidev_buffer_release(b));
}

START_TEST(fresh_buffers_zero_and_scrubbed)
{
    aidev_device dev = harness_device(_i);
    const uint64_t sizes[] = {4096, 3 << 20, 16 << 20};
    for (size_t k = 0; k < 3; k++) {
        if (!harness_has_kind(dev, kinds[k]))
            continue;
        for (size_t s = 0; s < 3; s++) {
            uint64_t size = sizes[s];
            uint32_t *data = malloc(size);
            /* Default: zero, whatever memory came back. */
            leave_secret(dev, kinds[k], size, 0);
            aidev_buffer b = harness_buffer(dev, kinds[k], size, AIDEV_TYPE_NONE);
            memset(data, 0xff, size);
            read_all(dev, b, data, size);
            size_t i = 0;
            while (i < size / 4 && data[i] == 0)
                i++;
            ck_assert_msg(i == size / 4, "%s %llu bytes: word %zu is %#x", kind_names[k],
                          (unsigned long long)size, i, i < size / 4 ? data[i] : 0);
            ck_assert_ok(aidev_buffer_release(b));

            /* Scrubbed on free: not even an uninitialised buffer of the same
             * size (the likeliest to reuse the memory) finds the data. */
            leave_secret(dev, kinds[k], size, AIDEV_BUFFER_ZERO_ON_FREE);
            aidev_buffer_desc desc = {.size = size, .kind = kinds[k],
                                      .flags = AIDEV_BUFFER_UNINITIALIZED};
            ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
            read_all(dev, b, data, size);
            i = find_secret(data, size);
            ck_assert_msg(i == size / 4,
                          "%s %llu bytes: scrubbed data visible at word %zu of an uninitialised "
                          "buffer",
                          kind_names[k], (unsigned long long)size, i);
            ck_assert_ok(aidev_buffer_release(b));
            free(data);
        }
    }
}
END_TEST

/* A scrubbed buffer released while a command still waits to write it: the
 * command runs (its event succeeds), and the scrub comes after it, so the
 * data it wrote is not left for the next buffer. */
START_TEST(scrub_waits_for_pending_commands)
{
    aidev_device dev = harness_device(_i);
    aidev_memory_kind kind = first_kind(dev);
    const uint64_t size = 64 << 10;
    aidev_buffer_desc desc = {.size = size, .kind = kind, .flags = AIDEV_BUFFER_ZERO_ON_FREE};
    aidev_buffer b;
    ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
    aidev_queue q = harness_queue(dev);
    aidev_event gate, wrote;
    ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, size, &secret, 4, 1, &gate, &wrote));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
    ck_assert_ok(aidev_event_wait(wrote, AIDEV_WAIT_FOREVER));
    finish_release(q);
    desc.flags = AIDEV_BUFFER_UNINITIALIZED;
    ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
    uint32_t *data = malloc(size);
    read_all(dev, b, data, size);
    size_t i = find_secret(data, size);
    ck_assert_msg(i == size / 4, "data written before the scrub shows at word %zu", i);
    free(data);
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_event_release(gate));
    ck_assert_ok(aidev_event_release(wrote));
}
END_TEST

/* The test above can only fail if memory is reused: on the CPU backend it
 * is (its block cache), so without scrubbing the secret must show. */
START_TEST(reuse_shows_unscrubbed_data_on_cpu)
{
    aidev_device dev = harness_device(_i);
    if (strcmp(harness_device_backend(_i), "cpu") != 0)
        return;
    const uint64_t sizes[] = {4096, 3 << 20};
    for (size_t s = 0; s < 2; s++) {
        leave_secret(dev, AIDEV_MEMORY_HOST, sizes[s], 0);
        aidev_buffer_desc desc = {.size = sizes[s], .kind = AIDEV_MEMORY_HOST,
                                  .flags = AIDEV_BUFFER_UNINITIALIZED};
        aidev_buffer b;
        ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
        uint32_t *p;
        ck_assert_ok(aidev_buffer_map(b, 0, sizes[s], AIDEV_MAP_READ, (void **)&p));
        ck_assert_msg(p[0] == secret && p[sizes[s] / 4 - 1] == secret,
                      "%llu bytes: an uninitialised buffer did not reuse the freed block",
                      (unsigned long long)sizes[s]);
        ck_assert_ok(aidev_buffer_unmap(b));
        ck_assert_ok(aidev_buffer_release(b));
    }
}
END_TEST

START_TEST(zero_on_free_from_environment)
{
    setenv("AIDEV_ZERO_ON_FREE", "1", 1);
    aidev_context ctx;
    aidev_device dev = same_device_in(harness_device(_i), NULL, &ctx);
    unsetenv("AIDEV_ZERO_ON_FREE");
    aidev_memory_kind kind = first_kind(dev);
    aidev_buffer b = harness_buffer(dev, kind, 4096, AIDEV_TYPE_NONE);
    uint32_t flags = 0;
    ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_FLAGS, sizeof flags, &flags, NULL));
    ck_assert_uint_eq(flags, AIDEV_BUFFER_ZERO_ON_FREE);
    ck_assert_ok(aidev_buffer_release(b));
    /* Every buffer of the context is scrubbed. */
    leave_secret(dev, kind, 8192, 0);
    aidev_buffer_desc desc = {.size = 8192, .kind = kind, .flags = AIDEV_BUFFER_UNINITIALIZED};
    ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
    uint32_t data[2048];
    read_all(dev, b, data, sizeof data);
    ck_assert_uint_eq(find_secret(data, sizeof data), 2048);
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_ok(aidev_context_release(ctx));

    setenv("AIDEV_ZERO_ON_FREE", "maybe", 1);
    ck_assert_error_names(aidev_context_create(NULL, &ctx), AIDEV_ERROR_INVALID_ARGUMENT,
                          "AIDEV_ZERO_ON_FREE");
    unsetenv("AIDEV_ZERO_ON_FREE");
    aidev_buffer_desc bad = {.size = 64, .kind = kind, .flags = 1u << 7};
    ck_assert_error_names(aidev_buffer_create(harness_device(_i), &bad, &b),
                          AIDEV_ERROR_INVALID_ARGUMENT, "flags");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* SHARED memory and prefetch                                               */
/* ------------------------------------------------------------------------ */

START_TEST(shared_memory_without_copies)
{
    aidev_device dev = harness_device(_i);
    if (!harness_has_kind(dev, AIDEV_MEMORY_SHARED)) {
        aidev_buffer_desc desc = {.size = 64, .kind = AIDEV_MEMORY_SHARED};
        aidev_buffer b;
        ck_assert_error_names(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_UNSUPPORTED,
                              "SHARED");
        return;
    }
    const uint32_t n = 100000;
    aidev_buffer x = harness_buffer(dev, AIDEV_MEMORY_SHARED, n * 4ull, AIDEV_TYPE_F32);
    aidev_buffer y = harness_buffer(dev, AIDEV_MEMORY_SHARED, n * 4ull, AIDEV_TYPE_F32);
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    aidev_queue q = harness_queue(dev);

    /* Host writes through the mapping... */
    float *px, *py;
    ck_assert_ok(aidev_buffer_map(x, 0, n * 4ull, AIDEV_MAP_WRITE, (void **)&px));
    for (uint32_t i = 0; i < n; i++)
        px[i] = (float)i;
    ck_assert_ok(aidev_buffer_unmap(x));
    ck_assert_ok(aidev_buffer_map(y, 0, n * 4ull, AIDEV_MAP_WRITE, (void **)&py));
    for (uint32_t i = 0; i < n; i++)
        py[i] = 1.0f;
    ck_assert_ok(aidev_buffer_unmap(y));

    /* ...a kernel reads and writes the same memory (hints on the way)... */
    aidev_event ev[3];
    ck_assert_ok(aidev_enqueue_prefetch(q, x, 0, n * 4ull, AIDEV_PREFETCH_TO_DEVICE, 0, NULL,
                                        &ev[0]));
    aidev_arg args[] = {aidev_arg_u32(n), aidev_arg_f32(2.0f), aidev_arg_buffer(x, 0),
                        aidev_arg_buffer(y, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 1, &ev[0], &ev[1]));
    ck_assert_ok(aidev_enqueue_prefetch(q, y, 0, n * 4ull, AIDEV_PREFETCH_TO_HOST, 1, &ev[1],
                                        &ev[2]));
    ck_assert_ok(aidev_event_wait(ev[2], AIDEV_WAIT_FOREVER));

    /* ...and the host reads the result where it wrote: y = 2x + 1. */
    ck_assert_ok(aidev_buffer_map(y, 0, n * 4ull, AIDEV_MAP_READ, (void **)&py));
    uint32_t i = 0;
    while (i < n && py[i] == 2.0f * (float)i + 1.0f)
        i++;
    ck_assert_msg(i == n, "y[%u] = %g, want %g", i, i < n ? py[i] : 0.0f,
                  2.0f * (float)i + 1.0f);
    ck_assert_ok(aidev_buffer_unmap(y));
    /* And back: the host changes x in place, the kernel sees it. */
    ck_assert_ok(aidev_buffer_map(x, 0, n * 4ull, AIDEV_MAP_WRITE, (void **)&px));
    px[7] = 1000.0f;
    ck_assert_ok(aidev_buffer_unmap(x));
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_ok(aidev_buffer_map(y, 0, n * 4ull, AIDEV_MAP_READ, (void **)&py));
    ck_assert_float_eq(py[7], 2.0f * 7 + 1 + 2.0f * 1000.0f);
    ck_assert_float_eq(py[8], 2.0f * 8 + 1 + 2.0f * 8);
    ck_assert_ok(aidev_buffer_unmap(y));

    char name[32];
    ck_assert_ok(aidev_event_get_info(ev[0], AIDEV_EVENT_INFO_COMMAND, sizeof name, name, NULL));
    ck_assert_str_eq(name, "prefetch");
    for (int e = 0; e < 3; e++)
        ck_assert_ok(aidev_event_release(ev[e]));
    finish_release(q);
    ck_assert_ok(aidev_kernel_release(k));
    ck_assert_ok(aidev_buffer_release(x));
    ck_assert_ok(aidev_buffer_release(y));
}
END_TEST

START_TEST(prefetch_orders_and_checks)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    aidev_memory_kind other = harness_has_kind(dev, AIDEV_MEMORY_DEVICE) ? AIDEV_MEMORY_DEVICE
                                                                         : AIDEV_MEMORY_HOST;
    aidev_buffer d = harness_buffer(dev, other, 4096, AIDEV_TYPE_NONE);
    ck_assert_error_names(
        aidev_enqueue_prefetch(q, d, 0, 4096, AIDEV_PREFETCH_TO_DEVICE, 0, NULL, NULL),
        AIDEV_ERROR_INVALID_ARGUMENT, "SHARED");
    ck_assert_ok(aidev_buffer_release(d));
    if (harness_has_kind(dev, AIDEV_MEMORY_SHARED)) {
        aidev_buffer s = harness_buffer(dev, AIDEV_MEMORY_SHARED, 1 << 20, AIDEV_TYPE_NONE);
        ck_assert_error_names(aidev_enqueue_prefetch(q, s, 0, 4096, 0, 0, NULL, NULL),
                              AIDEV_ERROR_INVALID_ARGUMENT, "flags");
        ck_assert_error_names(aidev_enqueue_prefetch(q, s, 0, 4096,
                                                     AIDEV_PREFETCH_TO_DEVICE |
                                                         AIDEV_PREFETCH_TO_HOST,
                                                     0, NULL, NULL),
                              AIDEV_ERROR_INVALID_ARGUMENT, "flags");
        ck_assert_error_names(
            aidev_enqueue_prefetch(q, s, 4096, 1 << 20, AIDEV_PREFETCH_TO_HOST, 0, NULL, NULL),
            AIDEV_ERROR_OUT_OF_RANGE, "offset");
        /* A hint waits and signals like any command. */
        aidev_event gate, hint, after;
        ck_assert_ok(aidev_event_create_user(harness_context(), &gate));
        ck_assert_ok(aidev_enqueue_prefetch(q, s, 4096, 8192, AIDEV_PREFETCH_TO_DEVICE, 1, &gate,
                                            &hint));
        ck_assert_ok(aidev_enqueue_barrier(q, 0, NULL, &after));
        usleep(20000);
        ck_assert_status(aidev_event_query(hint), AIDEV_NOT_READY);
        ck_assert_status(aidev_event_query(after), AIDEV_NOT_READY);
        ck_assert_ok(aidev_event_set_status(gate, AIDEV_SUCCESS, NULL));
        ck_assert_ok(aidev_event_wait(after, AIDEV_WAIT_FOREVER));
        ck_assert_ok(aidev_event_query(hint));
        /* A failed wait fails the hint, as any command. */
        aidev_event bad, failed;
        ck_assert_ok(aidev_event_create_user(harness_context(), &bad));
        ck_assert_ok(aidev_enqueue_prefetch(q, s, 0, 64, AIDEV_PREFETCH_TO_HOST, 1, &bad,
                                            &failed));
        ck_assert_ok(aidev_event_set_status(bad, AIDEV_ERROR_IO, "no"));
        ck_assert_status(aidev_event_wait(failed, AIDEV_WAIT_FOREVER), AIDEV_ERROR_DEPENDENCY);
        ck_assert_error_names(aidev_queue_finish(q), AIDEV_ERROR_DEPENDENCY, "prefetch");
        aidev_event all[] = {gate, hint, after, bad, failed};
        for (int e = 0; e < 5; e++)
            ck_assert_ok(aidev_event_release(all[e]));
        ck_assert_ok(aidev_buffer_release(s));
    }
    finish_release(q);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Device selection and NUMA                                                */
/* ------------------------------------------------------------------------ */

static uint64_t dev_u64(aidev_device d, aidev_device_info key)
{
    uint64_t v = 0;
    ck_assert_ok(aidev_device_get_info(d, key, sizeof v, &v, NULL));
    return v;
}

static uint32_t dev_u32(aidev_device d, aidev_device_info key)
{
    uint32_t v = 0;
    ck_assert_ok(aidev_device_get_info(d, key, sizeof v, &v, NULL));
    return v;
}

static int type_rank(uint32_t t)
{
    return t == AIDEV_DEVICE_TYPE_GPU ? 0 : t == AIDEV_DEVICE_TYPE_ACCELERATOR ? 1
                                       : t == AIDEV_DEVICE_TYPE_OTHER         ? 2
                                                                              : 3;
}

START_TEST(device_select_ranks_and_explains)
{
    aidev_context ctx = harness_context();
    uint32_t n = 0;
    ck_assert_ok(aidev_context_get_devices(ctx, &n, NULL));
    aidev_device *all = calloc(n, sizeof *all);
    ck_assert_ok(aidev_context_get_devices(ctx, &n, all));

    /* No requirement: the best type, then the most memory. */
    aidev_device best = NULL;
    for (uint32_t i = 0; i < n; i++) {
        if (!best)
            best = all[i];
        int a = type_rank(dev_u32(all[i], AIDEV_DEVICE_INFO_TYPE));
        int b = type_rank(dev_u32(best, AIDEV_DEVICE_INFO_TYPE));
        if (a < b || (a == b && dev_u64(all[i], AIDEV_DEVICE_INFO_MEMORY_BYTES) >
                                    dev_u64(best, AIDEV_DEVICE_INFO_MEMORY_BYTES)))
            best = all[i];
    }
    aidev_device got;
    ck_assert_ok(aidev_device_select(ctx, NULL, &got));
    ck_assert_ptr_eq(got, best);

    /* The device holding the data comes first, whatever its type. */
    for (uint32_t i = 0; i < n; i++) {
        aidev_buffer b = harness_buffer(all[i], first_kind(all[i]), 64, AIDEV_TYPE_NONE);
        aidev_device_requirements req = {.near_buffer = b};
        ck_assert_ok(aidev_device_select(ctx, &req, &got));
        ck_assert_ptr_eq(got, all[i]);
        /* Unless it misses a requirement. */
        req.types = (AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_CPU) |
                     AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_GPU) |
                     AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_ACCELERATOR) |
                     AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_OTHER)) &
                    ~AIDEV_DEVICE_TYPE_BIT(dev_u32(all[i], AIDEV_DEVICE_INFO_TYPE));
        aidev_status st = aidev_device_select(ctx, &req, &got);
        ck_assert_msg(st == AIDEV_SUCCESS ? got != all[i] : st == AIDEV_ERROR_NOT_FOUND,
                      "types mask excluding the holder: %s", aidev_last_error());
        ck_assert_ok(aidev_buffer_release(b));
    }

    /* Each requirement filters. */
    aidev_device_requirements cpu = {.types = AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_CPU),
                                     .memory_kinds = AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_SHARED),
                                     .features = AIDEV_FEATURE_HOST_IMPORT};
    ck_assert_ok(aidev_device_select(ctx, &cpu, &got));
    ck_assert_uint_eq(dev_u32(got, AIDEV_DEVICE_INFO_TYPE), AIDEV_DEVICE_TYPE_CPU);
    ck_assert_uint_ne(dev_u32(got, AIDEV_DEVICE_INFO_MEMORY_KINDS) &
                          AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_SHARED),
                      0);

    /* Nothing qualifies: the message names the requirement. */
    aidev_device_requirements huge = {.min_memory_bytes = UINT64_MAX};
    ck_assert_error_names(aidev_device_select(ctx, &huge, &got), AIDEV_ERROR_NOT_FOUND,
                          "min_memory_bytes");
    ck_assert_ptr_null(got);
    aidev_device_requirements feat = {.features = 1ull << 62};
    ck_assert_error_names(aidev_device_select(ctx, &feat, &got), AIDEV_ERROR_NOT_FOUND,
                          "lacks features 0x4000000000000000");
    bool have_accel = false;
    for (uint32_t i = 0; i < n; i++)
        have_accel |= dev_u32(all[i], AIDEV_DEVICE_INFO_TYPE) == AIDEV_DEVICE_TYPE_ACCELERATOR;
    if (!have_accel) {
        aidev_device_requirements accel = {
            .types = AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_ACCELERATOR)};
        ck_assert_error_names(aidev_device_select(ctx, &accel, &got), AIDEV_ERROR_NOT_FOUND,
                              "type ACCELERATOR");
    }

    aidev_device_requirements bad = {.types = 1u << 20};
    ck_assert_error_names(aidev_device_select(ctx, &bad, &got), AIDEV_ERROR_INVALID_ARGUMENT,
                          "types");
    bad = (aidev_device_requirements){.memory_kinds = 1u << 9};
    ck_assert_error_names(aidev_device_select(ctx, &bad, &got), AIDEV_ERROR_INVALID_ARGUMENT,
                          "memory_kinds");
    ck_assert_error_names(aidev_device_select(ctx, NULL, NULL), AIDEV_ERROR_INVALID_ARGUMENT,
                          "out_device");
    ck_assert_status(aidev_device_select(NULL, NULL, &got), AIDEV_ERROR_INVALID_HANDLE);
    free(all);
}
END_TEST

/* The node the kernel placed the page at |p| on. */
static int page_node(void *p)
{
    int node = -1;
    if (syscall(SYS_get_mempolicy, &node, NULL, 0ul, p, MPOL_F_NODE | MPOL_F_ADDR) != 0)
        return -2;
    return node;
}

START_TEST(numa_node_known_and_used)
{
    aidev_device dev = harness_device(_i);
    int32_t node = -5;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NUMA_NODE, sizeof node, &node,
                                       NULL));
    ck_assert_int_ge(node, -1);
    if (node >= 0) {
        char path[64];
        snprintf(path, sizeof path, "/sys/devices/system/node/node%d", node);
        ck_assert_msg(access(path, F_OK) == 0, "NUMA node %d has no %s", node, path);
    }
    if (strcmp(harness_device_backend(_i), "cpu") == 0) {
#if AIDEV_TEST_HAVE_HWLOC
        /* The CPU device sits on the node of the CPUs it runs on. */
        ck_assert_int_eq(node, mem_numa_node_of_process());
#endif
    }
    /* Host memory of a device with a node lands there. */
    for (size_t k = 1; k < 3 && node >= 0; k++) {
        if (!harness_has_kind(dev, kinds[k]))
            continue;
        aidev_buffer b = harness_buffer(dev, kinds[k], 4 << 20, AIDEV_TYPE_NONE);
        int32_t bnode = -5;
        ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_NUMA_NODE, sizeof bnode, &bnode,
                                           NULL));
        ck_assert_int_ge(bnode, -1);
        char *p;
        ck_assert_ok(aidev_buffer_map(b, 0, 4 << 20, AIDEV_MAP_WRITE, (void **)&p));
        p[0] = 1;
        p[(4 << 20) - 1] = 1;
        if (bnode >= 0) {
            ck_assert_int_eq(bnode, node);
            ck_assert_int_eq(page_node(p), node);
            ck_assert_int_eq(page_node(p + (4 << 20) - 1), node);
        }
        ck_assert_ok(aidev_buffer_unmap(b));
        ck_assert_ok(aidev_buffer_release(b));
    }
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("memory");
    harness_add_per_device(s, "page_kind_is_true", page_kind_is_true, 0);
    harness_add_per_device(s, "quota_hit_and_recovered", quota_hit_and_recovered, 0);
    harness_add_per_device(s, "quota_from_environment", quota_from_environment, 0);
    harness_add_per_device(s, "cross_context_handles_refused", cross_context_handles_refused, 0);
    harness_add_per_device(s, "fresh_buffers_zero_and_scrubbed", fresh_buffers_zero_and_scrubbed,
                           120);
    harness_add_per_device(s, "scrub_waits_for_pending_commands",
                           scrub_waits_for_pending_commands, 0);
    harness_add_per_device(s, "reuse_shows_unscrubbed_data_on_cpu",
                           reuse_shows_unscrubbed_data_on_cpu, 0);
    harness_add_per_device(s, "zero_on_free_from_environment", zero_on_free_from_environment, 0);
    harness_add_per_device(s, "shared_memory_without_copies", shared_memory_without_copies, 60);
    harness_add_per_device(s, "prefetch_orders_and_checks", prefetch_orders_and_checks, 0);
    harness_add_per_device(s, "numa_node_known_and_used", numa_node_known_and_used, 0);
    TCase *tc = tcase_create("device_select");
    tcase_add_test(tc, device_select_ranks_and_explains);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
