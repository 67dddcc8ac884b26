/* C form of tensor_dequantize: y[r, c] = element (r, c) of a quantized
 * rows x cols matrix (kernels/common/tensor_quant.h), stored in y's type.
 * The grid is (cols, rows). */
#include "kernels/common/tensor_quant.h"

AIDEV_HOST_KERNEL(tensor_dequantize)
{
    const uint32_t flags = AIDEV_HOST_SCALAR(args, 10, uint32_t);
    const th_qmat w = {
        .format = flags & 7u, .q = args[11], .qoff = AIDEV_HOST_SCALAR(args, 7, uint32_t),
        .qrs = th_slo(args, 2), .qcs = th_shi(args, 2), .s = args[12],
        .soff = AIDEV_HOST_SCALAR(args, 8, uint32_t), .ts = th_type(flags, 3),
        .srs = th_slo(args, 3), .sgs = th_shi(args, 3), .z = args[13],
        .zoff = AIDEV_HOST_SCALAR(args, 9, uint32_t), .zrs = th_slo(args, 4),
        .zgs = th_shi(args, 4), .has_zero = (flags >> 3) & 1u,
    };
    const uint32_t rows = th_lo(args, 0), cols = th_hi(args, 0);
    const int32_t yrs = th_slo(args, 1), ycs = th_shi(args, 1);
    const uint32_t yoff = AIDEV_HOST_SCALAR(args, 6, uint32_t), ty = th_type(flags, 2);
    void *y = args[14];
    const uint32_t c_end = aidev_host_end(range, 0, cols), r_end = aidev_host_end(range, 1, rows);
    for (uint32_t r = range->begin[1]; r < r_end; r++)
        for (uint32_t c = range->begin[0]; c < c_end; c++)
            th_store(y, ty, (int64_t)yoff + (int64_t)r * yrs + (int64_t)c * ycs,
                     th_dequant(&w, r, c));
}
