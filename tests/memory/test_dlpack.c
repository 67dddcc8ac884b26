/* DLPack on every device: export without copies (host memory as kDLCPU,
 * device memory by native handle where the backend names one), a tensor
 * that outlives its buffer handle and its context, import of host tensors
 * with the deleter called once the buffer is freed, and the refusals. */
#include <stdlib.h>
#include <string.h>

#include <dlpack/dlpack.h>

#include "harness.h"

static const aidev_memory_kind kinds[] = {AIDEV_MEMORY_DEVICE, AIDEV_MEMORY_HOST,
                                          AIDEV_MEMORY_SHARED};

static uint64_t features_of(aidev_device dev)
{
    uint64_t f = 0;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof f, &f, NULL));
    return f;
}

static uint64_t usage(aidev_context ctx)
{
    uint64_t used = 0;
    ck_assert_ok(aidev_context_get_memory_usage(ctx, &used, NULL));
    return used;
}

START_TEST(export_without_copy)
{
    aidev_device dev = harness_device(_i);
    aidev_context ctx = harness_context();
    for (size_t k = 0; k < 3; k++) {
        if (!harness_has_kind(dev, kinds[k]))
            continue;
        uint64_t before = usage(ctx);
        aidev_buffer b = harness_buffer(dev, kinds[k], 64 * 32 * 4, AIDEV_TYPE_F32);
        aidev_queue q = harness_queue(dev);
        float values[64 * 32];
        for (int i = 0; i < 64 * 32; i++)
            values[i] = (float)i * 0.5f;
        ck_assert_ok(aidev_enqueue_write(q, b, 0, sizeof values, values, 0, NULL, NULL));
        ck_assert_ok(aidev_queue_finish(q));

        /* A 32 x 32 view starting at row 16. */
        const int64_t shape[2] = {32, 32};
        aidev_dlpack_desc desc = {.offset = 16 * 32 * 4, .ndim = 2, .shape = shape};
        DLManagedTensor *t = NULL;
        aidev_status st = aidev_buffer_export_dlpack(b, &desc, &t);
        if (st == AIDEV_ERROR_UNSUPPORTED) {
            /* Only memory the host cannot address and the backend cannot name. */
            ck_assert_uint_eq(kinds[k], AIDEV_MEMORY_DEVICE);
            ck_assert_msg(strstr(aidev_last_error(), "native handle") != NULL, "%s",
                          aidev_last_error());
            ck_assert_ptr_null(t);
            ck_assert_ok(aidev_queue_release(q));
            ck_assert_ok(aidev_buffer_release(b));
            continue;
        }
        ck_assert_msg(st == AIDEV_SUCCESS, "%s", aidev_last_error());
        const DLTensor *dl = &t->dl_tensor;
        ck_assert_int_eq(dl->ndim, 2);
        ck_assert_int_eq(dl->shape[0], 32);
        ck_assert_int_eq(dl->shape[1], 32);
        ck_assert_ptr_null(dl->strides);
        ck_assert_uint_eq(dl->dtype.code, kDLFloat);
        ck_assert_uint_eq(dl->dtype.bits, 32);
        ck_assert_uint_eq(dl->dtype.lanes, 1);

        if (dl->device.device_type == kDLCPU) {
            /* The tensor is the buffer's memory: the values written, later
             * writes of the device seen, and the mapping's address. */
            const float *data = (const float *)((const char *)dl->data + dl->byte_offset);
            ck_assert_float_eq(data[0], 16 * 32 * 0.5f);
            float minus = -1.0f;
            ck_assert_ok(aidev_enqueue_write(q, b, (16 * 32 + 5) * 4, 4, &minus, 0, NULL, NULL));
            ck_assert_ok(aidev_queue_finish(q));
            ck_assert_float_eq(data[5], -1.0f);
            if (kinds[k] != AIDEV_MEMORY_DEVICE) {
                float *mapped;
                ck_assert_ok(aidev_buffer_map(b, 0, sizeof values,
                                              AIDEV_MAP_READ | AIDEV_MAP_WRITE, (void **)&mapped));
                ck_assert_ptr_eq(data, mapped + 16 * 32);
                mapped[16 * 32 + 6] = -2.0f;
                ck_assert_float_eq(data[6], -2.0f);
                ck_assert_ok(aidev_buffer_unmap(b));
            }
        } else {
            ck_assert_msg(dl->device.device_type == kDLOpenCL ||
                              dl->device.device_type == kDLVulkan,
                          "device type %d", (int)dl->device.device_type);
            ck_assert_ptr_nonnull(dl->data);
            ck_assert_uint_ge(dl->byte_offset, 16 * 32 * 4);
        }
        /* The tensor keeps the memory: release the handle, the memory
         * stays charged until the deleter. */
        ck_assert_ok(aidev_queue_release(q));
        ck_assert_ok(aidev_buffer_release(b));
        ck_assert_uint_eq(usage(ctx), before + sizeof values);
        if (dl->device.device_type == kDLCPU)
            ck_assert_float_eq(((const float *)dl->data)[1], (16 * 32 + 1) * 0.5f);
        t->deleter(t);
        ck_assert_uint_eq(usage(ctx), before);
    }
}
END_TEST

/* The device type the header promises for |kind| on |dev|: kDLCPU where the
 * host addresses the memory (every kind on a device whose memory is host
 * memory; HOST and fine-grained SHARED elsewhere, except HOST on OpenCL
 * GPUs), else the backend's native type. */
static int expected_device_type(aidev_device dev, aidev_memory_kind kind)
{
    uint32_t type = 0;
    char backend[32] = "";
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_TYPE, sizeof type, &type, NULL));
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend,
                                       NULL));
    bool opencl = strcmp(backend, "opencl") == 0, vulkan = strcmp(backend, "vulkan") == 0;
    int native = opencl ? kDLOpenCL : vulkan ? kDLVulkan : kDLCPU;
    /* (The backends' test switches give a CPU device a GPU's memory.) */
    const char *emulated = getenv(opencl   ? "AIDEV_OPENCL_EMULATE_DISCRETE"
                                  : vulkan ? "AIDEV_VULKAN_EMULATE_DISCRETE"
                                           : "AIDEV_TEST_NONE");
    if (type == AIDEV_DEVICE_TYPE_CPU && !(emulated && strcmp(emulated, "1") == 0))
        return kDLCPU;
    switch (kind) {
    case AIDEV_MEMORY_HOST:
        return opencl ? native : kDLCPU;
    case AIDEV_MEMORY_SHARED:
        return !opencl || (features_of(dev) & AIDEV_FEATURE_SVM_FINE) ? kDLCPU : native;
    default:
        return native;
    }
}

/* The header's rule on every device, every kind, small and large: the
 * device type does not change with the size, and a kDLCPU tensor is the
 * buffer's memory. */
START_TEST(device_type_follows_the_header)
{
    aidev_device dev = harness_device(_i);
    aidev_queue q = harness_queue(dev);
    const uint64_t sizes[] = {4096, 4u << 20};
    for (size_t k = 0; k < 3; k++) {
        if (!harness_has_kind(dev, kinds[k]))
            continue;
        int want = expected_device_type(dev, kinds[k]);
        for (size_t s = 0; s < 2; s++) {
            uint64_t n = sizes[s] / 4;
            aidev_buffer b = harness_buffer(dev, kinds[k], sizes[s], AIDEV_TYPE_U32);
            uint32_t first = 0x1234u + (uint32_t)s, last = 0xabcdu + (uint32_t)k;
            ck_assert_ok(aidev_enqueue_write(q, b, 0, 4, &first, 0, NULL, NULL));
            ck_assert_ok(aidev_enqueue_write(q, b, (n - 1) * 4, 4, &last, 0, NULL, NULL));
            ck_assert_ok(aidev_queue_finish(q));
            DLManagedTensor *t = NULL;
            ck_assert_msg(aidev_buffer_export_dlpack(b, NULL, &t) == AIDEV_SUCCESS, "%s",
                          aidev_last_error());
            const DLTensor *dl = &t->dl_tensor;
            ck_assert_msg((int)dl->device.device_type == want,
                          "kind %d, %llu bytes: exported as device type %d, the header says %d",
                          (int)kinds[k], (unsigned long long)sizes[s],
                          (int)dl->device.device_type, want);
            ck_assert_int_eq(dl->shape[0], (int64_t)n);
            if (want == kDLCPU) {
                const uint32_t *data = (const uint32_t *)((const char *)dl->data + dl->byte_offset);
                ck_assert_int_eq(dl->device.device_id, 0);
                ck_assert_uint_eq(data[0], first);
                ck_assert_uint_eq(data[n - 1], last);
                /* Zeroed when made, as every new buffer. */
                ck_assert_uint_eq(data[n / 2], 0);
            }
            ck_assert_ok(aidev_buffer_release(b));
            t->deleter(t);
        }
    }
    ck_assert_ok(aidev_queue_release(q));
}
END_TEST

START_TEST(export_outlives_context)
{
    aidev_device dev = harness_device(_i);
    uint32_t index;
    ck_assert_ok(aidev_device_get_info(dev, AIDEV_DEVICE_INFO_INDEX, sizeof index, &index, NULL));
    aidev_context ctx;
    ck_assert_ok(aidev_context_create(NULL, &ctx));
    aidev_device d;
    ck_assert_ok(aidev_context_get_device(ctx, index, &d));
    aidev_memory_kind kind = harness_has_kind(d, AIDEV_MEMORY_HOST) ? AIDEV_MEMORY_HOST
                                                                    : AIDEV_MEMORY_SHARED;
    if (!harness_has_kind(d, kind)) {
        ck_assert_ok(aidev_context_release(ctx));
        return;
    }
    aidev_buffer b = harness_buffer(d, kind, 4096, AIDEV_TYPE_U8);
    aidev_queue q = harness_queue(d);
    uint8_t pattern = 0x7e;
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, 4096, &pattern, 1, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    DLManagedTensor *t;
    aidev_status st = aidev_buffer_export_dlpack(b, NULL, &t);
    ck_assert_msg(st == AIDEV_SUCCESS, "%s", aidev_last_error());
    ck_assert_int_eq(t->dl_tensor.ndim, 1);
    ck_assert_int_eq(t->dl_tensor.shape[0], 4096);
    ck_assert_uint_eq(t->dl_tensor.dtype.code, kDLUInt);
    /* The context goes; the memory and its device stay for the consumer
     * (a sanitizer run would see a use after free otherwise), and the
     * deleter frees them (or a leak would show). */
    ck_assert_ok(aidev_context_release(ctx));
    if (t->dl_tensor.device.device_type == kDLCPU) {
        const uint8_t *p = t->dl_tensor.data;
        ck_assert_uint_eq(p[0], 0x7e);
        ck_assert_uint_eq(p[4095], 0x7e);
    }
    t->deleter(t);
}
END_TEST

START_TEST(export_bad_views)
{
    aidev_device dev = harness_device(_i);
    aidev_memory_kind kind = harness_has_kind(dev, AIDEV_MEMORY_HOST) ? AIDEV_MEMORY_HOST
                                                                      : AIDEV_MEMORY_DEVICE;
    aidev_buffer raw = harness_buffer(dev, kind, 1024, AIDEV_TYPE_NONE);
    DLManagedTensor *t;
    ck_assert_error_names(aidev_buffer_export_dlpack(raw, NULL, &t), AIDEV_ERROR_INVALID_ARGUMENT,
                          "element_type");
    const int64_t too_big[2] = {16, 17};
    aidev_dlpack_desc d = {.element_type = AIDEV_TYPE_F32, .ndim = 2, .shape = too_big};
    ck_assert_error_names(aidev_buffer_export_dlpack(raw, &d, &t), AIDEV_ERROR_OUT_OF_RANGE,
                          "past the buffer");
    const int64_t fits[2] = {16, 16};
    d.shape = fits;
    d.offset = 2;
    ck_assert_error_names(aidev_buffer_export_dlpack(raw, &d, &t), AIDEV_ERROR_INVALID_ARGUMENT,
                          "offset");
    d.offset = 4;
    ck_assert_error_names(aidev_buffer_export_dlpack(raw, &d, &t), AIDEV_ERROR_OUT_OF_RANGE,
                          "past the buffer");
    /* Strides reaching past the end, and negative ones. */
    d.offset = 0;
    const int64_t strides[2] = {17, 1};
    d.strides = strides;
    ck_assert_error_names(aidev_buffer_export_dlpack(raw, &d, &t), AIDEV_ERROR_OUT_OF_RANGE,
                          "past the buffer");
    const int64_t negative[2] = {-16, 1};
    d.strides = negative;
    ck_assert_error_names(aidev_buffer_export_dlpack(raw, &d, &t), AIDEV_ERROR_INVALID_ARGUMENT,
                          "strides");
    d.strides = NULL;
    d.ndim = AIDEV_DLPACK_MAX_DIMS + 1;
    ck_assert_error_names(aidev_buffer_export_dlpack(raw, &d, &t), AIDEV_ERROR_INVALID_ARGUMENT,
                          "ndim");
    ck_assert_error_names(aidev_buffer_export_dlpack(raw, NULL, NULL),
                          AIDEV_ERROR_INVALID_ARGUMENT, "out_tensor");
    ck_assert_ok(aidev_buffer_release(raw));
    ck_assert_error_names(aidev_buffer_export_dlpack(raw, NULL, &t), AIDEV_ERROR_INVALID_HANDLE,
                          "buffer");
}
END_TEST

/* A host tensor made here, counting its deleter's calls. */
typedef struct host_tensor {
    DLManagedTensor managed;
    int64_t shape[2];
    int64_t strides[2];
    float *data;
    int *deleted;
} host_tensor;

static void host_tensor_delete(DLManagedTensor *self)
{
    host_tensor *h = self->manager_ctx;
    (*h->deleted)++;
    free(h->data);
    free(h);
}

static host_tensor *host_tensor_new(int64_t rows, int64_t cols, int *deleted)
{
    host_tensor *h = calloc(1, sizeof *h);
    h->data = aligned_alloc(4096, (size_t)(rows * cols * 4 + 4095) / 4096 * 4096);
    for (int64_t i = 0; i < rows * cols; i++)
        h->data[i] = (float)i;
    h->shape[0] = rows;
    h->shape[1] = cols;
    h->deleted = deleted;
    DLTensor *t = &h->managed.dl_tensor;
    t->data = h->data;
    t->device = (DLDevice){kDLCPU, 0};
    t->ndim = 2;
    t->dtype = (DLDataType){kDLFloat, 32, 1};
    t->shape = h->shape;
    h->managed.manager_ctx = h;
    h->managed.deleter = host_tensor_delete;
    return h;
}

START_TEST(import_host_tensor)
{
    aidev_device dev = harness_device(_i);
    int deleted = 0;
    host_tensor *h = host_tensor_new(64, 100, &deleted);
    aidev_buffer b = NULL;
    aidev_status st = aidev_buffer_import_dlpack(dev, &h->managed, &b);
    if (!(features_of(dev) & AIDEV_FEATURE_HOST_IMPORT)) {
        ck_assert_msg(st == AIDEV_ERROR_UNSUPPORTED, "%s", aidev_status_string(st));
        ck_assert_int_eq(deleted, 0); /* still the caller's */
        h->managed.deleter(&h->managed);
        return;
    }
    ck_assert_msg(st == AIDEV_SUCCESS, "%s", aidev_last_error());
    uint64_t size;
    uint32_t type;
    ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_SIZE, sizeof size, &size, NULL));
    ck_assert_uint_eq(size, 64 * 100 * 4);
    ck_assert_ok(aidev_buffer_get_info(b, AIDEV_BUFFER_INFO_ELEMENT_TYPE, sizeof type, &type,
                                       NULL));
    ck_assert_uint_eq(type, AIDEV_TYPE_F32);
    /* The device reads the tensor and writes into it, in place. */
    aidev_queue q = harness_queue(dev);
    float row[100];
    ck_assert_ok(aidev_enqueue_read(q, b, 100 * 4 * 3, sizeof row, row, 0, NULL, NULL));
    float v = 9.0f;
    aidev_event filled;
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, 400, &v, 4, 0, NULL, &filled));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_float_eq(row[0], 300.0f);
    float *mapped;
    ck_assert_ok(aidev_buffer_map(b, 0, 400, AIDEV_MAP_READ, (void **)&mapped));
    ck_assert_float_eq(mapped[99], 9.0f);
    ck_assert_ok(aidev_buffer_unmap(b));
    ck_assert_float_eq(h->data[99], 9.0f);
    /* The buffer owns the tensor: released with it, once. */
    ck_assert_ok(aidev_event_release(filled));
    ck_assert_ok(aidev_queue_release(q));
    ck_assert_int_eq(deleted, 0);
    ck_assert_ok(aidev_buffer_release(b));
    ck_assert_int_eq(deleted, 1);
}
END_TEST

START_TEST(import_refusals)
{
    aidev_device dev = harness_device(_i);
    int deleted = 0;
    host_tensor *h = host_tensor_new(8, 8, &deleted);
    aidev_buffer b;
    /* Strided (a transposed view). */
    h->strides[0] = 1;
    h->strides[1] = 8;
    h->managed.dl_tensor.strides = h->strides;
    ck_assert_error_names(aidev_buffer_import_dlpack(dev, &h->managed, &b),
                          AIDEV_ERROR_UNSUPPORTED, "strided");
    /* Explicit row-major strides are compact. */
    h->strides[0] = 8;
    h->strides[1] = 1;
    if (features_of(dev) & AIDEV_FEATURE_HOST_IMPORT) {
        ck_assert_ok(aidev_buffer_import_dlpack(dev, &h->managed, &b));
        ck_assert_ok(aidev_buffer_release(b));
        ck_assert_int_eq(deleted, 1);
        h = host_tensor_new(8, 8, &deleted);
    }
    /* Not host memory. */
    h->managed.dl_tensor.device.device_type = kDLOpenCL;
    ck_assert_error_names(aidev_buffer_import_dlpack(dev, &h->managed, &b),
                          AIDEV_ERROR_UNSUPPORTED, "kDLCPU");
    h->managed.dl_tensor.device.device_type = kDLCPU;
    h->shape[0] = 0;
    ck_assert_error_names(aidev_buffer_import_dlpack(dev, &h->managed, &b),
                          AIDEV_ERROR_INVALID_ARGUMENT, "empty");
    ck_assert_error_names(aidev_buffer_import_dlpack(dev, NULL, &b), AIDEV_ERROR_INVALID_ARGUMENT,
                          "tensor");
    int before = deleted;
    h->managed.deleter(&h->managed);
    ck_assert_int_eq(deleted, before + 1);
}
END_TEST

/* Host memory of one device handed to another through DLPack: both see one
 * copy of the data. */
START_TEST(export_import_between_devices)
{
    aidev_device dev = harness_device(_i);
    if (!(features_of(dev) & AIDEV_FEATURE_HOST_IMPORT))
        return;
    aidev_device cpu;
    aidev_device_requirements req = {.types = AIDEV_DEVICE_TYPE_BIT(AIDEV_DEVICE_TYPE_CPU),
                                     .features = AIDEV_FEATURE_UNIFIED_MEMORY};
    ck_assert_ok(aidev_device_select(harness_context(), &req, &cpu));
    aidev_buffer src = harness_buffer(cpu, AIDEV_MEMORY_HOST, 1 << 16, AIDEV_TYPE_I32);
    DLManagedTensor *t;
    ck_assert_ok(aidev_buffer_export_dlpack(src, NULL, &t));
    ck_assert_int_eq(t->dl_tensor.device.device_type, kDLCPU);
    aidev_buffer dst;
    ck_assert_ok(aidev_buffer_import_dlpack(dev, t, &dst));
    ck_assert_ok(aidev_buffer_release(src)); /* the tensor (now dst's) keeps it */
    aidev_queue q = harness_queue(dev);
    int32_t v = 1234;
    ck_assert_ok(aidev_enqueue_fill(q, dst, 0, 1 << 16, &v, 4, 0, NULL, NULL));
    ck_assert_ok(aidev_queue_finish(q));
    ck_assert_ok(aidev_queue_release(q));
    const int32_t *p = (const int32_t *)t->dl_tensor.data;
    ck_assert_int_eq(p[0], 1234);
    ck_assert_int_eq(p[(1 << 14) - 1], 1234);
    ck_assert_ok(aidev_buffer_release(dst)); /* runs the export's deleter */
}
END_TEST

int main(void)
{
    harness_init();
    Suite *s = suite_create("dlpack");
    harness_add_per_device(s, "export_without_copy", export_without_copy, 0);
    harness_add_per_device(s, "export_outlives_context", export_outlives_context, 0);
    harness_add_per_device(s, "device_type_follows_the_header", device_type_follows_the_header,
                           0);
    harness_add_per_device(s, "export_bad_views", export_bad_views, 0);
    harness_add_per_device(s, "import_host_tensor", import_host_tensor, 0);
    harness_add_per_device(s, "import_refusals", import_refusals, 0);
    harness_add_per_device(s, "export_import_between_devices", export_import_between_devices, 0);
    return harness_run(s);
}
