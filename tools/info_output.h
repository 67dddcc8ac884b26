/*
 * info_output.h - the two faces of aidev-info: text for people (info_print.c)
 * and one JSON document for scripts (info_json.c, schema in
 * tools/aidev-info.schema.json).
 */
#ifndef AIDEV_TOOLS_INFO_OUTPUT_H
#define AIDEV_TOOLS_INFO_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include "tools/info_model.h"
#include "tools/info_selftest.h"

/* The version of the JSON document's layout: raised when a key changes
 * meaning or goes away (keys are only ever added within one version). */
#define INFO_JSON_SCHEMA_VERSION 1

typedef struct info_options {
    bool verbose;
    /* Show only this device (-d N); -1 for all. */
    long device;
} info_options;

/* Text: the backends, devices and hardware tables; with |verbose| every
 * property of every device; with a device chosen, that device alone. */
void info_print_text(const info_model *m, const info_options *o, FILE *out);

/* Text of the self-test: a heading, then one line per device as it ends. */
void info_print_selftest_header(FILE *out);
void info_print_selftest_row(const info_device *d, const info_selftest *r, FILE *out);
void info_print_selftest_summary(uint32_t passed, uint32_t total, FILE *out);

/* JSON: the whole model as one document on |out|; |selftest| (NULL when
 * not run) holds one result per device of |m| (unused for devices the
 * options leave out). Returns false when JSON output is not built in or
 * out of memory, with a message on stderr. */
bool info_print_json(const info_model *m, const info_options *o, const info_selftest *selftest,
                     FILE *out);

#endif
