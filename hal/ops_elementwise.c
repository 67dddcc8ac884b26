/*
 * ops_elementwise.c - the elementwise ops (convert, unary, scale/shift,
 * binary, requantize), all run by the one internal kernel
 * tensor_elementwise over y's shape, every input broadcast to it.
 */
#include "hal/ops.h"
#include "kernels/common/tensor_codes.h"

#define ARG_COUNT 19

/* An input of an elementwise op: the tensor, its name in messages and the
 * storage types it takes. */
typedef struct operand {
    const aidev_tensor *t;
    const char *name;
    uint32_t types;
} operand;

/* y = op(a, b) with a and b (b.t may be NULL) broadcast to y. */
static aidev_status elementwise(ops_call *c, uint32_t op, float alpha, float beta, operand a,
                                operand b, const aidev_tensor *y, uint32_t y_types)
{
    ops_view va, vb, vy;
    int32_t as[4], bs[4] = {0, 0, 0, 0};
    aidev_status st = ops_view_check(c, a.t, a.name, false, a.types, &va);
    if (st == AIDEV_SUCCESS && b.t)
        st = ops_view_check(c, b.t, b.name, false, b.types, &vb);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(c, y, "y", true, y_types, &vy);
    if (st == AIDEV_SUCCESS)
        st = ops_broadcast(c, &va, a.name, &vy, "y", as);
    if (st == AIDEV_SUCCESS && b.t)
        st = ops_broadcast(c, &vb, b.name, &vy, "y", bs);
    if (st != AIDEV_SUCCESS)
        return st;
    if (vy.count > UINT32_MAX)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "%s: y has %llu elements; at most 2^32-1",
                           c->name, (unsigned long long)vy.count);
    if (!b.t)
        vb = va; /* bound, never read */
    const aidev_arg args[ARG_COUNT] = {
        ops_pair(vy.n[0], vy.n[1]),
        ops_pair(vy.n[2], vy.n[3]),
        ops_spair(as[0], as[1]),
        ops_spair(as[2], as[3]),
        ops_spair(bs[0], bs[1]),
        ops_spair(bs[2], bs[3]),
        ops_spair(vy.s[0], vy.s[1]),
        ops_spair(vy.s[2], vy.s[3]),
        aidev_arg_u32((uint32_t)vy.count),
        aidev_arg_u32(va.offset),
        aidev_arg_u32(vb.offset),
        aidev_arg_u32(vy.offset),
        aidev_arg_u32(op),
        aidev_arg_u32(va.dtype | vb.dtype << 4 | vy.dtype << 8),
        aidev_arg_f32(alpha),
        aidev_arg_f32(beta),
        aidev_arg_buffer(va.handle, 0),
        aidev_arg_buffer(vb.handle, 0),
        aidev_arg_buffer(vy.handle, 0),
    };
    return ops_dispatch(c, "tensor_elementwise", NULL, ARG_COUNT, args);
}

AIDEV_API aidev_status aidev_enqueue_convert(aidev_queue queue, const aidev_tensor *x,
                                             const aidev_tensor *y, uint32_t wait_count,
                                             const aidev_event *wait_events,
                                             aidev_event *out_event)
{
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_convert", queue, wait_count, wait_events,
                                out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    return elementwise(&c, TH_OP_IDENTITY, 0, 0, (operand){x, "x", OPS_ALL_TYPES},
                       (operand){NULL, NULL, 0}, y, OPS_ALL_TYPES);
}

AIDEV_API aidev_status aidev_enqueue_unary(aidev_queue queue, aidev_unary_op op,
                                           const aidev_tensor *x, const aidev_tensor *y,
                                           uint32_t wait_count, const aidev_event *wait_events,
                                           aidev_event *out_event)
{
    static const uint32_t codes[] = {
        [AIDEV_UNARY_RELU] = TH_OP_RELU,       [AIDEV_UNARY_GELU_TANH] = TH_OP_GELU_TANH,
        [AIDEV_UNARY_GELU_ERF] = TH_OP_GELU_ERF, [AIDEV_UNARY_SILU] = TH_OP_SILU,
        [AIDEV_UNARY_EXP] = TH_OP_EXP,         [AIDEV_UNARY_TANH] = TH_OP_TANH,
        [AIDEV_UNARY_SIGMOID] = TH_OP_SIGMOID,
    };
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_unary", queue, wait_count, wait_events,
                                out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    if ((unsigned)op >= sizeof codes / sizeof codes[0] || codes[op] == 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "aidev_enqueue_unary: op %d is not an aidev_unary_op", (int)op);
    return elementwise(&c, codes[op], 0, 0, (operand){x, "x", OPS_FLOAT_TYPES},
                       (operand){NULL, NULL, 0}, y, OPS_FLOAT_TYPES);
}

AIDEV_API aidev_status aidev_enqueue_scale_shift(aidev_queue queue, float scale, float shift,
                                                 const aidev_tensor *x, const aidev_tensor *y,
                                                 uint32_t wait_count,
                                                 const aidev_event *wait_events,
                                                 aidev_event *out_event)
{
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_scale_shift", queue, wait_count, wait_events,
                                out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    return elementwise(&c, TH_OP_SCALE_SHIFT, scale, shift, (operand){x, "x", OPS_FLOAT_TYPES},
                       (operand){NULL, NULL, 0}, y, OPS_FLOAT_TYPES);
}

AIDEV_API aidev_status aidev_enqueue_binary(aidev_queue queue, aidev_binary_op op,
                                            const aidev_tensor *a, const aidev_tensor *b,
                                            const aidev_tensor *y, uint32_t wait_count,
                                            const aidev_event *wait_events,
                                            aidev_event *out_event)
{
    static const uint32_t codes[] = {
        [AIDEV_BINARY_ADD] = TH_OP_ADD, [AIDEV_BINARY_SUB] = TH_OP_SUB,
        [AIDEV_BINARY_MUL] = TH_OP_MUL, [AIDEV_BINARY_DIV] = TH_OP_DIV,
        [AIDEV_BINARY_MAX] = TH_OP_MAX, [AIDEV_BINARY_MIN] = TH_OP_MIN,
    };
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_binary", queue, wait_count, wait_events,
                                out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    if ((unsigned)op >= sizeof codes / sizeof codes[0] || codes[op] == 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "aidev_enqueue_binary: op %d is not an aidev_binary_op", (int)op);
    if (!b)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "aidev_enqueue_binary: b: NULL");
    return elementwise(&c, codes[op], 0, 0, (operand){a, "a", OPS_FLOAT_TYPES},
                       (operand){b, "b", OPS_FLOAT_TYPES}, y, OPS_FLOAT_TYPES);
}

AIDEV_API aidev_status aidev_enqueue_requantize(aidev_queue queue, int32_t x_zero,
                                                int32_t y_zero, const aidev_tensor *x,
                                                const aidev_tensor *scale,
                                                const aidev_tensor *y, uint32_t wait_count,
                                                const aidev_event *wait_events,
                                                aidev_event *out_event)
{
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_requantize", queue, wait_count, wait_events,
                                out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!scale)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "aidev_enqueue_requantize: scale: NULL");
    /* Zero points travel as floats: exact below 2^24, and every i8, u8
     * and practical i32 zero point is. */
    if (x_zero > (1 << 24) || x_zero < -(1 << 24) || y_zero > (1 << 24) || y_zero < -(1 << 24))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "aidev_enqueue_requantize: zero points %d and %d: each must lie "
                           "within +-2^24",
                           x_zero, y_zero);
    return elementwise(&c, TH_OP_REQUANTIZE, (float)x_zero, (float)y_zero,
                       (operand){x, "x", OPS_ALL_TYPES},
                       (operand){scale, "scale", AIDEV_TYPE_BIT(AIDEV_TYPE_F32)}, y,
                       OPS_INT_TYPES);
}
