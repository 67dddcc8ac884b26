/* Buffers: kinds, zeroing, map/unmap, import, and their bad inputs. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const aidev_memory_kind kinds[] = {AIDEV_MEMORY_DEVICE, AIDEV_MEMORY_HOST,
                                          AIDEV_MEMORY_SHARED};

/* Reads |size| bytes of |b| through a queue. */
static void read_back(aidev_device dev, aidev_buffer b, void *dst, uint64_t size)
{
    aidev_queue q = harness_queue(dev);
    ck_assert_ok(aidev_enqueue_read(q, b, 0, size, dst, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_ok(aidev_queue_release(q));
}

START_TEST(every_kind_offered_or_refused)
{
    aidev_device dev = harness_device(_i);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        aidev_buffer_desc desc = {.size = 1024, .kind = kinds[k]};
        aidev_buffer b = NULL;
        aidev_status st = aidev_buffer_create(dev, &desc, &b);
        if (harness_has_kind(dev, kinds[k])) {
            ck_assert_msg(st == AIDEV_SUCCESS, "kind %d: %s", (int)kinds[k], aidev_last_error());
            uint64_t size;
            uint32_t kind;
            ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_SIZE, sizeof size, &size,
                                               NULL));
            ck_assert_uint_eq(size, 1024);
            ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_KIND, sizeof kind, &kind,
                                               NULL));
            ck_assert_uint_eq(kind, kinds[k]);
            aidev_device owner;
            ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_DEVICE, sizeof owner, &owner,
                                               NULL));
            ck_assert_ptr_eq(owner, dev);
            ck_assert_ok(aidev_buffer_release(b));
        } else {
            ck_assert_error_names(st, AIDEV_ERROR_UNSUPPORTED, "kind");
            ck_assert_ptr_null(b);
        }
    }
}
END_TEST

START_TEST(new_buffers_read_as_zero)
{
    aidev_device dev = harness_device(_i);
    /* Small (heap-backed on the CPU) and large (page-backed) sizes. */
    const uint64_t sizes[] = {4096, 3u << 20};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (!harness_has_kind(dev, kinds[k]))
            continue;
        for (size_t s = 0; s < 2; s++) {
            /* Dirty memory first, so a recycled allocation would show. */
            aidev_buffer dirty = harness_buffer(dev, kinds[k], sizes[s], AIDEV_TYPE_NONE);
            aidev_queue q = harness_queue(dev);
            uint32_t pattern = 0xdeadbeef;
            ck_assert_ok(aidev_enqueue_fill(q, dirty, 0, sizes[s], &pattern, 4, 0, NULL, NULL));
            ck_assert_ok(aidev_queue_finish(q));
            ck_assert_ok(aidev_queue_release(q));
            ck_assert_ok(aidev_buffer_release(dirty));

            aidev_buffer b = harness_buffer(dev, kinds[k], sizes[s], AIDEV_TYPE_NONE);
            unsigned char *data = malloc(sizes[s]);
            memset(data, 0xff, sizes[s]);
            read_back(dev, b, data, sizes[s]);
            uint64_t i = 0;
            while (i < sizes[s] && data[i] == 0)
                i++;
            ck_assert_msg(i == sizes[s], "kind %d size %llu: byte %llu is %#x", (int)kinds[k],
                          (unsigned long long)sizes[s], (unsigned long long)i,
                          i < sizes[s] ? data[i] : 0);
            free(data);
            ck_assert_ok(aidev_buffer_release(b));
        }
    }
}
END_TEST

START_TEST(create_bad_arguments)
{
    aidev_device dev = harness_device(_i);
    aidev_buffer b;
    aidev_buffer_desc desc = {.size = 0, .kind = AIDEV_MEMORY_DEVICE};
    ck_assert_error_names(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_INVALID_ARGUMENT,
                          "size");
    desc.size = 64;
    desc.kind = (aidev_memory_kind)7;
    ck_assert_error_names(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_INVALID_ARGUMENT,
                          "kind");
    desc.kind = AIDEV_MEMORY_DEVICE;
    desc.flags = 0x100;
    ck_assert_error_names(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_INVALID_ARGUMENT,
                          "flags");
    desc.flags = 0;
    desc.element_type = AIDEV_TYPE_F32;
    desc.size = 6;
    ck_assert_error_names(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_INVALID_ARGUMENT,
                          "size");
    desc.element_type = (aidev_type)99;
    ck_assert_error_names(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_INVALID_ARGUMENT,
                          "element_type");
    desc.element_type = AIDEV_TYPE_NONE;
    ck_assert_error_names(aidev_buffer_create(dev, NULL, &b), AIDEV_ERROR_INVALID_ARGUMENT,
                          "desc");
    ck_assert_error_names(aidev_buffer_create(dev, &desc, NULL), AIDEV_ERROR_INVALID_ARGUMENT,
                          "out_buffer");
    ck_assert_error_names(aidev_buffer_create(NULL, &desc, &b), AIDEV_ERROR_INVALID_HANDLE,
                          "device");

    /* Larger than the device's largest allocation: a status, not a crash. */
    uint64_t max_alloc;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MAX_ALLOC_BYTES, sizeof max_alloc,
                                       &max_alloc, NULL));
    desc.size = max_alloc + 1;
    ck_assert_error_names(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_OUT_OF_RANGE, "size");
    desc.size = UINT64_MAX;
    ck_assert_error_names(aidev_buffer_create(dev, &desc, &b), AIDEV_ERROR_OUT_OF_RANGE, "size");
}
END_TEST

START_TEST(map_unmap)
{
    aidev_device dev = harness_device(_i);
    for (size_t k = 1; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (!harness_has_kind(dev, kinds[k]))
            continue;
        aidev_buffer b = harness_buffer(dev, kinds[k], 8192, AIDEV_TYPE_NONE);
        unsigned char *p;
        ck_assert_ok(aidev_buffer_map(b, 0, 8192, AIDEV_MAP_WRITE, (void **)&p));
        for (int i = 0; i < 8192; i++)
            p[i] = (unsigned char)(i ^ 0x5a);
        void *again;
        ck_assert_error_names(aidev_buffer_map(b, 0, 16, AIDEV_MAP_READ, &again),
                              AIDEV_ERROR_INVALID_STATE, "mapped");
        ck_assert_ok(aidev_buffer_unmap(b));
        ck_assert_status(aidev_buffer_unmap(b), AIDEV_ERROR_INVALID_STATE);

        /* The device sees the host's writes: read them back through a queue. */
        unsigned char out[8192];
        read_back(dev, b, out, sizeof out);
        for (int i = 0; i < 8192; i++)
            ck_assert_uint_eq(out[i], (unsigned char)(i ^ 0x5a));

        /* A mapping of a sub-range starts at the offset. */
        ck_assert_ok(aidev_buffer_map(b, 100, 50, AIDEV_MAP_READ, (void **)&p));
        ck_assert_uint_eq(p[0], (unsigned char)(100 ^ 0x5a));
        ck_assert_ok(aidev_buffer_unmap(b));

        ck_assert_error_names(aidev_buffer_map(b, 8000, 500, AIDEV_MAP_READ, (void **)&p),
                              AIDEV_ERROR_OUT_OF_RANGE, "offset");
        ck_assert_error_names(aidev_buffer_map(b, UINT64_MAX, 2, AIDEV_MAP_READ, (void **)&p),
                              AIDEV_ERROR_OUT_OF_RANGE, "offset");
        ck_assert_error_names(aidev_buffer_map(b, 0, 0, AIDEV_MAP_READ, (void **)&p),
                              AIDEV_ERROR_OUT_OF_RANGE, "size");
        ck_assert_error_names(aidev_buffer_map(b, 0, 16, 0, (void **)&p),
                              AIDEV_ERROR_INVALID_ARGUMENT, "map_flags");
        ck_assert_error_names(aidev_buffer_map(b, 0, 16, AIDEV_MAP_READ, NULL),
                              AIDEV_ERROR_INVALID_ARGUMENT, "out_ptr");
        ck_assert_ok(aidev_buffer_release(b));
    }
    aidev_buffer d = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_NONE);
    void *p;
    ck_assert_error_names(aidev_buffer_map(d, 0, 64, AIDEV_MAP_READ, &p), AIDEV_ERROR_UNSUPPORTED,
                          "DEVICE");
    ck_assert_ok(aidev_buffer_release(d));
}
END_TEST

START_TEST(import_host_memory)
{
    aidev_device dev = harness_device(_i);
    uint64_t features = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features, &features,
                                       NULL));
    size_t size = 1 << 16;
    float *host = aligned_alloc(4096, size);
    for (size_t i = 0; i < size / sizeof(float); i++)
        host[i] = (float)i;
    aidev_buffer b = NULL;
    aidev_status st = aidev_buffer_import_host(dev, host, size, AIDEV_TYPE_F32, &b);
    if (!(features & AIDEV_FEATURE_HOST_IMPORT)) {
        ck_assert_msg(st == AIDEV_ERROR_UNSUPPORTED, "import without the feature: %s",
                      aidev_status_string(st));
        free(host);
        return;
    }
    ck_assert_msg(st == AIDEV_SUCCESS, "import: %s", aidev_last_error());
    uint32_t imported = 0;
    ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_IMPORTED, sizeof imported, &imported,
                                       NULL));
    ck_assert_uint_eq(imported, 1);
    /* The device reads what the host wrote and the host sees what the device
     * writes, with no copy in between. */
    float out[16];
    read_back(dev, b, out, sizeof out);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(out[i], (float)i);
    aidev_queue q = harness_queue(dev);
    float v = 42.0f;
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, size, &v, 4, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    float *mapped;
    ck_assert_ok(aidev_buffer_map(b, 0, size, AIDEV_MAP_READ, (void **)&mapped));
    ck_assert_float_eq(mapped[size / sizeof(float) - 1], 42.0f);
    ck_assert_ok(aidev_buffer_unmap(b));
    ck_assert_ok(aidev_queue_release(q));
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_float_eq(host[0], 42.0f);

    ck_assert_error_names(aidev_buffer_import_host(dev, NULL, size, AIDEV_TYPE_F32, &b),
                          AIDEV_ERROR_INVALID_ARGUMENT, "host_ptr");
    ck_assert_error_names(aidev_buffer_import_host(dev, host, 0, AIDEV_TYPE_F32, &b),
                          AIDEV_ERROR_INVALID_ARGUMENT, "size");
    ck_assert_error_names(aidev_buffer_import_host(dev, (void *)(UINTPTR_MAX - 8), 4096,
                                                   AIDEV_TYPE_NONE, &b),
                          AIDEV_ERROR_OUT_OF_RANGE, "host_ptr");
    free(host);
}
END_TEST

/* Where a buffer has a host address, it is the one a map gives, the device
 * sees what the host writes there and the host what the device writes;
 * where it has none, the refusal says so. Every kind, small and large
 * (some backends place only large buffers in host blocks). */
START_TEST(host_address_where_the_host_reaches_the_memory)
{
    aidev_device dev = harness_device(_i);
    const uint64_t sizes[] = {4096, 3u << 20};
    uint32_t kinds_with_address = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        if (!harness_has_kind(dev, kinds[k]))
            continue;
        for (size_t s = 0; s < 2; s++) {
            aidev_buffer b = harness_buffer(dev, kinds[k], sizes[s], AIDEV_TYPE_F32);
            float *host = NULL;
            size_t size_ret = 0;
            aidev_status st = aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_HOST_ADDRESS,
                                                    sizeof host, &host, &size_ret);
            if (st == AIDEV_ERROR_UNSUPPORTED) {
                ck_assert_msg(strstr(aidev_last_error(), "host address") != NULL,
                              "refusal does not say why: %s", aidev_last_error());
                ck_assert_ptr_null(host);
                ck_assert_ok(aidev_buffer_release(b));
                continue;
            }
            ck_assert_msg(st == AIDEV_SUCCESS, "kind %d, %llu bytes: %s", (int)kinds[k],
                          (unsigned long long)sizes[s], aidev_last_error());
            ck_assert_uint_eq(size_ret, sizeof(void *));
            ck_assert_ptr_nonnull(host);
            kinds_with_address |= 1u << kinds[k];
            if (kinds[k] != AIDEV_MEMORY_DEVICE) {
                void *mapped;
                ck_assert_ok(aidev_buffer_map(b, 0, sizes[s], AIDEV_MAP_READ, &mapped));
                ck_assert_ptr_eq(mapped, host);
                ck_assert_ok(aidev_buffer_unmap(b));
            }
            uint64_t n = sizes[s] / sizeof(float);
            host[0] = 1.5f;
            host[n - 1] = -2.5f;
            float ends[2];
            read_back(dev, b, &ends[0], sizeof(float));
            ck_assert_float_eq(ends[0], 1.5f);
            aidev_queue q = harness_queue(dev);
            float v = 7.0f;
            ck_assert_ok(aidev_enqueue_fill(q, b, 0, sizes[s], &v, 4, 0, NULL, NULL));
            ck_assert_ok(aidev_queue_finish(q));
            ck_assert_ok(aidev_queue_release(q));
            ck_assert_float_eq(host[0], 7.0f);
            ck_assert_float_eq(host[n - 1], 7.0f);
            ck_assert_ok(aidev_buffer_release(b));
        }
    }
    /* The CPU backend's memory is all host memory: every kind has an
     * address there, so the case is never vacuous on it. */
    if (strcmp(harness_device_backend(_i), "cpu") == 0)
        ck_assert_uint_eq(kinds_with_address, (1u << AIDEV_MEMORY_DEVICE) | (1u << AIDEV_MEMORY_HOST) |
                                            (1u << AIDEV_MEMORY_SHARED));
}
END_TEST

START_TEST(buffer_info_bad_arguments)
{
    aidev_device dev = harness_device(_i);
    aidev_buffer b = harness_buffer(dev, AIDEV_MEMORY_DEVICE, 64, AIDEV_TYPE_I32);
    uint32_t t;
    ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_ELEMENT_TYPE, sizeof t, &t, NULL));
    ck_assert_uint_eq(t, AIDEV_TYPE_I32);
    uint8_t small;
    ck_assert_error_names(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_SIZE, 1, &small, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "value_size");
    ck_assert_error_names(aidev_buffer_get_info(b, (aidev_buffer_info)555, sizeof t, &t, NULL),
                          AIDEV_ERROR_NOT_FOUND, "key");
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_error_names(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_SIZE, sizeof t, &t, NULL),
                          AIDEV_ERROR_INVALID_HANDLE, "buffer");
    ck_assert_error_names(aidev_buffer_release(b), AIDEV_ERROR_INVALID_HANDLE, "buffer");
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("buffer");
    harness_add_per_device(s, "every_kind_offered_or_refused", every_kind_offered_or_refused, 0);
    harness_add_per_device(s, "new_buffers_read_as_zero", new_buffers_read_as_zero, 0);
    harness_add_per_device(s, "create_bad_arguments", create_bad_arguments, 0);
    harness_add_per_device(s, "map_unmap", map_unmap, 0);
    harness_add_per_device(s, "import_host_memory", import_host_memory, 0);
    harness_add_per_device(s, "host_address_where_the_host_reaches_the_memory",
                           host_address_where_the_host_reaches_the_memory, 0);
    harness_add_per_device(s, "buffer_info_bad_arguments", buffer_info_bad_arguments, 0);
    return harness_run(s);
}
