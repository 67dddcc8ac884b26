/*
 * types.c - aidev element types as MPI datatypes and reductions.
 *
 * MPI names every integer and float type aidev has but f16 and bf16. Those
 * go as a two-byte datatype of their own with user reductions that widen
 * each pair to f32, combine, and round back to the type (nearest even), as
 * one f16 or bf16 operation on a device does: the conversions are the
 * tensor kernels' own (kernels/common/tensor_host.h), so a value reduced
 * here has the bits a device would store.
 */
#include <math.h>
#include <string.h>

#include "kernels/common/tensor_host.h"
#include "mpi/internal.h"

/* ------------------------------------------------------------------------ */
/* Reductions of 16-bit floats                                              */
/* ------------------------------------------------------------------------ */

typedef float (*half_widen_fn)(uint32_t bits);
typedef uint32_t (*half_narrow_fn)(float value);

/* inout[i] = round(in[i] + inout[i]) for 16-bit floats widened by |widen|. */
static inline void half_sum(const void *in, void *inout, int len, half_widen_fn widen,
                            half_narrow_fn narrow)
{
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < len; i++)
        b[i] = (uint16_t)narrow(widen(a[i]) + widen(b[i]));
}

/* inout[i] = max(in[i], inout[i]); as fmaxf, a NaN loses to a number. The
 * larger operand's bits are kept, so no rounding happens. */
static inline void half_max(const void *in, void *inout, int len, half_widen_fn widen)
{
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < len; i++) {
        float x = widen(a[i]), y = widen(b[i]);
        if (isnan(y) || x > y)
            b[i] = a[i];
    }
}

static void mpi_f16_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    half_sum(in, inout, *len, th_f16_to_f32, th_f32_to_f16);
}

static void mpi_f16_max(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    half_max(in, inout, *len, th_f16_to_f32);
}

static void mpi_bf16_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    half_sum(in, inout, *len, th_bf16_to_f32, th_f32_to_bf16);
}

static void mpi_bf16_max(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    half_max(in, inout, *len, th_bf16_to_f32);
}

/* ------------------------------------------------------------------------ */
/* Datatypes and operations of a communicator                               */
/* ------------------------------------------------------------------------ */

int aidev_mpi_types_create(aidev_mpi_comm_obj *c)
{
    int rc = MPI_Type_contiguous(2, MPI_BYTE, &c->half_type);
    if (rc == MPI_SUCCESS)
        rc = MPI_Type_commit(&c->half_type);
    if (rc == MPI_SUCCESS)
        rc = MPI_Op_create(mpi_f16_sum, 1, &c->f16_sum);
    if (rc == MPI_SUCCESS)
        rc = MPI_Op_create(mpi_f16_max, 1, &c->f16_max);
    if (rc == MPI_SUCCESS)
        rc = MPI_Op_create(mpi_bf16_sum, 1, &c->bf16_sum);
    if (rc == MPI_SUCCESS)
        rc = MPI_Op_create(mpi_bf16_max, 1, &c->bf16_max);
    return rc;
}

void aidev_mpi_types_free(aidev_mpi_comm_obj *c)
{
    MPI_Op *ops[] = {&c->f16_sum, &c->f16_max, &c->bf16_sum, &c->bf16_max};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (*ops[i] != MPI_OP_NULL)
            MPI_Op_free(ops[i]);
    if (c->half_type != MPI_DATATYPE_NULL)
        MPI_Type_free(&c->half_type);
}

bool aidev_mpi_reduction_of(const aidev_mpi_comm_obj *c, aidev_type type, aidev_mpi_op op,
                            MPI_Datatype *out_type, MPI_Op *out_op)
{
    if (op != AIDEV_MPI_SUM && op != AIDEV_MPI_MAX)
        return false;
    if (type == AIDEV_TYPE_F16 || type == AIDEV_TYPE_BF16) {
        bool f16 = type == AIDEV_TYPE_F16;
        *out_type = c->half_type;
        if (op == AIDEV_MPI_SUM)
            *out_op = f16 ? c->f16_sum : c->bf16_sum;
        else
            *out_op = f16 ? c->f16_max : c->bf16_max;
        return true;
    }
    MPI_Datatype t;
    switch (type) {
    case AIDEV_TYPE_I8: t = MPI_INT8_T; break;
    case AIDEV_TYPE_U8: t = MPI_UINT8_T; break;
    case AIDEV_TYPE_I16: t = MPI_INT16_T; break;
    case AIDEV_TYPE_U16: t = MPI_UINT16_T; break;
    case AIDEV_TYPE_I32: t = MPI_INT32_T; break;
    case AIDEV_TYPE_U32: t = MPI_UINT32_T; break;
    case AIDEV_TYPE_I64: t = MPI_INT64_T; break;
    case AIDEV_TYPE_U64: t = MPI_UINT64_T; break;
    case AIDEV_TYPE_F32: t = MPI_FLOAT; break;
    case AIDEV_TYPE_F64: t = MPI_DOUBLE; break;
    default: return false;
    }
    *out_type = t;
    *out_op = op == AIDEV_MPI_SUM ? MPI_SUM : MPI_MAX;
    return true;
}

const char *aidev_mpi_reduce_name(aidev_mpi_op op)
{
    switch (op) {
    case AIDEV_MPI_SUM: return "sum";
    case AIDEV_MPI_MAX: return "max";
    }
    return "?";
}
