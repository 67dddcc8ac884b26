/*
 * dag.c - the task graphs of dag.h: built, checked and compared.
 *
 * Inputs are pseudo-random (a seeded xorshift), so every run of a DAG of
 * one seed computes the same values, and a result can be checked against a
 * run on one device, with the tolerance each output carries.
 */
#include "dag.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Building                                                                 */
/* ------------------------------------------------------------------------ */

/* Building state: the DAG, its random stream, and whether an allocation
 * failed (then the generator frees the DAG and returns NULL). */
typedef struct dag_builder {
    dag *g;
    uint64_t rng;
    bool failed;
} dag_builder;

static uint64_t dag_rand(dag_builder *b)
{
    /* xorshift64* */
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return b->rng * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [-1, 1), a multiple of 2^-20. */
static float dag_rand_unit(dag_builder *b)
{
    return (float)((int32_t)(dag_rand(b) >> 43) - (1 << 20)) / (float)(1 << 20);
}

static bool builder_start(dag_builder *b, const char *name, uint64_t seed)
{
    b->g = calloc(1, sizeof *b->g);
    b->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    b->failed = !b->g;
    if (b->g)
        snprintf(b->g->name, sizeof b->g->name, "%s", name);
    return !b->failed;
}

static dag *builder_finish(dag_builder *b)
{
    if (b->failed) {
        dag_free(b->g);
        return NULL;
    }
    return b->g;
}

/* A new datum of |count| floats; NULL-free: on failure the builder fails
 * and a dummy index comes back. */
static uint32_t add_data(dag_builder *b, uint32_t count, bool output, float tolerance)
{
    dag *g = b->g;
    if (b->failed)
        return 0;
    if (g->data_count == g->data_capacity) {
        uint32_t cap = g->data_capacity ? 2 * g->data_capacity : 64;
        dag_data *grown = realloc(g->data, cap * sizeof *grown);
        if (!grown) {
            b->failed = true;
            return 0;
        }
        g->data = grown;
        g->data_capacity = cap;
    }
    dag_data *d = &g->data[g->data_count];
    memset(d, 0, sizeof *d);
    d->count = count;
    d->output = output;
    d->tolerance = tolerance;
    return g->data_count++;
}

/* A datum with random contents in [-1, 1). */
static uint32_t add_input(dag_builder *b, uint32_t count)
{
    uint32_t i = add_data(b, count, false, 0);
    if (b->failed)
        return 0;
    float *init = malloc((size_t)count * sizeof *init);
    if (!init) {
        b->failed = true;
        return 0;
    }
    for (uint32_t k = 0; k < count; k++)
        init[k] = dag_rand_unit(b);
    b->g->data[i].init = init;
    return i;
}

static dag_task *add_task(dag_builder *b, const char *kernel, uint32_t part)
{
    static dag_task scratch; /* where a failed builder writes */
    dag *g = b->g;
    if (b->failed)
        return &scratch;
    if (g->task_count == g->task_capacity) {
        uint32_t cap = g->task_capacity ? 2 * g->task_capacity : 64;
        dag_task *grown = realloc(g->tasks, cap * sizeof *grown);
        if (!grown) {
            b->failed = true;
            return &scratch;
        }
        g->tasks = grown;
        g->task_capacity = cap;
    }
    dag_task *t = &g->tasks[g->task_count++];
    memset(t, 0, sizeof *t);
    t->kernel = kernel;
    t->part = part;
    t->grid[0] = t->grid[1] = t->grid[2] = 1;
    return t;
}

static void arg_u32(dag_task *t, uint32_t v)
{
    dag_arg *a = &t->args[t->arg_count++];
    a->kind = AIDEV_ARG_SCALAR;
    a->type = AIDEV_TYPE_U32;
    a->value.u32 = v;
}

static void arg_f32(dag_task *t, float v)
{
    dag_arg *a = &t->args[t->arg_count++];
    a->kind = AIDEV_ARG_SCALAR;
    a->type = AIDEV_TYPE_F32;
    a->value.f32 = v;
}

static void arg_data(dag_task *t, uint32_t data, aidev_access access)
{
    dag_arg *a = &t->args[t->arg_count++];
    a->kind = AIDEV_ARG_BUFFER;
    a->data = data;
    a->access = access;
}

/* ------------------------------------------------------------------------ */
/* Kernels, as tasks                                                        */
/* ------------------------------------------------------------------------ */

static void task_sgemm(dag_builder *b, uint32_t t, float beta, uint32_t a, uint32_t bm,
                       uint32_t c, uint32_t part)
{
    dag_task *k = add_task(b, "sgemm", part);
    arg_u32(k, t);
    arg_u32(k, t);
    arg_u32(k, t);
    arg_f32(k, 1.0f);
    arg_f32(k, beta);
    arg_data(k, a, AIDEV_ACCESS_READ);
    arg_data(k, bm, AIDEV_ACCESS_READ);
    /* beta 0 overwrites C whole: nothing of it needs to be where it runs */
    arg_data(k, c, beta == 0.0f ? AIDEV_ACCESS_WRITE : AIDEV_ACCESS_READ_WRITE);
    k->grid[0] = k->grid[1] = t;
    b->g->flops += 2.0 * t * t * t;
}

/* y = op(x, z) for the elementwise kernels of two inputs (add, mul). */
static void task_binary(dag_builder *b, const char *kernel, uint32_t n, uint32_t x, uint32_t z,
                        uint32_t y, uint32_t part)
{
    dag_task *k = add_task(b, kernel, part);
    arg_u32(k, n);
    arg_data(k, x, AIDEV_ACCESS_READ);
    arg_data(k, z, AIDEV_ACCESS_READ);
    arg_data(k, y, AIDEV_ACCESS_WRITE);
    k->grid[0] = n;
    b->g->flops += n;
}

static void task_scale(dag_builder *b, uint32_t n, float alpha, uint32_t x, uint32_t y,
                       uint32_t part)
{
    dag_task *k = add_task(b, "scale", part);
    arg_u32(k, n);
    arg_f32(k, alpha);
    arg_data(k, x, AIDEV_ACCESS_READ);
    arg_data(k, y, AIDEV_ACCESS_WRITE);
    k->grid[0] = n;
    b->g->flops += n;
}

static void task_axpy(dag_builder *b, uint32_t n, float alpha, uint32_t x, uint32_t y,
                      uint32_t part)
{
    dag_task *k = add_task(b, "axpy", part);
    arg_u32(k, n);
    arg_f32(k, alpha);
    arg_data(k, x, AIDEV_ACCESS_READ);
    arg_data(k, y, AIDEV_ACCESS_READ_WRITE);
    k->grid[0] = n;
    b->g->flops += 2.0 * n;
}

/* relu, copy_f32, reduce_sum: (n, x, y). */
static void task_unary(dag_builder *b, const char *kernel, uint32_t n, uint32_t x, uint32_t y,
                       uint32_t part)
{
    dag_task *k = add_task(b, kernel, part);
    arg_u32(k, n);
    arg_data(k, x, AIDEV_ACCESS_READ);
    arg_data(k, y, AIDEV_ACCESS_WRITE);
    k->grid[0] = strcmp(kernel, "reduce_sum") == 0 ? 1 : n;
    b->g->flops += n;
}

/* ------------------------------------------------------------------------ */
/* The DAGs                                                                 */
/* ------------------------------------------------------------------------ */

static void build_tiled_sgemm(dag_builder *b, uint32_t n, uint32_t t, uint32_t part_of_upper,
                              uint32_t part_of_lower)
{
    uint32_t tiles = n / t, size = t * t;
    uint32_t a0 = b->g->data_count;
    for (uint32_t i = 0; i < tiles * tiles; i++)
        add_input(b, size);
    uint32_t b0 = b->g->data_count;
    for (uint32_t i = 0; i < tiles * tiles; i++)
        add_input(b, size);
    uint32_t c0 = b->g->data_count;
    for (uint32_t i = 0; i < tiles * tiles; i++)
        add_data(b, size, true, 2.5e-5f * (float)n);
    for (uint32_t i = 0; i < tiles; i++) {
        uint32_t part = i < (tiles + 1) / 2 ? part_of_upper : part_of_lower;
        for (uint32_t j = 0; j < tiles; j++)
            for (uint32_t p = 0; p < tiles; p++)
                task_sgemm(b, t, p == 0 ? 0.0f : 1.0f, a0 + i * tiles + p, b0 + p * tiles + j,
                           c0 + i * tiles + j, part);
    }
}

dag *dag_tiled_sgemm(uint32_t n, uint32_t t, uint64_t seed)
{
    dag_builder b;
    if (!t || n % t || !builder_start(&b, "tiled_sgemm", seed))
        return NULL;
    build_tiled_sgemm(&b, n, t, 0, 1);
    return builder_finish(&b);
}

/* One chain: x and z inputs, two buffers in turn (so later writes wait for
 * earlier reads), |length| kernels cycling add, mul, scale, relu. */
static void build_chain(dag_builder *b, uint32_t n, uint32_t length, uint32_t part)
{
    uint32_t x = add_input(b, n), z = add_input(b, n);
    uint32_t ping[2];
    ping[0] = add_data(b, n, false, 0);
    ping[1] = add_data(b, n, false, 0);
    uint32_t cur = x;
    for (uint32_t k = 0; k < length; k++) {
        uint32_t out = ping[k % 2];
        switch (k % 4) {
        case 0: task_binary(b, "add", n, cur, z, out, part); break;
        case 1: task_binary(b, "mul", n, cur, x, out, part); break;
        case 2: task_scale(b, n, 0.5f, cur, out, part); break;
        default: task_unary(b, "relu", n, cur, out, part); break;
        }
        cur = out;
    }
    if (!b->failed)
        b->g->data[cur].output = true;
}

dag *dag_elementwise(uint32_t n, uint32_t chunks, uint32_t length, uint64_t seed)
{
    dag_builder b;
    if (!n || !chunks || !length || !builder_start(&b, "elementwise", seed))
        return NULL;
    for (uint32_t part = 0; part < 2; part++)
        for (uint32_t c = 0; c < chunks; c++)
            build_chain(&b, n, length, part);
    return builder_finish(&b);
}

/* reduce_sum of |parts| inputs, then a tree of adds into one output. */
static void build_reduction(dag_builder *b, uint32_t n, uint32_t parts, uint32_t part)
{
    uint32_t *level = calloc(parts, sizeof *level);
    if (!level) {
        b->failed = true;
        return;
    }
    double magnitude = 0;
    for (uint32_t i = 0; i < parts; i++) {
        uint32_t x = add_input(b, n);
        for (uint32_t k = 0; !b->failed && k < n; k++)
            magnitude += fabs(b->g->data[x].init[k]);
        level[i] = add_data(b, 1, false, 0);
        task_unary(b, "reduce_sum", n, x, level[i], part);
    }
    uint32_t count = parts;
    while (count > 1) {
        uint32_t next = 0;
        for (uint32_t i = 0; i + 1 < count; i += 2) {
            uint32_t sum = add_data(b, 1, false, 0);
            task_binary(b, "add", 1, level[i], level[i + 1], sum, part);
            level[next++] = sum;
        }
        if (count % 2)
            level[next++] = level[count - 1];
        count = next;
    }
    if (!b->failed) {
        b->g->data[level[0]].output = true;
        b->g->data[level[0]].tolerance = (float)(4e-6 * magnitude);
    }
    free(level);
}

dag *dag_reduction(uint32_t n, uint32_t parts, uint64_t seed)
{
    dag_builder b;
    if (!n || parts < 2 || !builder_start(&b, "reduction", seed))
        return NULL;
    build_reduction(&b, n, parts / 2, 0);
    build_reduction(&b, n, parts - parts / 2, 1);
    return builder_finish(&b);
}

dag *dag_mix(uint32_t n, uint32_t t, uint32_t vector, uint64_t seed)
{
    dag_builder b;
    if (!t || n % t || !vector || !builder_start(&b, "dag_mix", seed))
        return NULL;
    build_tiled_sgemm(&b, n, t, 0, 0);
    build_chain(&b, vector, 8, 1);
    build_chain(&b, vector, 8, 1);
    build_reduction(&b, vector, 8, 1);
    return builder_finish(&b);
}

/* ------------------------------------------------------------------------ */
/* Random DAGs                                                              */
/* ------------------------------------------------------------------------ */

/* Bounds on a datum's values, so that no run meets overflow, NaN or
 * subnormals (which devices may flush): every nonzero value lies within
 * [quantum, max] in magnitude. */
typedef struct value_range {
    double max, quantum;
} value_range;

static bool range_ok(value_range r)
{
    return r.max < 0x1p60 && r.quantum > 0x1p-60;
}

/* Picks a task that keeps every datum's values in range, writing |out|
 * from inputs |x| and |z|; returns false when the one drawn would not. */
static bool random_task(dag_builder *b, value_range *range, uint32_t n, uint32_t out,
                        uint32_t x, uint32_t z)
{
    static const float powers[] = {0.5f, -0.5f, 0.25f, 2.0f, -2.0f};
    float alpha = powers[dag_rand(b) % 5];
    value_range rx = range[x], rz = range[z], ro = range[out], r;
    switch (dag_rand(b) % 6) {
    case 0:
        r = (value_range){rx.max + rz.max, fmin(rx.quantum, rz.quantum)};
        if (!range_ok(r))
            return false;
        task_binary(b, "add", n, x, z, out, 0);
        break;
    case 1:
        r = (value_range){rx.max * rz.max, rx.quantum * rz.quantum};
        if (!range_ok(r))
            return false;
        task_binary(b, "mul", n, x, z, out, 0);
        break;
    case 2:
        r = (value_range){rx.max * fabs(alpha), rx.quantum * fabs(alpha)};
        if (!range_ok(r))
            return false;
        task_scale(b, n, alpha, x, out, 0);
        break;
    case 3:
        /* alpha a power of two: alpha x is exact, so a fused multiply-add
         * gives the same bits as a multiply and an add. */
        r = (value_range){rx.max * fabs(alpha) + ro.max, fmin(rx.quantum * fabs(alpha), ro.quantum)};
        if (!range_ok(r))
            return false;
        task_axpy(b, n, alpha, x, out, 0);
        break;
    case 4:
        r = rx;
        task_unary(b, "relu", n, x, out, 0);
        break;
    default:
        r = rx;
        task_unary(b, "copy_f32", n, x, out, 0);
        break;
    }
    range[out] = r;
    return true;
}

dag *dag_random(uint32_t data, uint32_t tasks, uint32_t n, uint64_t seed)
{
    dag_builder b;
    if (data < 3 || !n || !builder_start(&b, "random", seed))
        return NULL;
    value_range *range = calloc(data, sizeof *range);
    if (!range) {
        b.failed = true;
        return builder_finish(&b);
    }
    for (uint32_t i = 0; i < data && !b.failed; i++) {
        uint32_t d = add_input(&b, n);
        /* Magnitudes in [0.5, 2), multiples of 2^-8. */
        for (uint32_t k = 0; !b.failed && k < n; k++) {
            float v = 0.5f + (float)(dag_rand(&b) % 384) / 256.0f;
            b.g->data[d].init[k] = dag_rand(&b) % 2 ? v : -v;
        }
        b.g->data[d].output = true;
        range[d] = (value_range){2.0, 0x1p-8};
    }
    for (uint32_t t = 0; t < tasks && !b.failed; t++) {
        uint32_t out = (uint32_t)(dag_rand(&b) % data), x, z;
        do
            x = (uint32_t)(dag_rand(&b) % data);
        while (x == out);
        do
            z = (uint32_t)(dag_rand(&b) % data);
        while (z == out);
        /* A draw that would leave the range becomes a copy, always safe. */
        if (!random_task(&b, range, n, out, x, z)) {
            task_unary(&b, "copy_f32", n, x, out, 0);
            range[out] = range[x];
        }
    }
    free(range);
    return builder_finish(&b);
}

void dag_free(dag *g)
{
    if (!g)
        return;
    for (uint32_t i = 0; i < g->data_count; i++)
        free(g->data[i].init);
    free(g->data);
    free(g->tasks);
    free(g);
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */
/* ------------------------------------------------------------------------ */

const aidev_kernel_desc *dag_task_signature(const dag_task *task, char *why, size_t why_size)
{
    const aidev_kernel_desc *desc = NULL;
    for (uint32_t i = 0; i < aidev_library_kernel_count() && !desc; i++)
        if (strcmp(aidev_library_kernel(i)->name, task->kernel) == 0)
            desc = aidev_library_kernel(i);
    if (!desc) {
        snprintf(why, why_size, "kernel '%s' is not in the built-in library", task->kernel);
        return NULL;
    }
    if (desc->arg_count != task->arg_count) {
        snprintf(why, why_size, "kernel '%s' takes %u arguments, the task gives %u",
                 task->kernel, desc->arg_count, task->arg_count);
        return NULL;
    }
    for (uint32_t i = 0; i < task->arg_count; i++) {
        const dag_arg *a = &task->args[i];
        const aidev_kernel_arg_desc *s = &desc->args[i];
        if (a->kind != s->kind || (a->kind == AIDEV_ARG_SCALAR && a->type != s->type) ||
            (a->kind == AIDEV_ARG_BUFFER && (a->access & ~s->access))) {
            snprintf(why, why_size, "kernel '%s': argument %u ('%s') does not match", task->kernel,
                     i, s->name);
            return NULL;
        }
    }
    return desc;
}

bool dag_compare(const dag *g, uint32_t d, const float *a, const float *b, char *why,
                 size_t why_size)
{
    const dag_data *data = &g->data[d];
    for (uint32_t i = 0; i < data->count; i++) {
        bool same = data->tolerance == 0 ? memcmp(&a[i], &b[i], sizeof a[i]) == 0
                                         : fabsf(a[i] - b[i]) <= data->tolerance;
        if (!same) {
            snprintf(why, why_size,
                     "%s: datum %u, element %u: %.9g against %.9g (tolerance %g%s)", g->name, d,
                     i, (double)a[i], (double)b[i], (double)data->tolerance,
                     data->tolerance == 0 ? ": bit-equal" : "");
            return false;
        }
    }
    return true;
}
