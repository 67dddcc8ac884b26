/*
 * sim_model.c - how long a simulated device takes for a command.
 *
 * A command uses up to three resources of the device: its compute units
 * (floating-point operations at |gflops|), its memory (bytes at
 * |mem_gbps|) and the link to the host (bytes at |link_gbps|). They work at
 * once, so the command keeps the device busy for the slowest of the three
 * (the roofline model):
 *
 *   busy = max(flops / gflops, memory bytes / mem_gbps, link bytes / link_gbps)
 *
 * Bytes are counted per side of the command: the buffer a fill writes, the
 * source and destination of a copy, the user's memory and the buffer of a
 * write or read, every buffer argument of a kernel (twice for read_write).
 * A side in the device's own memory (DEVICE buffers; every buffer of a
 * unified device) counts as memory bytes; a side in host memory (the user's
 * pointer, HOST and SHARED buffers) counts as link bytes on a discrete
 * device, memory bytes on a unified one. So a write to a DEVICE buffer of a
 * discrete device takes size / link_gbps, a copy within it
 * 2 size / mem_gbps.
 *
 * A kernel's bytes come from its signature: each buffer argument touches
 * the element count it declares ("m*k"), evaluated with the dispatch's
 * scalars; an argument without one counts the buffer from its offset to its
 * end. Its floating-point operations come from the table below, written in
 * the same expressions; a kernel the table does not know (a user kernel, a
 * library kernel added since) counts one operation per grid item. exp,
 * division and square root count one operation each, as roofline counts
 * usually do: the table is a model of a device, not of the host.
 *
 * Every command that moves bytes or computes also waits the launch latency
 * after its submission, and runs on one of the device's two engines: writes,
 * reads and copies that cross the link on the link engine (a GPU's copy
 * engine), everything else on the compute engine; commands of every queue
 * of the device take turns on each engine. Barriers and host callbacks take
 * no device time.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "sim.h"

/* Floating-point operations per dispatch of each library kernel. */
static const struct {
    const char *kernel;
    const char *flops;
} sim_flops_table[] = {
    {"fill_f32", "0"},
    {"copy_f32", "0"},
    {"axpy", "2*n"},
    {"scale", "n"},
    {"add", "n"},
    {"mul", "n"},
    {"relu", "n"},
    {"gelu", "9*n"},  /* x^3 (2), 2 multiply-adds (4), exp, add, divide */
    {"silu", "4*n"},  /* negate, exp, add, divide */
    {"reduce_sum", "n"},
    {"reduce_max", "n"},
    {"softmax", "5*rows*cols"},   /* max, subtract, exp, sum, divide */
    {"rmsnorm", "4*rows*cols"},   /* square, sum, scale by 1/rms, by w */
    {"layernorm", "7*rows*cols"}, /* sum, subtract, square, sum, scale, gamma, beta */
    {"transpose", "0"},
    {"sgemm", "2*m*n*k"},
    {"quantize_i8", "3*rows*cols"}, /* |x|, max, multiply-round */
    {"dequantize_i8", "rows*cols"},
    {"matmul_i8", "2*m*n*k"},
};

const char *sim_model_flops(const char *name)
{
    for (size_t i = 0; i < sizeof sim_flops_table / sizeof sim_flops_table[0]; i++)
        if (strcmp(sim_flops_table[i].kernel, name) == 0)
            return sim_flops_table[i].flops;
    return NULL;
}

/* The value of scalar argument |i| of a dispatch, as a double. */
static double scalar_value(const aidev_backend_arg *a)
{
    switch (a->type) {
    case AIDEV_TYPE_I32: return a->u.i32;
    case AIDEV_TYPE_U32: return a->u.u32;
    case AIDEV_TYPE_I64: return (double)a->u.i64;
    case AIDEV_TYPE_U64: return (double)a->u.u64;
    case AIDEV_TYPE_F32: return a->u.f32;
    case AIDEV_TYPE_F64: return a->u.f64;
    default: return 0;
    }
}

/* Evaluates |expr|, a product of integers and scalar argument names, with
 * the dispatch's scalars. False when a factor is neither (the caller falls
 * back to a bound it knows). In doubles: three u32 factors overflow 64 bits. */
static bool eval_product(const sim_kernel *k, const aidev_backend_command *cmd, const char *expr,
                         double *out)
{
    double v = 1;
    const char *p = expr;
    while (*p) {
        const char *end = strchr(p, '*');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0)
            return false;
        if (isdigit((unsigned char)*p)) {
            double f = 0;
            for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char)p[i]))
                    return false;
                f = f * 10 + (p[i] - '0');
            }
            v *= f;
        } else {
            uint32_t i = 0;
            while (i < k->arg_count &&
                   !(strlen(k->arg_names[i]) == len && strncmp(k->arg_names[i], p, len) == 0))
                i++;
            if (i == k->arg_count || cmd->u.dispatch.args[i].kind != AIDEV_ARG_SCALAR)
                return false;
            v *= scalar_value(&cmd->u.dispatch.args[i]);
        }
        p = end ? end + 1 : p + len;
    }
    *out = v;
    return true;
}

/* Where the bytes of one side of a command go. */
typedef struct traffic {
    double flops, memory_bytes, link_bytes;
} traffic;

static void count_side(const sim_unit *u, traffic *t, bool in_device_memory, double bytes)
{
    if (in_device_memory || u->config.unified)
        t->memory_bytes += bytes;
    else
        t->link_bytes += bytes;
}

static void count_dispatch(const sim_unit *u, traffic *t, const aidev_backend_command *cmd)
{
    const sim_kernel *k = cmd->u.dispatch.kernel;
    const uint32_t *grid = cmd->u.dispatch.grid;
    if (!k->flops || !eval_product(k, cmd, k->flops, &t->flops))
        t->flops = (double)grid[0] * grid[1] * grid[2];
    for (uint32_t i = 0; i < cmd->u.dispatch.arg_count; i++) {
        const aidev_backend_arg *a = &cmd->u.dispatch.args[i];
        if (a->kind != AIDEV_ARG_BUFFER)
            continue;
        double elements, bytes = (double)a->u.buffer.size;
        if (k->arg_counts[i][0] && eval_product(k, cmd, k->arg_counts[i], &elements) &&
            elements * k->arg_elem_size[i] < bytes)
            bytes = elements * k->arg_elem_size[i];
        if (k->arg_access[i] == AIDEV_ACCESS_READ_WRITE)
            bytes *= 2;
        count_side(u, t, sim_buffer_in_device_memory(a->u.buffer.buffer), bytes);
    }
}

uint64_t sim_model_busy_ns(sim_unit *u, const aidev_backend_command *cmd,
                           sim_engine **out_engine)
{
    traffic t = {0, 0, 0};
    /* Commands that move data to or from the host use the link engine when
     * bytes cross the link. */
    bool transfer = false;
    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE:
        count_side(u, &t, false, (double)cmd->u.write.size);
        count_side(u, &t, sim_buffer_in_device_memory(cmd->u.write.buffer),
                   (double)cmd->u.write.size);
        transfer = true;
        break;
    case AIDEV_COMMAND_READ:
        count_side(u, &t, false, (double)cmd->u.read.size);
        count_side(u, &t, sim_buffer_in_device_memory(cmd->u.read.buffer),
                   (double)cmd->u.read.size);
        transfer = true;
        break;
    case AIDEV_COMMAND_COPY:
        count_side(u, &t, sim_buffer_in_device_memory(cmd->u.copy.src), (double)cmd->u.copy.size);
        count_side(u, &t, sim_buffer_in_device_memory(cmd->u.copy.dst), (double)cmd->u.copy.size);
        transfer = true;
        break;
    case AIDEV_COMMAND_FILL:
        count_side(u, &t, sim_buffer_in_device_memory(cmd->u.fill.buffer),
                   (double)cmd->u.fill.size);
        break;
    case AIDEV_COMMAND_DISPATCH:
        count_dispatch(u, &t, cmd);
        break;
    case AIDEV_COMMAND_BARRIER:
    case AIDEV_COMMAND_HOST_CALLBACK:
    case AIDEV_COMMAND_PREFETCH:
        *out_engine = NULL;
        return 0;
    }
    const sim_config *c = &u->config;
    double seconds = t.flops / (c->gflops * 1e9);
    double memory_seconds = t.memory_bytes / (c->mem_gbps * 1e9);
    double link_seconds = t.link_bytes / (c->link_gbps * 1e9);
    if (memory_seconds > seconds)
        seconds = memory_seconds;
    if (link_seconds > seconds)
        seconds = link_seconds;
    *out_engine = transfer && t.link_bytes > 0 ? &u->link : &u->compute;
    /* (A day at most: past that the configuration is a typo's.) */
    return seconds < 86400.0 ? (uint64_t)(seconds * 1e9 + 0.5) : 86400ull * 1000000000ull;
}

uint64_t sim_engine_book(sim_engine *engine, const sim_config *config, uint64_t submitted_ns,
                         uint64_t ready_ns, uint64_t busy_ns)
{
    uint64_t earliest = submitted_ns + (uint64_t)(config->latency_us * 1e3 + 0.5);
    if (ready_ns > earliest)
        earliest = ready_ns;
    pthread_mutex_lock(&engine->lock);
    uint64_t start = engine->free_at_ns > earliest ? engine->free_at_ns : earliest;
    engine->free_at_ns = start + busy_ns;
    pthread_mutex_unlock(&engine->lock);
    return start;
}

static const char *command_name(const aidev_backend_command *cmd)
{
    switch (cmd->type) {
    case AIDEV_COMMAND_WRITE: return "write";
    case AIDEV_COMMAND_READ: return "read";
    case AIDEV_COMMAND_COPY: return "copy";
    case AIDEV_COMMAND_FILL: return "fill";
    case AIDEV_COMMAND_DISPATCH: return ((const sim_kernel *)cmd->u.dispatch.kernel)->name;
    default: return "command";
    }
}

/* Overruns shorter than this are not counted: a host's timers and thread
 * wake-ups are not finer (a tiny write's model time is below the cost of
 * the memcpy call itself). */
#define SIM_OVERRUN_SLACK_NS 50000u

void sim_engine_overrun(sim_unit *u, sim_engine *engine, uint64_t end_ns, uint64_t host_end_ns,
                        const aidev_backend_command *cmd)
{
    pthread_mutex_lock(&engine->lock);
    if (engine->free_at_ns < host_end_ns)
        engine->free_at_ns = host_end_ns;
    pthread_mutex_unlock(&engine->lock);
    if (host_end_ns - end_ns < SIM_OVERRUN_SLACK_NS)
        return;
    uint64_t n = atomic_fetch_add_explicit(&u->overruns, 1, memory_order_relaxed) + 1;
    aidev_backend_debug("sim",
                        "%s: %s ran %.3f ms past its modelled end on the host (overrun %llu): "
                        "the host is slower than this device's model (lower its rates, or run "
                        "fewer simulated devices at once)",
                        u->config.name, command_name(cmd), (double)(host_end_ns - end_ns) * 1e-6,
                        (unsigned long long)n);
}
