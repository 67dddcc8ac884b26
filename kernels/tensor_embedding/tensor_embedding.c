/* C form of tensor_embedding: out[..., d] = table[ids[...], d] for the ids
 * (i32, up to three axes) and a table of V rows of D; an id outside [0, V)
 * gives a row of NaN, so the fault shows downstream. The grid is the flat
 * items of (ids, D). */
#include "kernels/common/tensor_host.h"

AIDEV_HOST_KERNEL(tensor_embedding)
{
    const uint32_t n[3] = {th_lo(args, 0), th_hi(args, 0), th_lo(args, 1)}, D = th_hi(args, 1);
    const int32_t is[3] = {th_slo(args, 2), th_shi(args, 2), th_slo(args, 3)};
    const uint32_t V = th_hi(args, 3);
    const int32_t ts[2] = {th_slo(args, 4), th_shi(args, 4)};
    const int32_t os[4] = {th_slo(args, 5), th_shi(args, 5), th_slo(args, 6), th_shi(args, 6)};
    const uint32_t total = AIDEV_HOST_SCALAR(args, 7, uint32_t);
    const uint32_t idoff = AIDEV_HOST_SCALAR(args, 8, uint32_t);
    const uint32_t toff = AIDEV_HOST_SCALAR(args, 9, uint32_t);
    const uint32_t ooff = AIDEV_HOST_SCALAR(args, 10, uint32_t);
    const uint32_t types = AIDEV_HOST_SCALAR(args, 11, uint32_t);
    const int32_t *ids = args[12];
    const void *table = args[13];
    void *out = args[14];
    const uint32_t tt = th_type(types, 0), to = th_type(types, 1);
    const uint32_t end = aidev_host_end(range, 0, total);
    for (uint32_t t = range->begin[0]; t < end; t++) {
        const uint32_t d = t % D, r = t / D;
        const uint32_t i0 = r / n[2] / n[1], i1 = r / n[2] % n[1], i2 = r % n[2];
        const int32_t id = ids[(int64_t)idoff + (int64_t)i0 * is[0] + (int64_t)i1 * is[1] +
                               (int64_t)i2 * is[2]];
        const float v = id >= 0 && (uint32_t)id < V
                            ? th_load(table, tt, (int64_t)toff + (int64_t)id * ts[0] +
                                                     (int64_t)d * ts[1])
                            : NAN;
        th_store(out, to, (int64_t)ooff + (int64_t)i0 * os[0] + (int64_t)i1 * os[1] +
                              (int64_t)i2 * os[2] + (int64_t)d * os[3],
                 v);
    }
}
