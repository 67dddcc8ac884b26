/*
 * graph.h - command graphs inside the hal (issue 15).
 *
 * A graph node is an enqueue call kept as its caller gave it (an
 * aidev_graph_call: handles, offsets, arguments). hal/enqueue.c turns a
 * call into an aidev_request, checking it, the same way for an enqueue, a
 * graph's node (hal/graph.c: when it is added) and an instantiation
 * (hal/graph_exec.c: every node once). A launch (hal/graph_launch.c) hands
 * the instantiated requests to the scheduler without any of those checks.
 */
#ifndef AIDEV_HAL_GRAPH_H
#define AIDEV_HAL_GRAPH_H

#include "hal/scheduler.h"

/* One enqueue call, as its caller gave it. |kind| says which member of |u|
 * holds it: WRITE, READ, COPY, FILL, DISPATCH, BARRIER, HOST_CALLBACK or
 * FILE_READ. */
typedef struct aidev_graph_call {
    aidev_command_kind kind;
    union {
        struct {
            aidev_buffer buffer;
            uint64_t offset, size;
            const void *src;
        } write;
        struct {
            aidev_buffer buffer;
            uint64_t offset, size;
            void *dst;
        } read;
        struct {
            aidev_buffer src, dst;
            uint64_t src_offset, dst_offset, size;
        } copy;
        struct {
            aidev_buffer buffer;
            uint64_t offset, size;
            uint8_t pattern[4];
            uint32_t pattern_size;
        } fill;
        struct {
            aidev_kernel kernel;
            uint32_t grid[3], workgroup[3];
            bool has_grid, has_workgroup;
            uint32_t arg_count;
            aidev_arg args[AIDEV_MAX_KERNEL_ARGS];
        } dispatch;
        struct {
            aidev_host_fn fn;
            void *user_data;
        } host_callback;
        struct {
            aidev_buffer buffer;
            uint64_t buffer_offset;
            int fd;               /* the graph's own descriptor */
            uint64_t file_offset, size;
            uint32_t flags;
        } file_read;
    } u;
} aidev_graph_call;

/* Checks |call| for queue |q| and fills |r| as its enqueue call would
 * (hal/enqueue.c), with no wait list and no event; a dispatch's resolved
 * arguments go to |args| (room for AIDEV_MAX_KERNEL_ARGS), which |r|
 * points into. A file read's op is not made: the caller makes one per run
 * (aidev_file_read_op). The request holds no references. */
aidev_status aidev_request_build(aidev_queue_obj *q, const aidev_graph_call *call,
                                 aidev_request *r, aidev_backend_arg *args);

/* A dispatch call as given to aidev_enqueue_dispatch or
 * aidev_graph_add_dispatch (|grid|, |workgroup| may be NULL), in new memory
 * the caller frees; NULL when out of memory. |arg_count| is at most
 * AIDEV_MAX_KERNEL_ARGS (the caller checked it). */
aidev_graph_call *aidev_graph_call_dispatch_new(aidev_kernel kernel, const uint32_t grid[3],
                                                const uint32_t workgroup[3], uint32_t arg_count,
                                                const aidev_arg *args);

/* Capture (hal/graph.c): |r|'s queue captures into a graph; |call| becomes
 * a node after the queue's previous one and the nodes behind |r|'s wait
 * events, and |r->out_event| (when asked) gets the node's capture event. */
aidev_status aidev_graph_capture(aidev_request *r, const aidev_graph_call *call);

static inline bool aidev_queue_capturing(const aidev_queue_obj *q)
{
    return atomic_load_explicit(&q->capture, memory_order_relaxed) != NULL;
}

/* ------------------------------------------------------------------------ */
/* The recording (hal/graph.c)                                              */
/* ------------------------------------------------------------------------ */

typedef struct aidev_graph_node_rec {
    aidev_graph_call call;
    aidev_queue queue;
    uint32_t dep_count;
    uint32_t *deps;           /* earlier nodes, each below this node's index */
} aidev_graph_node_rec;

typedef struct aidev_graph_obj {
    aidev_object obj;
    pthread_mutex_t lock;     /* the nodes, the capture events */
    aidev_graph_node_rec *nodes;
    uint32_t node_count, node_cap;
    /* Events handed out by captured enqueues (retained), and their nodes. */
    aidev_event_obj **capture_events;
    uint32_t *capture_nodes;
    uint32_t capture_count, capture_cap;
} aidev_graph_obj;

AIDEV_DEFINE_LOOKUP(graph, aidev_graph, aidev_graph_obj, AIDEV_HANDLE_GRAPH)

/* ------------------------------------------------------------------------ */
/* Instantiated graphs (hal/graph_exec.c) and their launches                */
/* (hal/graph_launch.c)                                                     */
/* ------------------------------------------------------------------------ */

/* One node, checked and resolved once: what a launch hands the scheduler. */
typedef struct aidev_exec_node {
    aidev_request req;        /* holds references on its buffers and kernel */
    aidev_backend_arg args[AIDEV_MAX_KERNEL_ARGS]; /* req.cmd's dispatch args */
    aidev_graph_call call;    /* as recorded: updates check against it */
    uint32_t segment;
    uint32_t index_in_segment;
    char name[112];           /* aidev_graph_node_name() */
} aidev_exec_node;

/* A run of nodes of one queue that a launch submits as one: a backend
 * graph (graph_create) where the backend has one, else node by node. A
 * segment starts at a node that waits on another queue's node or is run by
 * the hal (file reads, host callbacks the backend does not run), and ends
 * after a node another queue waits on, so every edge between queues goes
 * from the end of a segment to the start of another. Segments are in the
 * order of their first node: each waits only on earlier ones. */
typedef struct aidev_exec_segment {
    aidev_queue_obj *queue;
    uint32_t first, count;    /* nodes [first, first + count) */
    uint32_t *waits;          /* earlier segments this one waits on */
    uint32_t wait_count;
    void *native;             /* the backend's graph, or NULL */
} aidev_exec_segment;

typedef struct aidev_graph_exec_obj {
    aidev_object obj;
    atomic_uint refs;         /* the handle's, and one per launch in flight */
    /* Launches and updates, one at a time: a launch's segments reach each
     * queue before the next launch's. */
    pthread_mutex_t launch_lock;
    pthread_mutex_t lock;     /* |inflight| */
    pthread_cond_t idle;      /* |inflight| fell to 0 */
    uint32_t inflight;
    uint32_t node_count;
    aidev_exec_node *nodes;
    uint32_t segment_count;
    aidev_exec_segment *segments;
    uint32_t queue_count;     /* distinct queues, each with graph_users + 1 */
    aidev_queue_obj **queues;
} aidev_graph_exec_obj;

AIDEV_DEFINE_LOOKUP(graph_exec, aidev_graph_exec, aidev_graph_exec_obj, AIDEV_HANDLE_GRAPH_EXEC)

void aidev_graph_exec_unref(aidev_graph_exec_obj *x);
/* Whether |dev|'s backend prepares graphs itself (the ABI 1.3 members). */
bool aidev_graph_backend_native(const aidev_device_obj *dev);
/* Makes segment |s|'s backend graph again from its nodes (after an update
 * the backend could not take, or a buffer that moved). */
aidev_status aidev_graph_exec_segment_prepare(aidev_graph_exec_obj *x, aidev_exec_segment *s);

/* A name for node |index| in messages: "graph node 3 (dispatch 'axpy' on
 * queue 7)". */
void aidev_graph_node_name(uint32_t index, const aidev_graph_call *call, uint32_t queue_id,
                           char *out, size_t out_size);

#endif
