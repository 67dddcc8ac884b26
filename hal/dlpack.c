/*
 * dlpack.c - buffers as DLPack tensors and back, without copies.
 *
 * Export hands out a DLManagedTensor whose manager holds one reference on
 * the buffer and one pin on its context: the memory and the device it lives
 * on stay valid until the consumer (NumPy, PyTorch, ...) calls the deleter,
 * whatever the aidev side releases meanwhile.
 *
 * Import wraps a compact host tensor as an imported HOST buffer that owns
 * the tensor: the tensor's deleter runs once the buffer is freed.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "aidev_config.h"
#include "hal/internal.h"

#if AIDEV_HAVE_DLPACK
#include <dlpack/dlpack.h>

/* ------------------------------------------------------------------------ */
/* Types                                                                    */
/* ------------------------------------------------------------------------ */

static bool to_dl_type(aidev_type t, DLDataType *out)
{
    static const struct {
        uint8_t code, bits;
    } map[AIDEV_TYPE_COUNT_] = {
        [AIDEV_TYPE_I8] = {kDLInt, 8},     [AIDEV_TYPE_U8] = {kDLUInt, 8},
        [AIDEV_TYPE_I16] = {kDLInt, 16},   [AIDEV_TYPE_U16] = {kDLUInt, 16},
        [AIDEV_TYPE_I32] = {kDLInt, 32},   [AIDEV_TYPE_U32] = {kDLUInt, 32},
        [AIDEV_TYPE_I64] = {kDLInt, 64},   [AIDEV_TYPE_U64] = {kDLUInt, 64},
        [AIDEV_TYPE_F16] = {kDLFloat, 16}, [AIDEV_TYPE_F32] = {kDLFloat, 32},
        [AIDEV_TYPE_F64] = {kDLFloat, 64}, [AIDEV_TYPE_BF16] = {kDLBfloat, 16},
    };
    if ((unsigned)t >= AIDEV_TYPE_COUNT_ || map[t].bits == 0)
        return false;
    *out = (DLDataType){.code = map[t].code, .bits = map[t].bits, .lanes = 1};
    return true;
}

static aidev_type from_dl_type(DLDataType d)
{
    for (int t = AIDEV_TYPE_NONE + 1; t < AIDEV_TYPE_COUNT_; t++) {
        DLDataType x;
        if (to_dl_type((aidev_type)t, &x) && x.code == d.code && x.bits == d.bits &&
            d.lanes == 1)
            return (aidev_type)t;
    }
    return AIDEV_TYPE_NONE;
}

/* ------------------------------------------------------------------------ */
/* Export                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct exported {
    DLManagedTensor managed;
    int64_t shape[AIDEV_DLPACK_MAX_DIMS];
    int64_t strides[AIDEV_DLPACK_MAX_DIMS];
    aidev_buffer_obj *buffer;
    aidev_context_obj *context;
} exported;

static void export_deleter(DLManagedTensor *self)
{
    if (!self)
        return;
    exported *x = self->manager_ctx;
    aidev_context_obj *ctx = x->context;
    aidev_buffer_unhold(x->buffer);
    free(x);
    aidev_context_unpin(ctx);
}

/* Elements from the first to one past the last the view reaches, in
 * |*out_span|; false on overflow or a bad size. */
static aidev_status view_span(const aidev_dlpack_desc *d, int32_t ndim, const int64_t *shape,
                              uint64_t *out_span)
{
    uint64_t span = 1;
    bool empty = false;
    for (int32_t i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc->shape[%d]: %" PRId64 " < 0",
                               i, shape[i]);
        if (d->strides && d->strides[i] < 0)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "desc->strides[%d]: %" PRId64 "; negative strides are not "
                               "exported",
                               i, d->strides[i]);
        empty |= shape[i] == 0;
    }
    if (empty) {
        *out_span = 0;
        return AIDEV_SUCCESS;
    }
    if (d->strides) {
        /* The last element lies at sum((shape[i] - 1) * strides[i]). */
        uint64_t last = 0;
        for (int32_t i = 0; i < ndim; i++) {
            uint64_t step;
            if (__builtin_mul_overflow((uint64_t)(shape[i] - 1), (uint64_t)d->strides[i], &step) ||
                __builtin_add_overflow(last, step, &last))
                return aidev_error(AIDEV_ERROR_OUT_OF_RANGE, "desc: the view's extent overflows");
        }
        span = last + 1;
    } else {
        for (int32_t i = 0; i < ndim; i++)
            if (__builtin_mul_overflow(span, (uint64_t)shape[i], &span))
                return aidev_error(AIDEV_ERROR_OUT_OF_RANGE, "desc->shape: the element count "
                                                         "overflows");
    }
    *out_span = span;
    return AIDEV_SUCCESS;
}

static aidev_status place(const aidev_buffer_obj *b, uint64_t offset, DLTensor *t)
{
    if (b->host_ptr) {
        /* Host memory: the address of the first element, as NumPy and
         * PyTorch hand theirs out. */
        t->device = (DLDevice){.device_type = kDLCPU, .device_id = 0};
        t->data = (char *)b->host_ptr + offset;
        t->byte_offset = 0;
        return AIDEV_SUCCESS;
    }
    aidev_backend_buffer_query q;
    aidev_buffer_query_obj(b, &q);
    switch (q.native_kind) {
    case AIDEV_NATIVE_OPENCL_MEM:
        t->device = (DLDevice){.device_type = kDLOpenCL, .device_id = (int)b->device->index};
        break;
    case AIDEV_NATIVE_VULKAN_BUFFER:
        t->device = (DLDevice){.device_type = kDLVulkan, .device_id = (int)b->device->index};
        break;
    case AIDEV_NATIVE_NONE:
    default:
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "buffer: its memory on device %u (%s, %s) has no host address and the "
                           "backend names no native handle for it; use a HOST or SHARED buffer, "
                           "or read it into host memory",
                           b->device->index, b->device->info->name, b->device->backend->name);
    }
    t->data = (void *)(uintptr_t)q.native_handle;
    t->byte_offset = q.native_offset + offset;
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_buffer_export_dlpack(aidev_buffer buffer,
                                                  const aidev_dlpack_desc *desc,
                                                  struct DLManagedTensor **out_tensor)
{
    aidev_error_clear();
    aidev_buffer_obj *b;
    aidev_status st = aidev_lookup_buffer(buffer, "buffer", &b);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!out_tensor)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_tensor: NULL");
    *out_tensor = NULL;
    static const aidev_dlpack_desc whole;
    const aidev_dlpack_desc *d = desc ? desc : &whole;

    aidev_type type = d->element_type != AIDEV_TYPE_NONE ? d->element_type : b->element_type;
    DLDataType dtype;
    if (type == AIDEV_TYPE_NONE)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "desc->element_type: AIDEV_TYPE_NONE and the buffer is untyped; name "
                           "the element type of the tensor");
    if (!to_dl_type(type, &dtype))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "desc->element_type: %d is not an aidev_type", (int)type);
    uint64_t elem = aidev_type_size(type);
    if (d->ndim < 0 || d->ndim > AIDEV_DLPACK_MAX_DIMS)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc->ndim: %d, use 0 to %d", d->ndim,
                           AIDEV_DLPACK_MAX_DIMS);
    if (d->ndim > 0 && !d->shape)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "desc->shape: NULL with ndim %d",
                           d->ndim);
    if (d->offset > b->size)
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "desc->offset: %" PRIu64 " is past the buffer's %" PRIu64 " bytes",
                           d->offset, b->size);
    if (d->offset % elem)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "desc->offset: %" PRIu64 " is not a multiple of the %s element size",
                           d->offset, aidev_type_name(type));

    exported *x = calloc(1, sizeof *x);
    if (!x)
        return aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    int32_t ndim = d->ndim;
    if (ndim == 0 && !d->shape) {
        ndim = 1;
        x->shape[0] = (int64_t)((b->size - d->offset) / elem);
    } else {
        memcpy(x->shape, d->shape, (size_t)ndim * sizeof x->shape[0]);
    }
    uint64_t span = 0;
    st = view_span(d, ndim, x->shape, &span);
    if (st == AIDEV_SUCCESS && (span > (b->size - d->offset) / elem))
        st = aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                         "desc: the view reaches %" PRIu64 " %s elements from offset %" PRIu64
                         ", past the buffer's %" PRIu64 " bytes",
                         span, aidev_type_name(type), d->offset, b->size);
    DLTensor *t = &x->managed.dl_tensor;
    /* An evicted buffer comes back first; a queued eviction is called off,
     * and none starts while the tensor holds the buffer (held before the
     * touch, so no automatic eviction comes between). */
    if (st != AIDEV_SUCCESS) {
        free(x);
        return st;
    }
    aidev_buffer_hold(b);
    st = aidev_buffer_touch(b);
    if (st == AIDEV_SUCCESS)
        st = place(b, d->offset, t);
    if (st != AIDEV_SUCCESS) {
        aidev_buffer_unhold(b);
        free(x);
        return st;
    }
    t->ndim = ndim;
    t->dtype = dtype;
    t->shape = x->shape;
    if (d->strides) {
        memcpy(x->strides, d->strides, (size_t)ndim * sizeof x->strides[0]);
        t->strides = x->strides;
    }
    x->buffer = b;
    x->context = b->obj.context;
    x->managed.manager_ctx = x;
    x->managed.deleter = export_deleter;
    aidev_context_pin(x->context);
    *out_tensor = &x->managed;
    return AIDEV_SUCCESS;
}

/* ------------------------------------------------------------------------ */
/* Import                                                                   */
/* ------------------------------------------------------------------------ */

static void call_deleter(void *arg)
{
    DLManagedTensor *t = arg;
    if (t->deleter)
        t->deleter(t);
}

/* True when |t| is row-major with no gaps (size-1 dimensions may carry any
 * stride). */
static bool is_compact(const DLTensor *t)
{
    if (!t->strides)
        return true;
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != expect)
            return false;
        expect *= t->shape[i];
    }
    return true;
}

AIDEV_API aidev_status aidev_buffer_import_dlpack(aidev_device device,
                                                  struct DLManagedTensor *tensor,
                                                  aidev_buffer *out_buffer)
{
    aidev_error_clear();
    aidev_device_obj *dev;
    aidev_status st = aidev_lookup_device(device, "device", &dev);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!tensor)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "tensor: NULL");
    if (!out_buffer)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out_buffer: NULL");
    *out_buffer = NULL;
    const DLTensor *t = &tensor->dl_tensor;
    if (t->device.device_type != kDLCPU)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "tensor: device type %d; only kDLCPU (host) tensors are imported "
                           "without a copy",
                           (int)t->device.device_type);
    if (!t->data)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "tensor->dl_tensor.data: NULL");
    if (t->ndim < 0 || (t->ndim > 0 && !t->shape))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "tensor: ndim %d with shape %p",
                           t->ndim, (void *)t->shape);
    if (t->dtype.lanes == 0 || t->dtype.bits == 0 || (t->dtype.bits * t->dtype.lanes) % 8)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "tensor: dtype of %u bits x %u lanes is not a whole number of bytes",
                           t->dtype.bits, t->dtype.lanes);
    if (!is_compact(t))
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "tensor: strided (not compact row-major); a buffer is one range of "
                           "bytes, make the tensor contiguous first");
    uint64_t size = (uint64_t)t->dtype.bits * t->dtype.lanes / 8;
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] < 0 || __builtin_mul_overflow(size, (uint64_t)t->shape[i], &size))
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "tensor->dl_tensor.shape[%d]: %" PRId64 " (or the size overflows)",
                               i, t->shape[i]);
    }
    if (size == 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "tensor: empty (a dimension is 0); nothing to import");
    aidev_type type = from_dl_type(t->dtype);
    return aidev_buffer_import_owned(dev, (char *)t->data + t->byte_offset, size, type,
                                     call_deleter, tensor, out_buffer);
}

#else /* !AIDEV_HAVE_DLPACK */

AIDEV_API aidev_status aidev_buffer_export_dlpack(aidev_buffer buffer,
                                                  const aidev_dlpack_desc *desc,
                                                  struct DLManagedTensor **out_tensor)
{
    (void)buffer;
    (void)desc;
    if (out_tensor)
        *out_tensor = NULL;
    aidev_error_clear();
    return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                       "aidev was built without DLPack (dlpack/dlpack.h from libdlpack-dev)");
}

AIDEV_API aidev_status aidev_buffer_import_dlpack(aidev_device device,
                                                  struct DLManagedTensor *tensor,
                                                  aidev_buffer *out_buffer)
{
    (void)device;
    (void)tensor;
    if (out_buffer)
        *out_buffer = NULL;
    aidev_error_clear();
    return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                       "aidev was built without DLPack (dlpack/dlpack.h from libdlpack-dev)");
}

#endif
