/*
 * info_text.h - plain-text layout for aidev-info: display widths, truncation,
 * wrapping, colour, and aligned tables that never pass the line limit.
 *
 * Every string that reaches the terminal goes through here first, so text a
 * driver or plugin hands over (a device name, a dlopen message) can neither
 * break the layout nor carry escape sequences to the terminal: control
 * characters and invalid UTF-8 come out as '?'.
 */
#ifndef AIDEV_TOOLS_INFO_TEXT_H
#define AIDEV_TOOLS_INFO_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* No line aidev-info prints is wider than this many columns. */
#define TEXT_LINE_LIMIT 100

/* Columns the display of |s| takes, counting wide (CJK, emoji) code points as
 * two, combining marks as zero and anything unprintable as the one '?' it
 * is shown as. */
size_t text_cols(const char *s);

/* Writes into |out| (|out_size| bytes) a printable copy of |s|: control
 * characters and invalid UTF-8 replaced by '?'. Returns |out|. */
char *text_sanitize(const char *s, char *out, size_t out_size);

/* A copy of |s| (malloc'd; NULL when out of memory) that is valid UTF-8:
 * each invalid byte becomes U+FFFD. Control characters stay, for formats
 * that escape them (JSON). */
char *text_utf8_clean(const char *s);

/* Writes into |out| a printable copy of |s| that takes at most |cols| columns:
 * when it does not fit it is cut at a character boundary and ends with "...".
 * Returns |out|. */
char *text_fit(const char *s, size_t cols, char *out, size_t out_size);

/* Splits the printable copy of |s| into lines of at most |cols| columns,
 * breaking after a space, '/', ',' or ':' where one lies in the last two
 * thirds of the line, and anywhere otherwise. Calls |fn| once per line (at
 * least once, with "" for an empty |s|). Returns the number of lines. */
typedef void (*text_line_fn)(const char *line, void *user);
size_t text_wrap(const char *s, size_t cols, text_line_fn fn, void *user);

/* Colour. Off until text_color_enable(true); the caller decides (aidev-info:
 * only when stdout is a terminal and NO_COLOR is unset or empty). */
typedef enum text_style {
    TEXT_PLAIN = 0,
    TEXT_BOLD,
    TEXT_GOOD, /* loaded, pass */
    TEXT_WARN, /* skipped */
    TEXT_BAD,  /* failed */
    TEXT_DIM,  /* reasons, notes */
} text_style;

void text_color_enable(bool on);
bool text_color_enabled(void);
/* Should colour be on for |stream|, given the environment? */
bool text_color_wanted(FILE *stream);

/* Prints |s| (already printable) in |style|, then pads with spaces up to
 * |width| columns (0: no padding). */
void text_put(FILE *out, text_style style, const char *s, size_t width);

/* Prints "|indent| spaces, then the text" wrapped to the line limit, with
 * continuation lines indented by |indent| too. */
void text_para(FILE *out, size_t indent, text_style style, const char *s);

/* Like text_para, with the first line indented by |first_indent| and the
 * others by |indent|. */
void text_hang(FILE *out, size_t first_indent, size_t indent, text_style style, const char *s);

/* Prints a "key  value" line: |key| padded to |key_cols| after |indent|
 * spaces, the value wrapped under itself. */
void text_kv(FILE *out, size_t indent, size_t key_cols, const char *key, const char *value);

/* ------------------------------------------------------------------------ */
/* Aligned tables                                                           */
/* ------------------------------------------------------------------------ */

#define TEXT_TABLE_MAX_COLS 8

/* A table of up to TEXT_TABLE_MAX_COLS columns, printed with a header line,
 * two spaces of indent and two between columns. Every column but the last is
 * as wide as its widest cell, capped at its |max_cols| (longer cells are cut
 * with "..."); the last column takes what is left of the line limit and is
 * cut or, when |last_wraps|, wrapped. A row may carry notes: lines printed
 * under it, starting at the last column, wrapped. */
typedef struct text_table {
    size_t ncols;
    const char *headers[TEXT_TABLE_MAX_COLS];
    size_t max_cols[TEXT_TABLE_MAX_COLS];
    bool last_wraps;
    size_t nrows, cap;
    struct text_row *rows;
} text_table;

void text_table_init(text_table *t, size_t ncols, const char *const *headers,
                     const size_t *max_cols, bool last_wraps);
/* Adds a row of |t->ncols| cells (copied) with their styles (NULL: plain).
 * Returns false when out of memory. */
bool text_table_add(text_table *t, const char *const *cells, const text_style *styles);
/* Adds a note under the last row (copied). */
bool text_table_note(text_table *t, text_style style, const char *note);
void text_table_print(const text_table *t, FILE *out);
void text_table_free(text_table *t);

#endif
