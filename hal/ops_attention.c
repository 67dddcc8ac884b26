/*
 * ops_attention.c - what a transformer's attention is made of: scaled
 * dot-product attention (internal kernel tensor_attention), rotary position
 * embedding (tensor_rope), embedding gather (tensor_embedding) and the
 * append to a KV cache (a convert into a slice of the cache).
 */
#include <math.h>

#include "hal/ops.h"

#define ATTENTION_ARGS 22
#define ROPE_ARGS 21
#define EMBEDDING_ARGS 15
/* Each work-item of the GPU forms keeps 4 outputs of a head. */
#define MAX_HEAD_DIM 256u

/* q, k, v or out: [B, H, S, D] (rank 3: B = 1), the last axis compact. */
static aidev_status attention_operand(const ops_call *c, const aidev_tensor *t, const char *name,
                                      bool output, ops_view *v)
{
    aidev_status st = ops_view_check(c, t, name, output, OPS_FLOAT_TYPES, v);
    if (st != AIDEV_SUCCESS)
        return st;
    if (v->rank < 3)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: %s has rank %u; it is [batch, heads, sequence, head dim] (rank "
                           "4) or [heads, sequence, head dim]",
                           c->name, name, v->rank);
    if (v->n[3] > 1 && v->s[3] != 1)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED,
                           "%s: %s's last axis (head dim) has stride %d; the attention kernels "
                           "read heads compact (stride 1): copy it with aidev_enqueue_convert",
                           c->name, name, v->s[3]);
    return AIDEV_SUCCESS;
}

/* A k or v of batch 1 serves every batch of q. */
static int32_t batch_stride(const ops_view *v)
{
    return v->n[0] == 1 ? 0 : v->s[0];
}

static aidev_status check_attention_shapes(const ops_call *c, const ops_view *q, const ops_view *k,
                                           const ops_view *v, const ops_view *o)
{
    char qs[96], ks[96], vs[96], os[96];
    bool ok = (k->n[0] == q->n[0] || k->n[0] == 1) && k->n[0] == v->n[0] &&
              k->n[1] == v->n[1] && k->n[2] == v->n[2] && k->n[3] == q->n[3] &&
              v->n[3] == q->n[3] && o->n[0] == q->n[0] && o->n[1] == q->n[1] &&
              o->n[2] == q->n[2] && o->n[3] == q->n[3] && k->n[1] > 0 && q->n[1] % k->n[1] == 0;
    if (!ok)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: q %s, k %s, v %s, out %s: need q and out [B, H, Sq, D], k and v "
                           "[B or 1, Hkv, Sk, D] with H a multiple of Hkv",
                           c->name, ops_shape_text(q, qs, sizeof qs),
                           ops_shape_text(k, ks, sizeof ks), ops_shape_text(v, vs, sizeof vs),
                           ops_shape_text(o, os, sizeof os));
    if (q->n[3] > MAX_HEAD_DIM)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "%s: head dim %u; at most %u", c->name,
                           q->n[3], MAX_HEAD_DIM);
    if ((uint64_t)q->n[0] * q->n[1] * q->n[2] > UINT32_MAX)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "%s: more than 2^32-1 query rows", c->name);
    return AIDEV_SUCCESS;
}

AIDEV_API aidev_status aidev_enqueue_attention(aidev_queue queue,
                                               const aidev_attention_params *params,
                                               const aidev_tensor *q, const aidev_tensor *k,
                                               const aidev_tensor *v, const aidev_tensor *mask,
                                               const aidev_tensor *out, uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event)
{
    ops_call c;
    ops_view vq, vk, vv, vo, vm = {0};
    int32_t ms[4] = {0, 0, 0, 0};
    aidev_status st = ops_begin(&c, "aidev_enqueue_attention", queue, wait_count, wait_events,
                                out_event);
    if (st == AIDEV_SUCCESS)
        st = attention_operand(&c, q, "q", false, &vq);
    if (st == AIDEV_SUCCESS)
        st = attention_operand(&c, k, "k", false, &vk);
    if (st == AIDEV_SUCCESS)
        st = attention_operand(&c, v, "v", false, &vv);
    if (st == AIDEV_SUCCESS)
        st = attention_operand(&c, out, "out", true, &vo);
    if (st == AIDEV_SUCCESS)
        st = check_attention_shapes(&c, &vq, &vk, &vv, &vo);
    if (st == AIDEV_SUCCESS && mask)
        st = ops_view_check(&c, mask, "mask", false, OPS_FLOAT_TYPES, &vm);
    if (st == AIDEV_SUCCESS && mask) {
        /* Broadcast to the scores [B, H, Sq, Sk]. */
        ops_view scores = vq;
        scores.n[3] = vk.n[2];
        st = ops_broadcast(&c, &vm, "mask", &scores, "the scores [B, H, Sq, Sk]", ms);
    }
    if (st != AIDEV_SUCCESS)
        return st;
    if (!mask)
        vm = vq; /* bound, never read */
    const float scale = params && params->scale != 0.0f ? params->scale
                                                        : 1.0f / sqrtf((float)(vq.n[3] ? vq.n[3] : 1));
    const bool causal = params && params->causal;
    const uint32_t flags = (causal ? 1u : 0u) | (mask ? 2u : 0u) | vq.dtype << 8 |
                           vk.dtype << 12 | vv.dtype << 16 | vo.dtype << 20 | vm.dtype << 24;
    const aidev_arg args[ATTENTION_ARGS] = {
        ops_pair(vq.n[0], vq.n[1]),
        ops_pair(vk.n[1], vq.n[2]),
        ops_pair(vk.n[2], vq.n[3]),
        ops_spair(vq.s[0], vq.s[1]),
        ops_spair(vq.s[2], (int32_t)vq.offset),
        ops_spair(batch_stride(&vk), vk.s[1]),
        ops_spair(vk.s[2], (int32_t)vk.offset),
        ops_spair(batch_stride(&vv), vv.s[1]),
        ops_spair(vv.s[2], (int32_t)vv.offset),
        ops_spair(vo.s[0], vo.s[1]),
        ops_spair(vo.s[2], (int32_t)vo.offset),
        ops_spair(ms[0], ms[1]),
        ops_spair(ms[2], ms[3]),
        aidev_arg_u32(vm.offset),
        aidev_arg_f32(scale),
        aidev_arg_u32(flags),
        aidev_arg_i32((int32_t)vk.n[2] - (int32_t)vq.n[2]),
        aidev_arg_buffer(vq.handle, 0),
        aidev_arg_buffer(vk.handle, 0),
        aidev_arg_buffer(vv.handle, 0),
        aidev_arg_buffer(vm.handle, 0),
        aidev_arg_buffer(vo.handle, 0),
    };
    const uint32_t grid[3] = {vq.n[0] * vq.n[1] * vq.n[2], 1, 1};
    return ops_dispatch(&c, "tensor_attention", grid, ATTENTION_ARGS, args);
}

/* ------------------------------------------------------------------------ */
/* Rotary position embedding                                                */
/* ------------------------------------------------------------------------ */

AIDEV_API aidev_status aidev_enqueue_rope(aidev_queue queue, const aidev_rope_params *params,
                                          const aidev_tensor *positions, const aidev_tensor *x,
                                          const aidev_tensor *y, uint32_t wait_count,
                                          const aidev_event *wait_events, aidev_event *out_event)
{
    ops_call c;
    ops_view vx, vy, vp = {0};
    aidev_status st = ops_begin(&c, "aidev_enqueue_rope", queue, wait_count, wait_events,
                                out_event);
    if (st == AIDEV_SUCCESS && !params)
        st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: params: NULL", c.name);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(&c, x, "x", false, OPS_FLOAT_TYPES, &vx);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(&c, y, "y", true, OPS_FLOAT_TYPES, &vy);
    if (st != AIDEV_SUCCESS)
        return st;
    char xs[96], ys[96];
    for (int i = 0; i < 4; i++)
        if (vx.n[i] != vy.n[i] || vx.rank != vy.rank)
            return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: y has shape %s, x %s", c.name,
                               ops_shape_text(&vy, ys, sizeof ys), ops_shape_text(&vx, xs, sizeof xs));
    const int32_t rank = (int32_t)vx.rank;
    const int32_t seq = params->seq_axis < 0 ? params->seq_axis + rank : params->seq_axis;
    if (rank < 2 || seq < 0 || seq >= rank - 1)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: seq_axis %d for x of rank %u: the sequence axis is one before "
                           "the last (which holds the rotated dimensions)",
                           c.name, params->seq_axis, vx.rank);
    const uint32_t D = vx.n[3], rot = params->rot_dims ? params->rot_dims : D;
    if (rot > D || rot % 2 || rot == 0)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: rot_dims %u: an even number of dimensions, at most the %u of x's "
                           "last axis",
                           c.name, params->rot_dims, D);
    if (params->mode != AIDEV_ROPE_INTERLEAVED && params->mode != AIDEV_ROPE_NEOX)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "%s: mode %d is not an aidev_rope_mode",
                           c.name, (int)params->mode);
    const uint32_t seq4 = (uint32_t)(4 - rank + seq); /* among the padded axes 0..2 */
    if (positions) {
        st = ops_view_check(&c, positions, "positions", false, AIDEV_TYPE_BIT(AIDEV_TYPE_I32), &vp);
        if (st == AIDEV_SUCCESS && (vp.rank != 1 || vp.n[3] != vx.n[seq4]))
            st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                             "%s: positions must have rank 1 and the %u elements of the "
                             "sequence axis (got rank %u, %llu elements)",
                             c.name, vx.n[seq4], vp.rank, (unsigned long long)vp.count);
        if (st != AIDEV_SUCCESS)
            return st;
    } else {
        vp = vx; /* bound, never read */
    }
    const uint64_t rows = (uint64_t)vx.n[0] * vx.n[1] * vx.n[2], per_row = rot / 2 + (D - rot);
    if (rows * per_row > UINT32_MAX)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "%s: x has more than 2^32-1 pairs", c.name);
    const float base = params->base > 0 ? params->base : 10000.0f;
    const float freq_scale = params->freq_scale != 0 ? params->freq_scale : 1.0f;
    const uint32_t flags = (params->mode == AIDEV_ROPE_NEOX ? 1u : 0u) | (positions ? 2u : 0u) |
                           vx.dtype << 8 | vy.dtype << 12;
    const aidev_arg args[ROPE_ARGS] = {
        ops_pair(vx.n[0], vx.n[1]),
        ops_pair(vx.n[2], D),
        ops_spair(vx.s[0], vx.s[1]),
        ops_spair(vx.s[2], vx.s[3]),
        ops_spair(vy.s[0], vy.s[1]),
        ops_spair(vy.s[2], vy.s[3]),
        aidev_arg_u32((uint32_t)rows),
        aidev_arg_u32((uint32_t)per_row),
        aidev_arg_u32(vx.offset),
        aidev_arg_u32(vy.offset),
        aidev_arg_u32(rot),
        aidev_arg_u32(seq4),
        aidev_arg_i32(params->pos0),
        aidev_arg_u32(positions ? vp.offset : 0),
        aidev_arg_i32(positions ? vp.s[3] : 0),
        aidev_arg_f32((float)log2((double)base)),
        aidev_arg_f32(freq_scale),
        aidev_arg_u32(flags),
        aidev_arg_buffer(vx.handle, 0),
        aidev_arg_buffer(vp.handle, 0),
        aidev_arg_buffer(vy.handle, 0),
    };
    const uint32_t grid[3] = {(uint32_t)(rows * per_row), 1, 1};
    return ops_dispatch(&c, "tensor_rope", grid, ROPE_ARGS, args);
}

/* ------------------------------------------------------------------------ */
/* Embedding gather and the KV cache                                        */
/* ------------------------------------------------------------------------ */

AIDEV_API aidev_status aidev_enqueue_embedding(aidev_queue queue, const aidev_tensor *ids,
                                               const aidev_tensor *table,
                                               const aidev_tensor *out, uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event)
{
    ops_call c;
    ops_view vi, vt, vo;
    aidev_status st = ops_begin(&c, "aidev_enqueue_embedding", queue, wait_count, wait_events,
                                out_event);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(&c, ids, "ids", false, AIDEV_TYPE_BIT(AIDEV_TYPE_I32), &vi);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(&c, table, "table", false, OPS_FLOAT_TYPES, &vt);
    if (st == AIDEV_SUCCESS)
        st = ops_view_check(&c, out, "out", true, OPS_FLOAT_TYPES, &vo);
    if (st != AIDEV_SUCCESS)
        return st;
    char is[96], ts[96], os[96];
    bool ok = vi.rank <= 3 && vt.rank == 2 && vo.rank == vi.rank + 1 && vo.n[3] == vt.n[3];
    for (int i = 0; i < 3 && ok; i++)
        ok = vo.n[i] == vi.n[i + 1];
    if (!ok)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "%s: ids %s, table %s, out %s: need ids of up to 3 axes, a table [V, "
                           "D] and out = ids' shape + [D]",
                           c.name, ops_shape_text(&vi, is, sizeof is),
                           ops_shape_text(&vt, ts, sizeof ts), ops_shape_text(&vo, os, sizeof os));
    if (vo.count > UINT32_MAX)
        return aidev_error(AIDEV_ERROR_UNSUPPORTED, "%s: out has more than 2^32-1 elements",
                           c.name);
    const aidev_arg args[EMBEDDING_ARGS] = {
        ops_pair(vi.n[1], vi.n[2]),
        ops_pair(vi.n[3], vt.n[3]),
        ops_spair(vi.s[1], vi.s[2]),
        ops_spair(vi.s[3], (int32_t)vt.n[2]),
        ops_spair(vt.s[2], vt.s[3]),
        ops_spair(vo.s[0], vo.s[1]),
        ops_spair(vo.s[2], vo.s[3]),
        aidev_arg_u32((uint32_t)vo.count),
        aidev_arg_u32(vi.offset),
        aidev_arg_u32(vt.offset),
        aidev_arg_u32(vo.offset),
        aidev_arg_u32(vt.dtype | vo.dtype << 4),
        aidev_arg_buffer(vi.handle, 0),
        aidev_arg_buffer(vt.handle, 0),
        aidev_arg_buffer(vo.handle, 0),
    };
    const uint32_t grid[3] = {(uint32_t)vo.count, 1, 1};
    return ops_dispatch(&c, "tensor_embedding", grid, EMBEDDING_ARGS, args);
}

AIDEV_API aidev_status aidev_enqueue_kv_append(aidev_queue queue, int32_t axis, uint32_t pos,
                                               const aidev_tensor *src,
                                               const aidev_tensor *cache, uint32_t wait_count,
                                               const aidev_event *wait_events,
                                               aidev_event *out_event)
{
    aidev_error_clear();
    if (!src || !cache)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "aidev_enqueue_kv_append: %s: NULL",
                           src ? "cache" : "src");
    int32_t rank = (int32_t)cache->rank, ax = axis < 0 ? axis + rank : axis;
    if (ax < 0 || ax >= rank || cache->rank > AIDEV_TENSOR_MAX_RANK || src->rank != cache->rank)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                           "aidev_enqueue_kv_append: axis %d for a cache of rank %u and src of "
                           "rank %u (the same rank)",
                           axis, cache->rank, src->rank);
    const int64_t len = src->shape[ax];
    if ((int64_t)pos + len > cache->shape[ax])
        return aidev_error(AIDEV_ERROR_OUT_OF_RANGE,
                           "aidev_enqueue_kv_append: %lld entries at position %u run past the "
                           "cache's %lld along axis %d",
                           (long long)len, pos, (long long)cache->shape[ax], axis);
    aidev_tensor slot;
    aidev_status st = aidev_tensor_slice(cache, (uint32_t)ax, pos, (int64_t)pos + len, 1, &slot);
    for (int32_t i = 0; i < rank && st == AIDEV_SUCCESS; i++)
        if (i != ax && src->shape[i] != cache->shape[i])
            st = aidev_error(AIDEV_ERROR_INVALID_ARGUMENT,
                             "aidev_enqueue_kv_append: src has %lld along axis %d, the cache "
                             "%lld",
                             (long long)src->shape[i], i, (long long)cache->shape[i]);
    if (st != AIDEV_SUCCESS)
        return st;
    /* The convert names its operands x and y; in a cache's words they are
     * src and the slot at |pos|. */
    return aidev_enqueue_convert(queue, src, &slot, wait_count, wait_events, out_event);
}
