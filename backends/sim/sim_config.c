/*
 * sim_config.c - AIDEV_SIM_DEVICES, parsed strictly.
 *
 *   AIDEV_SIM_DEVICES="fast:gflops=40,mem_gbps=20,link_gbps=4,latency_us=10;
 *                      slow:gflops=10,mem_gbps=10,link_gbps=4,latency_us=10,unified=1"
 *
 * Entries are separated by ';', each NAME:KEY=VALUE,KEY=VALUE... with no
 * spaces. gflops, mem_gbps, link_gbps and latency_us are required (a made-up
 * device has no sensible defaults to fall back on); memory (bytes, with an
 * optional K, M, G or T suffix, powers of 1024; default 4G) and unified (0
 * or 1; default 0) are optional. Anything else - an unknown or repeated key,
 * a value that is not wholly a number, a rate of zero, a name used twice, an
 * empty entry - is refused with a message naming the entry, the key and the
 * value, so a typo never turns into a device that silently differs from
 * what was asked for.
 *
 * The hal's own environment parsing is not reachable from a plugin (its
 * symbols are hidden), so the two number readers below are this file's
 * own; they are the only place to change if libaidev ever offers one.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define DEFAULT_MEMORY (4ull << 30)

/* Where a parse is, for messages. */
typedef struct parse_site {
    uint32_t entry; /* 1-based */
    const char *name;
} parse_site;

static aidev_status refuse(const parse_site *at, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static aidev_status refuse(const parse_site *at, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (at->name && *at->name)
        return aidev_backend_set_error(AIDEV_ERROR_INVALID_ARGUMENT,
                                       SIM_ENV ": entry %u ('%s'): %s", at->entry, at->name,
                                       what);
    return aidev_backend_set_error(AIDEV_ERROR_INVALID_ARGUMENT, SIM_ENV ": entry %u: %s",
                                   at->entry, what);
}

/* A decimal number, all of |text|, finite, within [lo, hi]. */
static bool read_number(const char *text, double lo, double hi, double *out)
{
    if (!*text || isspace((unsigned char)*text))
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* An integer byte count with an optional K/M/G/T suffix, all of |text|. */
static bool read_bytes(const char *text, uint64_t *out)
{
    if (!isdigit((unsigned char)*text))
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return false;
    }
    if (*end && end[1])
        return false;
    /* At most 1 PiB: past that the number is a typo, not a device. */
    if (v == 0 || v > (1ull << 50) >> shift)
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

typedef enum key_kind { KEY_RATE, KEY_BYTES, KEY_FLAG } key_kind;

typedef struct key_spec {
    const char *key;
    key_kind kind;
    size_t offset;   /* of the field in sim_config */
    double lo, hi;   /* KEY_RATE: the accepted range (a rate of zero would
                        make every command last forever) */
    const char *unit;
    bool required;
} key_spec;

/* The keys, in the order messages list them. */
static const key_spec sim_config_keys[] = {
    {"gflops", KEY_RATE, offsetof(sim_config, gflops), 1e-6, 1e7, "GFLOP/s", true},
    {"mem_gbps", KEY_RATE, offsetof(sim_config, mem_gbps), 1e-6, 1e6, "GB/s", true},
    {"link_gbps", KEY_RATE, offsetof(sim_config, link_gbps), 1e-6, 1e6, "GB/s", true},
    {"latency_us", KEY_RATE, offsetof(sim_config, latency_us), 0, 1e7, "us", true},
    {"memory", KEY_BYTES, offsetof(sim_config, memory_bytes), 0, 0, NULL, false},
    {"unified", KEY_FLAG, offsetof(sim_config, unified), 0, 0, NULL, false},
};
#define KEY_COUNT (sizeof sim_config_keys / sizeof sim_config_keys[0])
#define KEY_LIST "gflops, mem_gbps, link_gbps, latency_us, memory, unified"

static aidev_status set_key(const parse_site *at, sim_config *c, const key_spec *k,
                            const char *value)
{
    char *field = (char *)c + k->offset;
    switch (k->kind) {
    case KEY_RATE:
        if (!read_number(value, k->lo, k->hi, (double *)(void *)field))
            return refuse(at, "%s='%s' is not a number of %s from %g to %g", k->key, value,
                          k->unit, k->lo, k->hi);
        return AIDEV_SUCCESS;
    case KEY_BYTES:
        if (!read_bytes(value, (uint64_t *)(void *)field))
            return refuse(at, "%s='%s' is not a byte count from 1 to 1P (suffix K, M, G or T)",
                          k->key, value);
        return AIDEV_SUCCESS;
    case KEY_FLAG:
        if (strcmp(value, "0") != 0 && strcmp(value, "1") != 0)
            return refuse(at, "%s='%s' is not 0 or 1", k->key, value);
        *(bool *)(void *)field = value[0] == '1';
        return AIDEV_SUCCESS;
    }
    return AIDEV_SUCCESS;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= SIM_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
            return false;
    return true;
}

/* One entry, NAME:KEY=VALUE,... (|entry| is modified). */
static aidev_status parse_entry(parse_site *at, char *entry, sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->memory_bytes = DEFAULT_MEMORY;
    if (!*entry)
        return refuse(at, "is empty (a stray ';'?)");
    char *colon = strchr(entry, ':');
    if (!colon)
        return refuse(at, "'%s' has no ':' after the device's name", entry);
    *colon = '\0';
    if (!valid_name(entry))
        return refuse(at, "name '%s' is not 1 to %d letters, digits, '_' or '-'", entry,
                      SIM_NAME_MAX - 1);
    snprintf(c->name, sizeof c->name, "%s", entry);
    at->name = c->name;

    bool seen[KEY_COUNT] = {false};
    char *rest = colon + 1;
    for (char *kv = strsep(&rest, ","); kv; kv = strsep(&rest, ",")) {
        char *eq = strchr(kv, '=');
        if (!eq)
            return refuse(at, "'%s' is not KEY=VALUE (keys: %s)", kv, KEY_LIST);
        *eq = '\0';
        size_t key = 0;
        while (key < KEY_COUNT && strcmp(sim_config_keys[key].key, kv) != 0)
            key++;
        if (key == KEY_COUNT)
            return refuse(at, "unknown key '%s' (keys: %s)", kv, KEY_LIST);
        if (seen[key])
            return refuse(at, "key '%s' given twice", kv);
        seen[key] = true;
        aidev_status st = set_key(at, c, &sim_config_keys[key], eq + 1);
        if (st != AIDEV_SUCCESS)
            return st;
    }
    for (size_t key = 0; key < KEY_COUNT; key++)
        if (sim_config_keys[key].required && !seen[key])
            return refuse(at, "'%s' is missing (required: gflops, mem_gbps, link_gbps, "
                              "latency_us)", sim_config_keys[key].key);
    return AIDEV_SUCCESS;
}

aidev_status sim_config_parse(const char *text, sim_config *out, uint32_t *count)
{
    *count = 0;
    char *copy = strdup(text);
    if (!copy)
        return aidev_backend_set_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "sim: out of memory");
    aidev_status st = AIDEV_SUCCESS;
    parse_site at = {0, NULL};
    /* strsep, not strtok: an empty entry is an error, not skipped. */
    char *rest = copy;
    for (char *entry = strsep(&rest, ";"); entry && st == AIDEV_SUCCESS;
         entry = strsep(&rest, ";")) {
        at.entry++;
        at.name = NULL;
        if (*count == SIM_MAX_DEVICES) {
            st = refuse(&at, "more than %d devices", SIM_MAX_DEVICES);
            break;
        }
        st = parse_entry(&at, entry, &out[*count]);
        for (uint32_t i = 0; st == AIDEV_SUCCESS && i < *count; i++)
            if (strcmp(out[i].name, out[*count].name) == 0)
                st = refuse(&at, "the name '%s' is already entry %u's", out[i].name, i + 1);
        if (st == AIDEV_SUCCESS)
            (*count)++;
    }
    free(copy);
    return st;
}
