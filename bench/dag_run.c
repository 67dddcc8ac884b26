/*
 * dag_run.c - runs a DAG of dag.h with an explicit device per task,
 * through the public API only.
 *
 * What a framework author writes by hand today to spread work over devices:
 * each datum has a copy per place it is needed (a buffer per device, and
 * the host), each copy valid or not; a task reading a datum where no valid
 * copy is gets one first (a read from a device that has it into host
 * memory, then a write to its own device); a task writing a datum makes
 * the other copies invalid. Events are the edges: a copy is read after its
 * last write, and written after its readers since. Each device has a
 * compute queue for kernels and a transfer queue for writes and reads, so
 * transfers overlap kernels.
 *
 * Devices whose memory is host memory (the CPU backend, PoCL and lavapipe
 * here; AIDEV_FEATURE_UNIFIED_MEMORY with AIDEV_FEATURE_HOST_IMPORT) can
 * share the host copy: their buffer is the host array imported, and their
 * place is the host's, so nothing is copied for them (StarPU's CPU workers
 * use main memory in place the same way).
 */
#include "dag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAG_MAX_DEVICES 16
/* Where the host copy is kept among the places of a datum. */
#define DAG_HOST DAG_MAX_DEVICES
#define DAG_MAX_KERNELS 16

/* One place's copy of a datum and the events that order access to it
 * (borrowed from the run's list of events, which owns them until the run
 * ends: the public API has no event retain). */
typedef struct dag_copy {
    bool valid;
    aidev_event last_write;  /* NULL: none in this run */
    aidev_event *readers;    /* reads since the last write */
    uint32_t reader_count, reader_capacity;
} dag_copy;

typedef struct dag_datum {
    float *host;             /* the host copy (page-aligned, for imports) */
    aidev_buffer buffers[DAG_MAX_DEVICES]; /* per device, made on first need */
    aidev_buffer context_buffer;           /* dag_run_options.context_buffers */
    dag_copy copies[DAG_MAX_DEVICES + 1];  /* per place: devices, then the host */
} dag_datum;

struct dag_runner {
    const dag *g;
    uint32_t device_count;
    aidev_device devices[DAG_MAX_DEVICES];
    aidev_queue compute[DAG_MAX_DEVICES], transfer[DAG_MAX_DEVICES];
    bool shares_host[DAG_MAX_DEVICES];
    bool context_buffers;
    uint32_t host_device; /* context buffers: where data go in and out */
    /* Kernels by name and device. */
    const char *kernel_names[DAG_MAX_KERNELS];
    aidev_kernel kernels[DAG_MAX_KERNELS][DAG_MAX_DEVICES];
    uint32_t kernel_count;
    dag_datum *data;
    /* Every event of the current run, to check and release at its end. */
    aidev_event *events;
    const char **event_what; /* what made it, for messages */
    uint32_t event_count, event_capacity;
};

static double dag_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static aidev_status dag_oom(void)
{
    /* The runner's own allocations: no aidev call failed, so the message
     * is the runner's to give. */
    fprintf(stderr, "dag: out of host memory\n");
    return AIDEV_ERROR_OUT_OF_HOST_MEMORY;
}

static uint32_t place_of(const dag_runner *r, uint32_t device)
{
    return r->shares_host[device] ? DAG_HOST : device;
}

/* ------------------------------------------------------------------------ */
/* Creation                                                                 */
/* ------------------------------------------------------------------------ */

static bool device_shares_host(aidev_device dev)
{
    uint64_t features = 0;
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FEATURES, sizeof features, &features, NULL);
    return (features & AIDEV_FEATURE_UNIFIED_MEMORY) && (features & AIDEV_FEATURE_HOST_IMPORT);
}

aidev_status dag_runner_create(const dag *g, const aidev_device *devices, uint32_t device_count,
                               const dag_run_options *options, dag_runner **out)
{
    if (device_count == 0 || device_count > DAG_MAX_DEVICES) {
        fprintf(stderr, "dag: %u devices; 1 to %d\n", device_count, DAG_MAX_DEVICES);
        return AIDEV_ERROR_INVALID_ARGUMENT;
    }
    dag_runner *r = calloc(1, sizeof *r);
    if (!r)
        return dag_oom();
    r->g = g;
    r->device_count = device_count;
    r->data = calloc(g->data_count ? g->data_count : 1, sizeof *r->data);
    aidev_status st = r->data ? AIDEV_SUCCESS : dag_oom();
    for (uint32_t i = 0; st == AIDEV_SUCCESS && i < g->data_count; i++) {
        size_t bytes = ((size_t)g->data[i].count * sizeof(float) + 4095) & ~(size_t)4095;
        r->data[i].host = aligned_alloc(4096, bytes);
        if (!r->data[i].host)
            st = dag_oom();
        else
            memset(r->data[i].host, 0, bytes);
    }
    r->context_buffers = options && options->context_buffers;
    for (uint32_t d = 0; st == AIDEV_SUCCESS && d < device_count; d++) {
        r->devices[d] = devices[d];
        r->shares_host[d] = options && options->share_host_memory && device_shares_host(devices[d]);
        if (r->context_buffers && device_shares_host(devices[d]) &&
            !device_shares_host(devices[r->host_device]))
            r->host_device = d;
        st = aidev_queue_create(devices[d], AIDEV_QUEUE_PRIORITY_NORMAL, &r->compute[d]);
        if (st == AIDEV_SUCCESS)
            st = aidev_queue_create(devices[d], AIDEV_QUEUE_PRIORITY_NORMAL, &r->transfer[d]);
    }
    if (st != AIDEV_SUCCESS) {
        dag_runner_destroy(r);
        return st;
    }
    *out = r;
    return AIDEV_SUCCESS;
}

static void copy_forget(dag_copy *c)
{
    c->last_write = NULL;
    c->reader_count = 0;
    c->valid = false;
}

void dag_runner_destroy(dag_runner *r)
{
    if (!r)
        return;
    for (uint32_t d = 0; d < r->device_count; d++) {
        if (r->compute[d])
            aidev_queue_release(r->compute[d]);
        if (r->transfer[d])
            aidev_queue_release(r->transfer[d]);
    }
    for (uint32_t i = 0; r->data && i < r->g->data_count; i++) {
        dag_datum *x = &r->data[i];
        for (uint32_t p = 0; p <= DAG_MAX_DEVICES; p++) {
            copy_forget(&x->copies[p]);
            free(x->copies[p].readers);
        }
        for (uint32_t d = 0; !r->context_buffers && d < r->device_count; d++)
            if (x->buffers[d])
                aidev_buffer_release(x->buffers[d]);
        if (x->context_buffer)
            aidev_buffer_release(x->context_buffer);
        free(x->host);
    }
    for (uint32_t k = 0; k < r->kernel_count; k++)
        for (uint32_t d = 0; d < r->device_count; d++)
            if (r->kernels[k][d])
                aidev_kernel_release(r->kernels[k][d]);
    free(r->data);
    free(r->events);
    free(r->event_what);
    free(r);
}

/* ------------------------------------------------------------------------ */
/* Before the clock: kernels, buffers, initial contents                     */
/* ------------------------------------------------------------------------ */

static aidev_status kernel_for(dag_runner *r, const char *name, uint32_t device,
                               aidev_kernel *out)
{
    uint32_t k = 0;
    while (k < r->kernel_count && strcmp(r->kernel_names[k], name) != 0)
        k++;
    if (k == DAG_MAX_KERNELS) {
        fprintf(stderr, "dag: more than %d kernels\n", DAG_MAX_KERNELS);
        return AIDEV_ERROR_INVALID_ARGUMENT;
    }
    if (k == r->kernel_count)
        r->kernel_names[r->kernel_count++] = name;
    if (!r->kernels[k][device]) {
        aidev_status st = aidev_kernel_get(r->devices[device], name, &r->kernels[k][device]);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    *out = r->kernels[k][device];
    return AIDEV_SUCCESS;
}

static aidev_status buffer_for(dag_runner *r, uint32_t datum, uint32_t device)
{
    dag_datum *x = &r->data[datum];
    uint64_t bytes = (uint64_t)r->g->data[datum].count * sizeof(float);
    if (r->context_buffers) {
        aidev_buffer_desc desc = {.size = bytes, .kind = AIDEV_MEMORY_DEVICE,
                                  .element_type = AIDEV_TYPE_F32};
        aidev_context ctx;
        aidev_status st = AIDEV_SUCCESS;
        if (!x->context_buffer && (st = aidev_device_get_context(r->devices[device], &ctx)) ==
                                      AIDEV_SUCCESS)
            st = aidev_context_buffer_create(ctx, &desc, &x->context_buffer);
        x->buffers[device] = x->context_buffer; /* borrowed: the same handle on every device */
        return st;
    }
    if (x->buffers[device])
        return AIDEV_SUCCESS;
    if (r->shares_host[device])
        return aidev_buffer_import_host(r->devices[device], x->host, bytes, AIDEV_TYPE_F32,
                                        &x->buffers[device]);
    aidev_buffer_desc desc = {.size = bytes, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32,
                              .flags = AIDEV_BUFFER_UNINITIALIZED};
    return aidev_buffer_create(r->devices[device], &desc, &x->buffers[device]);
}

static aidev_status prepare(dag_runner *r, const uint32_t *task_device, const int32_t *data_home)
{
    const dag *g = r->g;
    aidev_status st = AIDEV_SUCCESS;
    for (uint32_t t = 0; st == AIDEV_SUCCESS && t < g->task_count; t++) {
        uint32_t d = task_device[t];
        if (d >= r->device_count) {
            fprintf(stderr, "dag: task %u: device %u of %u\n", t, d, r->device_count);
            return AIDEV_ERROR_INVALID_ARGUMENT;
        }
        aidev_kernel k;
        st = kernel_for(r, g->tasks[t].kernel, d, &k);
        for (uint32_t a = 0; st == AIDEV_SUCCESS && a < g->tasks[t].arg_count; a++)
            if (g->tasks[t].args[a].kind == AIDEV_ARG_BUFFER)
                st = buffer_for(r, g->tasks[t].args[a].data, d);
    }
    /* Every datum starts over: the host copy holds the initial contents,
     * valid where the datum starts. */
    for (uint32_t i = 0; st == AIDEV_SUCCESS && i < g->data_count; i++) {
        dag_datum *x = &r->data[i];
        for (uint32_t p = 0; p <= DAG_MAX_DEVICES; p++)
            copy_forget(&x->copies[p]);
        if (r->context_buffers && st == AIDEV_SUCCESS)
            st = buffer_for(r, i, r->host_device);
        if (!g->data[i].init || st != AIDEV_SUCCESS)
            continue;
        memcpy(x->host, g->data[i].init, (size_t)g->data[i].count * sizeof(float));
        int32_t home = data_home ? data_home[i] : -1;
        if (r->context_buffers) {
            /* The hal's copy on the home device (or the host's). */
            uint32_t on = home < 0 ? r->host_device : (uint32_t)home;
            if (on >= r->device_count) {
                fprintf(stderr, "dag: datum %u: home device %d of %u\n", i, home,
                        r->device_count);
                return AIDEV_ERROR_INVALID_ARGUMENT;
            }
            st = aidev_enqueue_write(r->transfer[on], x->context_buffer, 0,
                                     (uint64_t)g->data[i].count * sizeof(float), x->host, 0, NULL,
                                     NULL);
            continue;
        }
        if (home < 0 || r->shares_host[home]) {
            x->copies[DAG_HOST].valid = true;
            continue;
        }
        if ((uint32_t)home >= r->device_count) {
            fprintf(stderr, "dag: datum %u: home device %d of %u\n", i, home, r->device_count);
            return AIDEV_ERROR_INVALID_ARGUMENT;
        }
        st = buffer_for(r, i, (uint32_t)home);
        if (st == AIDEV_SUCCESS)
            st = aidev_enqueue_write(r->transfer[home], x->buffers[home], 0,
                                     (uint64_t)g->data[i].count * sizeof(float), x->host, 0, NULL,
                                     NULL);
        x->copies[home].valid = true;
    }
    for (uint32_t d = 0; st == AIDEV_SUCCESS && d < r->device_count; d++)
        st = aidev_queue_finish(r->transfer[d]);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Events as edges                                                          */
/* ------------------------------------------------------------------------ */

typedef struct wait_list {
    aidev_event events[1024];
    uint32_t count;
} wait_list;

static void wait_on(wait_list *w, aidev_event e)
{
    if (!e)
        return;
    for (uint32_t i = 0; i < w->count; i++)
        if (w->events[i] == e)
            return;
    if (w->count < 1024)
        w->events[w->count++] = e;
}

/* The waits of a write to |c|: its last write and its readers since. */
static void wait_to_write(wait_list *w, const dag_copy *c)
{
    wait_on(w, c->last_write);
    for (uint32_t i = 0; i < c->reader_count; i++)
        wait_on(w, c->readers[i]);
}

static aidev_status add_reader(dag_copy *c, aidev_event e)
{
    if (c->reader_count == c->reader_capacity) {
        uint32_t cap = c->reader_capacity ? 2 * c->reader_capacity : 8;
        aidev_event *grown = realloc(c->readers, cap * sizeof *grown);
        if (!grown)
            return dag_oom();
        c->readers = grown;
        c->reader_capacity = cap;
    }
    c->readers[c->reader_count++] = e;
    return AIDEV_SUCCESS;
}

/* |e| wrote |c|: it is the copy's last write, and no read since. */
static void set_written(dag_copy *c, aidev_event e)
{
    copy_forget(c);
    c->last_write = e;
    c->valid = true;
}

/* Keeps |e| (the caller's reference) to check and release at the end of
 * the run; copies borrow it until then. */
static aidev_status keep_event(dag_runner *r, aidev_event e, const char *what)
{
    if (r->event_count == r->event_capacity) {
        uint32_t cap = r->event_capacity ? 2 * r->event_capacity : 256;
        aidev_event *grown = realloc(r->events, cap * sizeof *grown);
        const char **whats = realloc(r->event_what, cap * sizeof *whats);
        if (grown)
            r->events = grown;
        if (whats)
            r->event_what = whats;
        if (!grown || !whats) {
            aidev_event_release(e);
            return dag_oom();
        }
        r->event_capacity = cap;
    }
    r->events[r->event_count] = e;
    r->event_what[r->event_count++] = what;
    return AIDEV_SUCCESS;
}

/* Makes the copy of datum |i| at place |p| valid, from where one is. */
static aidev_status make_valid(dag_runner *r, uint32_t i, uint32_t p)
{
    dag_datum *x = &r->data[i];
    if (x->copies[p].valid)
        return AIDEV_SUCCESS;
    uint64_t bytes = (uint64_t)r->g->data[i].count * sizeof(float);
    dag_copy *host = &x->copies[DAG_HOST];
    wait_list w;
    w.count = 0;
    aidev_event e = NULL;
    aidev_status st;
    if (p == DAG_HOST) {
        uint32_t s = 0;
        while (s < r->device_count && !(x->copies[s].valid && !r->shares_host[s]))
            s++;
        if (s == r->device_count) {
            fprintf(stderr, "dag: datum %u is read before any task writes it\n", i);
            return AIDEV_ERROR_INVALID_ARGUMENT;
        }
        wait_on(&w, x->copies[s].last_write);
        wait_to_write(&w, host);
        st = aidev_enqueue_read(r->transfer[s], x->buffers[s], 0, bytes, x->host, w.count,
                                w.events, &e);
        if (st == AIDEV_SUCCESS)
            st = add_reader(&x->copies[s], e);
    } else {
        st = make_valid(r, i, DAG_HOST);
        if (st != AIDEV_SUCCESS)
            return st;
        wait_on(&w, host->last_write);
        wait_to_write(&w, &x->copies[p]);
        st = aidev_enqueue_write(r->transfer[p], x->buffers[p], 0, bytes, x->host, w.count,
                                 w.events, &e);
        if (st == AIDEV_SUCCESS)
            st = add_reader(host, e);
    }
    const char *what = p == DAG_HOST ? "a read to the host" : "a write to a device";
    if (st != AIDEV_SUCCESS) {
        if (e)
            keep_event(r, e, what);
        return st;
    }
    set_written(&x->copies[p], e);
    return keep_event(r, e, what);
}

/* ------------------------------------------------------------------------ */
/* A run                                                                    */
/* ------------------------------------------------------------------------ */

/* A task on context buffers: the hal makes its copies valid and orders
 * it after what it depends on. */
static aidev_status run_task_on_context_buffers(dag_runner *r, uint32_t t, uint32_t d)
{
    const dag_task *task = &r->g->tasks[t];
    aidev_arg args[DAG_MAX_ARGS];
    for (uint32_t a = 0; a < task->arg_count; a++) {
        const dag_arg *arg = &task->args[a];
        if (arg->kind == AIDEV_ARG_BUFFER)
            args[a] = aidev_arg_buffer(r->data[arg->data].context_buffer, 0);
        else
            args[a] = arg->type == AIDEV_TYPE_U32 ? aidev_arg_u32(arg->value.u32)
                                                  : aidev_arg_f32(arg->value.f32);
    }
    aidev_kernel k;
    aidev_event e = NULL;
    aidev_status st = kernel_for(r, task->kernel, d, &k);
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_dispatch(r->compute[d], k, NULL, NULL, task->arg_count, args, 0, NULL,
                                    &e);
    return st == AIDEV_SUCCESS ? keep_event(r, e, task->kernel) : st;
}

/* An output of a run on context buffers, read into its host array. */
static aidev_status read_output(dag_runner *r, uint32_t i)
{
    aidev_event e = NULL;
    aidev_status st = aidev_enqueue_read(r->compute[r->host_device], r->data[i].context_buffer, 0,
                                         (uint64_t)r->g->data[i].count * sizeof(float),
                                         r->data[i].host, 0, NULL, &e);
    return st == AIDEV_SUCCESS ? keep_event(r, e, "an output read") : st;
}

static aidev_status run_task(dag_runner *r, uint32_t t, uint32_t d)
{
    if (r->context_buffers)
        return run_task_on_context_buffers(r, t, d);
    const dag_task *task = &r->g->tasks[t];
    uint32_t p = place_of(r, d);
    aidev_arg args[DAG_MAX_ARGS];
    wait_list w;
    w.count = 0;
    aidev_status st = AIDEV_SUCCESS;
    for (uint32_t a = 0; st == AIDEV_SUCCESS && a < task->arg_count; a++) {
        const dag_arg *arg = &task->args[a];
        if (arg->kind == AIDEV_ARG_SCALAR) {
            args[a] = arg->type == AIDEV_TYPE_U32 ? aidev_arg_u32(arg->value.u32)
                                                  : aidev_arg_f32(arg->value.f32);
            continue;
        }
        dag_copy *c = &r->data[arg->data].copies[p];
        if (arg->access & AIDEV_ACCESS_READ)
            st = make_valid(r, arg->data, p);
        wait_on(&w, c->last_write);
        if (arg->access & AIDEV_ACCESS_WRITE)
            wait_to_write(&w, c);
        args[a] = aidev_arg_buffer(r->data[arg->data].buffers[d], 0);
    }
    aidev_kernel k;
    if (st == AIDEV_SUCCESS)
        st = kernel_for(r, task->kernel, d, &k);
    aidev_event e = NULL;
    if (st == AIDEV_SUCCESS)
        st = aidev_enqueue_dispatch(r->compute[d], k, NULL, NULL, task->arg_count, args, w.count,
                                    w.events, &e);
    if (st != AIDEV_SUCCESS)
        return st;
    for (uint32_t a = 0; st == AIDEV_SUCCESS && a < task->arg_count; a++) {
        const dag_arg *arg = &task->args[a];
        if (arg->kind != AIDEV_ARG_BUFFER)
            continue;
        dag_datum *x = &r->data[arg->data];
        if (arg->access & AIDEV_ACCESS_WRITE) {
            /* The other copies are stale; their events stay, so a later
             * transfer into them still waits for their readers. */
            for (uint32_t q = 0; q <= DAG_MAX_DEVICES; q++)
                x->copies[q].valid = false;
            set_written(&x->copies[p], e);
        } else {
            st = add_reader(&x->copies[p], e);
        }
    }
    aidev_status kept = keep_event(r, e, task->kernel);
    return st != AIDEV_SUCCESS ? st : kept;
}

/* Waits for every event of the run and releases them; the first failure
 * is named. */
static aidev_status collect_events(dag_runner *r)
{
    aidev_status first = AIDEV_SUCCESS;
    for (uint32_t i = 0; i < r->event_count; i++) {
        aidev_status st = aidev_event_wait(r->events[i], AIDEV_WAIT_FOREVER);
        if (st != AIDEV_SUCCESS && first == AIDEV_SUCCESS) {
            fprintf(stderr, "dag: %s (%s) failed: %s\n", r->g->name, r->event_what[i],
                    aidev_event_message(r->events[i]));
            first = st;
        }
    }
    for (uint32_t i = 0; i < r->event_count; i++)
        aidev_event_release(r->events[i]);
    r->event_count = 0;
    /* No copy may keep pointing at them. */
    for (uint32_t i = 0; i < r->g->data_count; i++)
        for (uint32_t p = 0; p <= DAG_MAX_DEVICES; p++) {
            r->data[i].copies[p].last_write = NULL;
            r->data[i].copies[p].reader_count = 0;
        }
    return first;
}

aidev_status dag_runner_run(dag_runner *r, const uint32_t *task_device, const int32_t *data_home,
                            double *out_seconds)
{
    aidev_status st = prepare(r, task_device, data_home);
    if (st != AIDEV_SUCCESS)
        return st;
    double t0 = dag_now();
    for (uint32_t t = 0; st == AIDEV_SUCCESS && t < r->g->task_count; t++) {
        st = run_task(r, t, task_device[t]);
        if (st != AIDEV_SUCCESS)
            fprintf(stderr, "dag: %s: task %u (%s): %s\n", r->g->name, t, r->g->tasks[t].kernel,
                    aidev_last_error());
    }
    for (uint32_t i = 0; st == AIDEV_SUCCESS && i < r->g->data_count; i++)
        if (r->g->data[i].output)
            st = r->context_buffers ? read_output(r, i) : make_valid(r, i, DAG_HOST);
    aidev_status ran = collect_events(r);
    double t1 = dag_now();
    if (out_seconds)
        *out_seconds = t1 - t0;
    return st != AIDEV_SUCCESS ? st : ran;
}

const float *dag_runner_output(const dag_runner *r, uint32_t d)
{
    return r->data[d].host;
}

bool dag_runner_agree(const dag_runner *r, const dag_runner *reference, char *why,
                      size_t why_size)
{
    for (uint32_t i = 0; i < r->g->data_count; i++)
        if (r->g->data[i].output &&
            !dag_compare(r->g, i, r->data[i].host, reference->data[i].host, why, why_size))
            return false;
    return true;
}
