/*
 * buckets.c - gradients all-reduced in buckets as they become ready.
 *
 * A backward pass writes one layer's gradient after another. Waiting for
 * the last one before reducing any wastes the time the first ones could
 * have spent on the network; reducing each alone pays MPI's latency per
 * layer. PyTorch's DistributedDataParallel groups consecutive gradients
 * into buckets of about 25 MiB and reduces each bucket once its gradients
 * are ready; this does the same with aidev events: each bucket is one
 * in-place all-reduce whose wait list is its ranges' ready events.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "mpi/internal.h"

#define DEFAULT_BUCKET_BYTES (25ull << 20)

static aidev_status check_ranges(uint32_t count, const aidev_mpi_range *ranges, size_t elem)
{
    for (uint32_t i = 0; i < count; i++) {
        uint64_t bytes;
        if (__builtin_mul_overflow(ranges[i].count, (uint64_t)elem, &bytes) ||
            ranges[i].offset + bytes < ranges[i].offset)
            return aidev_mpi_fail(AIDEV_ERROR_OUT_OF_RANGE, "ranges[%u]: offset %" PRIu64
                                  " + %" PRIu64 " elements overflows", i, ranges[i].offset,
                                  ranges[i].count);
        for (uint32_t j = 0; j < i; j++) {
            uint64_t a = ranges[j].offset, a_end = a + ranges[j].count * elem;
            uint64_t b = ranges[i].offset, b_end = b + bytes;
            if (a < b_end && b < a_end)
                return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT,
                                      "ranges[%u] and ranges[%u] overlap (bytes %" PRIu64
                                      " to %" PRIu64 " and %" PRIu64 " to %" PRIu64 ")",
                                      j, i, a, a_end, b, b_end);
        }
    }
    return AIDEV_SUCCESS;
}

/* The ranges [first, *end) that form the bucket starting at |first|: next
 * to each other in the list and in the buffer, under |bucket_bytes|. Its
 * bytes in [*lo, *hi). */
static void bucket_extent(uint32_t count, const aidev_mpi_range *ranges, size_t elem,
                          uint64_t bucket_bytes, uint32_t first, uint32_t *end, uint64_t *lo,
                          uint64_t *hi)
{
    *lo = ranges[first].offset;
    *hi = *lo + ranges[first].count * elem;
    uint32_t i = first + 1;
    for (; i < count && *hi - *lo < bucket_bytes; i++) {
        uint64_t b = ranges[i].offset, b_end = b + ranges[i].count * elem;
        if (b == *hi)
            *hi = b_end;
        else if (b_end == *lo)
            *lo = b;
        else
            break;
    }
    *end = i;
}

AIDEV_MPI_API aidev_status aidev_mpi_allreduce_buckets(aidev_mpi_comm comm,
                                                       aidev_buffer buffer, aidev_type type,
                                                       aidev_mpi_op op, uint64_t bucket_bytes,
                                                       uint32_t range_count,
                                                       const aidev_mpi_range *ranges,
                                                       aidev_event *out_events,
                                                       aidev_event *out_event)
{
    aidev_mpi_error_clear();
    if (out_event)
        *out_event = NULL;
    aidev_mpi_comm_obj *c;
    aidev_status st = aidev_mpi_comm_lookup(comm, &c);
    if (st != AIDEV_SUCCESS)
        return st;
    size_t elem = aidev_type_size(type);
    if (!elem)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT, "type: %d is not an aidev_type",
                              (int)type);
    if (!range_count || !ranges)
        return aidev_mpi_fail(AIDEV_ERROR_INVALID_ARGUMENT, "ranges: %s with range_count %u",
                              ranges ? "given" : "NULL", range_count);
    st = check_ranges(range_count, ranges, elem);
    if (st != AIDEV_SUCCESS)
        return st;
    if (!bucket_bytes)
        bucket_bytes = DEFAULT_BUCKET_BYTES;

    /* Per bucket: its event; per range: the index of its bucket. */
    aidev_event *buckets = calloc(range_count, sizeof *buckets);
    aidev_event *waits = calloc(range_count, sizeof *waits);
    uint32_t *bucket_of = calloc(range_count, sizeof *bucket_of);
    uint32_t bucket_count = 0;
    if (!buckets || !waits || !bucket_of)
        st = aidev_mpi_fail(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t first = 0; st == AIDEV_SUCCESS && first < range_count;) {
        uint32_t end, wait_count = 0;
        uint64_t lo, hi;
        bucket_extent(range_count, ranges, elem, bucket_bytes, first, &end, &lo, &hi);
        for (uint32_t i = first; i < end; i++) {
            bucket_of[i] = bucket_count;
            if (ranges[i].ready)
                waits[wait_count++] = ranges[i].ready;
        }
        st = aidev_mpi_enqueue_allreduce(c, NULL, 0, buffer, lo, (hi - lo) / elem, type, op,
                                         wait_count, waits, &buckets[bucket_count]);
        if (st == AIDEV_SUCCESS)
            bucket_count++;
        first = end;
    }
    if (st == AIDEV_SUCCESS && out_event) {
        st = aidev_enqueue_barrier(c->queue, bucket_count, buckets, out_event);
        if (st != AIDEV_SUCCESS)
            aidev_mpi_fail_aidev(st, "aidev_enqueue_barrier (out_event)");
    }
    for (uint32_t i = 0; st == AIDEV_SUCCESS && out_events && i < range_count; i++) {
        st = aidev_event_retain(buckets[bucket_of[i]]);
        if (st == AIDEV_SUCCESS) {
            out_events[i] = buckets[bucket_of[i]];
        } else {
            aidev_mpi_fail_aidev(st, "aidev_event_retain");
            for (uint32_t j = 0; j < i; j++)
                aidev_event_release(out_events[j]);
        }
    }
    if (st != AIDEV_SUCCESS && out_event && *out_event) {
        aidev_event_release(*out_event);
        *out_event = NULL;
    }
    for (uint32_t b = 0; b < bucket_count; b++)
        aidev_event_release(buckets[b]);
    free(buckets);
    free(waits);
    free(bucket_of);
    return st;
}
