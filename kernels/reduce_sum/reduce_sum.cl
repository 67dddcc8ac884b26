/* OpenCL C form of reduce_sum: y[0] = x[0] + ... + x[n-1], 0 when n = 0.
 *
 * One pass of launch REDUCE (kernels/library_forms.h): run g of RUN = WG * PER
 * elements of x becomes y[g]. The backend repeats passes over scratch
 * buffers until one value is left. A run past the end (n = 0 gives one
 * empty run) yields the identity, so launching one group for n = 0 writes
 * the empty sum. Groups stride over the runs, so fewer groups than runs is
 * fine too. */
#define WG 256
#define PER 4
#define RUN (WG * PER)

static inline float combine(float a, float b)
{
    return a + b;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void reduce_sum(uint n, __global const float *x, __global float *y)
{
    __local float part[WG];
    const uint lid = get_local_id(0);
    const uint runs = n == 0 ? 1 : (n - 1) / RUN + 1;

    for (uint g = get_group_id(0); g < runs; g += get_num_groups(0)) {
        /* g * RUN < n here, so |left| cannot wrap. */
        const uint left = n - g * RUN;
        __global const float *run = x + (size_t)g * RUN;
        float acc = 0.0f;
        for (uint j = 0; j < PER; j++) {
            const uint off = lid + j * WG;
            if (off < left)
                acc = combine(acc, run[off]);
        }
        part[lid] = acc;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint s = WG / 2; s > 0; s >>= 1) {
            if (lid < s)
                part[lid] = combine(part[lid], part[lid + s]);
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (lid == 0)
            y[g] = part[0];
        /* part[] is reused by the next run of this group. */
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
