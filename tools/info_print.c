/*
 * info_print.c - aidev-info's text output: aligned, at most TEXT_LINE_LIMIT
 * columns wide, coloured only when info_text says so.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <aidev/aidev_backend.h>

#include "tools/info_output.h"
#include "tools/info_text.h"

/* Key column of the per-device blocks. */
#define KEY_COLS 18

static text_style state_style(aidev_backend_state state)
{
    switch (state) {
    case AIDEV_BACKEND_LOADED:
        return TEXT_GOOD;
    case AIDEV_BACKEND_SKIPPED:
        return TEXT_WARN;
    default:
        return TEXT_BAD;
    }
}

static void heading(FILE *out, const char *title, bool first)
{
    if (!first)
        fputc('\n', out);
    text_put(out, TEXT_BOLD, title, 0);
    fputc('\n', out);
}

/* ------------------------------------------------------------------------ */
/* Backends and devices                                                     */
/* ------------------------------------------------------------------------ */

static void print_backends(const info_model *m, bool verbose, FILE *out)
{
    heading(out, "Backends", false);
    if (m->nbackends == 0) {
        text_para(out, 2, TEXT_PLAIN, "none found");
        return;
    }
    text_table t;
    if (verbose) {
        static const char *const h[] = {"NAME", "STATUS", "DEVICES", "ABI", "PATH"};
        static const size_t max[] = {20, 7, 7, 5, 0};
        text_table_init(&t, 5, h, max, true);
    } else {
        static const char *const h[] = {"NAME", "STATUS", "DEVICES", "PATH"};
        static const size_t max[] = {20, 7, 7, 0};
        text_table_init(&t, 4, h, max, true);
    }
    for (uint32_t i = 0; i < m->nbackends; i++) {
        const aidev_backend_report *r = &m->backends[i];
        char count[16], abi[16];
        snprintf(count, sizeof count, "%u", r->device_count);
        if (r->abi_version)
            snprintf(abi, sizeof abi, "%u.%u", AIDEV_BACKEND_ABI_MAJOR(r->abi_version),
                     AIDEV_BACKEND_ABI_MINOR(r->abi_version));
        else
            snprintf(abi, sizeof abi, "-");
        const char *state = aidev_backend_state_string(r->state);
        text_style st = state_style(r->state);
        if (verbose) {
            const char *cells[] = {r->name, state, count, abi, r->path};
            const text_style styles[] = {TEXT_PLAIN, st, TEXT_PLAIN, TEXT_PLAIN, TEXT_PLAIN};
            text_table_add(&t, cells, styles);
        } else {
            const char *cells[] = {r->name, state, count, r->path};
            const text_style styles[] = {TEXT_PLAIN, st, TEXT_PLAIN, TEXT_PLAIN};
            text_table_add(&t, cells, styles);
        }
        if (r->reason && r->reason[0])
            text_table_note(&t, r->state == AIDEV_BACKEND_LOADED ? TEXT_DIM : st, r->reason);
    }
    text_table_print(&t, out);
    text_table_free(&t);
}

/* The settings that shape every run (the compressed memory tier's codec),
 * then the values libaidev refused or capped: what, and what it used. */
static void print_environment(const info_model *m, FILE *out)
{
    heading(out, "Environment", false);
    const char *codecs;
    const char *codec = aidev_memory_tier_codec(&codecs);
    char tier[256];
    if (codec[0])
        snprintf(tier, sizeof tier, "AIDEV_COMPRESS: %s (compressed memory tier; this build: %s)",
                 codec, codecs);
    else
        snprintf(tier, sizeof tier, "AIDEV_COMPRESS: no compressed memory tier in this build "
                                    "(no xxHash)");
    text_hang(out, 2, 4, TEXT_PLAIN, tier);
    for (uint32_t i = 0; i < m->nenvironment; i++) {
        const aidev_environment_report *r = &m->environment[i];
        char line[1024];
        snprintf(line, sizeof line, "%s='%s': %s; %s", r->name, r->value, r->problem, r->used);
        text_hang(out, 2, 4, TEXT_WARN, line);
    }
}

static void print_devices(const info_model *m, FILE *out)
{
    heading(out, "Devices", false);
    if (m->ndevices == 0) {
        text_para(out, 2, TEXT_BAD,
                  "none: no backend gave a device (see the reasons above; AIDEV_DEBUG=loader "
                  "shows every plugin tried)");
        return;
    }
    static const char *const h[] = {"#", "BACKEND", "TYPE", "MEMORY", "UNITS", "NAME"};
    static const size_t max[] = {4, 16, 11, 10, 6, 0};
    text_table t;
    text_table_init(&t, 6, h, max, false);
    for (uint32_t i = 0; i < m->ndevices; i++) {
        const info_device *d = &m->devices[i];
        char index[16], mem[32], units[16];
        snprintf(index, sizeof index, "%u", d->index);
        info_format_bytes(d->memory_bytes, mem, sizeof mem);
        snprintf(units, sizeof units, "%u", d->compute_units);
        const char *cells[] = {index, d->backend, info_device_type_name(d->type), mem, units,
                               d->name};
        text_table_add(&t, cells, NULL);
    }
    text_table_print(&t, out);
    text_table_free(&t);
}

/* ------------------------------------------------------------------------ */
/* Hardware and DRM                                                         */
/* ------------------------------------------------------------------------ */

/* Appends to a growing string; silently stops growing when memory runs out. */
typedef struct strbuf {
    char *s;
    size_t len;
    FILE *f;
} strbuf;

static void sb_open(strbuf *b)
{
    b->s = NULL;
    b->len = 0;
    b->f = open_memstream(&b->s, &b->len);
}

static const char *sb_close(strbuf *b)
{
    if (b->f)
        fclose(b->f);
    b->f = NULL;
    return b->s ? b->s : "";
}

#define sb_printf(b, ...)                                                                    \
    do {                                                                                     \
        if ((b)->f)                                                                          \
            fprintf((b)->f, __VA_ARGS__);                                                    \
    } while (0)

static void device_list(strbuf *b, const info_model *m, const size_t *devs, size_t n)
{
    sb_printf(b, "%s ", n == 1 ? "device" : "devices");
    for (size_t i = 0; i < n; i++) {
        const info_device *d = &m->devices[devs[i]];
        sb_printf(b, "%s%u (%s)", i ? ", " : "", d->index, d->backend);
    }
}

static void group_identity(strbuf *b, const info_hw_group *g)
{
    char id[64];
    if (g->pci.valid) {
        info_pci_format(&g->pci, id, sizeof id);
        sb_printf(b, "pci %s", id);
    } else if (g->has_uuid) {
        info_uuid_format(g->uuid, id, sizeof id);
        sb_printf(b, "uuid %s", id);
    } else {
        sb_printf(b, "no bus address");
    }
}

static void drm_node_line(strbuf *b, const info_drm_node *n)
{
    const char *node = n->render_node ? n->render_node : n->primary_node;
    sb_printf(b, "DRM %s", node ? node : "(no node)");
    if (!n->render_node)
        sb_printf(b, " (display only: no render node)");
    if (n->driver) {
        sb_printf(b, ", driver %s", n->driver);
        if (n->driver_version[0] >= 0)
            sb_printf(b, " %d.%d.%d", n->driver_version[0], n->driver_version[1],
                      n->driver_version[2]);
    } else {
        sb_printf(b, ", driver unknown");
    }
    if (!strcmp(n->bus, "pci"))
        sb_printf(b, ", PCI id %04x:%04x", n->vendor_id, n->device_id);
    else if (!strcmp(n->bus, "usb"))
        sb_printf(b, ", USB id %04x:%04x", n->vendor_id, n->device_id);
    else if (n->bus_name)
        sb_printf(b, ", %s device %s", n->bus, n->bus_name);
}

/* Why a piece of hardware the kernel knows has no aidev device. A device
 * that gives no PCI bus id may well be it: say so rather than call the
 * hardware unreachable. */
static void missing_reason(strbuf *b, const info_model *m)
{
    size_t *unplaced = calloc(m->ndevices ? m->ndevices : 1, sizeof *unplaced);
    size_t n = 0;
    for (uint32_t i = 0; unplaced && i < m->ndevices; i++)
        if (!m->devices[i].pci.valid && m->devices[i].type != AIDEV_DEVICE_TYPE_CPU)
            unplaced[n++] = i;
    if (n) {
        sb_printf(b, "no aidev device reports this PCI bus id; ");
        device_list(b, m, unplaced, n);
        sb_printf(b, " give%s none and may be this hardware", n == 1 ? "s" : "");
        free(unplaced);
        return;
    }
    free(unplaced);
    sb_printf(b, "no aidev device reaches it: ");
    bool any = false;
    for (uint32_t i = 0; i < m->nbackends; i++) {
        const aidev_backend_report *r = &m->backends[i];
        if (r->state == AIDEV_BACKEND_LOADED || !strcmp(r->path, "(built-in)"))
            continue;
        sb_printf(b, "%s%s %s", any ? ", " : "backend ", r->name,
                  aidev_backend_state_string(r->state));
        any = true;
    }
    if (any)
        sb_printf(b, " (see Backends above)");
    else
        sb_printf(b, "no loaded backend's driver offers it (an OpenCL ICD or Vulkan driver "
                     "for it may be missing)");
}

static void print_group(const info_model *m, size_t gi, FILE *out)
{
    const info_hw_group *g = &m->hw.groups[gi];
    char label[32];
    snprintf(label, sizeof label, "hw%zu", gi);
    strbuf b;
    sb_open(&b);
    sb_printf(&b, "%-5s", label);
    group_identity(&b, g);
    if (g->ndevices) {
        sb_printf(&b, ": ");
        device_list(&b, m, g->devices, g->ndevices);
    }
    text_hang(out, 2, 7, TEXT_PLAIN, sb_close(&b));
    free(b.s);
    if (g->pci_conflict)
        text_hang(out, 7, 7, TEXT_WARN,
                  "its devices share a UUID but report different PCI bus ids");
    for (size_t k = 0; k < g->nnodes; k++) {
        const info_drm_node *n = &m->drm.nodes[g->nodes[k]];
        sb_open(&b);
        drm_node_line(&b, n);
        text_hang(out, 7, 9, TEXT_PLAIN, sb_close(&b));
        free(b.s);
        if (n->note)
            text_hang(out, 9, 9, TEXT_WARN, n->note);
    }
    /* A node without a render node only drives a display: nothing could
     * compute on it, so its having no device needs no explaining. */
    bool renders = false;
    for (size_t k = 0; k < g->nnodes; k++)
        renders = renders || m->drm.nodes[g->nodes[k]].render_node;
    if (!g->ndevices && renders) {
        sb_open(&b);
        missing_reason(&b, m);
        text_hang(out, 7, 9, TEXT_WARN, sb_close(&b));
        free(b.s);
    }
}

static void print_hardware(const info_model *m, FILE *out)
{
    heading(out, "Hardware", false);
    for (size_t g = 0; g < m->hw.ngroups; g++)
        print_group(m, g, out);

    size_t *loose = calloc(m->ndevices ? m->ndevices : 1, sizeof *loose);
    size_t nloose = 0;
    for (uint32_t i = 0; loose && i < m->ndevices; i++)
        if (m->devices[i].hardware < 0)
            loose[nloose++] = i;
    if (nloose) {
        strbuf b;
        sb_open(&b);
        sb_printf(&b, "not matched to hardware (no PCI bus id or UUID): ");
        device_list(&b, m, loose, nloose);
        text_hang(out, 2, 7, TEXT_DIM, sb_close(&b));
        free(b.s);
    }
    free(loose);

    if (m->drm.state != INFO_DRM_OK) {
        char line[300];
        snprintf(line, sizeof line, "DRM: %s", m->drm.reason);
        text_hang(out, 2, 7, m->drm.state == INFO_DRM_ERROR ? TEXT_BAD : TEXT_DIM, line);
    } else if (m->drm.count == 0) {
        text_hang(out, 2, 7, TEXT_DIM, "DRM: /dev/dri holds no DRM device");
    }
}

/* ------------------------------------------------------------------------ */
/* One device, every property                                               */
/* ------------------------------------------------------------------------ */

static void kv_bytes(FILE *out, const char *key, uint64_t bytes)
{
    char value[64], human[32];
    info_format_bytes(bytes, human, sizeof human);
    snprintf(value, sizeof value, "%s (%" PRIu64 " bytes)", human, bytes);
    text_kv(out, 2, KEY_COLS, key, value);
}

/* Which of queue priorities, preemption and low-latency queues the device
 * honours, then how (or why not) in the backend's words. */
static void kv_queue_scheduling(FILE *out, const info_device *d)
{
    char value[128];
    snprintf(value, sizeof value, "priorities %s, preemption %s, low latency %s",
             d->features & AIDEV_FEATURE_QUEUE_PRIORITY ? "yes" : "no",
             d->features & AIDEV_FEATURE_QUEUE_PREEMPTION ? "yes" : "no",
             d->features & AIDEV_FEATURE_QUEUE_LOW_LATENCY ? "yes" : "no");
    text_kv(out, 2, KEY_COLS, "queues honour", value);
    const char *how = d->queue_scheduling;
    text_kv(out, 2, KEY_COLS, "queue scheduling", how && how[0] ? how : "unknown");
}

static void kv_features(FILE *out, uint64_t features)
{
    strbuf has, lacks;
    sb_open(&has);
    sb_open(&lacks);
    bool any_has = false, any_lacks = false;
    for (unsigned bit = 0; bit < INFO_FEATURE_BITS; bit++) {
        const char *name = info_feature_name(bit);
        bool set = (features >> bit) & 1;
        if (set) {
            if (name)
                sb_printf(&has, "%s%s", any_has ? ", " : "", name);
            else
                sb_printf(&has, "%sbit%u", any_has ? ", " : "", bit);
            any_has = true;
        } else if (name) {
            sb_printf(&lacks, "%s%s", any_lacks ? ", " : "", name);
            any_lacks = true;
        }
    }
    const char *has_text = sb_close(&has), *lacks_text = sb_close(&lacks);
    text_kv(out, 2, KEY_COLS, "features", any_has ? has_text : "none");
    text_kv(out, 2, KEY_COLS, "lacks", any_lacks ? lacks_text : "-");
    free(has.s);
    free(lacks.s);
}

static void kv_hardware(FILE *out, const info_model *m, const info_device *d)
{
    strbuf b;
    sb_open(&b);
    if (d->hardware < 0) {
        sb_printf(&b, "not matched (the backend gives no PCI bus id or UUID)");
    } else {
        const info_hw_group *g = &m->hw.groups[d->hardware];
        sb_printf(&b, "hw%ld, ", d->hardware);
        group_identity(&b, g);
        size_t others = 0;
        for (size_t k = 0; k < g->ndevices; k++)
            others += g->devices[k] != (size_t)(d - m->devices);
        if (others) {
            sb_printf(&b, "; also reached as");
            for (size_t k = 0; k < g->ndevices; k++) {
                const info_device *o = &m->devices[g->devices[k]];
                if (o != d)
                    sb_printf(&b, " device %u (%s)", o->index, o->backend);
            }
        }
        for (size_t k = 0; k < g->nnodes; k++) {
            const info_drm_node *n = &m->drm.nodes[g->nodes[k]];
            const char *node = n->render_node ? n->render_node : n->primary_node;
            sb_printf(&b, "; DRM %s", node ? node : "(no node)");
        }
    }
    text_kv(out, 2, KEY_COLS, "hardware", sb_close(&b));
    free(b.s);
}

static void print_device_block(const info_model *m, const info_device *d, bool first,
                               FILE *out)
{
    char title[64], value[256];
    snprintf(title, sizeof title, "Device %u", d->index);
    heading(out, title, first);
    text_kv(out, 2, KEY_COLS, "name", d->name);
    text_kv(out, 2, KEY_COLS, "backend", d->backend);
    text_kv(out, 2, KEY_COLS, "vendor", d->vendor[0] ? d->vendor : "unknown");
    text_kv(out, 2, KEY_COLS, "type", info_device_type_name(d->type));
    text_kv(out, 2, KEY_COLS, "driver version", d->driver_version[0] ? d->driver_version : "unknown");
    text_kv(out, 2, KEY_COLS, "api version", d->api_version[0] ? d->api_version : "unknown");
    snprintf(value, sizeof value, "%u", d->compute_units);
    text_kv(out, 2, KEY_COLS, "compute units", value);
    kv_bytes(out, "memory", d->memory_bytes);
    if (d->has_free_memory)
        kv_bytes(out, "free memory", d->free_memory_bytes);
    else
        text_kv(out, 2, KEY_COLS, "free memory", "unknown (the backend cannot know it)");
    kv_bytes(out, "max allocation", d->max_alloc_bytes);
    kv_bytes(out, "local memory", d->local_memory_bytes);
    snprintf(value, sizeof value, "%u work-items; %u x %u x %u per dimension",
             d->max_workgroup_size, d->max_workgroup_dims[0], d->max_workgroup_dims[1],
             d->max_workgroup_dims[2]);
    text_kv(out, 2, KEY_COLS, "max workgroup", value);
    size_t n = 0;
    value[0] = '\0';
    for (unsigned k = 0; k < AIDEV_MEMORY_KIND_COUNT_; k++)
        if (d->memory_kinds & AIDEV_MEMORY_KIND_BIT(k))
            n += (size_t)snprintf(value + n, sizeof value - n, "%s%s", n ? ", " : "",
                                  info_memory_kind_name(k));
    text_kv(out, 2, KEY_COLS, "memory kinds", n ? value : "none");
    kv_features(out, d->features);
    kv_queue_scheduling(out, d);
    text_kv(out, 2, KEY_COLS, "pci bus id", d->pci_bus_id ? d->pci_bus_id : "unknown");
    if (d->has_uuid)
        info_uuid_format(d->uuid, value, sizeof value);
    text_kv(out, 2, KEY_COLS, "uuid", d->has_uuid ? value : "unknown");
    if (d->numa_node >= 0)
        snprintf(value, sizeof value, "%d", d->numa_node);
    text_kv(out, 2, KEY_COLS, "numa node", d->numa_node >= 0 ? value : "unknown");
    if (d->timestamp_period_ns > 0)
        snprintf(value, sizeof value, "%g ns", d->timestamp_period_ns);
    text_kv(out, 2, KEY_COLS, "timestamp period", d->timestamp_period_ns > 0 ? value : "unknown");
    kv_hardware(out, m, d);
}

void info_print_text(const info_model *m, const info_options *o, FILE *out)
{
    if (o->device >= 0) {
        print_device_block(m, &m->devices[o->device], true, out);
        return;
    }
    fprintf(out, "aidev %s\n", aidev_version());
    print_backends(m, o->verbose, out);
    print_environment(m, out);
    print_devices(m, out);
    print_hardware(m, out);
    if (o->verbose)
        for (uint32_t i = 0; i < m->ndevices; i++)
            print_device_block(m, &m->devices[i], false, out);
}

/* ------------------------------------------------------------------------ */
/* Self-test                                                                */
/* ------------------------------------------------------------------------ */

/* Fixed columns, so each row prints as soon as its device is done. */
#define ST_FMT_INDEX 4
#define ST_FMT_BACKEND 12
#define ST_FMT_RESULT 8
#define ST_FMT_TIME 12
#define ST_NAME_START (2 + ST_FMT_INDEX + ST_FMT_BACKEND + ST_FMT_RESULT + 2 * ST_FMT_TIME)

static void format_ms(uint64_t ns, char *out, size_t size)
{
    if (!ns)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%.3f ms", (double)ns / 1e6);
}

void info_print_selftest_header(FILE *out)
{
    char line[200];
    snprintf(line, sizeof line, "Self-test: axpy on %u floats: write, run, read back, verify",
             INFO_SELFTEST_ELEMENTS);
    text_para(out, 0, TEXT_BOLD, line);
    snprintf(line, sizeof line,
             "FIRST includes building the kernel; ROUND TRIP is the median of %u more",
             INFO_SELFTEST_ROUND_TRIPS);
    text_para(out, 0, TEXT_DIM, line);
    fprintf(out, "  ");
    text_put(out, TEXT_BOLD, "#", ST_FMT_INDEX);
    text_put(out, TEXT_BOLD, "BACKEND", ST_FMT_BACKEND);
    text_put(out, TEXT_BOLD, "RESULT", ST_FMT_RESULT);
    text_put(out, TEXT_BOLD, "FIRST", ST_FMT_TIME);
    text_put(out, TEXT_BOLD, "ROUND TRIP", ST_FMT_TIME);
    text_put(out, TEXT_BOLD, "NAME", 0);
    fputc('\n', out);
    fflush(out);
}

void info_print_selftest_row(const info_device *d, const info_selftest *r, FILE *out)
{
    char index[16], backend[64], first[32], trip[32], name[512];
    snprintf(index, sizeof index, "%u", d->index);
    text_fit(d->backend, ST_FMT_BACKEND - 2, backend, sizeof backend);
    format_ms(r->first_ns, first, sizeof first);
    format_ms(r->round_trip_ns, trip, sizeof trip);
    text_fit(d->name, TEXT_LINE_LIMIT - ST_NAME_START, name, sizeof name);
    fprintf(out, "  ");
    text_put(out, TEXT_PLAIN, index, ST_FMT_INDEX);
    text_put(out, TEXT_PLAIN, backend, ST_FMT_BACKEND);
    text_put(out, r->passed ? TEXT_GOOD : TEXT_BAD, r->passed ? "pass" : "FAIL", ST_FMT_RESULT);
    text_put(out, TEXT_PLAIN, first, ST_FMT_TIME);
    text_put(out, TEXT_PLAIN, trip, ST_FMT_TIME);
    text_put(out, TEXT_PLAIN, name, 0);
    fputc('\n', out);
    if (!r->passed) {
        char why[1100];
        snprintf(why, sizeof why, "%s: %s", r->stage ? r->stage : "?", r->message);
        text_hang(out, 2 + ST_FMT_INDEX, 2 + ST_FMT_INDEX, TEXT_BAD, why);
    }
    fflush(out);
}

void info_print_selftest_summary(uint32_t passed, uint32_t total, FILE *out)
{
    char line[128];
    snprintf(line, sizeof line, "%u of %u device%s passed", passed, total, total == 1 ? "" : "s");
    fputc('\n', out);
    text_para(out, 0, passed == total ? TEXT_GOOD : TEXT_BAD, line);
}
