/*
 * gpt2_forward.c - the forward pass of gpt2.h over n tokens at positions
 * pos.., every step an aidev op on the model's queue:
 *   x = wte[tokens] + wpe[pos..]                    embedding, binary add
 *   per block: h = layernorm(x)                     layernorm
 *              qkv = h qkv_w^T + qkv_b              gemm / qgemm (bias)
 *              cache[pos..] = k, v                  kv_append (per-head views)
 *              a = attention(q, cache[..pos+n])     attention (causal)
 *              x = x + a proj_w^T + proj_b          gemm / qgemm (beta 1)
 *              h = layernorm(x)
 *              f = gelu(h fc_w^T + fc_b)            gemm / qgemm (bias + GELU)
 *              x = x + f fc2_w^T + fc2_b
 *   logits = layernorm(x) wte^T                     gemm / qgemm
 * Heads are views, not copies: q, k and v of head j are columns j Dh ..
 * of qkv's three thirds (strides [Dh, 3D, 1]), and attention writes each
 * head into its columns of a (strides [Dh, D, 1]).
 */
#include "gpt2_model.h"

#include <stdio.h>

/* y = act(x w^T + bias) + beta y, with f32 or Q8_0 weights. */
static aidev_status forward_linear(gpt2_model *m, const gpt2_linear *l,
                                   const aidev_tensor *x, const aidev_tensor *bias,
                                   float beta, aidev_activation act, const aidev_tensor *y)
{
    aidev_gemm_params p = {.alpha = 1, .beta = beta, .activation = act};
    if (m->int8)
        return aidev_enqueue_qgemm(m->queue, &p, x, &l->q, bias, y, 0, NULL, NULL);
    p.trans_b = 1;
    return aidev_enqueue_gemm(m->queue, &p, x, &l->w, bias, y, 0, NULL, NULL);
}

/* Head view [H, n, Dh] of |cols|-wide rows at |at| floats + |col0|. */
static aidev_tensor forward_heads(const gpt2_model *m, uint64_t at, int64_t cols, int64_t col0,
                                  uint32_t n)
{
    const int64_t hd = m->c.dim / m->c.heads;
    aidev_tensor t = gpt2_view(m->act, at + (uint64_t)col0, 3, m->c.heads, n, hd);
    t.strides[0] = hd;
    t.strides[1] = cols;
    t.strides[2] = 1;
    return t;
}

static aidev_status forward_block(gpt2_model *m, const gpt2_block *b, uint32_t n, uint32_t pos)
{
    const int64_t d = m->c.dim;
    const aidev_tensor x = gpt2_view(m->act, m->x_at, 2, n, d, 0);
    const aidev_tensor h = gpt2_view(m->act, m->h_at, 2, n, d, 0);
    const aidev_tensor qkv = gpt2_view(m->act, m->qkv_at, 2, n, 3 * d, 0);
    const aidev_tensor a = gpt2_view(m->act, m->att_at, 2, n, d, 0);
    const aidev_tensor f = gpt2_view(m->act, m->f_at, 2, n, 4 * d, 0);
    const aidev_tensor q = forward_heads(m, m->qkv_at, 3 * d, 0, n);
    const aidev_tensor k = forward_heads(m, m->qkv_at, 3 * d, d, n);
    const aidev_tensor v = forward_heads(m, m->qkv_at, 3 * d, 2 * d, n);
    const aidev_tensor heads_out = forward_heads(m, m->att_at, d, 0, n);
    aidev_tensor k_seen, v_seen;
    aidev_tensor_slice(&b->k_cache, 1, 0, pos + n, 1, &k_seen);
    aidev_tensor_slice(&b->v_cache, 1, 0, pos + n, 1, &v_seen);
    const aidev_attention_params ap = {.causal = 1};
    aidev_status st = aidev_enqueue_layernorm(m->queue, -1, 1e-5f, &x, &b->ln1_g, &b->ln1_b, &h,
                                              0, NULL, NULL);
    if (st == AIDEV_SUCCESS)
        st = forward_linear(m, &b->qkv, &h, &b->qkv_b, 0, AIDEV_ACT_NONE, &qkv);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_kv_append(m->queue, 1, pos, &k, &b->k_cache, 0, NULL, NULL);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_kv_append(m->queue, 1, pos, &v, &b->v_cache, 0, NULL, NULL);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_attention(m->queue, &ap, &q, &k_seen, &v_seen, NULL, &heads_out, 0,
                                     NULL, NULL);
    if (st == AIDEV_SUCCESS)
        st = forward_linear(m, &b->proj, &a, &b->proj_b, 1, AIDEV_ACT_NONE, &x);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_layernorm(m->queue, -1, 1e-5f, &x, &b->ln2_g, &b->ln2_b, &h, 0, NULL,
                                     NULL);
    if (st == AIDEV_SUCCESS)
        st = forward_linear(m, &b->fc, &h, &b->fc_b, 0, AIDEV_ACT_GELU_TANH, &f);
    if (st == AIDEV_SUCCESS)
        st = forward_linear(m, &b->fc2, &f, &b->fc2_b, 1, AIDEV_ACT_NONE, &x);
    return st;
}

aidev_status gpt2_forward(gpt2_model *m, const int32_t *tokens, uint32_t n, uint32_t pos,
                          float *logits)
{
    if (n == 0 || pos > m->c.context || n > m->c.context - pos) {
        fprintf(stderr, "gpt2: %u tokens at position %u pass the context of %u\n", n, pos,
                m->c.context);
        return AIDEV_ERROR_OUT_OF_RANGE;
    }
    const int64_t d = m->c.dim, count = n;
    aidev_tensor ids, wpe_rows;
    aidev_tensor_init(&ids, m->ids, 0, AIDEV_TYPE_I32, 1, &count);
    aidev_tensor_slice(&m->wpe, 0, pos, pos + n, 1, &wpe_rows);
    const aidev_tensor x = gpt2_view(m->act, m->x_at, 2, n, d, 0);
    const aidev_tensor h = gpt2_view(m->act, m->h_at, 2, n, d, 0);
    const aidev_tensor out = gpt2_view(m->act, m->logits_at, 2, n, m->c.vocab, 0);
    aidev_status st = aidev_enqueue_write(m->queue, m->ids, 0, n * sizeof(int32_t), tokens, 0,
                                          NULL, NULL);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_embedding(m->queue, &ids, &m->wte, &x, 0, NULL, NULL);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_binary(m->queue, AIDEV_BINARY_ADD, &x, &wpe_rows, &x, 0, NULL, NULL);
    for (uint32_t i = 0; i < m->c.layers && st == AIDEV_SUCCESS; i++)
        st = forward_block(m, &m->blocks[i], n, pos);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_layernorm(m->queue, -1, 1e-5f, &x, &m->lnf_g, &m->lnf_b, &h, 0, NULL,
                                     NULL);
    if (st == AIDEV_SUCCESS)
        st = forward_linear(m, &m->logits_w, &h, NULL, 0, AIDEV_ACT_NONE, &out);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_read(m->queue, m->act, m->logits_at * sizeof(float),
                                (uint64_t)n * m->c.vocab * sizeof(float), logits, 0, NULL, NULL);
    /* One wait: the host's token list and logits are in use until here,
     * and a failure of any op is reported by the queue. */
    aidev_status done = aidev_queue_finish(m->queue);
    return gpt2_fail(st != AIDEV_SUCCESS ? st : done, "forward pass");
}
