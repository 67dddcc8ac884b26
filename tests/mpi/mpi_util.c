/*
 * mpi_util.c - see mpi_util.h.
 */
#include "mpi_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int test_rank, test_size;
const aidev_memory_kind test_kinds[3] = {AIDEV_MEMORY_DEVICE, AIDEV_MEMORY_HOST,
                                         AIDEV_MEMORY_SHARED};
static aidev_mpi_comm current_comm;
static bool result_written;

void mpi_test_init(int *argc, char ***argv)
{
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "MPI_Init_thread failed\n");
        exit(1);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &test_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &test_size);
    harness_init();
}

void mpi_test_write_result(const char *result)
{
    const char *dir = getenv("AIDEV_MPI_TEST_RESULTS");
    result_written = true;
    if (!dir || !*dir)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/rank-%d", dir, test_rank);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "%s\n", result);
    fclose(f);
}

int mpi_test_run(Suite *s, bool finalize)
{
    int status = harness_run(s); /* releases the context too */
    test_comm_release();
    if (!result_written)
        mpi_test_write_result(status ? "fail" : "pass");
    if (finalize)
        MPI_Finalize();
    return status;
}

aidev_mpi_comm test_comm(aidev_queue q, uint64_t chunk_bytes, aidev_mpi_staging staging,
                         double timeout_s)
{
    test_comm_release();
    aidev_mpi_comm_desc desc = {
        .timeout_ns = (uint64_t)((timeout_s > 0 ? timeout_s : 20.0) * 1e9),
        .chunk_bytes = chunk_bytes,
        .staging = staging,
    };
    ck_assert_mpi_ok(aidev_mpi_comm_create(MPI_COMM_WORLD, q, &desc, &current_comm));
    return current_comm;
}

aidev_mpi_comm test_current_comm(void)
{
    return current_comm;
}

void test_comm_release(void)
{
    if (current_comm)
        aidev_mpi_comm_release(current_comm);
    current_comm = NULL;
}

void expect_event(aidev_event ev, aidev_status expected, const char *needle)
{
    ck_assert_ptr_nonnull(ev);
    aidev_status st = aidev_event_wait(ev, 60ull * 1000000000ull);
    const char *message = aidev_event_message(ev);
    ck_assert_msg(st == expected, "event: %s, expected %s: %s", aidev_status_string(st),
                  aidev_status_string(expected), message);
    if (needle)
        ck_assert_msg(strstr(message, needle) != NULL, "event message does not name '%s': %s",
                      needle, message);
    aidev_event_release(ev);
}

/* ------------------------------------------------------------------------ */
/* Typed data                                                               */
/* ------------------------------------------------------------------------ */

static int value_of(int rank, uint64_t i, int salt)
{
    return (int)((i * 7 + (uint64_t)rank * 13 + (uint64_t)salt * 5) % 61) - 30;
}

/* f16 bits of an integer of magnitude below 2048 (exact). */
static uint16_t f16_of_int(int v)
{
    uint16_t sign = v < 0 ? 0x8000u : 0;
    unsigned a = (unsigned)abs(v);
    if (!a)
        return sign;
    int e = 31 - __builtin_clz(a);
    unsigned mant = (a << (10 - e)) & 0x3ffu;
    return sign | (uint16_t)((unsigned)(e + 15) << 10) | (uint16_t)mant;
}

/* bf16 bits of an integer of magnitude up to 256 (exact): the upper half
 * of its f32 bits. */
static uint16_t bf16_of_int(int v)
{
    float f = (float)v;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    ck_assert_msg((bits & 0xffffu) == 0, "bf16_of_int: %d is not exact in bf16", v);
    return (uint16_t)(bits >> 16);
}

static void store(aidev_type type, void *dst, uint64_t i, long v)
{
    switch (type) {
    case AIDEV_TYPE_F32: ((float *)dst)[i] = (float)v; break;
    case AIDEV_TYPE_F64: ((double *)dst)[i] = (double)v; break;
    case AIDEV_TYPE_I32: ((int32_t *)dst)[i] = (int32_t)v; break;
    case AIDEV_TYPE_I64: ((int64_t *)dst)[i] = (int64_t)v; break;
    case AIDEV_TYPE_I8: ((int8_t *)dst)[i] = (int8_t)v; break;
    case AIDEV_TYPE_F16: ((uint16_t *)dst)[i] = f16_of_int((int)v); break;
    case AIDEV_TYPE_BF16: ((uint16_t *)dst)[i] = bf16_of_int((int)v); break;
    default: ck_abort_msg("test_data: type %s is not in the tests", aidev_type_name(type));
    }
}

void *test_data(aidev_type type, int rank, uint64_t count, int salt)
{
    void *p = malloc(count * aidev_type_size(type) + 1);
    ck_assert_ptr_nonnull(p);
    for (uint64_t i = 0; i < count; i++)
        store(type, p, i, value_of(rank, i, salt));
    return p;
}

void *test_reduced(aidev_type type, aidev_mpi_op op, int size, uint64_t count, int salt)
{
    void *p = malloc(count * aidev_type_size(type) + 1);
    ck_assert_ptr_nonnull(p);
    for (uint64_t i = 0; i < count; i++) {
        long acc = value_of(0, i, salt);
        for (int r = 1; r < size; r++) {
            long v = value_of(r, i, salt);
            acc = op == AIDEV_MPI_SUM ? acc + v : (v > acc ? v : acc);
        }
        store(type, p, i, acc);
    }
    return p;
}

void expect_equal(aidev_type type, const void *got, const void *want, uint64_t count,
                  const char *what)
{
    size_t elem = aidev_type_size(type);
    for (uint64_t i = 0; i < count; i++) {
        const unsigned char *g = (const unsigned char *)got + i * elem;
        const unsigned char *w = (const unsigned char *)want + i * elem;
        if (memcmp(g, w, elem) == 0)
            continue;
        uint64_t gv = 0, wv = 0;
        memcpy(&gv, g, elem);
        memcpy(&wv, w, elem);
        ck_abort_msg("%s: element %llu of %llu (%s): got bits %#llx, expected %#llx (rank %d)",
                     what, (unsigned long long)i, (unsigned long long)count,
                     aidev_type_name(type), (unsigned long long)gv, (unsigned long long)wv,
                     test_rank);
    }
}

/* ------------------------------------------------------------------------ */
/* Buffers                                                                  */
/* ------------------------------------------------------------------------ */

aidev_buffer test_buffer_with(aidev_device dev, aidev_queue q, aidev_memory_kind kind,
                              uint64_t offset, const void *data, uint64_t bytes)
{
    aidev_buffer b = harness_buffer(dev, kind, offset + bytes + 64, AIDEV_TYPE_NONE);
    unsigned char pattern = 0x5a;
    ck_assert_ok(aidev_enqueue_fill(q, b, 0, offset + bytes + 64, &pattern, 1, 0, NULL, NULL));
    if (bytes)
        ck_assert_ok(aidev_enqueue_write(q, b, offset, bytes, data, 0, NULL, NULL));
    return b;
}

void *test_read(aidev_queue q, aidev_buffer b, uint64_t offset, uint64_t bytes)
{
    void *p = malloc(bytes + 1);
    ck_assert_ptr_nonnull(p);
    aidev_event ev;
    if (bytes) {
        ck_assert_ok(aidev_enqueue_read(q, b, offset, bytes, p, 0, NULL, &ev));
        ck_assert_ok(aidev_event_wait(ev, 60ull * 1000000000ull));
        aidev_event_release(ev);
    }
    return p;
}
