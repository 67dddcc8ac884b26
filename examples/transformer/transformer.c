/*
 * transformer - a GPT-2-shaped decoder generating tokens on any aidev
 * device, with f32 or int8 (Q8_0) weights, on aidev's built-in tensor ops
 * only (gpt2.h).
 *
 *   transformer [--device N] [--int8] [--weights FILE] [--config V,T,D,H,L]
 *               [--seed S] [--prompt T1,T2,...] [--generate N]
 *               [--logits FILE] [--bench]
 *   transformer --write-weights FILE [--config V,T,D,H,L] [--seed S]
 *
 * The weights are read from FILE (default transformer.weights), which is
 * first written from the seed when it does not exist. The prompt runs in
 * one forward pass; then each new token (the argmax of the last logits) runs
 * alone against the KV cache. The tokens are printed on one line; --logits
 * writes the logits of every position (prompt and generated, f32 rows of
 * V) for a comparison with gpt2_numpy.py; --bench prints the generation
 * speed as "tokens_per_s X" (the generated tokens only, after one warm-up
 * pass that builds the kernels).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gpt2.h"

typedef struct options {
    uint32_t device;
    bool int8, bench;
    const char *weights, *write_weights, *logits;
    gpt2_config config;
    uint64_t seed;
    int32_t prompt[256];
    uint32_t prompt_len, generate;
} options;

static int usage(void)
{
    fprintf(stderr,
            "usage: transformer [--device N] [--int8] [--weights FILE] [--config V,T,D,H,L]\n"
            "                   [--seed S] [--prompt T1,T2,...] [--generate N] [--logits FILE]\n"
            "                   [--bench]\n"
            "       transformer --write-weights FILE [--config V,T,D,H,L] [--seed S]\n");
    return 2;
}

static bool parse_list(const char *s, uint32_t max, uint32_t *count, int64_t *out)
{
    *count = 0;
    while (*s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || *count == max || (*end && *end != ','))
            return false;
        out[(*count)++] = v;
        s = *end ? end + 1 : end;
    }
    return *count > 0;
}

static bool parse_args(int argc, char **argv, options *o)
{
    *o = (options){.weights = "transformer.weights", .seed = 17,
                   .config = {.vocab = 512, .context = 128, .dim = 128, .heads = 4, .layers = 4},
                   .prompt = {1, 2, 3, 4, 5, 6, 7, 8}, .prompt_len = 8, .generate = 16};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t list[256];
        uint32_t n;
        if (!strcmp(a, "--int8")) {
            o->int8 = true;
            continue;
        }
        if (!strcmp(a, "--bench")) {
            o->bench = true;
            continue;
        }
        if (!v)
            return false;
        i++;
        if (!strcmp(a, "--device"))
            o->device = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--weights"))
            o->weights = v;
        else if (!strcmp(a, "--write-weights"))
            o->write_weights = v;
        else if (!strcmp(a, "--logits"))
            o->logits = v;
        else if (!strcmp(a, "--seed"))
            o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--generate"))
            o->generate = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--config") && parse_list(v, 5, &n, list) && n == 5)
            o->config = (gpt2_config){(uint32_t)list[0], (uint32_t)list[1], (uint32_t)list[2],
                                      (uint32_t)list[3], (uint32_t)list[4]};
        else if (!strcmp(a, "--prompt") && parse_list(v, 256, &n, list)) {
            for (uint32_t j = 0; j < n; j++)
                o->prompt[j] = (int32_t)list[j];
            o->prompt_len = n;
        } else
            return false;
    }
    return true;
}

static uint32_t argmax(const float *row, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (row[i] > row[best])
            best = i;
    return best;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs the prompt, then generates; |logits| holds a row per position. */
static aidev_status generate(gpt2_model *m, const options *o, int32_t *tokens, float *logits,
                             double *gen_seconds)
{
    const uint32_t v = gpt2_model_config(m)->vocab;
    aidev_status st = gpt2_forward(m, tokens, o->prompt_len, 0, logits);
    const double t0 = seconds_now();
    for (uint32_t i = 0; i < o->generate && st == AIDEV_SUCCESS; i++) {
        const uint32_t pos = o->prompt_len + i;
        tokens[pos] = (int32_t)argmax(logits + (size_t)(pos - 1) * v, v);
        st = gpt2_forward(m, tokens + pos, 1, pos, logits + (size_t)pos * v);
    }
    *gen_seconds = seconds_now() - t0;
    return st;
}

static int run(aidev_device device, const options *o)
{
    gpt2_model *m = NULL;
    if (gpt2_load(device, o->weights, o->int8, &m) != AIDEV_SUCCESS)
        return 1;
    const gpt2_config *c = gpt2_model_config(m);
    const uint32_t total = o->prompt_len + o->generate;
    int rc = 1;
    int32_t *tokens = calloc(total, sizeof *tokens);
    float *logits = malloc((size_t)total * c->vocab * sizeof(float));
    if (total > c->context || !tokens || !logits) {
        fprintf(stderr, "transformer: %u tokens for a context of %u\n", total, c->context);
        goto out;
    }
    memcpy(tokens, o->prompt, o->prompt_len * sizeof *tokens);
    double seconds;
    /* Under --bench, a first pass builds every kernel on the device. */
    if (o->bench && generate(m, o, tokens, logits, &seconds) != AIDEV_SUCCESS)
        goto out;
    if (generate(m, o, tokens, logits, &seconds) != AIDEV_SUCCESS)
        goto out;
    for (uint32_t i = 0; i < total; i++)
        printf("%s%d", i ? " " : "", tokens[i]);
    printf("\n");
    if (o->bench)
        printf("tokens_per_s %.6g\n", seconds > 0 ? o->generate / seconds : 0.0);
    if (o->logits) {
        FILE *f = fopen(o->logits, "wb");
        size_t count = (size_t)total * c->vocab;
        if (!f || fwrite(logits, sizeof(float), count, f) != count || fclose(f) != 0) {
            fprintf(stderr, "transformer: cannot write %s\n", o->logits);
            goto out;
        }
    }
    rc = 0;
out:
    free(tokens);
    free(logits);
    gpt2_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    options o;
    if (!parse_args(argc, argv, &o) || o.prompt_len == 0)
        return usage();
    if (o.write_weights)
        return gpt2_file_write(o.write_weights, &o.config, o.seed) == AIDEV_SUCCESS ? 0 : 1;
    if (access(o.weights, F_OK) != 0 &&
        gpt2_file_write(o.weights, &o.config, o.seed) != AIDEV_SUCCESS)
        return 1;
    aidev_context ctx;
    if (aidev_context_create(NULL, &ctx) != AIDEV_SUCCESS) {
        fprintf(stderr, "transformer: %s\n", aidev_last_error());
        return 1;
    }
    uint32_t count = 0;
    aidev_context_get_devices(ctx, &count, NULL);
    aidev_device devices[64];
    count = count > 64 ? 64 : count;
    aidev_context_get_devices(ctx, &count, devices);
    int rc = 1;
    if (o.device >= count)
        fprintf(stderr, "transformer: no device %u (%u found; aidev-info lists them)\n", o.device,
                count);
    else
        rc = run(devices[o.device], &o);
    aidev_context_release(ctx);
    return rc;
}
