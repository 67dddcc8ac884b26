/*
 * tensor.c - tensor descriptors: the public helpers (init, slice, permute,
 * check), the checks every op makes of its operands before anything is
 * enqueued, broadcasting, and the dispatch of an op's internal kernel
 * (hal/ops.h says how a view reaches a kernel).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/library.h"
#include "hal/ops.h"

/* Views index elements with 32-bit signed integers on every device. */
#define OPS_MAX_ELEMENT 0x7fffffffull

aidev_status ops_begin(ops_call *c, const char *name, aidev_queue queue, uint32_t wait_count,
                       const aidev_event *wait_events, aidev_event *out_event)
{
    aidev_error_clear();
    memset(c, 0, sizeof *c);
    c->name = name;
    c->queue_handle = queue;
    c->wait_count = wait_count;
    c->wait_events = wait_events;
    c->out_event = out_event;
    if (out_event)
        *out_event = NULL;
    return aidev_lookup_queue(queue, "queue", &c->queue);
}

static const char *dims_text(const int64_t *v, uint32_t rank, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "[");
    for (uint32_t i = 0; i < rank && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "", (long long)v[i]);
    if (len < size)
        snprintf(buf + len, size - len, "]");
    return buf;
}

const char *ops_shape_text(const ops_view *v, char *buf, size_t size)
{
    int64_t shape[4];
    for (uint32_t i = 0; i < v->rank; i++)
        shape[i] = v->n[4 - v->rank + i];
    return dims_text(shape, v->rank, buf, size);
}

/* "f32 [2, 3] strides [3, 1] at byte 0", for messages. */
static const char *tensor_text(const aidev_tensor *t, char *buf, size_t size)
{
    char shape[96], strides[96];
    uint32_t rank = t->rank <= AIDEV_TENSOR_MAX_RANK ? t->rank : AIDEV_TENSOR_MAX_RANK;
    snprintf(buf, size, "%s %s strides %s at byte %llu", aidev_type_name(t->dtype),
             dims_text(t->shape, rank, shape, sizeof shape),
             dims_text(t->strides, rank, strides, sizeof strides),
             (unsigned long long)t->offset);
    return buf;
}

static const char *types_text(uint32_t types, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int t = 0; t < AIDEV_TYPE_COUNT_ && len < size; t++)
        if (types & AIDEV_TYPE_BIT(t))
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
                                    aidev_type_name((aidev_type)t));
    return buf;
}

static aidev_status check_buffer(const ops_call *c, const aidev_tensor *t, const char *what,
                                 aidev_buffer_obj **out)
{
    char name[96];
    snprintf(name, sizeof name, "%s: %s->buffer", c->name, what);
    aidev_status st = aidev_lookup_buffer(t->buffer, name, out);
    if (st != AIDEV_SUCCESS)
        return st;
    if ((*out)->obj.context != c->queue->obj.context)
        return aidev_error(AIDEV_ERROR_INVALID_HANDLE, "%s: the buffer belongs to another context",
                           name);
    if ((*out)->device != c->queue->device)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: the buffer is on device %u, the queue on device %u", name,
                           (*out)->device->index, c->queue->device->index);
    return AIDEV_SUCCESS;
}

/* Sizes, strides, type and offset each make sense. */
static aidev_status check_form(const ops_call *c, const aidev_tensor *t, const char *what,
                               uint32_t types)
{
    char text[256], allowed[96];
    if ((unsigned)t->dtype >= AIDEV_TYPE_COUNT_ || !(types & AIDEV_TYPE_BIT(t->dtype)))
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "%s: %s has dtype %s; it takes %s", c->name,
                           what, aidev_type_name(t->dtype),
                           types_text(types, allowed, sizeof allowed));
    if (t->rank > AIDEV_TENSOR_MAX_RANK)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: %s has rank %u; at most %d",
                           c->name, what, t->rank, AIDEV_TENSOR_MAX_RANK);
    for (uint32_t i = 0; i < t->rank; i++) {
        if (t->shape[i] < 0 || t->shape[i] > (int64_t)UINT32_MAX)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "%s: %s (%s): size %lld of axis %u is outside [0, 2^32)",
                               c->name, what, tensor_text(t, text, sizeof text),
                               (long long)t->shape[i], i);
        if (t->strides[i] > (int64_t)INT32_MAX || t->strides[i] < -(int64_t)INT32_MAX)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "%s: %s (%s): stride %lld of axis %u is outside (-2^31, 2^31)",
                               c->name, what, tensor_text(t, text, sizeof text),
                               (long long)t->strides[i], i);
    }
    size_t esize = aidev_type_bytes(t->dtype);
    if (t->offset % esize)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: %s (%s): offset %llu is not a multiple of the %zu-byte element",
                           c->name, what, tensor_text(t, text, sizeof text),
                           (unsigned long long)t->offset, esize);
    return AIDEV_SUCCESS;
}

/* Every element of |t| lies inside the buffer of |size| bytes: the lowest
 * and highest element indices, from the sizes and strides, without
 * overflow (each span is below 2^32 * 2^31, four of them below 2^65: the
 * sums are checked). */
static aidev_status check_extent(const ops_call *c, const aidev_tensor *t, const char *what,
                                 uint64_t size)
{
    char text[256];
    uint64_t up = 0, down = 0;
    bool overflow = false;
    for (uint32_t i = 0; i < t->rank; i++) {
        uint64_t span = (uint64_t)(t->shape[i] - 1) *
                        (uint64_t)(t->strides[i] < 0 ? -t->strides[i] : t->strides[i]);
        overflow |= __builtin_add_overflow(t->strides[i] < 0 ? down : up, span,
                                           t->strides[i] < 0 ? &down : &up);
    }
    const uint64_t esize = aidev_type_bytes(t->dtype), first = t->offset / esize;
    uint64_t last;
    overflow |= __builtin_add_overflow(first, up, &last);
    if (down > first)
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "%s: %s (%s) reaches %llu elements before the buffer's start",
                           c->name, what, tensor_text(t, text, sizeof text),
                           (unsigned long long)(down - first));
    if (overflow || last >= size / esize)
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "%s: %s (%s) reaches element %llu (byte %llu) of a buffer of %llu "
                           "bytes",
                           c->name, what, tensor_text(t, text, sizeof text),
                           overflow ? ~0ull : (unsigned long long)last,
                           overflow ? ~0ull : (unsigned long long)((last + 1) * esize),
                           (unsigned long long)size);
    if (last > OPS_MAX_ELEMENT)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "%s: %s (%s) reaches element %llu of its buffer; the ops index "
                           "elements below 2^31 (a view at a smaller offset, or a second "
                           "buffer)",
                           c->name, what, tensor_text(t, text, sizeof text),
                           (unsigned long long)last);
    return AIDEV_SUCCESS;
}

static int compare_abs_stride(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* An output's elements are distinct: with its axes ordered by stride, each
 * stride steps past everything the smaller ones reach (a sufficient rule;
 * every view made by slicing and permuting a compact tensor passes it). */
static aidev_status check_no_overlap(const ops_call *c, const aidev_tensor *t, const char *what)
{
    char text[256];
    int64_t axes[AIDEV_TENSOR_MAX_RANK][2];
    uint32_t count = 0;
    for (uint32_t i = 0; i < t->rank; i++)
        if (t->shape[i] > 1) {
            axes[count][0] = t->strides[i] < 0 ? -t->strides[i] : t->strides[i];
            axes[count][1] = t->shape[i];
            count++;
        }
    qsort(axes, count, sizeof axes[0], compare_abs_stride);
    int64_t reach = 1;
    for (uint32_t i = 0; i < count; i++) {
        if (axes[i][0] < reach)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "%s: output %s (%s) names some elements twice (a stride of 0, "
                               "or axes whose strides overlap); an output needs distinct "
                               "elements",
                               c->name, what, tensor_text(t, text, sizeof text));
        reach += axes[i][0] * (axes[i][1] - 1);
    }
    return AIDEV_SUCCESS;
}

aidev_status ops_view_check(const ops_call *c, const aidev_tensor *t, const char *what,
                            bool output, uint32_t types, ops_view *v)
{
    memset(v, 0, sizeof *v);
    if (!t)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: %s: NULL", c->name, what);
    aidev_status st = check_buffer(c, t, what, &v->buffer);
    if (st == AIDEV_SUCCESS)
        st = check_form(c, t, what, types);
    if (st != AIDEV_SUCCESS)
        return st;
    v->handle = t->buffer;
    v->dtype = t->dtype;
    v->rank = t->rank;
    v->count = 1;
    for (uint32_t i = 0; i < 4; i++) {
        v->n[i] = 1;
        v->s[i] = 0;
    }
    for (uint32_t i = 0; i < t->rank; i++) {
        v->n[4 - t->rank + i] = (uint32_t)t->shape[i];
        v->s[4 - t->rank + i] = (int32_t)t->strides[i];
        v->count *= (uint64_t)t->shape[i];
    }
    if (v->count == 0) {
        if (t->offset > v->buffer->size)
            return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                               "%s: %s: offset %llu is past the end of its buffer (%llu bytes)",
                               c->name, what, (unsigned long long)t->offset,
                               (unsigned long long)v->buffer->size);
        return AIDEV_SUCCESS;
    }
    st = check_extent(c, t, what, v->buffer->size);
    if (st == AIDEV_SUCCESS && output)
        st = check_no_overlap(c, t, what);
    if (st != AIDEV_SUCCESS)
        return st;
    v->offset = (uint32_t)(t->offset / aidev_type_bytes(t->dtype));
    return AIDEV_SUCCESS;
}

aidev_status ops_broadcast(const ops_call *c, const ops_view *in, const char *in_name,
                           const ops_view *out, const char *out_name, int32_t s[4])
{
    for (int i = 0; i < 4; i++) {
        if (in->n[i] == out->n[i]) {
            s[i] = in->n[i] == 1 ? 0 : in->s[i];
        } else if (in->n[i] == 1) {
            s[i] = 0;
        } else {
            char a[96], b[96];
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "%s: %s of shape %s does not broadcast to %s of shape %s: axis "
                               "%d (counted from the last, -1) has %u against %u",
                               c->name, in_name, ops_shape_text(in, a, sizeof a), out_name,
                               ops_shape_text(out, b, sizeof b), i - 4, in->n[i], out->n[i]);
        }
    }
    return AIDEV_SUCCESS;
}

aidev_status ops_dispatch(const ops_call *c, const char *kernel, const uint32_t grid[3],
                          uint32_t arg_count, const aidev_arg *args)
{
    aidev_kernel k;
    aidev_status st = aidev_kernel_internal(c->queue->device, kernel, &k);
    if (st != AIDEV_SUCCESS)
        return st;
    return aidev_enqueue_dispatch(c->queue_handle, k, grid, NULL, arg_count, args, c->wait_count,
                                  c->wait_events, c->out_event);
}

/* ------------------------------------------------------------------------ */
/* Public helpers                                                           */
/* ------------------------------------------------------------------------ */

AIDEV_API aidev_status aidev_tensor_init(aidev_tensor *out, aidev_buffer buffer, uint64_t offset,
                                         aidev_type dtype, uint32_t rank, const int64_t *shape)
{
    aidev_error_clear();
    if (!out)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "out: NULL");
    if (rank > AIDEV_TENSOR_MAX_RANK)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "rank: %u; at most %d", rank,
                           AIDEV_TENSOR_MAX_RANK);
    if (rank && !shape)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "shape: NULL with rank %u", rank);
    if (dtype == AIDEV_TYPE_NONE || aidev_type_bytes(dtype) == 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "dtype: %d is not an element type",
                           (int)dtype);
    memset(out, 0, sizeof *out);
    out->buffer = buffer;
    out->offset = offset;
    out->dtype = dtype;
    out->rank = rank;
    int64_t stride = 1;
    for (uint32_t i = rank; i-- > 0;) {
        if (shape[i] < 0)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "shape[%u]: %lld is negative", i,
                               (long long)shape[i]);
        out->shape[i] = shape[i];
        out->strides[i] = stride;
        if (shape[i] > 1 && __builtin_mul_overflow(stride, shape[i], &stride))
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "shape: its element count overflows");
    }
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_tensor_slice(const aidev_tensor *t, uint32_t axis, int64_t start,
                                          int64_t stop, int64_t step, aidev_tensor *out)
{
    aidev_error_clear();
    if (!t || !out)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: NULL", t ? "out" : "t");
    if (axis >= t->rank || t->rank > AIDEV_TENSOR_MAX_RANK)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "axis: %u, the tensor has rank %u",
                           axis, t->rank);
    int64_t size = t->shape[axis];
    if (stop > size)
        stop = size;
    if (step <= 0 || start < 0 || start > stop)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "start %lld, stop %lld, step %lld: need step > 0 and 0 <= start <= "
                           "stop (axis %u has %lld elements)",
                           (long long)start, (long long)stop, (long long)step, axis,
                           (long long)size);
    int64_t byte_step;
    size_t esize = aidev_type_bytes(t->dtype);
    if (esize == 0 || __builtin_mul_overflow(t->strides[axis], start, &byte_step) ||
        __builtin_mul_overflow(byte_step, (int64_t)esize, &byte_step) ||
        (int64_t)t->offset + byte_step < 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "start %lld of axis %u: the view would begin before byte 0 or its "
                           "offset overflows",
                           (long long)start, axis);
    aidev_tensor r = *t;
    r.offset = (uint64_t)((int64_t)t->offset + byte_step);
    r.shape[axis] = (stop - start + step - 1) / step;
    if (__builtin_mul_overflow(t->strides[axis], step, &r.strides[axis]))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "step %lld: the stride overflows",
                           (long long)step);
    *out = r;
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_tensor_permute(const aidev_tensor *t, const uint32_t *perm,
                                            aidev_tensor *out)
{
    aidev_error_clear();
    if (!t || !out || (!perm && t->rank))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: NULL",
                           !t ? "t" : !out ? "out" : "perm");
    if (t->rank > AIDEV_TENSOR_MAX_RANK)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "t->rank: %u; at most %d", t->rank,
                           AIDEV_TENSOR_MAX_RANK);
    uint32_t seen = 0;
    aidev_tensor r = *t;
    for (uint32_t i = 0; i < t->rank; i++) {
        if (perm[i] >= t->rank || (seen & (1u << perm[i])))
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "perm[%u] = %u: not a permutation of 0..%u", i, perm[i],
                               t->rank - 1);
        seen |= 1u << perm[i];
        r.shape[i] = t->shape[perm[i]];
        r.strides[i] = t->strides[perm[i]];
    }
    *out = r;
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_tensor_check(aidev_queue queue, const aidev_tensor *t, int output)
{
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_tensor_check", queue, 0, NULL, NULL);
    ops_view v;
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(&c, t, "t", output != 0, OPS_ALL_TYPES, &v);
    return st;
}
