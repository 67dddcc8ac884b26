/*
 * bench_starpu.c - the StarPU baseline of the sched.* rows: the same DAGs
 * (dag.h) under StarPU's dmda scheduler, with the same kernels: on CPU
 * workers the built-in library's C forms (sgemm's is one OpenBLAS call), on
 * OpenCL workers its OpenCL C forms (kernels/NAME/NAME.cl), launched with
 * the geometry aidev's OpenCL backend gives them.
 *
 * This runs in a child process (bench_sched.h says why); the parent sets its
 * environment: STARPU_HOME in aidev's cache folder, so StarPU's calibrated
 * performance models and bus measurements persist between runs and nothing
 * of the user's own StarPU folder is touched; STARPU_OPENCL_ON_CPUS=1, the
 * only way StarPU drives an OpenCL device of CPU type (PoCL); and
 * STARPU_SILENT=1.
 *
 * Each run registers the DAG's host arrays (the initial contents copied in
 * first), submits every task in order (StarPU derives the edges from the
 * access modes, as dag.h does), waits for them all and acquires every
 * output in main memory: the makespan. Unregistering comes after the
 * clock. Untimed runs come first, so dmda's history-based models are
 * calibrated (StarPU calibrates an uncalibrated model by running its
 * tasks on every kind of worker) before any timed run.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <starpu.h>

#include <aidev/aidev_backend.h>

#include "kernels/library_forms.h"
#include "bench_sched.h"

#define STARPU_MAX_KERNELS 8

/* A library kernel as StarPU runs it. */
typedef struct starpu_kernel {
    const char *name;
    aidev_host_kernel_fn fn;
    const aidev_library_gpu_form *form; /* NULL: CPU workers only */
    struct starpu_opencl_program program;
    bool program_loaded;
    struct starpu_perfmodel model;
    struct starpu_codelet codelet;
    char symbol[64];
} starpu_kernel;

/* What a StarPU task's cl_arg points at. */
typedef struct starpu_dag_task {
    const dag_task *task;
    const starpu_kernel *kernel;
} starpu_dag_task;

static starpu_kernel starpu_kernels[STARPU_MAX_KERNELS];
static uint32_t starpu_kernel_count;
/* Tasks run by OpenCL workers in the current run. */
static atomic_uint starpu_opencl_ran;
/* The first failure inside a codelet (StarPU's codelets return nothing). */
static char starpu_failure[256];
static atomic_bool starpu_failed;

static void starpu_fail(const char *what, cl_int err)
{
    bool expected = false;
    if (atomic_compare_exchange_strong(&starpu_failed, &expected, true))
        snprintf(starpu_failure, sizeof starpu_failure, "%s failed: OpenCL error %d", what,
                 (int)err);
}

static double starpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* Codelets                                                                 */
/* ------------------------------------------------------------------------ */

/* Calls the C form of |t|'s kernel on |buffers| (the task's buffer
 * arguments in order) over the whole grid. */
static void call_c_form(const starpu_kernel *k, const dag_task *t, void *const *buffers)
{
    void *args[DAG_MAX_ARGS];
    uint32_t b = 0;
    for (uint32_t i = 0; i < t->arg_count; i++)
        args[i] = t->args[i].kind == AIDEV_ARG_BUFFER ? buffers[b++] : (void *)&t->args[i].value;
    aidev_host_range range;
    memset(&range, 0, sizeof range);
    for (int d = 0; d < 3; d++)
        range.grid[d] = range.end[d] = t->grid[d];
    k->fn(args, &range);
}

static void starpu_cpu_task(void *descr[], void *cl_arg)
{
    const starpu_dag_task *st = cl_arg;
    void *buffers[DAG_MAX_ARGS];
    uint32_t b = 0;
    for (uint32_t i = 0; i < st->task->arg_count; i++)
        if (st->task->args[i].kind == AIDEV_ARG_BUFFER) {
            buffers[b] = (void *)STARPU_VECTOR_GET_PTR(descr[b]);
            b++;
        }
    call_c_form(st->kernel, st->task, buffers);
}

static size_t round_up(size_t v, size_t m)
{
    return (v + m - 1) / m * m;
}

/* ITEMS: one work-item per grid item in the form's workgroups, as
 * backends/opencl/kernel.c launches it. */
static void launch_items(cl_command_queue queue, cl_kernel kernel, const aidev_library_gpu_form *f,
                         const dag_task *t)
{
    size_t local[3], global[3];
    for (int d = 0; d < 3; d++) {
        local[d] = f->local[d] ? f->local[d] : 1;
        global[d] = round_up(t->grid[d], local[d]);
    }
    cl_uint dims = t->grid[2] > 1 || local[2] > 1 ? 3 : t->grid[1] > 1 || local[1] > 1 ? 2 : 1;
    cl_int err = clEnqueueNDRangeKernel(queue, kernel, dims, NULL, global, local, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        starpu_fail("clEnqueueNDRangeKernel", err);
}

/* REDUCE: passes over scratch buffers until one run of local *
 * items_per_thread elements is left; the last pass writes the output. */
static void launch_reduce(cl_command_queue queue, cl_kernel kernel, const aidev_library_gpu_form *f,
                          const dag_task *t, cl_mem in, cl_mem out, cl_context context)
{
    cl_uint n = t->args[0].value.u32;
    size_t local = f->local[0], per = f->local[0] * (f->items_per_thread ? f->items_per_thread : 1);
    cl_mem scratch[2] = {NULL, NULL};
    for (int pass = 0;; pass++) {
        size_t groups = n ? (n + per - 1) / per : 1;
        cl_mem dst = out;
        cl_int err = CL_SUCCESS;
        if (groups > 1) {
            if (scratch[pass % 2])
                clReleaseMemObject(scratch[pass % 2]);
            dst = scratch[pass % 2] =
                clCreateBuffer(context, CL_MEM_READ_WRITE, groups * sizeof(float), NULL, &err);
        }
        size_t global = groups * local;
        if (err == CL_SUCCESS)
            err = clSetKernelArg(kernel, 0, sizeof n, &n);
        if (err == CL_SUCCESS)
            err = clSetKernelArg(kernel, 1, sizeof in, &in);
        if (err == CL_SUCCESS)
            err = clSetKernelArg(kernel, 2, sizeof dst, &dst);
        if (err == CL_SUCCESS)
            err = clEnqueueNDRangeKernel(queue, kernel, 1, NULL, &global, &local, 0, NULL, NULL);
        if (err != CL_SUCCESS) {
            starpu_fail("a reduction pass", err);
            break;
        }
        if (groups == 1)
            break;
        in = dst;
        n = (cl_uint)groups;
    }
    clFinish(queue);
    for (int i = 0; i < 2; i++)
        if (scratch[i])
            clReleaseMemObject(scratch[i]);
}

static void starpu_opencl_task(void *descr[], void *cl_arg)
{
    const starpu_dag_task *st = cl_arg;
    const dag_task *t = st->task;
    const aidev_library_gpu_form *f = st->kernel->form;
    int devid = starpu_worker_get_devid(starpu_worker_get_id());
    cl_kernel kernel;
    cl_command_queue queue;
    cl_int err = starpu_opencl_load_kernel(&kernel, &queue,
                                           (struct starpu_opencl_program *)&st->kernel->program,
                                           f->entry, devid);
    if (err != CL_SUCCESS) {
        starpu_fail("starpu_opencl_load_kernel", err);
        return;
    }
    cl_mem mems[DAG_MAX_ARGS];
    uint32_t b = 0;
    for (uint32_t i = 0; i < t->arg_count && err == CL_SUCCESS; i++) {
        if (t->args[i].kind == AIDEV_ARG_BUFFER) {
            mems[b] = (cl_mem)STARPU_VECTOR_GET_DEV_HANDLE(descr[b]);
            err = clSetKernelArg(kernel, i, sizeof(cl_mem), &mems[b]);
            b++;
        } else {
            err = clSetKernelArg(kernel, i, 4, &t->args[i].value);
        }
    }
    if (err != CL_SUCCESS) {
        starpu_fail("clSetKernelArg", err);
    } else if (f->launch == AIDEV_LAUNCH_REDUCE) {
        cl_context context;
        starpu_opencl_get_context(devid, &context);
        launch_reduce(queue, kernel, f, t, mems[0], mems[1], context);
    } else {
        launch_items(queue, kernel, f, t);
        clFinish(queue);
    }
    starpu_opencl_release_kernel(kernel);
    atomic_fetch_add_explicit(&starpu_opencl_ran, 1, memory_order_relaxed);
}

/* The kernel of |name|, set up on first use. */
static starpu_kernel *kernel_named(const char *name)
{
    for (uint32_t i = 0; i < starpu_kernel_count; i++)
        if (strcmp(starpu_kernels[i].name, name) == 0)
            return &starpu_kernels[i];
    if (starpu_kernel_count == STARPU_MAX_KERNELS)
        return NULL;
    uint32_t index = 0;
    while (index < aidev_library_kernel_count() &&
           strcmp(aidev_library_kernel(index)->name, name) != 0)
        index++;
    aidev_host_kernel_fn fn = aidev_backend_library_host_fn(index);
    if (!fn)
        return NULL;
    starpu_kernel *k = &starpu_kernels[starpu_kernel_count++];
    k->name = name;
    k->fn = fn;
    k->form = aidev_library_gpu_form_find(aidev_library_opencl_forms,
                                          aidev_library_opencl_form_count, name);
    snprintf(k->symbol, sizeof k->symbol, "aidev_%s", name);
    k->model.type = STARPU_HISTORY_BASED;
    k->model.symbol = k->symbol;
    starpu_codelet_init(&k->codelet);
    k->codelet.name = name;
    k->codelet.cpu_funcs[0] = starpu_cpu_task;
    if (k->form)
        k->codelet.opencl_funcs[0] = starpu_opencl_task;
    k->codelet.nbuffers = STARPU_VARIABLE_NBUFFERS;
    k->codelet.model = &k->model;
    return k;
}

/* ------------------------------------------------------------------------ */
/* Runs                                                                     */
/* ------------------------------------------------------------------------ */

/* The DAG on the host, task after task, with the C forms: the reference
 * StarPU's outputs are checked against. */
static void run_on_host(const dag *g, float **data, starpu_dag_task *tasks)
{
    for (uint32_t i = 0; i < g->data_count; i++)
        if (g->data[i].init)
            memcpy(data[i], g->data[i].init, (size_t)g->data[i].count * sizeof(float));
    for (uint32_t t = 0; t < g->task_count; t++) {
        void *buffers[DAG_MAX_ARGS];
        uint32_t b = 0;
        for (uint32_t i = 0; i < g->tasks[t].arg_count; i++)
            if (g->tasks[t].args[i].kind == AIDEV_ARG_BUFFER)
                buffers[b++] = data[g->tasks[t].args[i].data];
        call_c_form(tasks[t].kernel, &g->tasks[t], buffers);
    }
}

static enum starpu_data_access_mode starpu_mode(aidev_access access)
{
    return access == AIDEV_ACCESS_READ ? STARPU_R : access == AIDEV_ACCESS_WRITE ? STARPU_W
                                                                               : STARPU_RW;
}

/* One run; the makespan in |*seconds|. */
static int run_once(const dag *g, float **data, starpu_data_handle_t *handles,
                    starpu_dag_task *tasks, double *seconds)
{
    for (uint32_t i = 0; i < g->data_count; i++) {
        if (g->data[i].init)
            memcpy(data[i], g->data[i].init, (size_t)g->data[i].count * sizeof(float));
        starpu_vector_data_register(&handles[i], STARPU_MAIN_RAM, (uintptr_t)data[i],
                                    g->data[i].count, sizeof(float));
    }
    atomic_store(&starpu_opencl_ran, 0);
    int ret = 0;
    double t0 = starpu_now();
    for (uint32_t t = 0; t < g->task_count && ret == 0; t++) {
        const dag_task *dt = &g->tasks[t];
        struct starpu_task *task = starpu_task_create();
        task->cl = (struct starpu_codelet *)&tasks[t].kernel->codelet;
        task->cl_arg = &tasks[t];
        task->cl_arg_size = sizeof tasks[t];
        int nb = 0;
        for (uint32_t i = 0; i < dt->arg_count; i++) {
            if (dt->args[i].kind != AIDEV_ARG_BUFFER)
                continue;
            task->handles[nb] = handles[dt->args[i].data];
            task->modes[nb] = starpu_mode(dt->args[i].access);
            nb++;
        }
        task->nbuffers = nb;
        ret = starpu_task_submit(task);
        if (ret)
            printf("starpu-error starpu_task_submit of task %u (%s): %s\n", t, dt->kernel,
                   strerror(-ret));
    }
    starpu_task_wait_for_all();
    for (uint32_t i = 0; i < g->data_count; i++)
        if (g->data[i].output && starpu_data_acquire(handles[i], STARPU_R) == 0)
            starpu_data_release(handles[i]);
    *seconds = starpu_now() - t0;
    for (uint32_t i = 0; i < g->data_count; i++)
        starpu_data_unregister(handles[i]);
    return ret;
}

/* Prints the result line; the runs' figures in |ms| and |opencl|. */
static void print_result(const dag *g, int runs, const double *ms, const unsigned *opencl)
{
    printf("starpu-result cpu_workers=%u opencl_workers=%u tasks=%u runs=%d makespans_ms=",
           starpu_cpu_worker_get_count(), starpu_opencl_worker_get_count(), g->task_count, runs);
    for (int i = 0; i < runs; i++)
        printf("%s%.4f", i ? "," : "", ms[i]);
    printf(" opencl_tasks=");
    for (int i = 0; i < runs; i++)
        printf("%s%u", i ? "," : "", opencl[i]);
    printf("\n");
}

/* Checks StarPU's outputs against the host run. */
static bool outputs_agree(const dag *g, float **data, float **ref)
{
    char why[512];
    for (uint32_t i = 0; i < g->data_count; i++)
        if (g->data[i].output && !dag_compare(g, i, data[i], ref[i], why, sizeof why)) {
            printf("starpu-error outputs differ from the host run: %s\n", why);
            return false;
        }
    return true;
}

static int run_child(const dag *g, bool opencl, bool quick, float **data, float **ref,
                     starpu_dag_task *tasks, starpu_data_handle_t *handles)
{
    if (opencl && starpu_opencl_worker_get_count() == 0) {
        printf("starpu-error StarPU found no OpenCL device (STARPU_OPENCL_ON_CPUS=1 was set)\n");
        return 2;
    }
    for (uint32_t i = 0; opencl && i < starpu_kernel_count; i++) {
        starpu_kernel *k = &starpu_kernels[i];
        if (k->form && starpu_opencl_load_opencl_from_string(k->form->code, &k->program, NULL)) {
            printf("starpu-error the OpenCL C of '%s' did not build\n", k->name);
            return 1;
        }
        k->program_loaded = k->form != NULL;
    }
    const int warmups = quick ? 1 : 4, runs = quick ? 1 : 7;
    double ms[16];
    unsigned ran[16];
    for (int i = 0; i < warmups + runs; i++) {
        double s;
        if (run_once(g, data, handles, tasks, &s))
            return 1;
        if (i >= warmups) {
            ms[i - warmups] = s * 1e3;
            ran[i - warmups] = atomic_load(&starpu_opencl_ran);
        }
    }
    if (atomic_load(&starpu_failed)) {
        printf("starpu-error %s\n", starpu_failure);
        return 1;
    }
    if (!outputs_agree(g, data, ref))
        return 1;
    print_result(g, runs, ms, ran);
    return 0;
}

int sched_starpu_child(int argc, char **argv)
{
    if (argc != 4) {
        printf("starpu-error usage: %s DAG dmda|cpu QUICK\n", SCHED_STARPU_CHILD_FLAG);
        return 2;
    }
    bool opencl = strcmp(argv[2], "dmda") == 0, quick = strcmp(argv[3], "1") == 0;
    dag *g = sched_bench_dag(argv[1], quick);
    float **data = g ? calloc(g->data_count, sizeof *data) : NULL;
    float **ref = g ? calloc(g->data_count, sizeof *ref) : NULL;
    starpu_dag_task *tasks = g ? calloc(g->task_count, sizeof *tasks) : NULL;
    starpu_data_handle_t *handles = g ? calloc(g->data_count, sizeof *handles) : NULL;
    int status = g && data && ref && tasks && handles ? 0 : 1;
    for (uint32_t i = 0; status == 0 && i < g->data_count; i++) {
        data[i] = malloc((size_t)g->data[i].count * sizeof(float));
        ref[i] = malloc((size_t)g->data[i].count * sizeof(float));
        status = data[i] && ref[i] ? 0 : 1;
    }
    for (uint32_t t = 0; status == 0 && t < g->task_count; t++) {
        tasks[t].task = &g->tasks[t];
        tasks[t].kernel = kernel_named(g->tasks[t].kernel);
        if (!tasks[t].kernel) {
            printf("starpu-error task %u: kernel '%s' has no C form\n", t, g->tasks[t].kernel);
            status = 1;
        }
    }
    if (status == 0)
        run_on_host(g, ref, tasks);

    struct starpu_conf conf;
    starpu_conf_init(&conf);
    conf.sched_policy_name = "dmda";
    conf.ncuda = 0;
    if (!opencl)
        conf.nopencl = 0;
    if (status == 0 && starpu_init(&conf) != 0) {
        printf("starpu-error starpu_init failed\n");
        status = 1;
    } else if (status == 0) {
        status = run_child(g, opencl, quick, data, ref, tasks, handles);
        for (uint32_t i = 0; i < starpu_kernel_count; i++)
            if (starpu_kernels[i].program_loaded)
                starpu_opencl_unload_opencl(&starpu_kernels[i].program);
        starpu_shutdown();
    }
    for (uint32_t i = 0; g && data && ref && i < g->data_count; i++) {
        free(data[i]);
        free(ref[i]);
    }
    free(data);
    free(ref);
    free(tasks);
    free(handles);
    dag_free(g);
    if (status == 1 && !g)
        printf("starpu-error no DAG '%s' (or out of memory)\n", argv[1]);
    fflush(stdout);
    return status;
}
