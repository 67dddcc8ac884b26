/*
 * info_text.c - display widths, truncation, wrapping, colour and tables.
 *
 * Widths are computed from the UTF-8 itself rather than from the locale, so
 * the layout is the same in a C locale, a UTF-8 locale and a pipe.
 */
#include "tools/info_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* UTF-8 and widths                                                         */
/* ------------------------------------------------------------------------ */

/* Decodes the code point at |s|. Returns the bytes it takes (at least 1 for a
 * non-empty string) and stores it in |*cp|, or -1 for an invalid sequence
 * (then 1 byte is consumed). */
static size_t utf8_decode(const unsigned char *s, int32_t *cp)
{
    static const int32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len;
    int32_t v;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        len = 2, v = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, v = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, v = s[0] & 0x07;
    } else {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) { /* also stops at the terminating NUL */
            *cp = -1;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min_for_len[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        *cp = -1;
        return 1;
    }
    *cp = v;
    return len;
}

/* Code points that must not reach a terminal as they are: controls, and the
 * invisible ones that reorder or hide text (bidirectional overrides,
 * zero-width characters), which would make the width we count a lie. */
static bool printable(int32_t cp)
{
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
        return false;
    if ((cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
        (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff)
        return false;
    return true;
}

static size_t cp_width(int32_t cp)
{
    static const int32_t zero[][2] = {
        {0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x0610, 0x061a},
        {0x064b, 0x065f}, {0x1ab0, 0x1aff}, {0x1dc0, 0x1dff}, {0x20d0, 0x20ff},
        {0xfe00, 0xfe0f}, {0xfe20, 0xfe2f},
    };
    static const int32_t wide[][2] = {
        {0x1100, 0x115f},   {0x2e80, 0x303e},   {0x3041, 0x33ff},   {0x3400, 0x4dbf},
        {0x4e00, 0x9fff},   {0xa000, 0xa4cf},   {0xac00, 0xd7a3},   {0xf900, 0xfaff},
        {0xfe30, 0xfe4f},   {0xff00, 0xff60},   {0xffe0, 0xffe6},   {0x1f300, 0x1f64f},
        {0x1f900, 0x1f9ff}, {0x20000, 0x2fffd}, {0x30000, 0x3fffd},
    };
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
        if (cp >= zero[i][0] && cp <= zero[i][1])
            return 0;
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (cp >= wide[i][0] && cp <= wide[i][1])
            return 2;
    return 1;
}

/* One displayed character of |s|: its bytes in the source, the bytes and
 * width it is shown with ('?' for anything unprintable). */
typedef struct glyph {
    size_t src_len;
    const char *bytes;
    size_t len;
    size_t width;
} glyph;

static glyph next_glyph(const char *s)
{
    int32_t cp;
    glyph g;
    g.src_len = utf8_decode((const unsigned char *)s, &cp);
    if (cp < 0 || !printable(cp)) {
        g.bytes = "?", g.len = 1, g.width = 1;
    } else {
        g.bytes = s, g.len = g.src_len, g.width = cp_width(cp);
    }
    return g;
}

size_t text_cols(const char *s)
{
    size_t cols = 0;
    while (s && *s) {
        glyph g = next_glyph(s);
        cols += g.width;
        s += g.src_len;
    }
    return cols;
}

/* Copies printable glyphs of |s| into |out| while they fit in |max_cols|
 * columns and |out_size| bytes; returns the bytes of |s| consumed. */
static size_t copy_glyphs(const char *s, size_t max_cols, char *out, size_t out_size,
                          size_t *out_len, size_t *out_cols)
{
    size_t used = 0, len = 0, cols = 0;
    while (s[used]) {
        glyph g = next_glyph(s + used);
        if (cols + g.width > max_cols || len + g.len + 1 > out_size)
            break;
        memcpy(out + len, g.bytes, g.len);
        len += g.len;
        cols += g.width;
        used += g.src_len;
    }
    if (out_size)
        out[len] = '\0';
    *out_len = len;
    if (out_cols)
        *out_cols = cols;
    return used;
}

char *text_sanitize(const char *s, char *out, size_t out_size)
{
    size_t len;
    copy_glyphs(s ? s : "", SIZE_MAX, out, out_size, &len, NULL);
    return out;
}

char *text_utf8_clean(const char *s)
{
    s = s ? s : "";
    /* An invalid byte (1) becomes 3 bytes: at most triple the size. */
    char *out = malloc(3 * strlen(s) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    while (*s) {
        int32_t cp;
        size_t len = utf8_decode((const unsigned char *)s, &cp);
        if (cp < 0) {
            memcpy(out + n, "\xef\xbf\xbd", 3);
            n += 3;
        } else {
            memcpy(out + n, s, len);
            n += len;
        }
        s += len;
    }
    out[n] = '\0';
    return out;
}

char *text_fit(const char *s, size_t cols, char *out, size_t out_size)
{
    size_t len;
    s = s ? s : "";
    if (text_cols(s) <= cols) {
        copy_glyphs(s, cols, out, out_size, &len, NULL);
        return out;
    }
    if (cols < 4) {
        copy_glyphs(s, cols, out, out_size, &len, NULL);
        return out;
    }
    copy_glyphs(s, cols - 3, out, out_size > 3 ? out_size - 3 : 0, &len, NULL);
    /* Drop a space the cut left dangling before the dots. */
    while (len && out[len - 1] == ' ')
        len--;
    if (len + 4 <= out_size)
        memcpy(out + len, "...", 4);
    return out;
}

static bool is_break_after(char c)
{
    return c == ' ' || c == '/' || c == ',' || c == ':';
}

size_t text_wrap(const char *s, size_t cols, text_line_fn fn, void *user)
{
    s = s ? s : "";
    if (cols == 0)
        cols = 1;
    size_t size = strlen(s) + 1;
    char *clean = malloc(size);
    if (!clean) {
        fn("(out of memory)", user);
        return 1;
    }
    text_sanitize(s, clean, size);

    size_t lines = 0;
    char *p = clean;
    do {
        /* The longest prefix that fits, and the last good break inside it. */
        size_t at = 0, width = 0, brk = 0;
        while (p[at]) {
            glyph g = next_glyph(p + at);
            if (width + g.width > cols)
                break;
            at += g.src_len;
            width += g.width;
            if (is_break_after(p[at - 1]) && width * 3 >= cols)
                brk = at;
        }
        size_t end = at, next = at;
        if (p[at] && p[at] != ' ' && brk)
            end = next = brk;
        while (end && p[end - 1] == ' ')
            end--;
        if (end == 0 && p[at]) /* a glyph wider than the line: show it anyway */
            end = next = next_glyph(p).src_len;
        char saved = p[end];
        p[end] = '\0';
        fn(p, user);
        p[end] = saved;
        lines++;
        p += next;
        while (*p == ' ')
            p++;
    } while (*p);
    free(clean);
    return lines;
}

/* ------------------------------------------------------------------------ */
/* Colour                                                                   */
/* ------------------------------------------------------------------------ */

static bool color_on;

void text_color_enable(bool on)
{
    color_on = on;
}

bool text_color_enabled(void)
{
    return color_on;
}

bool text_color_wanted(FILE *stream)
{
    /* https://no-color.org: present and not empty turns colour off. */
    const char *no_color = getenv("NO_COLOR");
    if (no_color && *no_color)
        return false;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0)
        return false;
    return isatty(fileno(stream)) == 1;
}

static const char *sgr(text_style style)
{
    switch (style) {
    case TEXT_BOLD:
        return "\033[1m";
    case TEXT_GOOD:
        return "\033[32m";
    case TEXT_WARN:
        return "\033[33m";
    case TEXT_BAD:
        return "\033[1;31m";
    case TEXT_DIM:
        return "\033[2m";
    case TEXT_PLAIN:
        break;
    }
    return "";
}

void text_put(FILE *out, text_style style, const char *s, size_t width)
{
    bool styled = color_on && style != TEXT_PLAIN && *s;
    if (styled)
        fputs(sgr(style), out);
    fputs(s, out);
    if (styled)
        fputs("\033[0m", out);
    for (size_t c = text_cols(s); c < width; c++)
        fputc(' ', out);
}

typedef struct para_ctx {
    FILE *out;
    size_t first_indent, indent;
    text_style style;
    size_t n;
} para_ctx;

static void para_line(const char *line, void *user)
{
    para_ctx *c = user;
    fprintf(c->out, "%*s", (int)(c->n++ ? c->indent : c->first_indent), "");
    text_put(c->out, c->style, line, 0);
    fputc('\n', c->out);
}

void text_para(FILE *out, size_t indent, text_style style, const char *s)
{
    para_ctx c = {out, indent, indent, style, 0};
    text_wrap(s, TEXT_LINE_LIMIT - indent, para_line, &c);
}

void text_hang(FILE *out, size_t first_indent, size_t indent, text_style style, const char *s)
{
    size_t wider = first_indent > indent ? first_indent : indent;
    para_ctx c = {out, first_indent, indent, style, 0};
    text_wrap(s, TEXT_LINE_LIMIT - wider, para_line, &c);
}

void text_kv(FILE *out, size_t indent, size_t key_cols, const char *key, const char *value)
{
    char k[128];
    text_fit(key, key_cols, k, sizeof k);
    fprintf(out, "%*s", (int)indent, "");
    text_put(out, TEXT_PLAIN, k, key_cols + 2);
    para_ctx c = {out, 0, indent + key_cols + 2, TEXT_PLAIN, 0};
    text_wrap(value, TEXT_LINE_LIMIT - c.indent, para_line, &c);
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */
/* ------------------------------------------------------------------------ */

struct text_row {
    char *cells[TEXT_TABLE_MAX_COLS];
    text_style styles[TEXT_TABLE_MAX_COLS];
    char **notes;
    text_style *note_styles;
    size_t nnotes;
};

#define TABLE_INDENT 2
#define TABLE_GAP 2
/* The last column never gets narrower than this, whatever the others want. */
#define TABLE_MIN_LAST 16

void text_table_init(text_table *t, size_t ncols, const char *const *headers,
                     const size_t *max_cols, bool last_wraps)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols > TEXT_TABLE_MAX_COLS ? TEXT_TABLE_MAX_COLS : ncols;
    for (size_t c = 0; c < t->ncols; c++) {
        t->headers[c] = headers[c];
        t->max_cols[c] = max_cols ? max_cols[c] : 0;
    }
    t->last_wraps = last_wraps;
}

static char *sanitized_copy(const char *s)
{
    s = s ? s : "";
    size_t size = strlen(s) + 1;
    char *out = malloc(size);
    return out ? text_sanitize(s, out, size) : NULL;
}

bool text_table_add(text_table *t, const char *const *cells, const text_style *styles)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        struct text_row *rows = realloc(t->rows, cap * sizeof *rows);
        if (!rows)
            return false;
        t->rows = rows;
        t->cap = cap;
    }
    struct text_row *r = &t->rows[t->nrows];
    memset(r, 0, sizeof *r);
    for (size_t c = 0; c < t->ncols; c++) {
        r->cells[c] = sanitized_copy(cells[c]);
        r->styles[c] = styles ? styles[c] : TEXT_PLAIN;
        if (!r->cells[c]) {
            for (size_t k = 0; k < c; k++)
                free(r->cells[k]);
            return false;
        }
    }
    t->nrows++;
    return true;
}

bool text_table_note(text_table *t, text_style style, const char *note)
{
    if (!t->nrows)
        return false;
    struct text_row *r = &t->rows[t->nrows - 1];
    char **notes = realloc(r->notes, (r->nnotes + 1) * sizeof *notes);
    if (!notes)
        return false;
    r->notes = notes;
    text_style *styles = realloc(r->note_styles, (r->nnotes + 1) * sizeof *styles);
    if (!styles)
        return false;
    r->note_styles = styles;
    char *copy = sanitized_copy(note);
    if (!copy)
        return false;
    r->notes[r->nnotes] = copy;
    r->note_styles[r->nnotes++] = style;
    return true;
}

/* Widths of every column; returns the column the last one starts at. */
static size_t column_widths(const text_table *t, size_t *w)
{
    size_t last = t->ncols - 1;
    for (size_t c = 0; c < last; c++) {
        w[c] = text_cols(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t n = text_cols(t->rows[r].cells[c]);
            w[c] = n > w[c] ? n : w[c];
        }
        if (t->max_cols[c] && w[c] > t->max_cols[c])
            w[c] = t->max_cols[c];
    }
    size_t start;
    for (;;) {
        start = TABLE_INDENT;
        size_t widest = 0;
        for (size_t c = 0; c < last; c++) {
            start += w[c] + TABLE_GAP;
            widest = w[c] > w[widest] ? c : widest;
        }
        if (start + TABLE_MIN_LAST <= TEXT_LINE_LIMIT || last == 0 || w[widest] <= 4)
            break;
        w[widest]--;
    }
    w[last] = TEXT_LINE_LIMIT > start ? TEXT_LINE_LIMIT - start : 1;
    return start;
}

/* Prints the line |buf| holds without the spaces padding left at its end. */
static void put_trimmed(FILE *out, char *buf, size_t len)
{
    while (len && buf[len - 1] == ' ')
        len--;
    fwrite(buf, 1, len, out);
    fputc('\n', out);
}

typedef struct row_ctx {
    FILE *out;
    size_t start;
    text_style style;
    size_t n;
    char *prefix;      /* the row's first columns, for its first line */
    size_t prefix_len;
} row_ctx;

static void row_line(const char *line, void *user)
{
    row_ctx *c = user;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return;
    if (c->n++ == 0 && c->prefix)
        fwrite(c->prefix, 1, c->prefix_len, m);
    else
        fprintf(m, "%*s", (int)c->start, "");
    text_put(m, c->style, line, 0);
    fclose(m);
    put_trimmed(c->out, buf, len);
    free(buf);
}

static void print_cells(const text_table *t, FILE *out, const char *const *cells,
                        const text_style *styles, const size_t *w, size_t start)
{
    size_t last = t->ncols - 1;
    char *prefix = NULL;
    size_t prefix_len = 0;
    FILE *m = open_memstream(&prefix, &prefix_len);
    if (!m)
        return;
    fprintf(m, "%*s", TABLE_INDENT, "");
    for (size_t c = 0; c < last; c++) {
        char cell[1024];
        text_fit(cells[c], w[c], cell, sizeof cell);
        text_put(m, styles[c], cell, w[c] + TABLE_GAP);
    }
    fclose(m);
    row_ctx rc = {out, start, styles[last], 0, prefix, prefix_len};
    if (t->last_wraps) {
        text_wrap(cells[last], w[last], row_line, &rc);
    } else {
        char cell[1024];
        row_line(text_fit(cells[last], w[last], cell, sizeof cell), &rc);
    }
    free(prefix);
}

void text_table_print(const text_table *t, FILE *out)
{
    if (t->ncols == 0)
        return;
    size_t w[TEXT_TABLE_MAX_COLS];
    size_t start = column_widths(t, w);
    text_style bold[TEXT_TABLE_MAX_COLS];
    for (size_t c = 0; c < t->ncols; c++)
        bold[c] = TEXT_BOLD;
    print_cells(t, out, t->headers, bold, w, start);
    for (size_t r = 0; r < t->nrows; r++) {
        const struct text_row *row = &t->rows[r];
        print_cells(t, out, (const char *const *)row->cells, row->styles, w, start);
        for (size_t n = 0; n < row->nnotes; n++) {
            row_ctx rc = {out, start, row->note_styles[n], 0, NULL, 0};
            text_wrap(row->notes[n], w[t->ncols - 1], row_line, &rc);
        }
    }
}

void text_table_free(text_table *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++)
            free(t->rows[r].cells[c]);
        for (size_t n = 0; n < t->rows[r].nnotes; n++)
            free(t->rows[r].notes[n]);
        free(t->rows[r].notes);
        free(t->rows[r].note_styles);
    }
    free(t->rows);
    memset(t, 0, sizeof *t);
}
