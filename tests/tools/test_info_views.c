/*
 * test_info_views.c - aidev-info's text and JSON views of a machine this one
 * is not: a GPU with a DRM render node reached through OpenCL, a GPU whose
 * node the user may not open and whose backend failed, a display-only
 * platform device, and a CPU. The model is built by hand, so what the
 * outputs say about DRM nodes and missing GPUs is checked here even on a
 * machine without /dev/dri.
 *
 *   test-info-views          run the Check suite
 *   test-info-views --json   print the document (info_cli.py validates it
 *                            against the schema)
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/info_output.h"
#include "tools/info_text.h"

#ifdef AIDEV_HAVE_JSON
#include <json-c/json.h>
#endif

static void add_device(info_model *m, const char *backend, const char *name, uint32_t type,
                       const char *pci)
{
    info_device *d = &m->devices[m->ndevices];
    memset(d, 0, sizeof *d);
    d->index = m->ndevices++;
    d->name = strdup(name);
    d->vendor = strdup("vendor");
    d->backend = strdup(backend);
    d->driver_version = strdup("1.0");
    d->api_version = strdup("API 1.0");
    d->type = type;
    d->compute_units = 8;
    d->memory_bytes = 16ull << 30;
    d->max_alloc_bytes = 4ull << 30;
    d->max_workgroup_size = 256;
    d->max_workgroup_dims[0] = d->max_workgroup_dims[1] = d->max_workgroup_dims[2] = 256;
    d->memory_kinds = AIDEV_MEMORY_KIND_BIT(AIDEV_MEMORY_DEVICE);
    d->pci_bus_id = pci ? strdup(pci) : NULL;
    d->pci = info_pci_parse(pci);
    d->numa_node = -1;
    d->hardware = -1;
}

static info_drm_node *add_node(info_model *m, const char *render, const char *primary,
                               const char *bus, const char *pci, const char *driver)
{
    info_drm_node *n = &m->drm.nodes[m->drm.count++];
    memset(n, 0, sizeof *n);
    n->render_node = render ? strdup(render) : NULL;
    n->primary_node = primary ? strdup(primary) : NULL;
    n->bus = bus;
    n->pci = info_pci_parse(pci);
    n->driver = driver ? strdup(driver) : NULL;
    n->driver_version[0] = n->driver_version[1] = n->driver_version[2] = -1;
    return n;
}

/* The machine: see the file comment. */
static void make_model(info_model *m)
{
    memset(m, 0, sizeof *m);
    m->nbackends = 3;
    m->backends = calloc(3, sizeof *m->backends);
    m->backends[0] = (aidev_backend_report){"opencl", "/usr/lib/aidev/libaidev-backend-opencl.so",
                                            AIDEV_BACKEND_LOADED, "", 0x10000, 1};
    m->backends[1] = (aidev_backend_report){
        "vulkan", "/usr/lib/aidev/libaidev-backend-vulkan.so", AIDEV_BACKEND_FAILED,
        "init: vkCreateInstance failed: VK_ERROR_INCOMPATIBLE_DRIVER (-9)", 0x10000, 0};
    m->backends[2] = (aidev_backend_report){"cpu", "(built-in)", AIDEV_BACKEND_LOADED, "",
                                            0x10000, 1};
    m->devices = calloc(2, sizeof *m->devices);
    add_device(m, "opencl", "AMD Radeon RX 6800", AIDEV_DEVICE_TYPE_GPU, "0000:03:00.0");
    add_device(m, "cpu", "AMD EPYC", AIDEV_DEVICE_TYPE_CPU, NULL);

    m->drm.state = INFO_DRM_OK;
    m->drm.nodes = calloc(3, sizeof *m->drm.nodes);
    info_drm_node *n = add_node(m, "/dev/dri/renderD128", "/dev/dri/card0", "pci",
                                "0000:03:00.0", "amdgpu");
    n->driver_version[0] = 3, n->driver_version[1] = 54, n->driver_version[2] = 0;
    n->driver_desc = strdup("AMD GPU");
    n->vendor_id = 0x1002, n->device_id = 0x73bf, n->subvendor_id = 0x1002;
    n = add_node(m, "/dev/dri/renderD129", "/dev/dri/card1", "pci", "0000:65:00.0",
                 "nvidia-drm");
    n->note = strdup("cannot open /dev/dri/renderD129: Permission denied (is this user in the "
                     "group that owns it, often 'render'?)");
    n->vendor_id = 0x10de, n->device_id = 0x2204;
    n = add_node(m, NULL, "/dev/dri/card2", "platform", NULL, "simpledrm");
    n->bus_name = strdup("simple-framebuffer.0");

    info_hw_ids ids[2] = {{.pci = m->devices[0].pci}, {.pci = m->devices[1].pci}};
    info_pci_addr nodes[3] = {m->drm.nodes[0].pci, m->drm.nodes[1].pci, m->drm.nodes[2].pci};
    if (!info_hw_build(ids, 2, nodes, 3, &m->hw)) {
        fprintf(stderr, "info_hw_build: out of memory\n");
        exit(EXIT_FAILURE);
    }
    for (uint32_t i = 0; i < m->ndevices; i++)
        m->devices[i].hardware = m->hw.device_group[i];
}

static char *render(const info_model *m, const info_options *o, bool json)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    if (json)
        ck_assert(info_print_json(m, o, NULL, f));
    else
        info_print_text(m, o, f);
    fclose(f);
    return buf;
}

static void assert_has(const char *text, const char *line)
{
    ck_assert_msg(strstr(text, line) != NULL, "missing:\n%s\nin:\n%s", line, text);
}

START_TEST(text_shows_nodes_drivers_and_missing_gpus)
{
    info_model m;
    make_model(&m);
    info_options o = {.verbose = false, .device = -1};
    char *t = render(&m, &o, false);
    assert_has(t, "\nHardware\n"
                  "  hw0  pci 0000:03:00.0: device 0 (opencl)\n"
                  "       DRM /dev/dri/renderD128, driver amdgpu 3.54.0, PCI id 1002:73bf\n"
                  "  hw1  pci 0000:65:00.0\n"
                  "       DRM /dev/dri/renderD129, driver nvidia-drm, PCI id 10de:2204\n"
                  "         cannot open /dev/dri/renderD129: Permission denied (is this user "
                  "in the group that owns it,\n"
                  "         often 'render'?)\n"
                  "       no aidev device reaches it: backend vulkan failed (see Backends "
                  "above)\n"
                  "  hw2  no bus address\n"
                  "       DRM /dev/dri/card2 (display only: no render node), driver simpledrm, "
                  "platform device\n"
                  "         simple-framebuffer.0\n"
                  "  not matched to hardware (no PCI bus id or UUID): device 1 (cpu)\n");
    ck_assert_ptr_null(strstr(t, "DRM: "));
    free(t);

    o.device = 0;
    t = render(&m, &o, false);
    assert_has(t, "  hardware            hw0, pci 0000:03:00.0; DRM /dev/dri/renderD128\n");
    free(t);
    info_model_free(&m);
}
END_TEST

START_TEST(missing_gpu_with_every_backend_loaded_blames_the_drivers)
{
    info_model m;
    make_model(&m);
    m.backends[1].state = AIDEV_BACKEND_LOADED;
    m.backends[1].reason = "";
    info_options o = {.verbose = false, .device = -1};
    char *t = render(&m, &o, false);
    assert_has(t, "no aidev device reaches it: no loaded backend's driver offers it");
    free(t);
    info_model_free(&m);
}
END_TEST

START_TEST(gpu_without_pci_id_is_not_called_unreachable)
{
    /* A GPU device known by UUID only may be the node's hardware: the
     * output must not claim nothing reaches it. */
    info_model m;
    make_model(&m);
    free(m.devices[0].pci_bus_id);
    m.devices[0].pci_bus_id = NULL;
    m.devices[0].pci.valid = false;
    m.devices[0].has_uuid = true;
    info_hw_free(&m.hw);
    info_hw_ids ids[2] = {{.has_uuid = true}, {.pci = m.devices[1].pci}};
    info_pci_addr nodes[3] = {m.drm.nodes[0].pci, m.drm.nodes[1].pci, m.drm.nodes[2].pci};
    ck_assert(info_hw_build(ids, 2, nodes, 3, &m.hw));
    for (uint32_t i = 0; i < m.ndevices; i++)
        m.devices[i].hardware = m.hw.device_group[i];
    info_options o = {.verbose = false, .device = -1};
    char *t = render(&m, &o, false);
    assert_has(t, "       DRM /dev/dri/renderD128, driver amdgpu 3.54.0, PCI id 1002:73bf\n"
                  "       no aidev device reports this PCI bus id; device 0 (opencl) gives "
                  "none and may be this\n"
                  "         hardware\n");
    ck_assert_ptr_null(strstr(t, "no aidev device reaches it"));
    free(t);
    info_model_free(&m);
}
END_TEST

START_TEST(drm_states_are_said_in_words)
{
    static const struct {
        info_drm_state state;
        const char *reason;
    } cases[] = {
        {INFO_DRM_NO_DRI, "no /dev/dri on this machine"},
        {INFO_DRM_NOT_BUILT, "not built in"},
        {INFO_DRM_ERROR, "drmGetDevices2 failed: Bad address"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        info_model m;
        make_model(&m);
        info_drm_free(&m.drm);
        info_hw_free(&m.hw);
        m.drm.state = cases[i].state;
        snprintf(m.drm.reason, sizeof m.drm.reason, "%s", cases[i].reason);
        info_hw_ids ids[2] = {{.pci = m.devices[0].pci}, {.pci = m.devices[1].pci}};
        ck_assert(info_hw_build(ids, 2, NULL, 0, &m.hw));
        info_options o = {.verbose = true, .device = -1};
        char *t = render(&m, &o, false);
        char want[300];
        snprintf(want, sizeof want, "  DRM: %s\n", cases[i].reason);
        assert_has(t, want);
        free(t);
        info_model_free(&m);
    }
}
END_TEST

#ifdef AIDEV_HAVE_JSON
static json_object *path(json_object *o, const char *key, int index)
{
    json_object *v = NULL;
    ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key %s", key);
    if (index >= 0) {
        v = json_object_array_get_idx(v, (size_t)index);
        ck_assert_ptr_nonnull(v);
    }
    return v; /* json-c's null is NULL */
}

START_TEST(json_carries_the_drm_view)
{
    info_model m;
    make_model(&m);
    info_options o = {.verbose = false, .device = -1};
    char *t = render(&m, &o, true);
    json_object *doc = json_tokener_parse(t);
    ck_assert_msg(doc != NULL, "not JSON:\n%s", t);
    json_object *drm = path(doc, "drm", -1);
    ck_assert_str_eq(json_object_get_string(path(drm, "status", -1)), "ok");
    json_object *n0 = path(drm, "nodes", 0), *n1 = path(drm, "nodes", 1);
    ck_assert_str_eq(json_object_get_string(path(n0, "driver", -1)), "amdgpu");
    ck_assert_str_eq(json_object_get_string(path(n0, "driver_version", -1)), "3.54.0");
    ck_assert_str_eq(json_object_get_string(path(n0, "vendor_id", -1)), "1002");
    ck_assert_str_eq(json_object_get_string(path(n0, "pci_bus_id", -1)), "0000:03:00.0");
    ck_assert_int_eq(json_object_get_int(path(n0, "devices", 0)), 0);
    ck_assert(json_object_is_type(path(n1, "driver_version", -1), json_type_null));
    ck_assert_uint_eq(json_object_array_length(path(n1, "devices", -1)), 0);
    ck_assert_ptr_nonnull(strstr(json_object_get_string(path(n1, "note", -1)), "Permission"));
    json_object *h0 = path(doc, "hardware", 0);
    ck_assert_int_eq(json_object_get_int(path(h0, "drm_nodes", 0)), 0);
    ck_assert_int_eq(json_object_get_int(path(path(doc, "devices", 0), "hardware", -1)), 0);
    ck_assert(json_object_is_type(path(path(doc, "devices", 1), "hardware", -1),
                                  json_type_null));
    json_object_put(doc);
    free(t);
    info_model_free(&m);
}
END_TEST
#endif

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--json") == 0) {
        info_model m;
        make_model(&m);
        info_options o = {.verbose = false, .device = -1};
        bool ok = info_print_json(&m, &o, NULL, stdout);
        info_model_free(&m);
        return ok ? EXIT_SUCCESS : 2;
    }
    Suite *s = suite_create("aidev-info views");
    TCase *tc = tcase_create("synthetic machine");
    tcase_add_test(tc, text_shows_nodes_drivers_and_missing_gpus);
    tcase_add_test(tc, missing_gpu_with_every_backend_loaded_blames_the_drivers);
    tcase_add_test(tc, gpu_without_pci_id_is_not_called_unreachable);
    tcase_add_test(tc, drm_states_are_said_in_words);
#ifdef AIDEV_HAVE_JSON
    tcase_add_test(tc, json_carries_the_drm_view);
#endif
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
