/*
 * aidev-info - which backends and devices this machine has, and why any
 * backend is missing.
 *
 *   aidev-info [--json] [--kernels] [--help]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aidev/aidev.h>

#ifdef AIDEV_HAVE_JSON
#include <json-c/json.h>
#endif

/* Exit codes. */
enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,
    EXIT_USAGE = 2,
    EXIT_NO_DEVICE = 3,
};

static const char *type_name(uint32_t type)
{
    switch (type) {
    case AIDEV_DEVICE_TYPE_CPU:
        return "cpu";
    case AIDEV_DEVICE_TYPE_GPU:
        return "gpu";
    case AIDEV_DEVICE_TYPE_ACCELERATOR:
        return "accelerator";
    default:
        return "other";
    }
}

typedef struct device_summary {
    uint32_t index;
    char name[256];
    char vendor[128];
    char backend[32];
    uint32_t type;
    uint64_t memory_bytes;
    uint32_t compute_units;
} device_summary;

static void summarize(aidev_device dev, device_summary *s)
{
    memset(s, 0, sizeof *s);
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_INDEX, sizeof s->index, &s->index, NULL);
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_NAME, sizeof s->name, s->name, NULL);
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_VENDOR, sizeof s->vendor, s->vendor, NULL);
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_BACKEND, sizeof s->backend, s->backend, NULL);
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_TYPE, sizeof s->type, &s->type, NULL);
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_MEMORY_BYTES, sizeof s->memory_bytes,
                          &s->memory_bytes, NULL);
    aidev_device_get_info(dev, AIDEV_DEVICE_INFO_COMPUTE_UNITS, sizeof s->compute_units,
                          &s->compute_units, NULL);
}

static void format_bytes(uint64_t bytes, char *out, size_t size)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4)
        v /= 1024, u++;
    snprintf(out, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void print_text(aidev_context ctx, const aidev_backend_report *reports, uint32_t nrep,
                       const aidev_device *devs, uint32_t ndev)
{
    printf("aidev %s\n\nBackends\n", aidev_version());
    for (uint32_t i = 0; i < nrep; i++) {
        const aidev_backend_report *r = &reports[i];
        printf("  %-10s %-8s %u device%s  %s\n", r->name, aidev_backend_state_string(r->state),
               r->device_count, r->device_count == 1 ? " " : "s", r->path);
        if (r->reason[0])
            printf("             reason: %s\n", r->reason);
    }
    printf("\nDevices\n");
    if (ndev == 0)
        printf("  none\n");
    else
        printf("  %-3s %-8s %-12s %-10s %-5s  %s\n", "#", "backend", "type", "memory", "units",
               "name");
    for (uint32_t i = 0; i < ndev; i++) {
        device_summary s;
        char mem[32];
        summarize(devs[i], &s);
        format_bytes(s.memory_bytes, mem, sizeof mem);
        printf("  %-3u %-8s %-12s %-10s %-5u  %s\n", s.index, s.backend, type_name(s.type), mem,
               s.compute_units, s.name);
    }
    (void)ctx;
}

static void print_kernels(void)
{
    for (uint32_t i = 0; i < aidev_library_kernel_count(); i++) {
        const aidev_kernel_desc *d = aidev_library_kernel(i);
        printf("%s(", d->name);
        for (uint32_t a = 0; a < d->arg_count; a++) {
            const aidev_kernel_arg_desc *arg = &d->args[a];
            const char *t = aidev_type_name(arg->type);
            if (arg->kind == AIDEV_ARG_SCALAR)
                printf("%s%s %s", a ? ", " : "", t, arg->name);
            else
                printf("%s%s%s[%s] %s", a ? ", " : "",
                       arg->access == AIDEV_ACCESS_READ ? "const " : "", t,
                       arg->count ? arg->count : "", arg->name);
        }
        printf(")  grid [%s, %s, %s]\n", d->grid[0] ? d->grid[0] : "1",
               d->grid[1] ? d->grid[1] : "1", d->grid[2] ? d->grid[2] : "1");
    }
}

#ifdef AIDEV_HAVE_JSON
static int print_json(const aidev_backend_report *reports, uint32_t nrep, const aidev_device *devs,
                      uint32_t ndev)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "version", json_object_new_string(aidev_version()));
    json_object *backends = json_object_new_array();
    for (uint32_t i = 0; i < nrep; i++) {
        json_object *b = json_object_new_object();
        json_object_object_add(b, "name", json_object_new_string(reports[i].name));
        json_object_object_add(b, "path", json_object_new_string(reports[i].path));
        json_object_object_add(b, "status",
                               json_object_new_string(aidev_backend_state_string(reports[i].state)));
        json_object_object_add(b, "reason", json_object_new_string(reports[i].reason));
        json_object_object_add(b, "device_count", json_object_new_int64(reports[i].device_count));
        json_object_array_add(backends, b);
    }
    json_object_object_add(root, "backends", backends);
    json_object *devices = json_object_new_array();
    for (uint32_t i = 0; i < ndev; i++) {
        device_summary s;
        summarize(devs[i], &s);
        json_object *d = json_object_new_object();
        json_object_object_add(d, "index", json_object_new_int64(s.index));
        json_object_object_add(d, "backend", json_object_new_string(s.backend));
        json_object_object_add(d, "name", json_object_new_string(s.name));
        json_object_object_add(d, "vendor", json_object_new_string(s.vendor));
        json_object_object_add(d, "type", json_object_new_string(type_name(s.type)));
        json_object_object_add(d, "memory_bytes", json_object_new_int64((int64_t)s.memory_bytes));
        json_object_object_add(d, "compute_units", json_object_new_int64(s.compute_units));
        json_object_array_add(devices, d);
    }
    json_object_object_add(root, "devices", devices);
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
    return EXIT_OK;
}
#endif

static void usage(FILE *to)
{
    fprintf(to, "usage: aidev-info [--json] [--kernels] [--help]\n"
                "  Lists the backends aidev found (loaded, skipped or failed, and why) and\n"
                "  their devices.\n"
                "  --json     one JSON document: {version, backends[], devices[]}\n"
                "  --kernels  the built-in kernel library and its signatures\n"
                "exit status: 0 ok, 1 error, 2 usage, 3 no device at all\n");
}

int main(int argc, char **argv)
{
    bool json = false, kernels = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--kernels") == 0) {
            kernels = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else {
            fprintf(stderr, "aidev-info: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (kernels) {
        print_kernels();
        return EXIT_OK;
    }
    aidev_context ctx;
    if (aidev_context_create(NULL, &ctx) != AIDEV_SUCCESS) {
        fprintf(stderr, "aidev-info: %s\n", aidev_last_error());
        return EXIT_ERROR;
    }
    uint32_t nrep = 0, ndev = 0;
    aidev_context_get_backends(ctx, &nrep, NULL);
    aidev_context_get_devices(ctx, &ndev, NULL);
    aidev_backend_report *reports = calloc(nrep ? nrep : 1, sizeof *reports);
    aidev_device *devs = calloc(ndev ? ndev : 1, sizeof *devs);
    if (!reports || !devs) {
        fprintf(stderr, "aidev-info: out of memory\n");
        return EXIT_ERROR;
    }
    aidev_context_get_backends(ctx, &nrep, reports);
    aidev_context_get_devices(ctx, &ndev, devs);
    int rc = EXIT_OK;
    if (json) {
#ifdef AIDEV_HAVE_JSON
        rc = print_json(reports, nrep, devs, ndev);
#else
        fprintf(stderr, "aidev-info: built without json-c; --json is not available\n");
        rc = EXIT_USAGE;
#endif
    } else {
        print_text(ctx, reports, nrep, devs, ndev);
    }
    if (rc == EXIT_OK && ndev == 0)
        rc = EXIT_NO_DEVICE;
    free(reports);
    free(devs);
    aidev_context_release(ctx);
    return rc;
}
