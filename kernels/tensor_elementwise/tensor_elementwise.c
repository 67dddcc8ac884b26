/* C form of tensor_elementwise: y = f(a) or y = a OP b over a box of up to
 * four axes, every operand a strided view (a broadcast axis has stride 0),
 * loaded and stored through f32 (kernels/common/tensor_host.h). The grid is
 * the flat items of y's shape; a call gets a run of them. */
#include "kernels/common/tensor_host.h"
#include "kernels/common/tensor_ops.h"

AIDEV_HOST_KERNEL(tensor_elementwise)
{
    const uint32_t n[4] = {th_lo(args, 0), th_hi(args, 0), th_lo(args, 1), th_hi(args, 1)};
    const int32_t as[4] = {th_slo(args, 2), th_shi(args, 2), th_slo(args, 3), th_shi(args, 3)};
    const int32_t bs[4] = {th_slo(args, 4), th_shi(args, 4), th_slo(args, 5), th_shi(args, 5)};
    const int32_t ys[4] = {th_slo(args, 6), th_shi(args, 6), th_slo(args, 7), th_shi(args, 7)};
    const uint32_t total = AIDEV_HOST_SCALAR(args, 8, uint32_t);
    const uint32_t aoff = AIDEV_HOST_SCALAR(args, 9, uint32_t);
    const uint32_t boff = AIDEV_HOST_SCALAR(args, 10, uint32_t);
    const uint32_t yoff = AIDEV_HOST_SCALAR(args, 11, uint32_t);
    const uint32_t op = AIDEV_HOST_SCALAR(args, 12, uint32_t);
    const uint32_t types = AIDEV_HOST_SCALAR(args, 13, uint32_t);
    const float alpha = AIDEV_HOST_SCALAR(args, 14, float);
    const float beta = AIDEV_HOST_SCALAR(args, 15, float);
    const void *a = args[16];
    const void *b = args[17];
    void *y = args[18];
    const uint32_t ta = th_type(types, 0), tb = th_type(types, 1), ty = th_type(types, 2);
    const uint32_t end = aidev_host_end(range, 0, total);

    for (uint32_t t = range->begin[0]; t < end; t++) {
        const float va = th_load(a, ta, th_index(t, n, as, aoff));
        const float vb = op >= TH_OP_BINARY ? th_load(b, tb, th_index(t, n, bs, boff)) : 0.0f;
        th_store(y, ty, th_index(t, n, ys, yoff), th_apply(op, va, vb, alpha, beta));
    }
}
