/* CPU backend rows (filled in by the foundation). */
#include "bench.h"

void bench_cpu(const bench_options *opt)
{
    (void)opt;
}
