/*
 * mlp.h - a two-layer perceptron trained on an aidev device: forward,
 * backward and SGD as built-in kernels on one compute queue, its gradients
 * summed over MPI ranks by libaidev-mpi on a second queue as each layer's
 * are ready.
 *
 *   y = relu(x W1 + b1) W2 + b2,  loss = mean over samples and outputs of
 *   (y - t)^2
 *
 * The parameters live in one flat buffer [W1 | b1 | W2 | b2], the
 * gradients in another laid out the same way, so the SGD step is two
 * dispatches over the whole buffer and the gradients go to MPI as ranges of
 * one buffer.
 */
#ifndef AIDEV_EXAMPLE_MLP_H
#define AIDEV_EXAMPLE_MLP_H

#include <stdbool.h>
#include <stdint.h>

#include <aidev/aidev_mpi.h>

#define MLP_IN 16
#define MLP_HIDDEN 64
#define MLP_OUT 4

/* Offsets (elements) of the parameters in the flat buffers. */
enum {
    MLP_W1 = 0,
    MLP_B1 = MLP_W1 + MLP_IN * MLP_HIDDEN,
    MLP_W2 = MLP_B1 + MLP_HIDDEN,
    MLP_B2 = MLP_W2 + MLP_HIDDEN * MLP_OUT,
    MLP_PARAMS = MLP_B2 + MLP_OUT,
};

typedef struct mlp {
    aidev_device dev;
    aidev_queue compute, comm_queue;
    aidev_mpi_comm comm;        /* NULL: one process, no reduction */
    uint32_t batch;             /* samples on this rank */
    float grad_scale;           /* 2 / (samples of every rank * MLP_OUT) */
    float lr;
    aidev_kernel sgemm, transpose, relu, relu_backward, col_sum, axpy, scale, add;
    /* x (batch x IN), its transpose, targets (batch x OUT), a column of ones. */
    aidev_buffer x, xt, t, ones;
    /* Activations and their gradients. */
    aidev_buffer z1, a1, a1t, y, dy, w2t, da1, dz1;
    aidev_buffer params, grads, update;
} mlp;

/* Makes the model's queues, kernels and buffers on |dev| for |batch|
 * samples |x| (batch x IN) with targets |t| (batch x OUT), and its
 * communicator over |comm| (MPI_COMM_NULL: none). |total_batch| is the
 * samples of every rank together. Exits the job (MPI_Abort) on failure. */
void mlp_create(mlp *m, aidev_device dev, MPI_Comm comm, const float *x, const float *t,
                uint32_t batch, uint32_t total_batch, float lr);
void mlp_release(mlp *m);

/* Writes |params| (MLP_PARAMS floats) into the model; with |root| >= 0 the
 * values of rank |root| are broadcast to every rank instead. */
void mlp_set_params(mlp *m, const float *params, int root);
/* Reads the parameters into |out| (MLP_PARAMS floats). */
void mlp_get_params(mlp *m, float *out);

/* Enqueues one training step: forward, backward, the gradient all-reduce
 * (bucketed, overlapping the rest of the backward pass), SGD. With
 * |loss_out|, waits for the step and stores the loss over this rank's
 * samples (before the update). */
void mlp_step(mlp *m, double *loss_out);

/* Fails the job with a message when |st| is an error. */
void must(aidev_status st, const char *what);

#endif
