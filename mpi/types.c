/*
 * types.c - aidev element types as MPI datatypes and reductions.
 *
 * MPI names every integer and float type aidev has but f16. f16 goes as a
 * datatype of its own (two bytes) with user reductions that widen each
 * pair to f32, combine, and round back to the nearest f16 (ties to even),
 * as one f16 operation on a device would.
 */
#include <math.h>
#include <string.h>

#include "mpi/internal.h"

/* ------------------------------------------------------------------------ */
/* f16 <-> f32                                                              */
/* ------------------------------------------------------------------------ */

static float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (mant << 13); /* inf, NaN (payload kept) */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {
        bits = sign;
    } else {
        /* Subnormal: mant * 2^-24, exact in f32. */
        float v = (float)mant * 0x1p-24f;
        memcpy(&bits, &v, sizeof bits);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t f32_to_f16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    uint32_t abs = bits & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf stays inf; NaN stays a quiet NaN */
        return sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u);
    if (abs >= 0x477ff000u) /* rounds to 65536 or more: inf */
        return sign | 0x7c00u;
    if (abs < 0x38800000u) {
        /* Below the smallest normal f16 (2^-14): a multiple of 2^-24,
         * rounded to nearest even by the float addition's own rounding. */
        float a;
        memcpy(&a, &abs, sizeof a);
        float r = a + 0.5f; /* 0.5 = 2^-1: the ulp there is 2^-24 */
        uint32_t rb;
        memcpy(&rb, &r, sizeof rb);
        return sign | (uint16_t)(rb - 0x3f000000u);
    }
    /* Normal: drop 13 mantissa bits, rounding to nearest even. */
    uint32_t odd = (abs >> 13) & 1u;
    abs += 0xfffu + odd;
    return sign | (uint16_t)((abs - 0x38000000u) >> 13);
}

static void f16_sum(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *len; i++)
        b[i] = f32_to_f16(f16_to_f32(a[i]) + f16_to_f32(b[i]));
}

static void f16_max(void *in, void *inout, int *len, MPI_Datatype *type)
{
    (void)type;
    const uint16_t *a = in;
    uint16_t *b = inout;
    for (int i = 0; i < *len; i++) {
        float x = f16_to_f32(a[i]), y = f16_to_f32(b[i]);
        /* As fmaxf: a NaN loses to a number. */
        if (isnan(y) || x > y)
            b[i] = a[i];
    }
}

/* ------------------------------------------------------------------------ */
/* Datatypes and operations of a communicator                               */
/* ------------------------------------------------------------------------ */

int aidev_mpi_types_create(aidev_mpi_comm_obj *c)
{
    int rc = MPI_Type_contiguous(2, MPI_BYTE, &c->f16_type);
    if (rc == MPI_SUCCESS)
        rc = MPI_Type_commit(&c->f16_type);
    if (rc == MPI_SUCCESS)
        rc = MPI_Op_create(f16_sum, 1, &c->f16_sum);
    if (rc == MPI_SUCCESS)
        rc = MPI_Op_create(f16_max, 1, &c->f16_max);
    return rc;
}

void aidev_mpi_types_free(aidev_mpi_comm_obj *c)
{
    if (c->f16_max != MPI_OP_NULL)
        MPI_Op_free(&c->f16_max);
    if (c->f16_sum != MPI_OP_NULL)
        MPI_Op_free(&c->f16_sum);
    if (c->f16_type != MPI_DATATYPE_NULL)
        MPI_Type_free(&c->f16_type);
}

bool aidev_mpi_reduction_of(const aidev_mpi_comm_obj *c, aidev_type type, aidev_mpi_op op,
                            MPI_Datatype *out_type, MPI_Op *out_op)
{
    if (op != AIDEV_MPI_SUM && op != AIDEV_MPI_MAX)
        return false;
    if (type == AIDEV_TYPE_F16) {
        *out_type = c->f16_type;
        *out_op = op == AIDEV_MPI_SUM ? c->f16_sum : c->f16_max;
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
