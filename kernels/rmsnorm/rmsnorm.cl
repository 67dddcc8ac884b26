/* OpenCL C form of rmsnorm: each row r of x (rows x cols) becomes
 * y[r,c] = x[r,c] / sqrt(mean_c(x[r,c]^2) + eps) * w[c].
 * Launch GROUPS (kernels/library_forms.h): one work-group of WG per row;
 * groups stride over the rows, so fewer groups than rows is fine. */
#define WG 256
#define FAN 16 /* WG = FAN * FAN */

/* A sum over the work-group; every work-item gets the result. Two
 * steps of FAN (two barriers, where a halving tree takes eight): FAN
 * work-items each fold one column of red[], then every work-item folds the
 * FAN column results in part[]. The next call may write red[] at once (its
 * readers have all passed the second barrier), and writes part[] only after
 * its own first barrier, by when every work-item has read this call's. */
static float group_sum(__local float *red, __local float *part, float v)
{
    const uint lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < FAN) {
        float s = 0.0f;
        for (uint i = lid; i < WG; i += FAN)
            s += red[i];
        part[lid] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    float r = 0.0f;
    for (uint i = 0; i < FAN; i++)
        r += part[i];
    return r;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void rmsnorm(uint rows, uint cols, float eps, __global const float *x,
             __global const float *w, __global float *y)
{
    __local float red[WG], part[FAN];
    const uint lid = get_local_id(0);

    for (uint r = get_group_id(0); r < rows; r += get_num_groups(0)) {
        __global const float *xr = x + (size_t)r * cols;
        __global float *yr = y + (size_t)r * cols;
        float ss = 0.0f;
        for (uint c = lid; c < cols; c += WG)
            ss += xr[c] * xr[c];
        ss = group_sum(red, part, ss);
        const float inv = rsqrt(ss / (float)cols + eps);
        for (uint c = lid; c < cols; c += WG)
            yr[c] = xr[c] * inv * w[c];
    }
}
