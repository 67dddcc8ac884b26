/*
 * info_json.c - aidev-info --json: the model as one JSON document, built
 * with json-c. The layout is described by tools/aidev-info.schema.json; the
 * foundation's keys (version; backends[] name, path, status, reason;
 * devices[] index, backend, name, vendor, type, memory_bytes, compute_units)
 * keep their names and meaning. Unknown values are null, never left out, so
 * a script finds every key on every machine.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tools/info_output.h"

#ifndef AIDEV_HAVE_JSON

bool info_print_json(const info_model *m, const info_options *o, const info_selftest *selftest,
                     FILE *out)
{
    (void)m, (void)o, (void)selftest, (void)out;
    fprintf(stderr, "aidev-info: built without json-c; --json is not available\n");
    return false;
}

#else

#include <string.h>

#include <aidev/aidev_backend.h>
#include <json-c/json.h>

#include "tools/info_text.h"

/* Strings from drivers and plugins may hold invalid UTF-8; the document
 * must not. NULL gives null. */
static json_object *jstr(const char *s)
{
    if (!s)
        return NULL;
    char *clean = text_utf8_clean(s);
    json_object *o = json_object_new_string(clean ? clean : "");
    free(clean);
    return o;
}

static json_object *jhex4(uint16_t v)
{
    char buf[8];
    snprintf(buf, sizeof buf, "%04x", v);
    return json_object_new_string(buf);
}

static json_object *environment_json(const info_model *m)
{
    json_object *list = json_object_new_array();
    for (uint32_t i = 0; i < m->nenvironment; i++) {
        const aidev_environment_report *r = &m->environment[i];
        json_object *e = json_object_new_object();
        json_object_object_add(e, "name", jstr(r->name));
        json_object_object_add(e, "value", jstr(r->value));
        json_object_object_add(e, "problem", jstr(r->problem));
        json_object_object_add(e, "used", jstr(r->used));
        json_object_array_add(list, e);
    }
    return list;
}

static json_object *backend_json(const aidev_backend_report *r)
{
    json_object *b = json_object_new_object();
    json_object_object_add(b, "name", jstr(r->name));
    json_object_object_add(b, "path", jstr(r->path));
    json_object_object_add(b, "status", jstr(aidev_backend_state_string(r->state)));
    json_object_object_add(b, "reason", jstr(r->reason ? r->reason : ""));
    json_object_object_add(b, "device_count", json_object_new_int64(r->device_count));
    char abi[16];
    snprintf(abi, sizeof abi, "%u.%u", AIDEV_BACKEND_ABI_MAJOR(r->abi_version),
             AIDEV_BACKEND_ABI_MINOR(r->abi_version));
    json_object_object_add(b, "abi_version", r->abi_version ? jstr(abi) : NULL);
    return b;
}

static json_object *names_of_bits(uint64_t mask, bool features)
{
    json_object *a = json_object_new_array();
    for (unsigned bit = 0; bit < INFO_FEATURE_BITS; bit++) {
        if (!((mask >> bit) & 1))
            continue;
        const char *name = features ? info_feature_name(bit) : info_memory_kind_name(bit);
        char other[16];
        if (!name) {
            snprintf(other, sizeof other, "bit%u", bit);
            name = other;
        }
        json_object_array_add(a, jstr(name));
    }
    return a;
}

static json_object *device_json(const info_device *d)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "index", json_object_new_int64(d->index));
    json_object_object_add(o, "backend", jstr(d->backend));
    json_object_object_add(o, "name", jstr(d->name));
    json_object_object_add(o, "vendor", jstr(d->vendor));
    json_object_object_add(o, "type", jstr(info_device_type_name(d->type)));
    json_object_object_add(o, "memory_bytes", json_object_new_uint64(d->memory_bytes));
    json_object_object_add(o, "compute_units", json_object_new_int64(d->compute_units));
    json_object_object_add(o, "driver_version", jstr(d->driver_version));
    json_object_object_add(o, "api_version", jstr(d->api_version));
    json_object_object_add(o, "free_memory_bytes",
                           d->has_free_memory ? json_object_new_uint64(d->free_memory_bytes)
                                              : NULL);
    json_object_object_add(o, "max_alloc_bytes", json_object_new_uint64(d->max_alloc_bytes));
    json_object_object_add(o, "local_memory_bytes",
                           json_object_new_uint64(d->local_memory_bytes));
    json_object_object_add(o, "max_workgroup_size",
                           json_object_new_int64(d->max_workgroup_size));
    json_object *dims = json_object_new_array();
    for (int i = 0; i < 3; i++)
        json_object_array_add(dims, json_object_new_int64(d->max_workgroup_dims[i]));
    json_object_object_add(o, "max_workgroup_dims", dims);
    json_object_object_add(o, "memory_kinds", names_of_bits(d->memory_kinds, false));
    json_object_object_add(o, "features", names_of_bits(d->features, true));
    json_object_object_add(o, "features_mask", json_object_new_uint64(d->features));
    json_object_object_add(o, "pci_bus_id", jstr(d->pci_bus_id));
    char uuid[40];
    if (d->has_uuid)
        info_uuid_format(d->uuid, uuid, sizeof uuid);
    json_object_object_add(o, "uuid", d->has_uuid ? jstr(uuid) : NULL);
    json_object_object_add(o, "numa_node",
                           d->numa_node >= 0 ? json_object_new_int64(d->numa_node) : NULL);
    json_object_object_add(o, "timestamp_period_ns",
                           d->timestamp_period_ns > 0
                               ? json_object_new_double(d->timestamp_period_ns)
                               : NULL);
    json_object *sched = json_object_new_object();
    json_object_object_add(sched, "priorities",
                           json_object_new_boolean(d->features & AIDEV_FEATURE_QUEUE_PRIORITY));
    json_object_object_add(sched, "preemption",
                           json_object_new_boolean(d->features & AIDEV_FEATURE_QUEUE_PREEMPTION));
    json_object_object_add(sched, "low_latency",
                           json_object_new_boolean(d->features & AIDEV_FEATURE_QUEUE_LOW_LATENCY));
    json_object_object_add(sched, "how", jstr(d->queue_scheduling ? d->queue_scheduling : ""));
    json_object_object_add(o, "queue_scheduling", sched);
    json_object_object_add(o, "hardware",
                           d->hardware >= 0 ? json_object_new_int64(d->hardware) : NULL);
    return o;
}

static json_object *index_array(const info_model *m, const size_t *positions, size_t n,
                                bool devices)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, json_object_new_int64(devices ? m->devices[positions[i]].index
                                                               : (int64_t)positions[i]));
    return a;
}

static json_object *hardware_json(const info_model *m, size_t gi)
{
    const info_hw_group *g = &m->hw.groups[gi];
    json_object *o = json_object_new_object();
    char buf[40];
    json_object_object_add(o, "index", json_object_new_int64((int64_t)gi));
    info_pci_format(&g->pci, buf, sizeof buf);
    json_object_object_add(o, "pci_bus_id", g->pci.valid ? jstr(buf) : NULL);
    if (g->has_uuid)
        info_uuid_format(g->uuid, buf, sizeof buf);
    json_object_object_add(o, "uuid", g->has_uuid ? jstr(buf) : NULL);
    json_object_object_add(o, "pci_conflict", json_object_new_boolean(g->pci_conflict));
    json_object_object_add(o, "devices", index_array(m, g->devices, g->ndevices, true));
    json_object_object_add(o, "drm_nodes", index_array(m, g->nodes, g->nnodes, false));
    return o;
}

static json_object *drm_node_json(const info_model *m, size_t ni)
{
    const info_drm_node *n = &m->drm.nodes[ni];
    json_object *o = json_object_new_object();
    bool ids = !strcmp(n->bus, "pci") || !strcmp(n->bus, "usb");
    bool pci = !strcmp(n->bus, "pci");
    char buf[40];
    json_object_object_add(o, "index", json_object_new_int64((int64_t)ni));
    json_object_object_add(o, "render_node", jstr(n->render_node));
    json_object_object_add(o, "primary_node", jstr(n->primary_node));
    json_object_object_add(o, "bus", jstr(n->bus));
    info_pci_format(&n->pci, buf, sizeof buf);
    json_object_object_add(o, "pci_bus_id", n->pci.valid ? jstr(buf) : NULL);
    json_object_object_add(o, "vendor_id", ids ? jhex4(n->vendor_id) : NULL);
    json_object_object_add(o, "device_id", ids ? jhex4(n->device_id) : NULL);
    json_object_object_add(o, "subvendor_id", pci ? jhex4(n->subvendor_id) : NULL);
    json_object_object_add(o, "subdevice_id", pci ? jhex4(n->subdevice_id) : NULL);
    json_object_object_add(o, "bus_name", jstr(n->bus_name));
    json_object_object_add(o, "driver", jstr(n->driver));
    snprintf(buf, sizeof buf, "%d.%d.%d", n->driver_version[0], n->driver_version[1],
             n->driver_version[2]);
    json_object_object_add(o, "driver_version", n->driver_version[0] >= 0 ? jstr(buf) : NULL);
    json_object_object_add(o, "driver_description", jstr(n->driver_desc));
    json_object_object_add(o, "note", jstr(n->note));
    long g = m->hw.node_group ? m->hw.node_group[ni] : -1;
    json_object_object_add(o, "hardware", g >= 0 ? json_object_new_int64(g) : NULL);
    json_object_object_add(o, "devices", g >= 0 ? index_array(m, m->hw.groups[g].devices,
                                                              m->hw.groups[g].ndevices, true)
                                                : json_object_new_array());
    return o;
}

static json_object *drm_json(const info_model *m)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "status", jstr(info_drm_state_name(m->drm.state)));
    json_object_object_add(o, "reason", jstr(m->drm.reason));
    json_object *nodes = json_object_new_array();
    for (size_t i = 0; i < m->drm.count; i++)
        json_object_array_add(nodes, drm_node_json(m, i));
    json_object_object_add(o, "nodes", nodes);
    return o;
}

static json_object *selftest_json(const info_model *m, const info_options *opt,
                                  const info_selftest *results)
{
    json_object *o = json_object_new_object();
    json_object *list = json_object_new_array();
    bool all = true;
    for (uint32_t i = 0; i < m->ndevices; i++) {
        if (opt->device >= 0 && (long)i != opt->device)
            continue;
        const info_device *d = &m->devices[i];
        const info_selftest *r = &results[i];
        json_object *e = json_object_new_object();
        json_object_object_add(e, "index", json_object_new_int64(d->index));
        json_object_object_add(e, "backend", jstr(d->backend));
        json_object_object_add(e, "name", jstr(d->name));
        json_object_object_add(e, "passed", json_object_new_boolean(r->passed));
        json_object_object_add(e, "stage", jstr(r->stage));
        json_object_object_add(e, "message", jstr(r->message));
        json_object_object_add(e, "first_round_trip_ns",
                               r->first_ns ? json_object_new_uint64(r->first_ns) : NULL);
        json_object_object_add(e, "round_trip_ns",
                               r->round_trip_ns ? json_object_new_uint64(r->round_trip_ns)
                                                : NULL);
        json_object_object_add(e, "min_round_trip_ns",
                               r->min_round_trip_ns
                                   ? json_object_new_uint64(r->min_round_trip_ns)
                                   : NULL);
        json_object_object_add(e, "round_trips", json_object_new_int64(r->round_trips));
        json_object_array_add(list, e);
        all = all && r->passed;
    }
    json_object_object_add(o, "kernel", json_object_new_string("axpy"));
    json_object_object_add(o, "elements", json_object_new_int64(INFO_SELFTEST_ELEMENTS));
    json_object_object_add(o, "passed", json_object_new_boolean(all));
    json_object_object_add(o, "results", list);
    return o;
}

bool info_print_json(const info_model *m, const info_options *opt, const info_selftest *selftest,
                     FILE *out)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "schema_version",
                           json_object_new_int64(INFO_JSON_SCHEMA_VERSION));
    json_object_object_add(root, "version", jstr(aidev_version()));

    json_object *backends = json_object_new_array();
    for (uint32_t i = 0; i < m->nbackends; i++)
        json_object_array_add(backends, backend_json(&m->backends[i]));
    json_object_object_add(root, "backends", backends);
    json_object_object_add(root, "environment", environment_json(m));
    json_object *tier = json_object_new_object();
    const char *codecs;
    const char *codec = aidev_memory_tier_codec(&codecs);
    json_object_object_add(tier, "codec", codec[0] ? jstr(codec) : NULL);
    json_object_object_add(tier, "codecs", jstr(codecs));
    json_object_object_add(root, "memory_tier", tier);

    json_object *devices = json_object_new_array();
    for (uint32_t i = 0; i < m->ndevices; i++)
        if (opt->device < 0 || (long)i == opt->device)
            json_object_array_add(devices, device_json(&m->devices[i]));
    json_object_object_add(root, "devices", devices);

    json_object *hardware = json_object_new_array();
    for (size_t g = 0; g < m->hw.ngroups; g++)
        json_object_array_add(hardware, hardware_json(m, g));
    json_object_object_add(root, "hardware", hardware);
    json_object_object_add(root, "drm", drm_json(m));
    if (selftest)
        json_object_object_add(root, "self_test", selftest_json(m, opt, selftest));

    const char *text = json_object_to_json_string_ext(
        root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    bool ok = text != NULL;
    if (ok)
        fprintf(out, "%s\n", text);
    else
        fprintf(stderr, "aidev-info: out of memory building the JSON document\n");
    json_object_put(root);
    return ok;
}

#endif
