/*
 * gpt2_model.h - the model's insides, shared by gpt2.c (loading) and
 * gpt2_forward.c (the forward pass). Not part of gpt2.h's interface.
 */
#ifndef AIDEV_EXAMPLES_GPT2_MODEL_H
#define AIDEV_EXAMPLES_GPT2_MODEL_H

#include "gpt2.h"

#define Q8_0_BLOCK_BYTES 34

/* One linear layer's weight: its f32 rows in the weight buffer, and where
 * int8, its Q8_0 blocks. */
typedef struct gpt2_linear {
    aidev_tensor w;     /* [out, in] f32 */
    aidev_qtensor q;    /* Q8_0, when the model is int8 */
} gpt2_linear;

typedef struct gpt2_block {
    aidev_tensor ln1_g, ln1_b, qkv_b, proj_b, ln2_g, ln2_b, fc_b, fc2_b;
    gpt2_linear qkv, proj, fc, fc2;
    aidev_tensor k_cache, v_cache; /* [H, T, Dh] */
} gpt2_block;

struct gpt2_model {
    gpt2_config c;
    bool int8;
    aidev_device device;
    aidev_queue queue;
    aidev_buffer weights, qweights, cache, act, ids;
    aidev_tensor wte, wpe, lnf_g, lnf_b;
    gpt2_linear logits_w; /* wte as the output layer */
    gpt2_block *blocks;
    /* Activations, [T, ...] each, at these offsets (floats) of |act|. */
    uint64_t x_at, h_at, qkv_at, att_at, f_at, logits_at;
};

/* Prints |what| and aidev's message unless |st| is AIDEV_SUCCESS; returns
 * |st|. */
aidev_status gpt2_fail(aidev_status st, const char *what);
/* A compact f32 view of |rank| axes (sizes s0, s1, s2) at |at| floats of
 * |b|. */
aidev_tensor gpt2_view(aidev_buffer b, uint64_t at, uint32_t rank, int64_t s0, int64_t s1,
                       int64_t s2);

#endif
