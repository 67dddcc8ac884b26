/* OpenCL C form of reduce_sum: y[0] = x[0] + ... + x[n-1], 0 when n = 0.
 *
 * One pass of launch REDUCE (kernels/library_forms.h): run g of RUN = WG * PER
 * elements of x becomes y[g]. The backend repeats passes over scratch
 * buffers until one value is left. A run past the end (n = 0 gives one
 * empty run) yields the identity, so launching one group for n = 0 writes
 * the empty sum. Groups stride over the runs, so fewer groups than runs is
 * fine too. Within a run, each work-item folds PER elements, FAN work-items
 * fold one column of FAN partials each, and work-item 0 folds the FAN
 * column results: two barriers per run. */
#define WG 256
#define PER 4
#define RUN (WG * PER)
#define FAN 16 /* WG = FAN * FAN */

static inline float combine(float a, float b)
{
    return a + b;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void reduce_sum(uint n, __global const float *x, __global float *y)
{
    __local float red[WG], part[FAN];
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
        red[lid] = acc;
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < FAN) {
            float v = red[lid];
            for (uint i = lid + FAN; i < WG; i += FAN)
                v = combine(v, red[i]);
            part[lid] = v;
        }
        /* The next run writes red[] after this barrier, and part[] only
         * after its first one, when work-item 0 has read this run's. */
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid == 0) {
            float v = part[0];
            for (uint i = 1; i < FAN; i++)
                v = combine(v, part[i]);
            y[g] = v;
        }
    }
}
