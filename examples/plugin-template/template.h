/*
 * template.h - the objects of the template backend.
 *
 * This folder is a complete aidev backend, built out of tree against the
 * installed aidev headers. Copy it to start the backend of your
 * accelerator. Its "device" is the host: memory comes from malloc, each
 * queue is a worker thread, kernels are the C forms of the built-in library
 * and C functions of the user. Every place where your device does something
 * else is marked "YOUR DEVICE:".
 *
 * Read include/aidev/aidev_backend.h first: it is the whole contract. The
 * points that matter most:
 *   - libaidev has checked every handle and argument before it calls you:
 *     offsets lie inside buffers, kernel arguments match their signature;
 *   - you may be called from several threads at once;
 *   - every command that gets an event must complete it exactly once, with
 *     aidev_backend_event_complete(), also when it fails;
 *   - libaidev may release a buffer or kernel while your commands still use
 *     it: keep your own reference until they are done.
 */
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <aidev/aidev_backend.h>

/* The backend's name: the plugin file must be libaidev-backend-NAME.so,
 * and AIDEV_BACKENDS / AIDEV_TEST_DEVICES select it by this name. */
#define TEMPLATE_NAME "template"

/* State of the whole backend, made by init: what we know of the devices.
 * YOUR DEVICE: the driver connection, the list of devices found. */
typedef struct template_backend {
    aidev_backend_device_info info;
} template_backend;

/* An open device, one per context that uses it.
 * YOUR DEVICE: the device handle, its memory allocator, its command rings. */
typedef struct template_device {
    template_backend *backend;
} template_device;

/* A buffer. |refs| counts libaidev's reference and one per command in
 * flight that uses the buffer. */
typedef struct template_buffer {
    atomic_uint refs;
    void *ptr;        /* YOUR DEVICE: a device address or allocation handle */
    size_t size;
    bool imported;    /* |ptr| belongs to the user: never freed here */
} template_buffer;

/* A kernel: a C function over a range of work-items.
 * YOUR DEVICE: a compiled program and its entry point. */
typedef struct template_kernel {
    atomic_uint refs;
    aidev_host_kernel_fn fn;
} template_kernel;

typedef struct template_queue template_queue;

/* template_memory.c */
aidev_status template_buffer_create(void *device, const aidev_backend_buffer_desc *desc,
                                    void **out_buffer, void **out_host_ptr);
void template_buffer_destroy(void *device, void *buffer);
void template_buffer_retain(template_buffer *b);
void template_buffer_release(template_buffer *b);

/* template_kernel.c */
aidev_status template_kernel_create(void *device, const aidev_backend_kernel_source *src,
                                    void **out_kernel);
void template_kernel_destroy(void *device, void *kernel);
void template_kernel_retain(template_kernel *k);
void template_kernel_release(template_kernel *k);
void template_kernel_run(const template_kernel *k, const aidev_backend_command *dispatch);

/* template_queue.c */
aidev_status template_queue_create(void *device, aidev_queue_priority priority,
                                   void **out_queue);
void template_queue_destroy(void *queue);
aidev_status template_queue_submit(void *queue, const aidev_backend_command *cmd,
                                   uint32_t wait_count, aidev_backend_event *const *waits,
                                   aidev_backend_event *signal);
aidev_status template_queue_finish(void *queue);

#endif
