/*
 * ops_rows.c - the ops along one axis (reduce, softmax, log-softmax,
 * rmsnorm, layernorm), run by the internal kernel tensor_rows: the hal
 * picks the axis out of the padded view and hands the kernel the other
 * three axes (the rows) and the axis itself (each row's elements).
 */
#include "hal/ops.h"
#include "kernels/common/tensor_codes.h"

#define ARG_COUNT 21

typedef struct rows_request {
    uint32_t op;
    int32_t axis;
    float eps;
    const aidev_tensor *x, *y, *w, *b;
    const char *w_name, *b_name;
    bool reduce; /* y without the axis (or with it at size 1) */
} rows_request;

/* y's sizes and strides over x's four padded axes: a reduction's y may
 * lack the axis (size 1 there then). */
static aidev_status align_output(const ops_call *c, const rows_request *r, const ops_view *vx,
                                 const ops_view *vy, uint32_t ax, uint32_t n[4], int32_t s[4])
{
    char xs[96], ys[96];
    bool same_rank = vy->rank == vx->rank;
    if (!same_rank && !(r->reduce && vy->rank + 1 == vx->rank))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: y has rank %u, x rank %u: y must be x's shape%s", c->name,
                           vy->rank, vx->rank,
                           r->reduce ? " with the axis removed or kept at size 1" : "");
    for (uint32_t i = 0; i < 4; i++) {
        if (!same_rank && i == ax) {
            n[i] = 1;
            s[i] = 0;
            continue;
        }
        /* y, one axis short, has one more padding axis in front: x's axes
         * before the reduced one sit one further in y. */
        uint32_t k = same_rank ? i : (i < ax ? i + 1 : i);
        n[i] = vy->n[k];
        s[i] = vy->s[k];
    }
    for (uint32_t i = 0; i < 4; i++) {
        uint32_t want = i == ax && r->reduce ? 1 : vx->n[i];
        if (n[i] != want)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                               "%s: y has shape %s for x of shape %s along axis %d: y must be "
                               "x's shape%s",
                               c->name, ops_shape_text(vy, ys, sizeof ys),
                               ops_shape_text(vx, xs, sizeof xs), r->axis,
                               r->reduce ? " with the axis removed or kept at size 1" : "");
    }
    return AIDEV_SUCCESS;
}

/* A weight or bias along the axis: rank 1, one value per element. */
static aidev_status check_along(const ops_call *c, const aidev_tensor *t, const char *name,
                                uint32_t len, ops_view *v)
{
    aidev_status st = ops_view_check(c, t, name, false, OPS_FLOAT_TYPES, v);
    if (st == AIDEV_SUCCESS && (v->rank != 1 || v->n[3] != len))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: %s must be of rank 1 with the axis' %u elements (got rank %u, "
                           "%llu elements)",
                           c->name, name, len, v->rank, (unsigned long long)v->count);
    return st;
}

static aidev_status rows_op(const ops_call *c, const rows_request *r)
{
    ops_view vx, vy, vw = {0}, vb = {0};
    aidev_status st = ops_view_check(c, r->x, "x", false, OPS_FLOAT_TYPES, &vx);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(c, r->y, "y", true, OPS_FLOAT_TYPES, &vy);
    if (st != AIDEV_SUCCESS)
        return st;
    if (vx.rank == 0 || r->axis >= (int32_t)vx.rank || r->axis < -(int32_t)vx.rank)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: axis %d for x of rank %u", c->name,
                           r->axis, vx.rank);
    const uint32_t ax = 4 - vx.rank + (uint32_t)(r->axis < 0 ? r->axis + (int32_t)vx.rank : r->axis);
    uint32_t yn[4];
    int32_t ys[4];
    st = align_output(c, r, &vx, &vy, ax, yn, ys);
    const uint32_t len = vx.n[ax];
    if (st == AIDEV_SUCCESS && r->w)
        st = check_along(c, r->w, r->w_name, len, &vw);
    if (st == AIDEV_SUCCESS && r->b)
        st = check_along(c, r->b, r->b_name, len, &vb);
    if (st != AIDEV_SUCCESS)
        return st;
    uint32_t o[3], k = 0;
    for (uint32_t i = 0; i < 4; i++)
        if (i != ax)
            o[k++] = i;
    uint64_t rows = (uint64_t)vx.n[o[0]] * vx.n[o[1]] * vx.n[o[2]];
    if (rows > UINT32_MAX)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "%s: %llu rows along axis %d; at most 2^32-1",
                           c->name, (unsigned long long)rows, r->axis);
    if (!r->w)
        vw = vx; /* bound, never read */
    if (!r->b)
        vb = vx;
    const aidev_arg args[ARG_COUNT] = {
        ops_pair(vx.n[o[1]], vx.n[o[2]]),
        ops_spair(vx.s[o[0]], vx.s[o[1]]),
        ops_spair(vx.s[o[2]], vx.s[ax]),
        ops_spair(ys[o[0]], ys[o[1]]),
        ops_spair(ys[o[2]], ys[ax]),
        aidev_arg_u32((uint32_t)rows),
        aidev_arg_u32(len),
        aidev_arg_u32(vx.offset),
        aidev_arg_u32(vy.offset),
        aidev_arg_u32(r->op),
        aidev_arg_u32(vx.dtype | vy.dtype << 4 | vw.dtype << 8 | vb.dtype << 12),
        aidev_arg_u32(vw.offset),
        aidev_arg_i32(vw.s[3]),
        aidev_arg_u32(vb.offset),
        aidev_arg_i32(vb.s[3]),
        aidev_arg_f32(r->eps),
        aidev_arg_u32((r->w ? 1u : 0u) | (r->b ? 2u : 0u)),
        aidev_arg_buffer(vx.handle, 0),
        aidev_arg_buffer(vw.handle, 0),
        aidev_arg_buffer(vb.handle, 0),
        aidev_arg_buffer(vy.handle, 0),
    };
    return ops_dispatch(c, "tensor_rows", NULL, ARG_COUNT, args);
}

AIDEV_API aidev_status aidev_enqueue_reduce(aidev_queue queue, aidev_reduce_op op, int32_t axis,
                                            const aidev_tensor *x, const aidev_tensor *y,
                                            uint32_t wait_count, const aidev_event *wait_events,
                                            aidev_event *out_event)
{
    static const uint32_t codes[] = {[AIDEV_REDUCE_SUM] = TH_ROW_SUM,
                                     [AIDEV_REDUCE_MAX] = TH_ROW_MAX,
                                     [AIDEV_REDUCE_MEAN] = TH_ROW_MEAN};
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_reduce", queue, wait_count, wait_events,
                                out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    if (op < AIDEV_REDUCE_SUM || op > AIDEV_REDUCE_MEAN)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "aidev_enqueue_reduce: op %d is not an aidev_reduce_op", (int)op);
    rows_request r = {.op = codes[op], .axis = axis, .x = x, .y = y, .reduce = true};
    return rows_op(&c, &r);
}

AIDEV_API aidev_status aidev_enqueue_softmax(aidev_queue queue, int32_t axis,
                                             const aidev_tensor *x, const aidev_tensor *y,
                                             uint32_t wait_count, const aidev_event *wait_events,
                                             aidev_event *out_event)
{
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_softmax", queue, wait_count, wait_events,
                                out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    rows_request r = {.op = TH_ROW_SOFTMAX, .axis = axis, .x = x, .y = y};
    return rows_op(&c, &r);
}

AIDEV_API aidev_status aidev_enqueue_log_softmax(aidev_queue queue, int32_t axis,
                                                 const aidev_tensor *x, const aidev_tensor *y,
                                                 uint32_t wait_count,
                                                 const aidev_event *wait_events,
                                                 aidev_event *out_event)
{
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_log_softmax", queue, wait_count, wait_events,
                                out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    rows_request r = {.op = TH_ROW_LOG_SOFTMAX, .axis = axis, .x = x, .y = y};
    return rows_op(&c, &r);
}

AIDEV_API aidev_status aidev_enqueue_rmsnorm(aidev_queue queue, int32_t axis, float eps,
                                             const aidev_tensor *x, const aidev_tensor *w,
                                             const aidev_tensor *y, uint32_t wait_count,
                                             const aidev_event *wait_events,
                                             aidev_event *out_event)
{
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_rmsnorm", queue, wait_count, wait_events,
                                out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    rows_request r = {.op = TH_ROW_RMSNORM, .axis = axis, .eps = eps, .x = x, .y = y, .w = w,
                      .w_name = "w"};
    return rows_op(&c, &r);
}

AIDEV_API aidev_status aidev_enqueue_layernorm(aidev_queue queue, int32_t axis, float eps,
                                               const aidev_tensor *x, const aidev_tensor *gamma,
                                               const aidev_tensor *beta, const aidev_tensor *y,
                                               uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event)
{
    ops_call c;
    aidev_status st = ops_begin(&c, "aidev_enqueue_layernorm", queue, wait_count, wait_events,
                                out_event);
    if (st != AIDEV_SUCCESS)
        return st;
    rows_request r = {.op = TH_ROW_LAYERNORM, .axis = axis, .eps = eps, .x = x, .y = y,
                      .w = gamma, .w_name = "gamma", .b = beta, .b_name = "beta"};
    return rows_op(&c, &r);
}
