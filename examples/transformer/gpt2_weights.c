/*
 * gpt2_weights.c - the weight file of gpt2.h: its layout, and weights drawn
 * from a seed, written once so that a model can be loaded the way a real
 * one is (from a file, with aidev_enqueue_file_read).
 */
#include "gpt2.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

aidev_status gpt2_layout_of(const gpt2_config *c, gpt2_layout *out)
{
    if (!c->vocab || !c->context || !c->dim || !c->heads || !c->layers || c->dim % 32 ||
        c->dim % c->heads || c->dim / c->heads > 256 || c->vocab > (1u << 24) ||
        c->context > 65536 || c->dim > 65536 || c->layers > 1024) {
        fprintf(stderr,
                "gpt2: config V %u, T %u, D %u, H %u, L %u: every size must be nonzero, D a "
                "multiple of 32 and of H, D / H at most 256\n",
                c->vocab, c->context, c->dim, c->heads, c->layers);
        return AIDEV_ERROR_INVALID_ARGUMENT;
    }
    const uint64_t d = c->dim;
    out->wte = 0;
    out->wpe = (uint64_t)c->vocab * d;
    out->layer0 = out->wpe + (uint64_t)c->context * d;
    out->layer_floats = 2 * d + 3 * d * d + 3 * d + d * d + d + 2 * d + 4 * d * d + 4 * d +
                        4 * d * d + d;
    out->lnf_g = out->layer0 + c->layers * out->layer_floats;
    out->lnf_b = out->lnf_g + d;
    out->total = out->lnf_b + d;
    return AIDEV_SUCCESS;
}

gpt2_layer_offsets gpt2_layer_offsets_of(const gpt2_config *c)
{
    const uint64_t d = c->dim;
    gpt2_layer_offsets o;
    o.ln1_g = 0;
    o.ln1_b = o.ln1_g + d;
    o.qkv_w = o.ln1_b + d;
    o.qkv_b = o.qkv_w + 3 * d * d;
    o.proj_w = o.qkv_b + 3 * d;
    o.proj_b = o.proj_w + d * d;
    o.ln2_g = o.proj_b + d;
    o.ln2_b = o.ln2_g + d;
    o.fc_w = o.ln2_b + d;
    o.fc_b = o.fc_w + 4 * d * d;
    o.fc2_w = o.fc_b + 4 * d;
    o.fc2_b = o.fc2_w + 4 * d * d;
    return o;
}

/* splitmix64: a fixed sequence from the seed on every machine. */
static double weights_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53 * 2.0 - 1.0; /* [-1, 1) */
}

/* |n| floats around |mean|, uniform with standard deviation |sd|. */
static void weights_fill(float *w, uint64_t n, double mean, double sd, uint64_t *state)
{
    const double half_width = sd * sqrt(3.0);
    for (uint64_t i = 0; i < n; i++)
        w[i] = (float)(mean + half_width * weights_uniform(state));
}

static void weights_draw(const gpt2_config *c, const gpt2_layout *l, float *w, uint64_t seed)
{
    const uint64_t d = c->dim;
    uint64_t state = seed;
    weights_fill(w + l->wte, (uint64_t)c->vocab * d, 0, 0.5, &state);
    weights_fill(w + l->wpe, (uint64_t)c->context * d, 0, 0.2, &state);
    const gpt2_layer_offsets o = gpt2_layer_offsets_of(c);
    for (uint32_t i = 0; i < c->layers; i++) {
        float *p = w + l->layer0 + i * l->layer_floats;
        weights_fill(p + o.ln1_g, d, 1, 0.1, &state);
        weights_fill(p + o.ln1_b, d, 0, 0.1, &state);
        weights_fill(p + o.qkv_w, 3 * d * d, 0, 1 / sqrt((double)d), &state);
        weights_fill(p + o.qkv_b, 3 * d, 0, 0.1, &state);
        weights_fill(p + o.proj_w, d * d, 0, 1 / sqrt((double)d), &state);
        weights_fill(p + o.proj_b, d, 0, 0.1, &state);
        weights_fill(p + o.ln2_g, d, 1, 0.1, &state);
        weights_fill(p + o.ln2_b, d, 0, 0.1, &state);
        weights_fill(p + o.fc_w, 4 * d * d, 0, 1 / sqrt((double)d), &state);
        weights_fill(p + o.fc_b, 4 * d, 0, 0.1, &state);
        weights_fill(p + o.fc2_w, 4 * d * d, 0, 1 / sqrt(4.0 * (double)d), &state);
        weights_fill(p + o.fc2_b, d, 0, 0.1, &state);
    }
    weights_fill(w + l->lnf_g, d, 1, 0.1, &state);
    weights_fill(w + l->lnf_b, d, 0, 0.1, &state);
}

static void header_make(const gpt2_config *c, unsigned char *h)
{
    memset(h, 0, GPT2_HEADER_BYTES);
    memcpy(h, GPT2_MAGIC, 8);
    const uint32_t fields[6] = {1, c->vocab, c->context, c->dim, c->heads, c->layers};
    memcpy(h + 8, fields, sizeof fields); /* little-endian hosts only, as the floats */
}

aidev_status gpt2_file_write(const char *path, const gpt2_config *c, uint64_t seed)
{
    gpt2_layout l;
    aidev_status st = gpt2_layout_of(c, &l);
    if (st != AIDEV_SUCCESS)
        return st;
    float *w = malloc(l.total * sizeof(float));
    FILE *f = NULL;
    st = AIDEV_ERROR_IO;
    if (!w) {
        fprintf(stderr, "gpt2: no memory for %llu weights\n", (unsigned long long)l.total);
        st = AIDEV_ERROR_OUT_OF_HOST_MEMORY;
        goto out;
    }
    weights_draw(c, &l, w, seed);
    unsigned char h[GPT2_HEADER_BYTES];
    header_make(c, h);
    f = fopen(path, "wb");
    if (!f || fwrite(h, 1, sizeof h, f) != sizeof h ||
        fwrite(w, sizeof(float), l.total, f) != l.total) {
        fprintf(stderr, "gpt2: cannot write %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (fclose(f) != 0) {
        f = NULL;
        fprintf(stderr, "gpt2: cannot write %s: %s\n", path, strerror(errno));
        goto out;
    }
    f = NULL;
    st = AIDEV_SUCCESS;
out:
    if (f)
        fclose(f);
    free(w);
    return st;
}

aidev_status gpt2_file_config(const char *path, gpt2_config *c)
{
    unsigned char h[GPT2_HEADER_BYTES];
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gpt2: cannot open %s: %s\n", path, strerror(errno));
        return AIDEV_ERROR_IO;
    }
    const size_t got = fread(h, 1, sizeof h, f);
    fclose(f);
    uint32_t fields[6];
    memcpy(fields, h + 8, sizeof fields);
    if (got != sizeof h || memcmp(h, GPT2_MAGIC, 8) != 0 || fields[0] != 1) {
        fprintf(stderr, "gpt2: %s is not a version 1 weight file\n", path);
        return AIDEV_ERROR_IO;
    }
    *c = (gpt2_config){fields[1], fields[2], fields[3], fields[4], fields[5]};
    gpt2_layout l;
    return gpt2_layout_of(c, &l) == AIDEV_SUCCESS ? AIDEV_SUCCESS : AIDEV_ERROR_IO;
}
