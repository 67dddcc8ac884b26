/* placeholder, replaced below */
#include "bench.h"
void bench_vulkan(const bench_options *opt) { (void)opt; }
