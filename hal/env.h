/*
 * env.h - environment values: one strict parser for every value aidev
 * reads, and a record of the values it could not take as they are.
 *
 * A value is taken only when it is exactly what its kind allows: a whole
 * number is digits and nothing else (no sign, no space, no suffix), a size
 * is digits with an optional K, M, G or T (powers of 1024) and an optional
 * B or iB, a switch is one of 1/on/yes/true or 0/off/no/false, a choice is
 * one of its names. Anything else is reported once on stderr, with what is
 * used instead, and kept for aidev_environment_get_reports() (aidev-info
 * shows it); it is never read as something else. A number above its cap
 * is capped, and reported. An unset or empty variable is the default,
 * silently.
 *
 * libaidev's own variables are read through the named readers at the end,
 * so that aidev_environment_get_reports() can check them all before any is
 * used. Plugins reach the parser through aidev_backend_env_u32() and
 * aidev_backend_env_flag() (aidev_backend.h).
 */
#ifndef AIDEV_HAL_ENV_H
#define AIDEV_HAL_ENV_H

#include <stdbool.h>
#include <stdint.h>

typedef enum aidev_env_result {
    AIDEV_ENV_UNSET = 0, /* unset or empty: |*out| is the fallback */
    AIDEV_ENV_TAKEN = 1, /* taken as it is */
    AIDEV_ENV_BAD = 2,   /* refused or capped, and reported: |*out| is what is used */
} aidev_env_result;

/* A whole number in [min, max]. Above |max| (however far: past 2^64 too)
 * it is capped to |max|, |cap_reason| saying why ("4 per CPU this process
 * may use"); malformed or below |min|, |fallback| is used. */
aidev_env_result aidev_env_u32(const char *name, uint32_t min, uint32_t max,
                               const char *cap_reason, uint32_t fallback, uint32_t *out);

/* A switch, |fallback| when unset or bad. |trusted|: read with
 * secure_getenv (unset in setuid programs). */
aidev_env_result aidev_env_flag(const char *name, bool trusted, bool fallback, bool *out);

/* One of |count| |names|; |*out| is the value at the same index of
 * |values|, else |fallback| (named |fallback_name| in the report). */
aidev_env_result aidev_env_choice(const char *name, const char *const *names, const int *values,
                                  uint32_t count, int fallback, const char *fallback_name,
                                  int *out);

/* libaidev's own variables. */

/* AIDEV_MEM_LIMIT: bytes, 0 when unset. A bad value refuses context
 * creation: AIDEV_ERROR_INVALID_ARGUMENT with the message set. */
aidev_env_result aidev_env_mem_limit(uint64_t *out);
/* AIDEV_ZERO_ON_FREE: a bad value refuses context creation (a misspelt
 * request to scrub must not pass as "no"), with the message set. */
aidev_env_result aidev_env_zero_on_free(bool *out);
/* AIDEV_HUGEPAGES: auto (default), thp, off. */
typedef enum aidev_env_hugepages {
    AIDEV_HUGEPAGES_AUTO,
    AIDEV_HUGEPAGES_THP_ONLY,
    AIDEV_HUGEPAGES_OFF,
} aidev_env_hugepages;
aidev_env_hugepages aidev_env_huge_pages(void);
/* AIDEV_IO_ENGINE: true for pread, false for io_uring (the default). */
bool aidev_env_io_engine_pread(void);
/* AIDEV_CPU_INT8: false for aidev (the CPU matmul_i8's own loops), true
 * for auto (the default: oneDNN where it is exact; issue 18). */
bool aidev_env_cpu_int8_auto(void);

/* Checks every variable above (the call behind aidev_environment_get_reports). */
void aidev_env_check_library(void);

#endif
