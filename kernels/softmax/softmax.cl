/* OpenCL C form of softmax: each row r of x (rows x cols) becomes
 * y[r,c] = exp(x[r,c] - max_r) / sum_c exp(x[r,c] - max_r).
 * Launch GROUPS (kernels/library_forms.h): one work-group of WG per row;
 * groups stride over the rows, so fewer groups than rows is fine. */
#define WG 256

/* Reductions over the work-group; every work-item gets the result. |red|
 * is reused at once by the next call, hence the closing barrier. */
static float group_sum(__local float *red, float v)
{
    const uint lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (lid < s)
            red[lid] += red[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

static float group_max(__local float *red, float v)
{
    const uint lid = get_local_id(0);
    red[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (lid < s)
            red[lid] = fmax(red[lid], red[lid + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = red[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void softmax(uint rows, uint cols, __global const float *x, __global float *y)
{
    __local float red[WG];
    const uint lid = get_local_id(0);

    for (uint r = get_group_id(0); r < rows; r += get_num_groups(0)) {
        __global const float *xr = x + (size_t)r * cols;
        __global float *yr = y + (size_t)r * cols;
        float m = -INFINITY;
        for (uint c = lid; c < cols; c += WG)
            m = fmax(m, xr[c]);
        m = group_max(red, m);
        float s = 0.0f;
        for (uint c = lid; c < cols; c += WG)
            s += exp(xr[c] - m);
        s = group_sum(red, s);
        for (uint c = lid; c < cols; c += WG)
            yr[c] = exp(xr[c] - m) / s;
    }
}
