/* OpenCL C form of quantize_i8: per-row symmetric int8 quantization.
 *   scale[r] = amax_r / 127, amax_r = max_c |x[r,c]|
 *   q[r,c]   = rint(x[r,c] * (127 / amax_r)), clamped to [-127, 127]
 * A row whose amax is below QUANT_TINY quantizes to zeros.
 * Launch GROUPS (kernels/library_forms.h): one work-group of WG per row;
 * groups stride over the rows. */
#define WG 256
#define QUANT_TINY 1e-30f
#define FAN 16 /* WG = FAN * FAN */

/* A max over the work-group; every work-item gets the result. Two
 * steps of FAN (two barriers, where a halving tree takes eight): FAN
 * work-items each fold one column of red[], then every work-item folds the
 * FAN column results in part[]. The next call may write red[] at once (its
 * readers have all passed the second barrier), and writes part[] only after
 * its own first barrier, by when every work-item has read this call's. */
static float group_max(__local float *red, __local float *part, float v)
{
    const uint lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < FAN) {
        float m = red[lid];
        for (uint i = lid + FAN; i < WG; i += FAN)
            m = fmax(m, red[i]);
        part[lid] = m;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float r = part[0];
    for (uint i = 1; i < FAN; i++)
        r = fmax(r, part[i]);
    return r;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void quantize_i8(uint rows, uint cols, __global const float *x, __global char *q,
                 __global float *scale)
{
    __local float red[WG], part[FAN];
    const uint lid = get_local_id(0);

    for (uint r = get_group_id(0); r < rows; r += get_num_groups(0)) {
        __global const float *xr = x + (size_t)r * cols;
        __global char *qr = q + (size_t)r * cols;
        float amax = 0.0f;
        for (uint c = lid; c < cols; c += WG)
            amax = fmax(amax, fabs(xr[c]));
        amax = group_max(red, part, amax);
        const float inv = amax >= QUANT_TINY ? 127.0f / amax : 0.0f;
        if (lid == 0)
            scale[r] = amax / 127.0f;
        for (uint c = lid; c < cols; c += WG)
            qr[c] = (char)clamp(rint(xr[c] * inv), -127.0f, 127.0f);
    }
}
