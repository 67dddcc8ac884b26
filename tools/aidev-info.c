/*
 * aidev-info - which backends and devices this machine has, what each device
 * offers, which hardware sits behind them, and why anything is missing.
 *
 *   aidev-info [-v] [-d N] [--json] [--self-test] [--kernels] [--help]
 *
 * The work is split by role: info_model gathers everything once, info_print
 * and info_json show it, info_selftest exercises each device, info_drm and
 * info_hw tie devices to the kernel's view of the hardware, info_text keeps
 * the text within 100 columns and free of escape sequences.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aidev/aidev.h>

#include "tools/info_model.h"
#include "tools/info_output.h"
#include "tools/info_selftest.h"
#include "tools/info_text.h"

/* Exit statuses, documented in --help and aidev-info(1). */
enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,
    EXIT_USAGE = 2,
    EXIT_NO_DEVICE = 3,
    EXIT_SELFTEST_FAILED = 4,
};

typedef struct args {
    info_options opt;
    bool json, selftest, kernels;
} args;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: aidev-info [-v] [-d N] [--json] [--self-test] [--kernels]\n"
            "                  [--help] [--version]\n"
            "Shows the backends aidev found (loaded, skipped or failed, and why), their\n"
            "devices, and the hardware behind them (DRM render nodes, PCI ids).\n"
            "  -v, --verbose    every property of every device\n"
            "  -d, --device N   only device N, with every property\n"
            "  -j, --json       one JSON document (schema: aidev-info.schema.json)\n"
            "  -s, --self-test  on each device: write, run axpy, read back, verify;\n"
            "                   prints pass/fail and the round-trip latency\n"
            "  -k, --kernels    the built-in kernel library and the tensor ops\n"
            "  -h, --help       this text\n"
            "  -V, --version    the aidev version\n"
            "Colour only on a terminal and without NO_COLOR.\n"
            "Exit status: 0 ok, 1 error, 2 usage, 3 no device at all,\n"
            "4 a device failed --self-test.\n");
}

static bool parse_index(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0)
        return false;
    *out = v;
    return true;
}

/* Returns -1 to go on, or the exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    static const struct option longs[] = {
        {"verbose", no_argument, NULL, 'v'},   {"device", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},      {"self-test", no_argument, NULL, 's'},
        {"kernels", no_argument, NULL, 'k'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},   {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->opt.device = -1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":vd:jskhV", longs, NULL)) != -1) {
        switch (c) {
        case 'v':
            a->opt.verbose = true;
            break;
        case 'd':
            if (!parse_index(optarg, &a->opt.device)) {
                fprintf(stderr, "aidev-info: -d: '%s' is not a device index (0, 1, ...)\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'j':
            a->json = true;
            break;
        case 's':
            a->selftest = true;
            break;
        case 'k':
            a->kernels = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("aidev-info %s\n", aidev_version());
            return EXIT_OK;
        case ':':
            fprintf(stderr, "aidev-info: option '%s' needs a value\n", argv[optind - 1]);
            usage(stderr);
            return EXIT_USAGE;
        default:
            /* A short option in a cluster ("-vx") is named by optopt. */
            if (optopt)
                fprintf(stderr, "aidev-info: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "aidev-info: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "aidev-info: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    return -1;
}

/* One kernel per entry: "name(arg, arg, ...)  grid [x, y, z]", wrapped
 * before KERNEL_WIDTH columns with the arguments aligned after the '('. */
#define KERNEL_WIDTH 100

static void print_kernel_piece(const char *piece, size_t indent, size_t *col)
{
    size_t len = strlen(piece);
    if (*col > indent && *col + len > KERNEL_WIDTH) {
        printf("\n%*s", (int)indent, "");
        *col = indent;
        while (*piece == ' ')
            piece++, len--;
    }
    fputs(piece, stdout);
    *col += len;
}

/* Text wrapped before KERNEL_WIDTH columns, every line indented. */
static void print_wrapped(const char *label, const char *text, size_t indent)
{
    size_t col = indent;
    printf("%*s%s", (int)indent, "", label);
    col += strlen(label);
    char word[512];
    while (*text) {
        size_t len = strcspn(text, " ");
        snprintf(word, sizeof word, " %.*s", (int)(len < sizeof word - 2 ? len : sizeof word - 2),
                 text);
        print_kernel_piece(word, indent + 2, &col);
        text += len;
        while (*text == ' ')
            text++;
    }
    printf("\n");
}

/* The tensor ops: their call, what they compute, their storage types,
 * broadcasting and accuracy (kernels/KERNELS.md has the same). */
static void print_ops(void)
{
    printf("\nTensor ops (aidev_tensor.h)\n");
    for (uint32_t i = 0; i < aidev_library_op_count(); i++) {
        const aidev_op_info *op = aidev_library_op(i);
        printf("%s  %s\n", op->name, op->call);
        print_wrapped("computes:", op->doc, 4);
        print_wrapped("runs:", op->kernels, 4);
        print_wrapped("dtypes:", op->dtypes, 4);
        if (op->broadcast[0])
            print_wrapped("broadcast:", op->broadcast, 4);
        for (uint32_t a = 0; a < op->accuracy_count; a++) {
            char label[96];
            snprintf(label, sizeof label, "accuracy %s:", op->accuracy[a].variant);
            print_wrapped(label, op->accuracy[a].text, 4);
        }
    }
}

/* What each form of user kernel takes beyond its source, and refuses
 * (the "User kernels" table of kernels/KERNELS.md). */
static void print_user_kernels(void)
{
    static const struct {
        const char *form, *feature, *takes, *refuses;
    } forms[] = {
        {"OpenCL C", "kernel_opencl_c",
         "build_options (-D, -cl-std=...); local-memory arguments (AIDEV_ARG_LOCAL, "
         "aidev_arg_local(bytes)) where the device has kernel_local_args",
         "specialization constants"},
        {"SPIR-V", "kernel_spirv",
         "specialization constants (desc.spec_constants) where the device has "
         "kernel_spec_constants; the binding convention of aidev.h",
         "build options, local-memory arguments"},
        {"C function", "kernel_host", "nothing more",
         "build options, specialization constants, local-memory arguments"},
    };
    printf("\nUser kernels (aidev_kernel_create; refusals are AIDEV_ERROR_INVALID_ARGUMENT)\n");
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        printf("%s  feature %s\n", forms[i].form, forms[i].feature);
        print_wrapped("takes:", forms[i].takes, 4);
        print_wrapped("refuses:", forms[i].refuses, 4);
    }
}

static void print_kernels(void)
{
    for (uint32_t i = 0; i < aidev_library_kernel_count(); i++) {
        const aidev_kernel_desc *d = aidev_library_kernel(i);
        char piece[256];
        size_t indent = strlen(d->name) + 1, col = 0;
        printf("%s(", d->name);
        col = indent;
        for (uint32_t a = 0; a < d->arg_count; a++) {
            const aidev_kernel_arg_desc *arg = &d->args[a];
            const char *t = aidev_type_name(arg->type);
            const char *sep = a + 1 < d->arg_count ? "," : ")";
            if (arg->kind == AIDEV_ARG_SCALAR)
                snprintf(piece, sizeof piece, "%s%s %s%s", a ? " " : "", t, arg->name, sep);
            else
                snprintf(piece, sizeof piece, "%s%s%s[%s] %s%s", a ? " " : "",
                         arg->access == AIDEV_ACCESS_READ ? "const " : "", t,
                         arg->count ? arg->count : "", arg->name, sep);
            print_kernel_piece(piece, indent, &col);
        }
        if (!d->arg_count)
            print_kernel_piece(")", indent, &col);
        snprintf(piece, sizeof piece, "  grid [%s, %s, %s]", d->grid[0] ? d->grid[0] : "1",
                 d->grid[1] ? d->grid[1] : "1", d->grid[2] ? d->grid[2] : "1");
        print_kernel_piece(piece, indent, &col);
        printf("\n");
    }
    print_ops();
    print_user_kernels();
}

/* Runs the self-test on the chosen devices; fills |results| (one per
 * device) and returns how many passed. Text rows print as each ends. */
static uint32_t run_selftest(const info_model *m, const args *a, info_selftest *results,
                             uint32_t *tested)
{
    uint32_t passed = 0;
    *tested = 0;
    if (!a->json)
        info_print_selftest_header(stdout);
    for (uint32_t i = 0; i < m->ndevices; i++) {
        if (a->opt.device >= 0 && (long)i != a->opt.device)
            continue;
        info_selftest_run(m->devices[i].handle, &results[i]);
        (*tested)++;
        passed += results[i].passed;
        if (!a->json)
            info_print_selftest_row(&m->devices[i], &results[i], stdout);
    }
    if (!a->json)
        info_print_selftest_summary(passed, *tested, stdout);
    return passed;
}

static int report(const info_model *m, const args *a)
{
    if (m->ndevices && a->opt.device >= (long)m->ndevices) {
        fprintf(stderr, "aidev-info: -d %ld: no such device (devices are 0 to %u)\n",
                a->opt.device, m->ndevices - 1);
        return EXIT_USAGE;
    }
    if (!m->ndevices && a->opt.device >= 0) {
        fprintf(stderr, "aidev-info: -d %ld: there is no device at all\n", a->opt.device);
        return EXIT_NO_DEVICE;
    }
    int rc = m->ndevices ? EXIT_OK : EXIT_NO_DEVICE;
    info_selftest *results = NULL;
    if (a->selftest) {
        results = calloc(m->ndevices ? m->ndevices : 1, sizeof *results);
        if (!results) {
            fprintf(stderr, "aidev-info: out of host memory\n");
            return EXIT_ERROR;
        }
        uint32_t tested;
        uint32_t passed = run_selftest(m, a, results, &tested);
        if (passed < tested)
            rc = EXIT_SELFTEST_FAILED;
    }
    if (a->json) {
        if (!info_print_json(m, &a->opt, results, stdout))
            rc = EXIT_ERROR;
    } else if (!a->selftest) {
        info_print_text(m, &a->opt, stdout);
    }
    free(results);
    return rc;
}

int main(int argc, char **argv)
{
    args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (a.kernels) {
        print_kernels();
        return EXIT_OK;
    }
#ifndef AIDEV_HAVE_JSON
    if (a.json) {
        fprintf(stderr, "aidev-info: built without json-c; --json is not available\n");
        return EXIT_USAGE;
    }
#endif
    text_color_enable(!a.json && text_color_wanted(stdout));

    info_model m;
    aidev_status st = info_model_load(&m);
    if (st != AIDEV_SUCCESS) {
        const char *msg = aidev_last_error();
        fprintf(stderr, "aidev-info: cannot list devices: %s%s%s\n", aidev_status_string(st),
                msg[0] ? ": " : "", msg);
        info_model_free(&m);
        return EXIT_ERROR;
    }
    rc = report(&m, &a);
    info_model_free(&m);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "aidev-info: writing the output failed: %s\n", strerror(errno));
        return EXIT_ERROR;
    }
    return rc;
}
