/*
 * gpt2.c - see gpt2.h. The model's tensors are views of a few buffers: the
 * weights as the file has them (one read), the Q8_0 copies of the linear
 * weights (int8), the KV cache, and the activations of up to a context's
 * tokens. A forward pass enqueues every op on one in-order queue and waits
 * once, for the logits.
 */
#include "gpt2_model.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

aidev_status gpt2_fail(aidev_status st, const char *what)
{
    if (st != AIDEV_SUCCESS)
        fprintf(stderr, "gpt2: %s: %s: %s\n", what, aidev_status_string(st), aidev_last_error());
    return st;
}

aidev_tensor gpt2_view(aidev_buffer b, uint64_t at, uint32_t rank, int64_t s0,
                               int64_t s1, int64_t s2)
{
    const int64_t shape[3] = {s0, s1, s2};
    aidev_tensor t;
    aidev_tensor_init(&t, b, at * sizeof(float), AIDEV_TYPE_F32, rank, shape);
    return t;
}

static aidev_status model_buffer(gpt2_model *m, uint64_t bytes, aidev_buffer *out)
{
    aidev_buffer_desc desc = {.size = bytes, .kind = AIDEV_MEMORY_DEVICE};
    return gpt2_fail(aidev_buffer_create(m->device, &desc, out), "aidev_buffer_create");
}

/* Reads the file's weights into |m->weights| with one file read. */
static aidev_status model_read_weights(gpt2_model *m, const char *path, uint64_t floats)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(path);
        return AIDEV_ERROR_IO;
    }
    aidev_status st = aidev_enqueue_file_read(m->queue, m->weights, 0, fd, GPT2_HEADER_BYTES,
                                              floats * sizeof(float), 0, 0, NULL, NULL);
    close(fd); /* aidev keeps its own duplicate */
    if (st == AIDEV_SUCCESS)
        st = aidev_queue_finish(m->queue);
    return gpt2_fail(st, "aidev_enqueue_file_read");
}

/* Lays out one linear weight [out, in] at |at| floats of the weights, and
 * its Q8_0 blocks at |*qat| bytes of the quantized buffer (advanced). */
static gpt2_linear model_linear(gpt2_model *m, uint64_t at, int64_t out, int64_t in,
                                uint64_t *qat)
{
    gpt2_linear l = {.w = gpt2_view(m->weights, at, 2, out, in, 0)};
    const int64_t row_bytes = in / 32 * Q8_0_BLOCK_BYTES;
    if (m->int8) {
        const int64_t shape[2] = {out, row_bytes};
        l.q.format = AIDEV_QUANT_Q8_0;
        aidev_tensor_init(&l.q.q, m->qweights, *qat, AIDEV_TYPE_U8, 2, shape);
    }
    *qat += (uint64_t)(out * row_bytes);
    return l;
}

static void model_lay_out(gpt2_model *m, const gpt2_layout *l)
{
    const gpt2_config *c = &m->c;
    const int64_t d = c->dim, t = c->context, hd = d / c->heads;
    const gpt2_layer_offsets o = gpt2_layer_offsets_of(c);
    uint64_t qat = 0;
    m->wte = gpt2_view(m->weights, l->wte, 2, c->vocab, d, 0);
    m->wpe = gpt2_view(m->weights, l->wpe, 2, t, d, 0);
    m->lnf_g = gpt2_view(m->weights, l->lnf_g, 1, d, 0, 0);
    m->lnf_b = gpt2_view(m->weights, l->lnf_b, 1, d, 0, 0);
    m->logits_w = model_linear(m, l->wte, c->vocab, d, &qat);
    for (uint32_t i = 0; i < c->layers; i++) {
        gpt2_block *b = &m->blocks[i];
        const uint64_t at = l->layer0 + i * l->layer_floats;
        b->ln1_g = gpt2_view(m->weights, at + o.ln1_g, 1, d, 0, 0);
        b->ln1_b = gpt2_view(m->weights, at + o.ln1_b, 1, d, 0, 0);
        b->qkv_b = gpt2_view(m->weights, at + o.qkv_b, 1, 3 * d, 0, 0);
        b->proj_b = gpt2_view(m->weights, at + o.proj_b, 1, d, 0, 0);
        b->ln2_g = gpt2_view(m->weights, at + o.ln2_g, 1, d, 0, 0);
        b->ln2_b = gpt2_view(m->weights, at + o.ln2_b, 1, d, 0, 0);
        b->fc_b = gpt2_view(m->weights, at + o.fc_b, 1, 4 * d, 0, 0);
        b->fc2_b = gpt2_view(m->weights, at + o.fc2_b, 1, d, 0, 0);
        b->qkv = model_linear(m, at + o.qkv_w, 3 * d, d, &qat);
        b->proj = model_linear(m, at + o.proj_w, d, d, &qat);
        b->fc = model_linear(m, at + o.fc_w, 4 * d, d, &qat);
        b->fc2 = model_linear(m, at + o.fc2_w, d, 4 * d, &qat);
        const uint64_t cache_floats = (uint64_t)(c->heads * t * hd);
        b->k_cache = gpt2_view(m->cache, 2 * i * cache_floats, 3, c->heads, t, hd);
        b->v_cache = gpt2_view(m->cache, (2 * i + 1) * cache_floats, 3, c->heads, t, hd);
    }
    m->x_at = 0;
    m->h_at = m->x_at + (uint64_t)(t * d);
    m->qkv_at = m->h_at + (uint64_t)(t * d);
    m->att_at = m->qkv_at + (uint64_t)(3 * t * d);
    m->f_at = m->att_at + (uint64_t)(t * d);
    m->logits_at = m->f_at + (uint64_t)(4 * t * d);
}

/* Bytes of the Q8_0 copies of every linear weight (the output layer's too). */
static uint64_t model_qbytes(const gpt2_config *c)
{
    const uint64_t d = c->dim, row = d / 32 * Q8_0_BLOCK_BYTES;
    return (c->vocab + c->layers * (3 * d + d + 4 * d)) * row +
           c->layers * d * (4 * d / 32 * Q8_0_BLOCK_BYTES);
}

static aidev_status model_quantize(gpt2_model *m)
{
    aidev_status st = aidev_enqueue_quantize(m->queue, &m->logits_w.w, &m->logits_w.q, 0, NULL,
                                             NULL);
    for (uint32_t i = 0; i < m->c.layers && st == AIDEV_SUCCESS; i++) {
        gpt2_linear *ls[4] = {&m->blocks[i].qkv, &m->blocks[i].proj, &m->blocks[i].fc,
                              &m->blocks[i].fc2};
        for (int j = 0; j < 4 && st == AIDEV_SUCCESS; j++)
            st = aidev_enqueue_quantize(m->queue, &ls[j]->w, &ls[j]->q, 0, NULL, NULL);
    }
    if (st == AIDEV_SUCCESS)
        st = aidev_queue_finish(m->queue);
    return gpt2_fail(st, "aidev_enqueue_quantize");
}

aidev_status gpt2_load(aidev_device device, const char *path, bool int8, gpt2_model **out)
{
    *out = NULL;
    gpt2_model *m = calloc(1, sizeof *m);
    if (!m)
        return AIDEV_ERROR_OUT_OF_HOST_MEMORY;
    m->device = device;
    m->int8 = int8;
    gpt2_layout l;
    aidev_status st = gpt2_file_config(path, &m->c);
    if (st == AIDEV_SUCCESS)
        st = gpt2_layout_of(&m->c, &l);
    if (st != AIDEV_SUCCESS)
        goto fail;
    m->blocks = calloc(m->c.layers, sizeof *m->blocks);
    if (!m->blocks) {
        st = AIDEV_ERROR_OUT_OF_HOST_MEMORY;
        goto fail;
    }
    const uint64_t t = m->c.context, d = m->c.dim;
    st = gpt2_fail(aidev_queue_create(device, AIDEV_QUEUE_PRIORITY_NORMAL, &m->queue),
                    "aidev_queue_create");
    if (st == AIDEV_SUCCESS)
        st = model_buffer(m, l.total * sizeof(float), &m->weights);
    if (st == AIDEV_SUCCESS && int8)
        st = model_buffer(m, model_qbytes(&m->c), &m->qweights);
    if (st == AIDEV_SUCCESS)
        st = model_buffer(m, 2 * m->c.layers * t * d * sizeof(float), &m->cache);
    if (st == AIDEV_SUCCESS)
        st = model_buffer(m, (10 * t * d + t * m->c.vocab) * sizeof(float), &m->act);
    if (st == AIDEV_SUCCESS)
        st = model_buffer(m, t * sizeof(int32_t), &m->ids);
    if (st != AIDEV_SUCCESS)
        goto fail;
    model_lay_out(m, &l);
    st = model_read_weights(m, path, l.total);
    if (st == AIDEV_SUCCESS && int8)
        st = model_quantize(m);
    if (st != AIDEV_SUCCESS)
        goto fail;
    *out = m;
    return AIDEV_SUCCESS;
fail:
    gpt2_free(m);
    return st;
}

void gpt2_free(gpt2_model *m)
{
    if (!m)
        return;
    if (m->queue)
        aidev_queue_release(m->queue);
    aidev_buffer bufs[5] = {m->weights, m->qweights, m->cache, m->act, m->ids};
    for (int i = 0; i < 5; i++)
        if (bufs[i])
            aidev_buffer_release(bufs[i]);
    free(m->blocks);
    free(m);
}

const gpt2_config *gpt2_model_config(const gpt2_model *m)
{
    return &m->c;
}
