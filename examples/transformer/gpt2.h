/*
 * gpt2.h - a GPT-2-shaped decoder on aidev's tensor ops: token and position
 * embeddings, pre-norm blocks of causal self-attention (with a KV cache)
 * and a GELU MLP, a final layernorm and logits against the token embedding
 * (tied, as GPT-2's). Every step is one aidev op on one in-order queue; no
 * kernel is written here.
 *
 * The weights come from a file (gpt2_file_write makes one from a seed);
 * the model reads it into device memory with aidev_enqueue_file_read. With
 * int8 weights, each linear layer's weight is quantized on the device into
 * ggml's Q8_0 blocks (aidev_enqueue_quantize) and the products are
 * aidev_enqueue_qgemm; embeddings, norms and biases stay f32.
 *
 * gpt2_numpy.py is the same model in NumPy, reading the same file: the
 * test (tests/examples/test_transformer.py) and the bench rows
 * (bench/model/bench_model.py) hold the two against each other.
 */
#ifndef AIDEV_EXAMPLES_GPT2_H
#define AIDEV_EXAMPLES_GPT2_H

#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev.h>

typedef struct gpt2_config {
    uint32_t vocab;   /* V */
    uint32_t context; /* T: positions, and the KV cache's length */
    uint32_t dim;     /* D, a multiple of 32 (Q8_0 blocks) and of heads */
    uint32_t heads;   /* H; head dim D / H at most 256 */
    uint32_t layers;  /* L */
} gpt2_config;

/* The weight file: a 64-byte header ("AIDEVGPT", u32 version 1, then V, T,
 * D, H, L as u32, zeros), then every tensor as little-endian f32, compact
 * row-major, in this order:
 *   wte [V, D], wpe [T, D],
 *   per layer: ln1_g [D], ln1_b [D], qkv_w [3D, D], qkv_b [3D],
 *              proj_w [D, D], proj_b [D], ln2_g [D], ln2_b [D],
 *              fc_w [4D, D], fc_b [4D], fc2_w [D, 4D], fc2_b [D],
 *   lnf_g [D], lnf_b [D].
 * Linear weights are [out, in] (y = x w^T + b), as torch.nn.Linear. */
#define GPT2_HEADER_BYTES 64
#define GPT2_MAGIC "AIDEVGPT"

/* Floats of each part of the file after the header. */
typedef struct gpt2_layout {
    uint64_t wte, wpe;             /* offsets, in floats */
    uint64_t layer0, layer_floats; /* first layer; floats per layer */
    uint64_t lnf_g, lnf_b;
    uint64_t total;
} gpt2_layout;

/* Offsets of one layer's tensors from the layer's start, in floats. */
typedef struct gpt2_layer_offsets {
    uint64_t ln1_g, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_g, ln2_b, fc_w, fc_b, fc2_w,
        fc2_b;
} gpt2_layer_offsets;

/* Checks |c| (AIDEV_ERROR_INVALID_ARGUMENT with a message on stderr) and
 * gives the file's layout. */
aidev_status gpt2_layout_of(const gpt2_config *c, gpt2_layout *out);
gpt2_layer_offsets gpt2_layer_offsets_of(const gpt2_config *c);

/* Writes a weight file for |c| at |path| with weights drawn from |seed|
 * (splitmix64; each linear weight uniform with a standard deviation of
 * 1/sqrt(in), biases and embeddings smaller, norm gains near 1). Returns
 * AIDEV_ERROR_IO (and says why on stderr) when the file cannot be written. */
aidev_status gpt2_file_write(const char *path, const gpt2_config *c, uint64_t seed);
/* Reads the header of |path| into |*c|; AIDEV_ERROR_IO when it is not a
 * weight file of this version. */
aidev_status gpt2_file_config(const char *path, gpt2_config *c);

typedef struct gpt2_model gpt2_model;

/* Loads |path| onto |device| (f32 weights, or with |int8| Q8_0 linear
 * weights quantized on the device), with a KV cache of the file's context
 * length. Statuses of the aidev calls it makes, AIDEV_ERROR_IO for a file
 * that cannot be read; the message is on stderr. */
aidev_status gpt2_load(aidev_device device, const char *path, bool int8, gpt2_model **out);
void gpt2_free(gpt2_model *m);
const gpt2_config *gpt2_model_config(const gpt2_model *m);

/* Runs |n| tokens at positions pos .. pos + n - 1 of the sequence (the KV
 * cache holds the first pos), appending their keys and values to the
 * cache, and writes their logits, n x V floats, to |logits|. pos + n
 * must not pass the context (AIDEV_ERROR_OUT_OF_RANGE); tokens outside
 * [0, V) give rows of NaN (aidev_enqueue_embedding). */
aidev_status gpt2_forward(gpt2_model *m, const int32_t *tokens, uint32_t n, uint32_t pos,
                          float *logits);

#endif
