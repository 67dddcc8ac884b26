/* OpenCL C form of quantize_i8: per-row symmetric int8 quantization.
 *   scale[r] = amax_r / 127, amax_r = max_c |x[r,c]|
 *   q[r,c]   = rint(x[r,c] * (127 / amax_r)), clamped to [-127, 127]
 * A row whose amax is below QUANT_TINY quantizes to zeros.
 * Launch GROUPS (kernels/library_forms.h): one work-group of WG per row;
 * groups stride over the rows. */
#define WG 256
#define QUANT_TINY 1e-30f

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void quantize_i8(uint rows, uint cols, __global const float *x, __global char *q,
                 __global float *scale)
{
    __local float red[WG];
    const uint lid = get_local_id(0);

    for (uint r = get_group_id(0); r < rows; r += get_num_groups(0)) {
        __global const float *xr = x + (size_t)r * cols;
        __global char *qr = q + (size_t)r * cols;
        float amax = 0.0f;
        for (uint c = lid; c < cols; c += WG)
            amax = fmax(amax, fabs(xr[c]));
        red[lid] = amax;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint s = WG / 2; s > 0; s >>= 1) {
            if (lid < s)
                red[lid] = fmax(red[lid], red[lid + s]);
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        amax = red[0];
        /* red[] is reused by the next row of this group. */
        barrier(CLK_LOCAL_MEM_FENCE);
        const float inv = amax >= QUANT_TINY ? 127.0f / amax : 0.0f;
        if (lid == 0)
            scale[r] = amax / 127.0f;
        for (uint c = lid; c < cols; c += WG)
            qr[c] = (char)clamp(rint(xr[c] * inv), -127.0f, 127.0f);
    }
}
