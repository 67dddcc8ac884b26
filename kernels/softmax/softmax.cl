/* OpenCL C form of softmax: each row r of x (rows x cols) becomes
 * y[r,c] = exp(x[r,c] - max_r) / sum_c exp(x[r,c] - max_r).
 * Launch GROUPS (kernels/library_forms.h): one work-group of WG per row;
 * groups stride over the rows, so fewer groups than rows is fine. */
#define WG 256
#define FAN 16 /* WG = FAN * FAN */

/* Reductions over the work-group; every work-item gets the result. Two
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
void softmax(uint rows, uint cols, __global const float *x, __global float *y)
{
    __local float red[WG], part[FAN];
    const uint lid = get_local_id(0);

    for (uint r = get_group_id(0); r < rows; r += get_num_groups(0)) {
        __global const float *xr = x + (size_t)r * cols;
        __global float *yr = y + (size_t)r * cols;
        float m = -INFINITY;
        for (uint c = lid; c < cols; c += WG)
            m = fmax(m, xr[c]);
        m = group_max(red, part, m);
        float s = 0.0f;
        for (uint c = lid; c < cols; c += WG)
            s += exp(xr[c] - m);
        s = group_sum(red, part, s);
        for (uint c = lid; c < cols; c += WG)
            yr[c] = exp(xr[c] - m) / s;
    }
}
