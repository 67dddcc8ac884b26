/*
 * info_hw.c - PCI addresses, UUIDs, and grouping devices into hardware.
 */
#include "tools/info_hw.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads |max| or fewer hex digits at |*p| (at least one); advances |*p|. */
static bool hex_field(const char **p, int max, uint32_t *out)
{
    uint32_t v = 0;
    int n = 0;
    while (n < max && isxdigit((unsigned char)**p)) {
        char c = (char)tolower((unsigned char)**p);
        v = v * 16 + (uint32_t)(c <= '9' ? c - '0' : c - 'a' + 10);
        (*p)++, n++;
    }
    *out = v;
    return n > 0;
}

info_pci_addr info_pci_parse(const char *s)
{
    info_pci_addr a = {0};
    if (!s)
        return a;
    /* Count the colons to know whether a domain is there. */
    int colons = 0;
    for (const char *q = s; *q; q++)
        colons += *q == ':';
    const char *p = s;
    uint32_t domain = 0, bus, dev, func;
    if (colons == 2) {
        if (!hex_field(&p, 8, &domain) || *p++ != ':')
            return a;
    } else if (colons != 1) {
        return a;
    }
    if (!hex_field(&p, 2, &bus) || *p++ != ':' || !hex_field(&p, 2, &dev) || *p++ != '.' ||
        !hex_field(&p, 1, &func) || *p != '\0' || dev > 0x1f || func > 7)
        return a;
    a.valid = true;
    a.domain = domain;
    a.bus = (uint8_t)bus;
    a.dev = (uint8_t)dev;
    a.func = (uint8_t)func;
    return a;
}

void info_pci_format(const info_pci_addr *a, char *out, size_t out_size)
{
    if (!a->valid) {
        snprintf(out, out_size, "%s", "");
        return;
    }
    snprintf(out, out_size, "%04x:%02x:%02x.%x", (unsigned)a->domain, a->bus, a->dev, a->func);
}

bool info_pci_equal(const info_pci_addr *a, const info_pci_addr *b)
{
    return a->valid && b->valid && a->domain == b->domain && a->bus == b->bus &&
           a->dev == b->dev && a->func == b->func;
}

void info_uuid_format(const uint8_t uuid[16], char *out, size_t out_size)
{
    char buf[40];
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[n++] = '-';
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%02x", uuid[i]);
    }
    snprintf(out, out_size, "%s", buf);
}

/* ------------------------------------------------------------------------ */
/* Grouping: union-find over devices then nodes                             */
/* ------------------------------------------------------------------------ */

static size_t find(size_t *parent, size_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static void join(size_t *parent, size_t a, size_t b)
{
    a = find(parent, a);
    b = find(parent, b);
    /* The smaller index is the root, so groups order by their first member. */
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

static bool append(size_t **list, size_t *n, size_t v)
{
    size_t *grown = realloc(*list, (*n + 1) * sizeof **list);
    if (!grown)
        return false;
    grown[(*n)++] = v;
    *list = grown;
    return true;
}

static bool has_id(const info_hw_ids *d)
{
    return d->pci.valid || d->has_uuid;
}

static void join_all(const info_hw_ids *devs, size_t ndev, const info_pci_addr *nodes,
                     size_t nnodes, size_t *parent)
{
    for (size_t i = 0; i < ndev; i++)
        for (size_t j = i + 1; j < ndev; j++)
            if (info_pci_equal(&devs[i].pci, &devs[j].pci) ||
                (devs[i].has_uuid && devs[j].has_uuid &&
                 memcmp(devs[i].uuid, devs[j].uuid, 16) == 0))
                join(parent, i, j);
    for (size_t n = 0; n < nnodes; n++) {
        for (size_t i = 0; i < ndev; i++)
            if (info_pci_equal(&devs[i].pci, &nodes[n]))
                join(parent, i, ndev + n);
        for (size_t m = n + 1; m < nnodes; m++)
            if (info_pci_equal(&nodes[n], &nodes[m]))
                join(parent, ndev + n, ndev + m);
    }
}

/* Adds member |i| (a device below |ndev|, else a node) to group |g|. */
static bool add_member(info_hw_group *g, size_t i, const info_hw_ids *devs, size_t ndev,
                       const info_pci_addr *nodes)
{
    const info_pci_addr *pci = i < ndev ? &devs[i].pci : &nodes[i - ndev];
    if (pci->valid) {
        if (!g->pci.valid)
            g->pci = *pci;
        else if (!info_pci_equal(&g->pci, pci))
            g->pci_conflict = true;
    }
    if (i < ndev && devs[i].has_uuid && !g->has_uuid) {
        g->has_uuid = true;
        memcpy(g->uuid, devs[i].uuid, 16);
    }
    return i < ndev ? append(&g->devices, &g->ndevices, i)
                    : append(&g->nodes, &g->nnodes, i - ndev);
}

bool info_hw_build(const info_hw_ids *devs, size_t ndev, const info_pci_addr *nodes,
                   size_t nnodes, info_hw_map *out)
{
    memset(out, 0, sizeof *out);
    size_t total = ndev + nnodes;
    size_t *parent = calloc(total ? total : 1, sizeof *parent);
    long *group_of_root = calloc(total ? total : 1, sizeof *group_of_root);
    out->device_group = calloc(ndev ? ndev : 1, sizeof *out->device_group);
    out->node_group = calloc(nnodes ? nnodes : 1, sizeof *out->node_group);
    out->groups = calloc(total ? total : 1, sizeof *out->groups);
    bool ok = parent && group_of_root && out->device_group && out->node_group && out->groups;
    if (!ok)
        goto out;
    for (size_t i = 0; i < total; i++) {
        parent[i] = i;
        group_of_root[i] = -1;
    }
    join_all(devs, ndev, nodes, nnodes, parent);

    /* Members in index order: devices first, then nodes, so groups are
     * numbered by their first device and node-only groups come last. */
    for (size_t i = 0; ok && i < total; i++) {
        long *slot = i < ndev ? &out->device_group[i] : &out->node_group[i - ndev];
        if (i < ndev && !has_id(&devs[i])) {
            *slot = -1;
            continue;
        }
        size_t root = find(parent, i);
        if (group_of_root[root] < 0)
            group_of_root[root] = (long)out->ngroups++;
        *slot = group_of_root[root];
        ok = add_member(&out->groups[*slot], i, devs, ndev, nodes);
    }
out:
    free(parent);
    free(group_of_root);
    if (!ok)
        info_hw_free(out);
    return ok;
}

void info_hw_free(info_hw_map *map)
{
    if (map->groups)
        for (size_t g = 0; g < map->ngroups; g++) {
            free(map->groups[g].devices);
            free(map->groups[g].nodes);
        }
    free(map->groups);
    free(map->device_group);
    free(map->node_group);
    memset(map, 0, sizeof *map);
}
