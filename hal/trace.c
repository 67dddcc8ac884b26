/*
 * trace.c - the Chrome trace-event writer behind AIDEV_TRACE (see trace.h).
 */
#include "hal/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aidev_config.h"

#if AIDEV_HAVE_JSON
#include <json-c/json.h>
#endif

#define MAX_DEPS 4
/* How long a reader of a FIFO or pipe may keep the trace waiting without
 * reading a byte before the write is given up. */
#define TRACE_STALL_MS 1000

typedef struct trace_record {
    uint64_t queued, start, end;
    uint64_t bytes;
    uint32_t tid;
    int32_t status;
    uint8_t kind;
    uint8_t dep_count;
    bool implicit;     /* a restore the hal made for a command or a map */
    char kernel[64];
    struct {
        uint32_t tid;
        uint64_t end;
    } deps[MAX_DEPS];
} trace_record;

/* One per thread that completes commands; appended without contention (its
 * lock is only ever shared with a flush). */
typedef struct trace_buffer {
    pthread_mutex_t lock;
    trace_record *records;
    size_t count, capacity;
    struct trace_buffer *next;
} trace_buffer;

typedef struct track_name {
    uint32_t tid;
    char name[256];
    struct track_name *next;
} track_name;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool enabled;
static char *path;
static pthread_mutex_t global_lock = PTHREAD_MUTEX_INITIALIZER;
static trace_buffer *buffers;
static track_name *tracks;
static _Thread_local trace_buffer *mine;
/* Set once a failure to write the trace was reported. */
static atomic_flag reported = ATOMIC_FLAG_INIT;

/* Says once per process, on stderr, that the trace cannot be written: the
 * program asked for it, so silence would hide the loss. */
static void report_once(const char *env, const char *why)
{
    if (atomic_flag_test_and_set(&reported))
        return;
    fprintf(stderr, "aidev: AIDEV_TRACE=%s: the trace cannot be written: %s\n", env, why);
}

/* Three tracks per queue: its commands, its file reads, and its graph
 * launches (a launch spans its nodes, which run on their queues' tracks,
 * and may overlap the queue's later commands: one track could not nest
 * them). */
enum { TRACK_COMMANDS, TRACK_FILE_READS, TRACK_GRAPH_LAUNCHES, TRACKS_PER_QUEUE };

static uint32_t track_of(uint32_t queue_id, aidev_command_kind kind)
{
    uint32_t t = kind == AIDEV_CMD_FILE_READ ? TRACK_FILE_READS
                 : kind == AIDEV_CMD_GRAPH   ? TRACK_GRAPH_LAUNCHES
                                             : TRACK_COMMANDS;
    return queue_id * TRACKS_PER_QUEUE + t;
}

/* The track of what the hal does for device |index| outside any queue
 * (restores for maps and exports): past every queue's. */
#define TRACE_HOST_TRACK 0x40000000u

static void at_exit(void)
{
    aidev_trace_flush();
}

static void read_environment(void)
{
    const char *env = getenv("AIDEV_TRACE");
    if (!env || !*env)
        return;
#if AIDEV_HAVE_JSON
    path = strdup(env);
    enabled = path != NULL;
    if (enabled)
        atexit(at_exit);
#else
    report_once(env, "libaidev was built without json-c");
#endif
}

void aidev_trace_start(void)
{
    pthread_once(&once, read_environment);
}

bool aidev_trace_enabled(void)
{
    return __atomic_load_n(&enabled, __ATOMIC_RELAXED);
}

void aidev_trace_queue(const aidev_queue_obj *q)
{
    if (!aidev_trace_enabled())
        return;
    static const aidev_command_kind kinds[TRACKS_PER_QUEUE] = {
        [TRACK_COMMANDS] = AIDEV_CMD_WRITE, [TRACK_FILE_READS] = AIDEV_CMD_FILE_READ,
        [TRACK_GRAPH_LAUNCHES] = AIDEV_CMD_GRAPH};
    static const char *const suffixes[TRACKS_PER_QUEUE] = {
        [TRACK_COMMANDS] = "", [TRACK_FILE_READS] = " file reads",
        [TRACK_GRAPH_LAUNCHES] = " graph launches"};
    for (int i = 0; i < TRACKS_PER_QUEUE; i++) {
        track_name *t = calloc(1, sizeof *t);
        if (!t)
            return;
        t->tid = track_of(q->id, kinds[i]);
        /* The priority in the name: overlap of urgent and bulk work shows
         * in Perfetto's track list (issue 15). */
        const char *priority = q->priority == AIDEV_QUEUE_PRIORITY_HIGH  ? "HIGH"
                               : q->priority == AIDEV_QUEUE_PRIORITY_LOW ? "LOW"
                                                                         : "NORMAL";
        snprintf(t->name, sizeof t->name, "dev%u %s queue %u (%s)%s: %.120s", q->device->index,
                 q->device->backend->name, q->id, priority, suffixes[i],
                 q->device->info->name);
        pthread_mutex_lock(&global_lock);
        t->next = tracks;
        tracks = t;
        pthread_mutex_unlock(&global_lock);
    }
}

static trace_buffer *thread_buffer(void)
{
    if (mine)
        return mine;
    trace_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_lock(&global_lock);
    b->next = buffers;
    buffers = b;
    pthread_mutex_unlock(&global_lock);
    mine = b;
    return b;
}

/* Appends |r| to the thread's buffer; dropped when out of memory. */
static void trace_append(trace_buffer *b, const trace_record *r)
{
    pthread_mutex_lock(&b->lock);
    if (b->count == b->capacity) {
        size_t cap = b->capacity ? b->capacity * 2 : 1024;
        trace_record *grown = realloc(b->records, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&b->lock);
            return;
        }
        b->records = grown;
        b->capacity = cap;
    }
    b->records[b->count++] = *r;
    pthread_mutex_unlock(&b->lock);
}

void aidev_trace_event(const aidev_event_obj *e)
{
    trace_buffer *b = thread_buffer();
    if (!b)
        return;
    trace_record r = {
        .queued = e->times.queued,
        .start = e->times.start,
        .end = e->times.end,
        .bytes = e->bytes,
        .tid = track_of(e->queue_id, e->kind),
        .status = e->status,
        .kind = (uint8_t)e->kind,
    };
    snprintf(r.kernel, sizeof r.kernel, "%s", e->kernel);
    for (uint8_t i = 0; i < e->trace_dep_count && r.dep_count < MAX_DEPS; i++) {
        const aidev_event_obj *d = e->trace_deps[i];
        if (atomic_load(&d->state) == 0 || d->kind == AIDEV_CMD_USER)
            continue;
        r.deps[r.dep_count].tid = track_of(d->queue_id, d->kind);
        /* A nanosecond before its end, so the arrow binds inside it. */
        r.deps[r.dep_count].end = d->times.end > d->times.start ? d->times.end - 1 : d->times.end;
        r.dep_count++;
    }
    trace_append(b, &r);
}

static void trace_name_host_track(const aidev_device_obj *dev, uint32_t tid)
{
    static _Atomic uint64_t named; /* a bit per device index below 64 */
    uint64_t bit = dev->index < 64 ? (uint64_t)1 << dev->index : 0;
    if (bit && (atomic_fetch_or(&named, bit) & bit))
        return;
    track_name *t = calloc(1, sizeof *t);
    if (!t)
        return;
    t->tid = tid;
    snprintf(t->name, sizeof t->name, "dev%u %s host (restores for maps and exports): %.120s",
             dev->index, dev->backend->name, dev->info->name);
    pthread_mutex_lock(&global_lock);
    t->next = tracks;
    tracks = t;
    pthread_mutex_unlock(&global_lock);
}

void aidev_trace_implicit_restore(const aidev_device_obj *dev, const aidev_queue_obj *q,
                                  uint64_t bytes, uint64_t start_ns, uint64_t end_ns,
                                  aidev_status status)
{
    trace_buffer *b = thread_buffer();
    if (!b)
        return;
    uint32_t tid = q ? track_of(q->id, AIDEV_CMD_RESTORE) : TRACE_HOST_TRACK + dev->index;
    if (!q)
        trace_name_host_track(dev, tid);
    trace_record r = {.queued = start_ns, .start = start_ns, .end = end_ns, .bytes = bytes,
                      .tid = tid, .status = status, .kind = AIDEV_CMD_RESTORE,
                      .implicit = true};
    trace_append(b, &r);
}

#if AIDEV_HAVE_JSON
static json_object *slice(const trace_record *r, int pid)
{
    json_object *o = json_object_new_object();
    const char *name = r->kernel[0] ? r->kernel : aidev_command_kind_name(r->kind);
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "cat", json_object_new_string(aidev_command_kind_name(r->kind)));
    json_object_object_add(o, "ph", json_object_new_string("X"));
    json_object_object_add(o, "ts", json_object_new_double((double)r->start / 1000.0));
    json_object_object_add(o, "dur", json_object_new_double((double)(r->end - r->start) / 1000.0));
    json_object_object_add(o, "pid", json_object_new_int(pid));
    json_object_object_add(o, "tid", json_object_new_int64(r->tid));
    json_object *args = json_object_new_object();
    json_object_object_add(args, "bytes", json_object_new_int64((int64_t)r->bytes));
    if (r->kernel[0])
        json_object_object_add(args, "kernel", json_object_new_string(r->kernel));
    if (r->implicit)
        json_object_object_add(args, "implicit", json_object_new_boolean(1));
    json_object_object_add(args, "queued_us", json_object_new_double((double)r->queued / 1000.0));
    json_object_object_add(args, "status",
                           json_object_new_string(aidev_status_string((aidev_status)r->status)));
    json_object_object_add(o, "args", args);
    return o;
}

static json_object *flow(const char *ph, uint64_t id, uint32_t tid, uint64_t ts, int pid)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string("waits on"));
    json_object_object_add(o, "cat", json_object_new_string("dependency"));
    json_object_object_add(o, "ph", json_object_new_string(ph));
    json_object_object_add(o, "id", json_object_new_int64((int64_t)id));
    json_object_object_add(o, "ts", json_object_new_double((double)ts / 1000.0));
    json_object_object_add(o, "pid", json_object_new_int(pid));
    json_object_object_add(o, "tid", json_object_new_int64(tid));
    if (ph[0] == 'f')
        json_object_object_add(o, "bp", json_object_new_string("e"));
    return o;
}
#endif

#if AIDEV_HAVE_JSON
/* write() on a FIFO or pipe whose reader has gone raises SIGPIPE, which
 * would end the program: blocked on this thread while the trace is
 * written, and a SIGPIPE the write raised is taken back before the mask is
 * restored (one that was pending before is left for the program). */
typedef struct sigpipe_guard {
    sigset_t old;
    bool was_pending;
} sigpipe_guard;

static void sigpipe_block(sigpipe_guard *g)
{
    sigset_t pipe_only, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigpending(&pending);
    g->was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &g->old);
}

static void sigpipe_restore(sigpipe_guard *g, bool raised)
{
    if (raised && !g->was_pending) {
        sigset_t pipe_only;
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        const struct timespec now = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &now) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* Writes |len| bytes of |text| to |file| without ever blocking the program
 * for long: opened O_NONBLOCK, so a FIFO nobody reads fails at once
 * (ENXIO), and a reader that takes no byte for TRACE_STALL_MS is given up
 * on (ETIMEDOUT). Returns 0 or an errno. */
static int write_nonblocking(const char *file, const char *text, size_t len)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    sigpipe_guard guard;
    sigpipe_block(&guard);
    int err = 0;
    size_t done = 0;
    while (done < len && !err) {
        ssize_t n = write(fd, text + done, len - done);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int ready = poll(&p, 1, TRACE_STALL_MS);
            if (ready == 0)
                err = ETIMEDOUT;
            else if (ready < 0 && errno != EINTR)
                err = errno;
        } else if (n < 0 && errno != EINTR) {
            err = errno;
        } else if (n == 0) {
            err = EIO;
        }
    }
    sigpipe_restore(&guard, err == EPIPE);
    if (close(fd) != 0 && !err && errno != EINTR)
        err = errno;
    return err;
}

static void write_trace(json_object *root)
{
    size_t len = 0;
    const char *text = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, &len);
    int err = text ? write_nonblocking(path, text, len) : ENOMEM;
    if (!err)
        return;
    char why[256];
    if (err == ENXIO)
        snprintf(why, sizeof why, "no process has the FIFO open for reading");
    else if (err == ETIMEDOUT)
        snprintf(why, sizeof why, "its reader took nothing for %d ms", TRACE_STALL_MS);
    else
        snprintf(why, sizeof why, "%s", strerror(err));
    report_once(path, why);
}
#endif

void aidev_trace_flush(void)
{
#if AIDEV_HAVE_JSON
    if (!aidev_trace_enabled())
        return;
    int pid = (int)getpid();
    json_object *events = json_object_new_array();
    uint64_t flow_id = 1;
    pthread_mutex_lock(&global_lock);
    for (const track_name *t = tracks; t; t = t->next) {
        json_object *m = json_object_new_object();
        json_object_object_add(m, "name", json_object_new_string("thread_name"));
        json_object_object_add(m, "ph", json_object_new_string("M"));
        json_object_object_add(m, "pid", json_object_new_int(pid));
        json_object_object_add(m, "tid", json_object_new_int64(t->tid));
        json_object *args = json_object_new_object();
        json_object_object_add(args, "name", json_object_new_string(t->name));
        json_object_object_add(m, "args", args);
        json_object_array_add(events, m);
    }
    for (trace_buffer *b = buffers; b; b = b->next) {
        pthread_mutex_lock(&b->lock);
        for (size_t i = 0; i < b->count; i++) {
            const trace_record *r = &b->records[i];
            json_object_array_add(events, slice(r, pid));
            for (uint8_t d = 0; d < r->dep_count; d++, flow_id++) {
                json_object_array_add(events, flow("s", flow_id, r->deps[d].tid,
                                                   r->deps[d].end, pid));
                json_object_array_add(events, flow("f", flow_id, r->tid, r->start, pid));
            }
        }
        pthread_mutex_unlock(&b->lock);
    }
    pthread_mutex_unlock(&global_lock);
    json_object *root = json_object_new_object();
    json_object_object_add(root, "traceEvents", events);
    json_object_object_add(root, "displayTimeUnit", json_object_new_string("ns"));
    write_trace(root);
    json_object_put(root);
#endif
}
