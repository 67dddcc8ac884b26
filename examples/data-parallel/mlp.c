/*
 * mlp.c - see mlp.h. Every kernel is one of aidev's built-in library:
 * sgemm (products and, with a column of ones, bias adds), transpose (for
 * the transposed products of the backward pass), relu and relu_backward,
 * col_sum (bias gradients), axpy, scale and add.
 */
#include "mlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void must(aidev_status st, const char *what)
{
    if (st == AIDEV_SUCCESS)
        return;
    fprintf(stderr, "data-parallel: %s: %s: %s%s\n", what, aidev_status_string(st),
            aidev_last_error(), aidev_mpi_last_error());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static aidev_buffer new_buffer(mlp *m, uint64_t floats)
{
    aidev_buffer_desc desc = {.size = floats * sizeof(float), .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    aidev_buffer b;
    must(aidev_buffer_create(m->dev, &desc, &b), "aidev_buffer_create");
    return b;
}

static aidev_kernel kernel(mlp *m, const char *name)
{
    aidev_kernel k;
    must(aidev_kernel_get(m->dev, name, &k), name);
    return k;
}

/* A dispatch on the compute queue with the kernel's own grid. */
static void run(mlp *m, aidev_kernel k, uint32_t argc, const aidev_arg *args,
                aidev_event *out_event, uint32_t wait_count, const aidev_event *waits)
{
    must(aidev_enqueue_dispatch(m->compute, k, NULL, NULL, argc, args, wait_count, waits,
                                out_event),
         "aidev_enqueue_dispatch");
}

static aidev_arg buf(aidev_buffer b, uint64_t element)
{
    return aidev_arg_buffer(b, element * sizeof(float));
}

/* c = alpha a b + beta c; a is rows x inner, b is inner x cols. */
static void gemm(mlp *m, uint32_t rows, uint32_t cols, uint32_t inner, float beta,
                 aidev_arg a, aidev_arg b, aidev_arg c, aidev_event *out_event)
{
    aidev_arg args[] = {aidev_arg_u32(rows), aidev_arg_u32(cols), aidev_arg_u32(inner),
                        aidev_arg_f32(1.0f), aidev_arg_f32(beta), a, b, c};
    run(m, m->sgemm, 8, args, out_event, 0, NULL);
}

static void transpose(mlp *m, uint32_t rows, uint32_t cols, aidev_arg x, aidev_arg y)
{
    aidev_arg args[] = {aidev_arg_u32(rows), aidev_arg_u32(cols), x, y};
    run(m, m->transpose, 4, args, NULL, 0, NULL);
}

void mlp_create(mlp *m, aidev_device dev, MPI_Comm comm, const float *x, const float *t,
                uint32_t batch, uint32_t total_batch, float lr)
{
    memset(m, 0, sizeof *m);
    m->dev = dev;
    m->batch = batch;
    m->lr = lr;
    m->grad_scale = 2.0f / ((float)total_batch * MLP_OUT);
    must(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &m->compute), "queue");
    must(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &m->comm_queue), "queue");
    if (comm != MPI_COMM_NULL)
        must(aidev_mpi_comm_create(comm, m->comm_queue, NULL, &m->comm), "aidev_mpi_comm_create");
    m->sgemm = kernel(m, "sgemm");
    m->transpose = kernel(m, "transpose");
    m->relu = kernel(m, "relu");
    m->relu_backward = kernel(m, "relu_backward");
    m->col_sum = kernel(m, "col_sum");
    m->axpy = kernel(m, "axpy");
    m->scale = kernel(m, "scale");
    m->add = kernel(m, "add");
    const uint64_t b = batch;
    m->x = new_buffer(m, b * MLP_IN);
    m->xt = new_buffer(m, b * MLP_IN);
    m->t = new_buffer(m, b * MLP_OUT);
    m->ones = new_buffer(m, b);
    m->z1 = new_buffer(m, b * MLP_HIDDEN);
    m->a1 = new_buffer(m, b * MLP_HIDDEN);
    m->a1t = new_buffer(m, b * MLP_HIDDEN);
    m->da1 = new_buffer(m, b * MLP_HIDDEN);
    m->dz1 = new_buffer(m, b * MLP_HIDDEN);
    m->y = new_buffer(m, b * MLP_OUT);
    m->dy = new_buffer(m, b * MLP_OUT);
    m->w2t = new_buffer(m, MLP_HIDDEN * MLP_OUT);
    m->params = new_buffer(m, MLP_PARAMS);
    m->grads = new_buffer(m, MLP_PARAMS);
    m->update = new_buffer(m, MLP_PARAMS);
    float one = 1.0f;
    must(aidev_enqueue_write(m->compute, m->x, 0, b * MLP_IN * 4, x, 0, NULL, NULL), "write");
    must(aidev_enqueue_write(m->compute, m->t, 0, b * MLP_OUT * 4, t, 0, NULL, NULL), "write");
    must(aidev_enqueue_fill(m->compute, m->ones, 0, b * 4, &one, 4, 0, NULL, NULL), "fill");
    transpose(m, batch, MLP_IN, buf(m->x, 0), buf(m->xt, 0)); /* for dW1 = x^T dz1 */
    must(aidev_queue_finish(m->compute), "the inputs");
}

void mlp_release(mlp *m)
{
    if (m->comm)
        aidev_mpi_comm_release(m->comm);
    aidev_buffer all[] = {m->x,   m->xt,  m->t,   m->ones, m->z1,     m->a1,   m->a1t,
                          m->da1, m->dz1, m->y,   m->dy,   m->w2t,    m->params, m->grads,
                          m->update};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        aidev_buffer_release(all[i]);
    aidev_kernel kernels[] = {m->sgemm, m->transpose, m->relu, m->relu_backward,
                              m->col_sum, m->axpy, m->scale, m->add};
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++)
        aidev_kernel_release(kernels[i]);
    aidev_queue_release(m->comm_queue);
    aidev_queue_release(m->compute);
}

void mlp_set_params(mlp *m, const float *params, int root)
{
    aidev_event written = NULL, done = NULL;
    if (params)
        must(aidev_enqueue_write(m->comm_queue, m->params, 0, MLP_PARAMS * 4, params, 0, NULL,
                                 &written), "write");
    if (root >= 0)
        must(aidev_mpi_broadcast(m->comm, m->params, 0, MLP_PARAMS, AIDEV_TYPE_F32, root,
                                 written ? 1 : 0, &written, &done), "aidev_mpi_broadcast");
    must(aidev_queue_finish(m->comm_queue), "the parameters");
    if (done) {
        must(aidev_event_wait(done, AIDEV_WAIT_FOREVER), "the broadcast");
        aidev_event_release(done);
    }
    if (written)
        aidev_event_release(written);
}

void mlp_get_params(mlp *m, float *out)
{
    must(aidev_queue_finish(m->compute), "the step");
    must(aidev_enqueue_read(m->compute, m->params, 0, MLP_PARAMS * 4, out, 0, NULL, NULL),
         "read");
    must(aidev_queue_finish(m->compute), "read");
}

static void forward(mlp *m)
{
    const uint32_t b = m->batch;
    gemm(m, b, MLP_HIDDEN, MLP_IN, 0.0f, buf(m->x, 0), buf(m->params, MLP_W1), buf(m->z1, 0),
         NULL);
    gemm(m, b, MLP_HIDDEN, 1, 1.0f, buf(m->ones, 0), buf(m->params, MLP_B1), buf(m->z1, 0),
         NULL); /* + b1 on every row */
    aidev_arg relu_args[] = {aidev_arg_u32(b * MLP_HIDDEN), buf(m->z1, 0), buf(m->a1, 0)};
    run(m, m->relu, 3, relu_args, NULL, 0, NULL);
    gemm(m, b, MLP_OUT, MLP_HIDDEN, 0.0f, buf(m->a1, 0), buf(m->params, MLP_W2), buf(m->y, 0),
         NULL);
    gemm(m, b, MLP_OUT, 1, 1.0f, buf(m->ones, 0), buf(m->params, MLP_B2), buf(m->y, 0), NULL);
}

/* The backward pass; |ready| gets, per gradient (W1, b1, W2, b2 in that
 * order), the event of the kernel that wrote it. */
static void backward(mlp *m, aidev_event ready[4])
{
    const uint32_t b = m->batch;
    /* dy = 2 (y - t) / (samples * outputs) */
    aidev_arg diff[] = {aidev_arg_u32(b * MLP_OUT), aidev_arg_f32(-1.0f), buf(m->t, 0),
                        buf(m->y, 0)};
    run(m, m->axpy, 4, diff, NULL, 0, NULL);
    aidev_arg scale[] = {aidev_arg_u32(b * MLP_OUT), aidev_arg_f32(m->grad_scale), buf(m->y, 0),
                         buf(m->dy, 0)};
    run(m, m->scale, 4, scale, NULL, 0, NULL);
    /* Output layer: dW2 = a1^T dy, db2 = column sums of dy. */
    transpose(m, b, MLP_HIDDEN, buf(m->a1, 0), buf(m->a1t, 0));
    gemm(m, MLP_HIDDEN, MLP_OUT, b, 0.0f, buf(m->a1t, 0), buf(m->dy, 0),
         buf(m->grads, MLP_W2), &ready[2]);
    aidev_arg db2[] = {aidev_arg_u32(b), aidev_arg_u32(MLP_OUT), buf(m->dy, 0),
                       buf(m->grads, MLP_B2)};
    run(m, m->col_sum, 4, db2, &ready[3], 0, NULL);
    /* Hidden layer: da1 = dy W2^T, dz1 = da1 where z1 > 0, dW1 = x^T dz1,
     * db1 = column sums of dz1. Runs while the output layer's gradients
     * travel. */
    transpose(m, MLP_HIDDEN, MLP_OUT, buf(m->params, MLP_W2), buf(m->w2t, 0));
    gemm(m, b, MLP_HIDDEN, MLP_OUT, 0.0f, buf(m->dy, 0), buf(m->w2t, 0), buf(m->da1, 0), NULL);
    aidev_arg drelu[] = {aidev_arg_u32(b * MLP_HIDDEN), buf(m->z1, 0), buf(m->da1, 0),
                         buf(m->dz1, 0)};
    run(m, m->relu_backward, 4, drelu, NULL, 0, NULL);
    gemm(m, MLP_IN, MLP_HIDDEN, b, 0.0f, buf(m->xt, 0), buf(m->dz1, 0),
         buf(m->grads, MLP_W1), &ready[0]);
    aidev_arg db1[] = {aidev_arg_u32(b), aidev_arg_u32(MLP_HIDDEN), buf(m->dz1, 0),
                       buf(m->grads, MLP_B1)};
    run(m, m->col_sum, 4, db1, &ready[1], 0, NULL);
}

/* Sums the gradients over the ranks: two buckets, the output layer's
 * (ready first) and the hidden layer's, each starting as soon as its own
 * kernels are done. Returns the event after which every gradient is. */
static aidev_event reduce_gradients(mlp *m, aidev_event ready[4])
{
    if (!m->comm)
        return NULL; /* one process: the compute queue's order is enough */
    const aidev_mpi_range ranges[] = {
        {MLP_B2 * 4, MLP_OUT, ready[3]},
        {MLP_W2 * 4, MLP_HIDDEN * MLP_OUT, ready[2]},
        {MLP_B1 * 4, MLP_HIDDEN, ready[1]},
        {MLP_W1 * 4, MLP_IN * MLP_HIDDEN, ready[0]},
    };
    const uint64_t output_layer_bytes = (MLP_HIDDEN * MLP_OUT + MLP_OUT) * 4;
    aidev_event reduced;
    must(aidev_mpi_allreduce_buckets(m->comm, m->grads, AIDEV_TYPE_F32, AIDEV_MPI_SUM,
                                     output_layer_bytes, 4, ranges, NULL, &reduced),
         "aidev_mpi_allreduce_buckets");
    return reduced;
}

/* params -= lr * grads, as two exactly rounded kernels (scale, then add):
 * every device computes the same bits from the same gradients, so the
 * ranks' parameters stay identical whatever device each one runs on (a
 * fused multiply-add would round once, on some devices only). */
static void sgd(mlp *m, aidev_event reduced)
{
    aidev_arg scale[] = {aidev_arg_u32(MLP_PARAMS), aidev_arg_f32(-m->lr), buf(m->grads, 0),
                         buf(m->update, 0)};
    run(m, m->scale, 4, scale, NULL, reduced ? 1 : 0, &reduced);
    aidev_arg add[] = {aidev_arg_u32(MLP_PARAMS), buf(m->params, 0), buf(m->update, 0),
                       buf(m->params, 0)};
    run(m, m->add, 4, add, NULL, 0, NULL);
}

static double local_loss(mlp *m)
{
    const size_t n = (size_t)m->batch * MLP_OUT;
    float *dy = malloc(n * sizeof(float));
    if (!dy)
        must(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "loss");
    must(aidev_enqueue_read(m->compute, m->dy, 0, n * sizeof(float), dy, 0, NULL, NULL), "read");
    must(aidev_queue_finish(m->compute), "the step");
    /* dy = grad_scale (y - t): the squared error from it, over every
     * rank's samples as the loss is. */
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)dy[i] / m->grad_scale;
        sum += e * e;
    }
    free(dy);
    return sum * m->grad_scale / 2.0;
}

void mlp_step(mlp *m, double *loss_out)
{
    aidev_event ready[4];
    forward(m);
    backward(m, ready);
    aidev_event reduced = reduce_gradients(m, ready);
    sgd(m, reduced);
    if (reduced)
        aidev_event_release(reduced);
    for (int i = 0; i < 4; i++)
        aidev_event_release(ready[i]);
    if (loss_out)
        *loss_out = local_loss(m);
}
