/*
 * ops_conv.c - what a CNN is made of: 2-D convolution (NCHW, stride,
 * zero padding, dilation, a bias per output channel and an activation;
 * internal kernel tensor_conv2d, a direct convolution) and max or average
 * pooling (tensor_pool2d).
 */
#include <stdio.h>

#include "hal/ops.h"

#define CONV_ARGS 23
#define POOL_ARGS 16
/* Kernel sizes, strides and dilations travel as 16-bit halves. */
#define MAX_WINDOW 65535u

/* An NCHW operand: rank 4, float. */
static aidev_status nchw_operand(const ops_call *c, const aidev_tensor *t, const char *name,
                                 bool output, ops_view *v)
{
    aidev_status st = ops_view_check(c, t, name, output, OPS_FLOAT_TYPES, v);
    if (st == AIDEV_SUCCESS && v->rank != 4)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                         "%s: %s has rank %u; it is NCHW (rank 4)", c->name, name, v->rank);
    return st;
}

/* The output size along one axis, or 0 (with an error) when the window
 * does not fit even once. */
static aidev_status out_size(const ops_call *c, const char *axis, uint32_t in, uint32_t k,
                             uint32_t stride, uint32_t pad, uint32_t dilation, uint32_t *out)
{
    const uint64_t span = (uint64_t)dilation * (k - 1) + 1, padded = (uint64_t)in + 2ull * pad;
    if (k == 0 || stride == 0 || dilation == 0 || k > MAX_WINDOW || stride > MAX_WINDOW ||
        dilation > MAX_WINDOW)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: along %s: window %u, stride %u, dilation %u; each in [1, %u]",
                           c->name, axis, k, stride, dilation, MAX_WINDOW);
    if (padded < span)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: along %s: a window spanning %llu does not fit the input's %u "
                           "(+ 2 x %u padding)",
                           c->name, axis, (unsigned long long)span, in, pad);
    *out = (uint32_t)((padded - span) / stride + 1);
    return AIDEV_SUCCESS;
}

static aidev_status check_out_shape(const ops_call *c, const ops_view *y, uint32_t n, uint32_t ch,
                                    uint32_t oh, uint32_t ow)
{
    char ys[96];
    if (y->n[0] != n || y->n[1] != ch || y->n[2] != oh || y->n[3] != ow)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: y has shape %s; the result is [%u, %u, %u, %u]", c->name,
                           ops_shape_text(y, ys, sizeof ys), n, ch, oh, ow);
    if (y->count > UINT32_MAX)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "%s: y has more than 2^32-1 elements",
                           c->name);
    return AIDEV_SUCCESS;
}

static uint32_t or1(uint32_t v)
{
    return v ? v : 1;
}

AIDEV_API aidev_status aidev_enqueue_conv2d(aidev_queue queue, const aidev_conv2d_params *params,
                                            const aidev_tensor *x, const aidev_tensor *w,
                                            const aidev_tensor *bias, const aidev_tensor *y,
                                            uint32_t wait_count, const aidev_event *wait_events,
                                            aidev_event *out_event)
{
    ops_call c;
    const aidev_conv2d_params defaults = {{1, 1}, {0, 0}, {1, 1}, AIDEV_ACT_NONE};
    const aidev_conv2d_params *p = params ? params : &defaults;
    ops_view vx, vw, vy, vb = {0};
    uint32_t act = 0, oh = 0, ow = 0;
    aidev_status st = ops_begin(&c, "aidev_enqueue_conv2d", queue, wait_count, wait_events,
                                out_event);
    if (st == AIDEV_SUCCESS)
        st = ops_activation_code(&c, p->activation, &act);
    if (st == AIDEV_SUCCESS)
        st = nchw_operand(&c, x, "x", false, &vx);
    if (st == AIDEV_SUCCESS)
        st = nchw_operand(&c, w, "w", false, &vw);
    if (st == AIDEV_SUCCESS)
        st = nchw_operand(&c, y, "y", true, &vy);
    if (st == AIDEV_SUCCESS && bias)
        st = ops_view_check(&c, bias, "bias", false, OPS_FLOAT_TYPES, &vb);
    if (st != AIDEV_SUCCESS)
        return st;
    char xs[96], ws[96], bs[96];
    if (vw.n[1] != vx.n[1])
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: x %s has %u channels, w %s (CO, C, KH, KW) takes %u", c.name,
                           ops_shape_text(&vx, xs, sizeof xs), vx.n[1],
                           ops_shape_text(&vw, ws, sizeof ws), vw.n[1]);
    if (bias && (vb.rank != 1 || vb.n[3] != vw.n[0]))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: bias has shape %s; it is one value per output channel [%u]",
                           c.name, ops_shape_text(&vb, bs, sizeof bs), vw.n[0]);
    st = out_size(&c, "H", vx.n[2], vw.n[2], or1(p->stride[0]), p->padding[0],
                  or1(p->dilation[0]), &oh);
    if (st == AIDEV_SUCCESS)
        st = out_size(&c, "W", vx.n[3], vw.n[3], or1(p->stride[1]), p->padding[1],
                      or1(p->dilation[1]), &ow);
    if (st == AIDEV_SUCCESS)
        st = check_out_shape(&c, &vy, vx.n[0], vw.n[0], oh, ow);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!bias)
        vb = vw; /* bound, never read */
    const uint32_t flags = act | (bias ? 1u << 4 : 0) | vx.dtype << 8 | vw.dtype << 12 |
                           vy.dtype << 16 | vb.dtype << 20;
    const aidev_arg args[CONV_ARGS] = {
        ops_pair(vx.n[0], vx.n[1]),
        ops_pair(vx.n[2], vx.n[3]),
        ops_pair(oh, ow),
        ops_pair(vw.n[0], vw.n[2] | vw.n[3] << 16),
        ops_pair(or1(p->stride[0]) | or1(p->stride[1]) << 16,
                 or1(p->dilation[0]) | or1(p->dilation[1]) << 16),
        ops_pair(p->padding[0], p->padding[1]),
        ops_spair(vx.s[0], vx.s[1]),
        ops_spair(vx.s[2], vx.s[3]),
        ops_spair(vw.s[0], vw.s[1]),
        ops_spair(vw.s[2], vw.s[3]),
        ops_spair(vy.s[0], vy.s[1]),
        ops_spair(vy.s[2], vy.s[3]),
        aidev_arg_u32((uint32_t)vy.count),
        aidev_arg_u32(vx.offset),
        aidev_arg_u32(vw.offset),
        aidev_arg_u32(vy.offset),
        aidev_arg_u32(vb.offset),
        aidev_arg_i32(bias ? vb.s[3] : 0),
        aidev_arg_u32(flags),
        aidev_arg_buffer(vx.handle, 0),
        aidev_arg_buffer(vw.handle, 0),
        aidev_arg_buffer(vb.handle, 0),
        aidev_arg_buffer(vy.handle, 0),
    };
    const uint32_t grid[3] = {(uint32_t)vy.count, 1, 1};
    return ops_dispatch(&c, "tensor_conv2d", grid, CONV_ARGS, args);
}

AIDEV_API aidev_status aidev_enqueue_pool2d(aidev_queue queue, const aidev_pool2d_params *params,
                                            const aidev_tensor *x, const aidev_tensor *y,
                                            uint32_t wait_count, const aidev_event *wait_events,
                                            aidev_event *out_event)
{
    ops_call c;
    ops_view vx, vy;
    uint32_t oh = 0, ow = 0;
    aidev_status st = ops_begin(&c, "aidev_enqueue_pool2d", queue, wait_count, wait_events,
                                out_event);
    if (st == AIDEV_SUCCESS && !params)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: params: NULL", c.name);
    if (st == AIDEV_SUCCESS && params->kind != AIDEV_POOL_MAX && params->kind != AIDEV_POOL_AVG)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: kind %d is not an aidev_pool_kind",
                         c.name, (int)params->kind);
    if (st == AIDEV_SUCCESS)
        st = nchw_operand(&c, x, "x", false, &vx);
    if (st == AIDEV_SUCCESS)
        st = nchw_operand(&c, y, "y", true, &vy);
    if (st != AIDEV_SUCCESS)
        return st;
    const uint32_t kh = params->window[0], kw = params->window[1];
    const uint32_t sh = or1(params->stride[0]), sw = or1(params->stride[1]);
    if (params->padding[0] >= or1(kh) || params->padding[1] >= or1(kw))
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: padding %u x %u for a window of %u x %u: padding below the "
                           "window (a window wholly in the padding has no value)",
                           c.name, params->padding[0], params->padding[1], kh, kw);
    st = out_size(&c, "H", vx.n[2], kh, sh, params->padding[0], 1, &oh);
    if (st == AIDEV_SUCCESS)
        st = out_size(&c, "W", vx.n[3], kw, sw, params->padding[1], 1, &ow);
    if (st == AIDEV_SUCCESS)
        st = check_out_shape(&c, &vy, vx.n[0], vx.n[1], oh, ow);
    if (st != AIDEV_SUCCESS)
        return st;
    const aidev_arg args[POOL_ARGS] = {
        ops_pair(vx.n[0], vx.n[1]),
        ops_pair(vx.n[2], vx.n[3]),
        ops_pair(oh, ow),
        ops_pair(kh, kw),
        ops_pair(sh, sw),
        ops_pair(params->padding[0], params->padding[1]),
        ops_spair(vx.s[0], vx.s[1]),
        ops_spair(vx.s[2], vx.s[3]),
        ops_spair(vy.s[0], vy.s[1]),
        ops_spair(vy.s[2], vy.s[3]),
        aidev_arg_u32((uint32_t)vy.count),
        aidev_arg_u32(vx.offset),
        aidev_arg_u32(vy.offset),
        aidev_arg_u32((uint32_t)params->kind | vx.dtype << 8 | vy.dtype << 12),
        aidev_arg_buffer(vx.handle, 0),
        aidev_arg_buffer(vy.handle, 0),
    };
    const uint32_t grid[3] = {(uint32_t)vy.count, 1, 1};
    return ops_dispatch(&c, "tensor_pool2d", grid, POOL_ARGS, args);
}
