/*
 * env.c - the one parser of environment values, the record of values it
 * refused or capped, and libaidev's own variables (see env.h).
 *
 * Values are read each time a caller asks (tests and programs set them
 * between contexts); a refused value is reported once per name and value.
 */
#include "hal/env.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hal/compress.h"
#include "hal/internal.h"

#define MAX_REPORTS 64

typedef struct env_report_store {
    char *name, *value, *problem, *used;
} env_report_store;

static pthread_mutex_t reports_lock = PTHREAD_MUTEX_INITIALIZER;
static env_report_store reports[MAX_REPORTS];
static uint32_t report_count;

/* The value of |name|, or NULL when unset or empty. */
static const char *env_value(const char *name, bool trusted)
{
    const char *v = trusted ? secure_getenv(name) : getenv(name);
    return v && *v ? v : NULL;
}

/* Keeps a report of |name|=|value| and prints it on stderr, once per name
 * and value. |used| is what happens instead. */
static void env_report(const char *name, const char *value, const char *used,
                       const char *problem_fmt, ...) __attribute__((format(printf, 4, 5)));
static void env_report(const char *name, const char *value, const char *used,
                       const char *problem_fmt, ...)
{
    char problem[256];
    va_list ap;
    va_start(ap, problem_fmt);
    vsnprintf(problem, sizeof problem, problem_fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&reports_lock);
    bool known = false;
    for (uint32_t i = 0; i < report_count && !known; i++)
        known = strcmp(reports[i].name, name) == 0 && strcmp(reports[i].value, value) == 0;
    if (!known && report_count < MAX_REPORTS) {
        env_report_store *r = &reports[report_count];
        r->name = strdup(name);
        r->value = strdup(value);
        r->problem = strdup(problem);
        r->used = strdup(used);
        if (r->name && r->value && r->problem && r->used) {
            report_count++;
        } else {
            free(r->name);
            free(r->value);
            free(r->problem);
            free(r->used);
        }
    }
    pthread_mutex_unlock(&reports_lock);
    if (!known)
        fprintf(stderr, "aidev: %s='%s': %s; %s\n", name, value, problem, used);
}

/* Digits only, at least one. |*overflow| when the number is past 2^64-1
 * (then |*out| is UINT64_MAX). Returns where the digits end, or NULL when
 * there are none. */
static const char *parse_digits(const char *s, uint64_t *out, bool *overflow)
{
    uint64_t v = 0;
    const char *p = s;
    *overflow = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - digit) / 10)
            *overflow = true;
        v = *overflow ? UINT64_MAX : v * 10 + digit;
    }
    if (p == s)
        return NULL;
    *out = v;
    return p;
}

aidev_env_result aidev_env_u32(const char *name, uint32_t min, uint32_t max,
                               const char *cap_reason, uint32_t fallback, uint32_t *out)
{
    *out = fallback;
    const char *v = env_value(name, false);
    if (!v)
        return AIDEV_ENV_UNSET;
    uint64_t n;
    bool overflow;
    const char *end = parse_digits(v, &n, &overflow);
    char used[64];
    snprintf(used, sizeof used, "using the default, %u", fallback);
    if (!end || *end) {
        env_report(name, v, used, "not a whole number (digits only, from %u to %u)", min, max);
        return AIDEV_ENV_BAD;
    }
    if (n < min) {
        env_report(name, v, used, "below the least value, %u", min);
        return AIDEV_ENV_BAD;
    }
    if (overflow || n > max) {
        snprintf(used, sizeof used, "using %u", max);
        env_report(name, v, used, "more than %u (%s)", max, cap_reason);
        *out = max;
        return AIDEV_ENV_BAD;
    }
    *out = (uint32_t)n;
    return AIDEV_ENV_TAKEN;
}

/* "65536", "512M", "2G", "2GB", "2GiB": false when anything else, or past
 * 2^64-1 bytes. */
static bool parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    bool overflow;
    const char *end = parse_digits(s, &v, &overflow);
    if (!end || overflow)
        return false;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: break;
    }
    if (shift) {
        end++;
        if (*end == 'i')
            end++;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end || (shift && v > (UINT64_MAX >> shift)))
        return false;
    *out = v << shift;
    return true;
}

static int flag_of(const char *v)
{
    static const char *const on[] = {"1", "on", "yes", "true"};
    static const char *const off[] = {"0", "off", "no", "false"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, on[i]) == 0)
            return 1;
        if (strcasecmp(v, off[i]) == 0)
            return 0;
    }
    return -1;
}

aidev_env_result aidev_env_flag(const char *name, bool trusted, bool fallback, bool *out)
{
    *out = fallback;
    const char *v = env_value(name, trusted);
    if (!v)
        return AIDEV_ENV_UNSET;
    int f = flag_of(v);
    if (f < 0) {
        env_report(name, v, fallback ? "using the default, on" : "using the default, off",
                   "not a switch (1, on, yes, true or 0, off, no, false)");
        return AIDEV_ENV_BAD;
    }
    *out = f == 1;
    return AIDEV_ENV_TAKEN;
}

aidev_env_result aidev_env_choice(const char *name, const char *const *names, const int *values,
                                  uint32_t count, int fallback, const char *fallback_name,
                                  int *out)
{
    *out = fallback;
    const char *v = env_value(name, false);
    if (!v)
        return AIDEV_ENV_UNSET;
    char list[256] = "";
    size_t len = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (strcmp(v, names[i]) == 0) {
            *out = values[i];
            return AIDEV_ENV_TAKEN;
        }
        int n = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
        if (n > 0 && (size_t)n < sizeof list - len)
            len += (size_t)n;
    }
    char used[96];
    snprintf(used, sizeof used, "using the default, %s", fallback_name);
    env_report(name, v, used, "not one of: %s", list);
    return AIDEV_ENV_BAD;
}

/* ------------------------------------------------------------------------ */
/* libaidev's own variables                                                 */
/* ------------------------------------------------------------------------ */

aidev_env_result aidev_env_mem_limit(uint64_t *out)
{
    *out = 0;
    const char *v = env_value("AIDEV_MEM_LIMIT", false);
    if (!v)
        return AIDEV_ENV_UNSET;
    if (parse_size(v, out))
        return AIDEV_ENV_TAKEN;
    static const char what[] =
        "not a size in bytes (digits with an optional K, M, G or T: 65536, 512M, 2G; 0 for no "
        "limit; no sign)";
    env_report("AIDEV_MEM_LIMIT", v, "context creation fails", "%s", what);
    aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "AIDEV_MEM_LIMIT='%s' is %s", v, what);
    return AIDEV_ENV_BAD;
}

aidev_env_result aidev_env_zero_on_free(bool *out)
{
    *out = false;
    const char *v = env_value("AIDEV_ZERO_ON_FREE", false);
    if (!v)
        return AIDEV_ENV_UNSET;
    int f = flag_of(v);
    if (f >= 0) {
        *out = f == 1;
        return AIDEV_ENV_TAKEN;
    }
    env_report("AIDEV_ZERO_ON_FREE", v, "context creation fails",
               "not a switch (1, on, yes, true or 0, off, no, false)");
    aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "AIDEV_ZERO_ON_FREE='%s': use 1 or 0", v);
    return AIDEV_ENV_BAD;
}

aidev_env_hugepages aidev_env_huge_pages(void)
{
    static const char *const names[] = {"auto", "thp", "off", "0", "never"};
    static const int values[] = {AIDEV_HUGEPAGES_AUTO, AIDEV_HUGEPAGES_THP_ONLY,
                                 AIDEV_HUGEPAGES_OFF, AIDEV_HUGEPAGES_OFF, AIDEV_HUGEPAGES_OFF};
    int policy;
    aidev_env_choice("AIDEV_HUGEPAGES", names, values, 5, AIDEV_HUGEPAGES_AUTO, "auto", &policy);
    return (aidev_env_hugepages)policy;
}

bool aidev_env_io_engine_pread(void)
{
    static const char *const names[] = {"io_uring", "pread"};
    static const int values[] = {0, 1};
    int pread_engine;
    aidev_env_choice("AIDEV_IO_ENGINE", names, values, 2, 0, "io_uring", &pread_engine);
    return pread_engine == 1;
}

bool aidev_env_cpu_int8_auto(void)
{
    static const char *const names[] = {"auto", "aidev"};
    static const int values[] = {1, 0};
    int automatic;
    aidev_env_choice("AIDEV_CPU_INT8", names, values, 2, 1, "auto", &automatic);
    return automatic == 1;
}

aidev_codec aidev_env_codec(void)
{
    /* Only the codecs of this build are names the parser takes: asking for
     * one that is not here is refused and reported, not silently ignored. */
    const char *names[3];
    int values[3];
    uint32_t n = 0;
    static const aidev_codec order[] = {AIDEV_CODEC_LZ4, AIDEV_CODEC_ZSTD, AIDEV_CODEC_OFF};
    for (uint32_t i = 0; i < 3; i++) {
        if (!aidev_codec_available(order[i]))
            continue;
        names[n] = aidev_codec_name(order[i]);
        values[n++] = (int)order[i];
    }
    int codec;
    aidev_env_choice("AIDEV_COMPRESS", names, values, n, values[0], names[0], &codec);
    return (aidev_codec)codec;
}

void aidev_env_check_library(void)
{
    uint64_t limit;
    bool zero;
    aidev_env_mem_limit(&limit);
    aidev_env_zero_on_free(&zero);
    aidev_env_huge_pages();
    aidev_env_io_engine_pread();
    aidev_env_cpu_int8_auto();
    aidev_env_codec();
}

/* ------------------------------------------------------------------------ */
/* Public calls                                                             */
/* ------------------------------------------------------------------------ */

AIDEV_API aidev_status aidev_environment_get_reports(uint32_t *count,
                                                     aidev_environment_report *out_reports)
{
    aidev_error_clear();
    if (!count)
        return aidev_error(AIDEV_ERROR_INVALID_ARGUMENT, "count: NULL");
    aidev_env_check_library();
    aidev_error_clear(); /* the checks' messages are the reports' */
    pthread_mutex_lock(&reports_lock);
    if (!out_reports) {
        *count = report_count;
    } else {
        uint32_t n = *count < report_count ? *count : report_count;
        for (uint32_t i = 0; i < n; i++)
            out_reports[i] = (aidev_environment_report){.name = reports[i].name,
                                                        .value = reports[i].value,
                                                        .problem = reports[i].problem,
                                                        .used = reports[i].used};
        *count = n;
    }
    pthread_mutex_unlock(&reports_lock);
    return AIDEV_SUCCESS;
}

AIDEV_API bool aidev_backend_env_u32(const char *name, uint32_t min, uint32_t max,
                                     const char *cap_reason, uint32_t fallback, uint32_t *out)
{
    return aidev_env_u32(name, min, max, cap_reason, fallback, out) == AIDEV_ENV_TAKEN;
}

AIDEV_API bool aidev_backend_env_flag(const char *name, bool fallback, bool *out)
{
    return aidev_env_flag(name, false, fallback, out) == AIDEV_ENV_TAKEN;
}

AIDEV_API bool aidev_backend_env_choice(const char *name, const char *const *names,
                                        const int *values, uint32_t count, int fallback,
                                        const char *fallback_name, int *out)
{
    return aidev_env_choice(name, names, values, count, fallback, fallback_name, out) ==
           AIDEV_ENV_TAKEN;
}
