/*
 * aidev-bench - aidev measured against a baseline in the same run.
 *
 *   aidev-bench [--json] [--quick] [--only SUBSTRING]
 *
 * Each row is one measurement and its baseline (the raw OpenCL or Vulkan
 * call, memcpy, a plain C loop) taken in the same process, and their ratio.
 * Numbers from noisy machines compare only as ratios.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "bench_sched.h"

#ifdef AIDEV_HAVE_JSON
#include <json-c/json.h>
static json_object *json_rows;
#endif

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *samples, int n)
{
    if (n <= 0)
        return 0;
    qsort(samples, (size_t)n, sizeof *samples, compare_double);
    return n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
}

bool bench_selected(const bench_options *opt, const char *name)
{
    return !opt->only || strstr(name, opt->only) != NULL;
}

void bench_device_names(aidev_device dev, char *name, size_t name_size, char *backend,
                        size_t backend_size)
{
    name[0] = backend[0] = '\0';
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NAME, name_size, name, NULL);
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_BACKEND, backend_size, backend, NULL);
}

void bench_emit(const bench_options *opt, const bench_row *r)
{
    double ratio = r->baseline_value != 0 ? r->value / r->baseline_value : NAN;
    if (!opt->json) {
        printf("%-34s %-8s %12.3f %-26s | %-30s %12.3f | ratio %6.3f\n", r->name, r->backend,
               r->value, r->unit, r->baseline, r->baseline_value, ratio);
        printf("%-34s   device: %s\n", "", r->device);
        fflush(stdout);
        return;
    }
#ifdef AIDEV_HAVE_JSON
    json_object *o = json_object_new_object();
    json_object_object_add(o, "name", json_object_new_string(r->name));
    json_object_object_add(o, "device", json_object_new_string(r->device));
    json_object_object_add(o, "backend", json_object_new_string(r->backend));
    json_object_object_add(o, "value", json_object_new_double(r->value));
    json_object_object_add(o, "unit", json_object_new_string(r->unit));
    json_object_object_add(o, "baseline", json_object_new_string(r->baseline));
    json_object_object_add(o, "baseline_value", json_object_new_double(r->baseline_value));
    json_object_object_add(o, "ratio", isfinite(ratio) ? json_object_new_double(ratio) : NULL);
    json_object_array_add(json_rows, o);
#endif
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: aidev-bench [--json] [--quick] [--only SUBSTRING]\n"
            "  --json     print one JSON array of rows {name, device, backend, value, unit,\n"
            "             baseline, baseline_value, ratio}; ratio = value / baseline_value\n"
            "  --quick    fewer repetitions (checks that every row runs)\n"
            "  --only S   run only the rows whose name contains S\n");
}

int main(int argc, char **argv)
{
#ifdef AIDEV_BENCH_STARPU
    /* The StarPU side of the sched.* rows, in a process of its own. */
    if (argc > 1 && strcmp(argv[1], SCHED_STARPU_CHILD_FLAG) == 0)
        return sched_starpu_child(argc - 1, argv + 1);
#endif
    bench_options opt = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            opt.json = true;
        } else if (strcmp(argv[i], "--quick") == 0) {
            opt.quick = true;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            opt.only = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
#ifndef AIDEV_HAVE_JSON
    if (opt.json) {
        fprintf(stderr, "aidev-bench: built without json-c; --json is not available\n");
        return 2;
    }
#else
    json_rows = json_object_new_array();
#endif
    if (aidev_context_create(NULL, &opt.context) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-bench: %s\n", aidev_last_error());
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
    bench_tier(&opt);
    aidev_context_release(opt.context);
#ifdef AIDEV_HAVE_JSON
    if (opt.json)
        printf("%s\n", json_object_to_json_string_ext(json_rows, JSON_C_TO_STRING_PRETTY));
    json_object_put(json_rows);
#endif
    return 0;
}
