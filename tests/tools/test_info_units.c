/*
 * test_info_units.c - the parts of aidev-info that need no device: text
 * widths, cutting and wrapping, tables that stay within 100 columns, PCI
 * addresses, UUIDs, and grouping devices and DRM nodes into hardware.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tools/info_hw.h"
#include "tools/info_text.h"

/* ------------------------------------------------------------------------ */
/* Text                                                                     */
/* ------------------------------------------------------------------------ */

START_TEST(cols_count_display_columns)
{
    ck_assert_uint_eq(text_cols(""), 0);
    ck_assert_uint_eq(text_cols("abc"), 3);
    ck_assert_uint_eq(text_cols("caf\xc3\xa9"), 4);          /* é: one column */
    ck_assert_uint_eq(text_cols("\xe5\xad\x97"), 2);         /* 字: wide */
    ck_assert_uint_eq(text_cols("e\xcc\x81"), 1);            /* e + combining acute */
    ck_assert_uint_eq(text_cols("a\033[31mb"), 7);           /* ESC shows as '?' */
    ck_assert_uint_eq(text_cols("a\xff" "b"), 3);            /* invalid byte: '?' */
    ck_assert_uint_eq(text_cols("\xc3"), 1);                 /* truncated sequence */
    ck_assert_uint_eq(text_cols("\xc0\xaf"), 2);             /* overlong '/': 2 x '?' */
}
END_TEST

START_TEST(sanitize_removes_what_a_terminal_obeys)
{
    char out[128];
    ck_assert_str_eq(text_sanitize("ok \033[2J\tend", out, sizeof out), "ok ?[2J?end");
    ck_assert_str_eq(text_sanitize("bad\xff", out, sizeof out), "bad?");
    /* A right-to-left override would make the text lie about itself. */
    ck_assert_str_eq(text_sanitize("a\xe2\x80\xae" "b", out, sizeof out), "a?b");
    /* C1 control (U+009B, a one-byte CSI on some terminals). */
    ck_assert_str_eq(text_sanitize("a\xc2\x9b" "b", out, sizeof out), "a?b");
    ck_assert_str_eq(text_sanitize("caf\xc3\xa9", out, sizeof out), "caf\xc3\xa9");
    /* A small buffer never gets half a character. */
    ck_assert_str_eq(text_sanitize("ab\xc3\xa9", out, 4), "ab");
    ck_assert_str_eq(text_sanitize(NULL, out, sizeof out), "");
}
END_TEST

START_TEST(utf8_clean_keeps_controls_replaces_invalid)
{
    char *s = text_utf8_clean("a\tb\xff" "c\xc3\xa9");
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "a\tb\xef\xbf\xbd" "c\xc3\xa9");
    free(s);
}
END_TEST

START_TEST(fit_cuts_with_dots_at_character_boundaries)
{
    char out[256];
    ck_assert_str_eq(text_fit("short", 10, out, sizeof out), "short");
    ck_assert_str_eq(text_fit("exactly10!", 10, out, sizeof out), "exactly10!");
    ck_assert_str_eq(text_fit("eleven cols", 10, out, sizeof out), "eleven...");
    ck_assert_uint_le(text_cols(out), 10);
    /* Cutting inside multibyte characters keeps the string valid. */
    text_fit("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 5, out, sizeof out);
    ck_assert_str_eq(out, "\xc3\xa9\xc3\xa9...");
    /* A wide character that would straddle the limit is left out whole. */
    text_fit("ab\xe5\xad\x97\xe5\xad\x97\xe5\xad\x97", 6, out, sizeof out);
    ck_assert_str_eq(out, "ab...");
    ck_assert_uint_le(text_cols(out), 6);
}
END_TEST

typedef struct lines {
    char text[64][128];
    size_t n;
} lines;

static void collect(const char *line, void *user)
{
    lines *l = user;
    ck_assert_uint_lt(l->n, 64);
    snprintf(l->text[l->n++], sizeof l->text[0], "%s", line);
}

START_TEST(wrap_breaks_at_spaces_and_slashes)
{
    lines l = {0};
    size_t n = text_wrap("the quick brown fox jumps over the lazy dog", 15, collect, &l);
    ck_assert_uint_eq(n, l.n);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.text[0], "the quick brown");
    ck_assert_str_eq(l.text[1], "fox jumps over");
    ck_assert_str_eq(l.text[2], "the lazy dog");

    memset(&l, 0, sizeof l);
    text_wrap("/usr/lib/x86_64-linux-gnu/aidev/backends/libaidev-backend-opencl.so", 30,
              collect, &l);
    for (size_t i = 0; i < l.n; i++)
        ck_assert_uint_le(text_cols(l.text[i]), 30);
    ck_assert_str_eq(l.text[0], "/usr/lib/x86_64-linux-gnu/");

    /* One word longer than the line: cut anywhere, nothing lost. */
    memset(&l, 0, sizeof l);
    text_wrap("abcdefghijklmnopqrstuvwxyz", 10, collect, &l);
    ck_assert_uint_eq(l.n, 3);
    ck_assert_str_eq(l.text[2], "uvwxyz");

    memset(&l, 0, sizeof l);
    ck_assert_uint_eq(text_wrap("", 10, collect, &l), 1);
    ck_assert_str_eq(l.text[0], "");
}
END_TEST

START_TEST(wrap_never_passes_the_width)
{
    /* Every width, over text mixing words, paths, wide characters. */
    const char *s = "dlopen: /tmp/a/very/long/path/libaidev-backend-broken.so: invalid ELF "
                    "header \xe5\xad\x97\xe5\xad\x97 caf\xc3\xa9 \033 and more words";
    for (size_t cols = 2; cols < 90; cols++) {
        lines l = {0};
        text_wrap(s, cols, collect, &l);
        for (size_t i = 0; i < l.n; i++) {
            ck_assert_msg(text_cols(l.text[i]) <= cols, "cols %zu line %zu: '%s'", cols, i,
                          l.text[i]);
            ck_assert_ptr_null(strchr(l.text[i], '\033'));
        }
    }
}
END_TEST

/* Prints |t| into a string and checks the limit on every line. */
static char *print_table(const text_table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(m);
    text_table_print(t, m);
    fclose(m);
    for (char *line = buf, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        *end = '\0';
        ck_assert_msg(text_cols(line) <= TEXT_LINE_LIMIT, "line too wide (%zu): '%s'",
                      text_cols(line), line);
        ck_assert_msg(end == line || end[-1] != ' ', "trailing space: '%s'", line);
        *end = '\n';
    }
    return buf;
}

START_TEST(table_aligns_and_stays_within_the_limit)
{
    static const char *const h[] = {"#", "BACKEND", "NAME"};
    static const size_t max[] = {4, 16, 0};
    text_table t;
    text_table_init(&t, 3, h, max, false);
    const char *r0[] = {"0", "cpu", "AMD EPYC"};
    const char *r1[] = {"1", "a-backend-name-far-too-long", "llvmpipe"};
    char longname[400];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *r2[] = {"2", "vulkan", longname};
    ck_assert(text_table_add(&t, r0, NULL));
    ck_assert(text_table_add(&t, r1, NULL));
    ck_assert(text_table_add(&t, r2, NULL));
    char *out = print_table(&t);
    ck_assert_msg(strstr(out, "  #  BACKEND           NAME\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "  0  cpu               AMD EPYC\n") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "a-backend-nam... ") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "xxx...\n") != NULL, "%s", out);
    free(out);
    text_table_free(&t);
}
END_TEST

START_TEST(table_wraps_last_column_and_notes)
{
    static const char *const h[] = {"NAME", "STATUS", "PATH"};
    text_table t;
    text_table_init(&t, 3, h, NULL, true);
    char path[300];
    snprintf(path, sizeof path, "/tmp/%0200d/libaidev-backend-broken.so", 0);
    const char *r0[] = {"broken", "failed", path};
    ck_assert(text_table_add(&t, r0, NULL));
    ck_assert(text_table_note(&t, TEXT_BAD,
                              "dlopen: invalid ELF header, and a long explanation that must "
                              "wrap under the path column without passing the limit"));
    char *out = print_table(&t);
    /* The whole path is there, over several lines. */
    ck_assert_msg(strstr(out, "libaidev-backend-broken.so") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "invalid ELF header") != NULL, "%s", out);
    size_t nl = 0;
    for (const char *p = out; *p; p++)
        nl += *p == '\n';
    ck_assert_uint_ge(nl, 5);
    free(out);
    text_table_free(&t);
}
END_TEST

START_TEST(colour_only_when_enabled)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    text_color_enable(false);
    text_put(m, TEXT_BAD, "failed", 8);
    text_color_enable(true);
    text_put(m, TEXT_BAD, "failed", 8);
    text_color_enable(false);
    fclose(m);
    ck_assert_str_eq(buf, "failed  \033[1;31mfailed\033[0m  ");
    free(buf);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* PCI addresses and UUIDs                                                  */
/* ------------------------------------------------------------------------ */

static void check_pci(const char *in, const char *want)
{
    info_pci_addr a = info_pci_parse(in);
    char out[32];
    info_pci_format(&a, out, sizeof out);
    ck_assert_msg(strcmp(out, want) == 0, "'%s' parsed as '%s', expected '%s'", in, out, want);
    ck_assert(a.valid == (want[0] != '\0'));
}

START_TEST(pci_addresses_parse_and_normalise)
{
    check_pci("0000:65:00.0", "0000:65:00.0");
    check_pci("65:00.0", "0000:65:00.0");
    check_pci("0000:A5:1F.7", "0000:a5:1f.7");
    check_pci("10000:01:00.0", "10000:01:00.0"); /* VMD domains pass 16 bits */
    check_pci("", "");
    check_pci("65:00", "");
    check_pci("zz:00.0", "");
    check_pci("0000:65:20.0", ""); /* device numbers stop at 0x1f */
    check_pci("0000:65:00.8", ""); /* functions stop at 7 */
    check_pci("0000:65:00.0 ", "");
    check_pci("0000:065:00.0", "");
    check_pci("a:b:c:d.0", "");
    ck_assert(!info_pci_parse(NULL).valid);
    info_pci_addr a = info_pci_parse("65:00.0"), b = info_pci_parse("0000:65:00.0");
    info_pci_addr c = info_pci_parse("0000:65:00.1"), none = {0};
    ck_assert(info_pci_equal(&a, &b));
    ck_assert(!info_pci_equal(&a, &c));
    ck_assert(!info_pci_equal(&none, &none)); /* unknown never matches unknown */
}
END_TEST

START_TEST(uuid_formats_as_8_4_4_4_12)
{
    const uint8_t u[16] = {0x6d, 0x65, 0x73, 0x61, 0x32, 0x32, 0x2e, 0x33,
                           0x2e, 0x36, 0, 0, 0, 0, 0, 0xff};
    char out[40];
    info_uuid_format(u, out, sizeof out);
    ck_assert_str_eq(out, "6d657361-3232-2e33-2e36-0000000000ff");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Hardware grouping                                                        */
/* ------------------------------------------------------------------------ */

static info_hw_ids ids(const char *pci, int uuid_tag)
{
    info_hw_ids d = {0};
    d.pci = info_pci_parse(pci);
    if (uuid_tag) {
        d.has_uuid = true;
        d.uuid[0] = (uint8_t)uuid_tag;
    }
    return d;
}

START_TEST(one_gpu_through_two_backends_is_one_hardware)
{
    info_hw_ids devs[] = {
        ids("0000:65:00.0", 0), /* 0: OpenCL, PCI id only */
        ids("", 7),             /* 1: the CPU backend: no id */
        ids("65:00.0", 9),      /* 2: Vulkan: same PCI, other spelling, and a UUID */
        ids("", 9),             /* 3: a third path, UUID only */
        ids("", 0),             /* 4: nothing to match by */
        ids("0000:03:00.0", 0), /* 5: another GPU */
    };
    info_pci_addr nodes[] = {
        info_pci_parse("0000:65:00.0"), /* its render node */
        info_pci_parse("0000:b3:00.0"), /* a GPU no backend reaches */
        {0},                            /* a platform device */
    };
    info_hw_map m;
    ck_assert(info_hw_build(devs, 6, nodes, 3, &m));
    ck_assert_uint_eq(m.ngroups, 5);
    /* Device 1 has a UUID (tag 7) of its own: a group of one. */
    ck_assert_int_eq(m.device_group[0], 0);
    ck_assert_int_eq(m.device_group[1], 1);
    ck_assert_int_eq(m.device_group[2], 0);
    ck_assert_int_eq(m.device_group[3], 0);
    ck_assert_int_eq(m.device_group[4], -1);
    ck_assert_int_eq(m.device_group[5], 2);
    ck_assert_int_eq(m.node_group[0], 0);
    ck_assert_int_eq(m.node_group[1], 3);
    ck_assert_int_eq(m.node_group[2], 4);

    const info_hw_group *g = &m.groups[0];
    ck_assert_uint_eq(g->ndevices, 3);
    ck_assert_uint_eq(g->devices[0], 0);
    ck_assert_uint_eq(g->devices[1], 2);
    ck_assert_uint_eq(g->devices[2], 3);
    ck_assert_uint_eq(g->nnodes, 1);
    ck_assert_uint_eq(g->nodes[0], 0);
    ck_assert(g->pci.valid && g->has_uuid && g->uuid[0] == 9 && !g->pci_conflict);
    ck_assert(!m.groups[1].pci.valid && m.groups[1].has_uuid);
    ck_assert_uint_eq(m.groups[3].ndevices, 0);
    ck_assert_uint_eq(m.groups[3].nnodes, 1);
    ck_assert(!m.groups[4].pci.valid && !m.groups[4].has_uuid);
    info_hw_free(&m);
}
END_TEST

START_TEST(same_name_is_never_a_match)
{
    /* Two boards of one model: nothing in common but what a name would
     * say; grouping sees ids only, and these differ. */
    info_hw_ids devs[] = {ids("0000:01:00.0", 1), ids("0000:02:00.0", 2)};
    info_hw_map m;
    ck_assert(info_hw_build(devs, 2, NULL, 0, &m));
    ck_assert_uint_eq(m.ngroups, 2);
    ck_assert_int_ne(m.device_group[0], m.device_group[1]);
    info_hw_free(&m);
}
END_TEST

START_TEST(uuid_joins_across_disagreeing_pci_ids)
{
    info_hw_ids devs[] = {ids("0000:01:00.0", 5), ids("0000:02:00.0", 5)};
    info_hw_map m;
    ck_assert(info_hw_build(devs, 2, NULL, 0, &m));
    ck_assert_uint_eq(m.ngroups, 1);
    ck_assert(m.groups[0].pci_conflict);
    info_hw_free(&m);
}
END_TEST

START_TEST(nothing_in_nothing_out)
{
    info_hw_map m;
    ck_assert(info_hw_build(NULL, 0, NULL, 0, &m));
    ck_assert_uint_eq(m.ngroups, 0);
    info_hw_free(&m);
    info_hw_free(&m); /* freeing twice is harmless */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("aidev-info units");
    TCase *text = tcase_create("text");
    tcase_add_test(text, cols_count_display_columns);
    tcase_add_test(text, sanitize_removes_what_a_terminal_obeys);
    tcase_add_test(text, utf8_clean_keeps_controls_replaces_invalid);
    tcase_add_test(text, fit_cuts_with_dots_at_character_boundaries);
    tcase_add_test(text, wrap_breaks_at_spaces_and_slashes);
    tcase_add_test(text, wrap_never_passes_the_width);
    tcase_add_test(text, table_aligns_and_stays_within_the_limit);
    tcase_add_test(text, table_wraps_last_column_and_notes);
    tcase_add_test(text, colour_only_when_enabled);
    suite_add_tcase(s, text);
    TCase *hw = tcase_create("hardware");
    tcase_add_test(hw, pci_addresses_parse_and_normalise);
    tcase_add_test(hw, uuid_formats_as_8_4_4_4_12);
    tcase_add_test(hw, one_gpu_through_two_backends_is_one_hardware);
    tcase_add_test(hw, same_name_is_never_a_match);
    tcase_add_test(hw, uuid_joins_across_disagreeing_pci_ids);
    tcase_add_test(hw, nothing_in_nothing_out);
    suite_add_tcase(s, hw);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
