/*
 * aidev-bench - aidev measured against a baseline in the same run.
 *
 *   aidev-bench [--json] [--quick] [--only SUBSTRING]
 *
 * Each row is one measurement and its baseline (the raw OpenCL or Vulkan
 * call, memcpy, a plain C loop) taken in the same process, and their ratio.
 * Numbers from noisy machines compare only as ratios.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "bench_sched.h"

int main(int argc, char **argv)
{
#ifdef AIDEV_BENCH_STARPU
    /* The StarPU side of the sched.* rows, in a process of its own. */
    if (argc > 1 && strcmp(argv[1], SCHED_STARPU_CHILD_FLAG) == 0)
        return sched_starpu_child(argc - 1, argv + 1);
#endif
    bench_options opt;
    int exit_status = bench_parse_options(argc, argv, "aidev-bench", &opt);
    if (exit_status >= 0)
        return exit_status;
    if (aidev_context_create(NULL, &opt.context) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: %s\n", aidev_last_error());
        bench_report_finish(&opt, false);
        return 1;
    }
    bench_cpu(&opt);
#ifdef AIDEV_BENCH_OPENCL
    bench_opencl(&opt);
#endif
#ifdef AIDEV_BENCH_VULKAN
    bench_vulkan(&opt);
#endif
#ifdef AIDEV_BENCH_KERNELS
    bench_kernels(&opt);
#endif
    bench_pipeline(&opt);
    bench_memory(&opt);
    bench_sched(&opt);
    bench_sim(&opt);
    bench_tier(&opt);
    bench_graph(&opt);
    bench_tensor(&opt);
    bench_urgent(&opt);
    bench_first_dispatch(&opt);
    aidev_context_release(opt.context);
    bench_report_finish(&opt, true);
    return 0;
}
