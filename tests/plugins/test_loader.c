/*
 * test_loader.c - every outcome of loading a plugin. Each case puts plugin
 * files (variants of fake_backend.c, copies of them damaged on purpose,
 * files that are no plugin at all) in fresh folders, points
 * AIDEV_PLUGIN_PATH at them and makes a context. Each checks that the
 * program goes on with the other backends (the CPU device still works) and
 * that the backend report carries the plugin with its reason.
 *
 * Every case runs in its own process (Check's fork mode): the registry and
 * the environment are per process.
 */
#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <ftw.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <aidev/aidev.h>
#include <aidev/aidev_backend.h>

#define ck_assert_ok(expr)                                                                    \
    do {                                                                                      \
        aidev_status st_ = (expr);                                                            \
        ck_assert_msg(st_ == AIDEV_SUCCESS, "%s: %s: %s", #expr, aidev_status_string(st_),    \
                      aidev_last_error());                                                    \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Plugin folders                                                           */
/* ------------------------------------------------------------------------ */

static char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n);
    ck_assert_uint_eq(fread(data, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return data;
}

static void write_file(const char *folder, const char *file, const void *data, size_t size,
                       mode_t mode)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", folder, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_msg(fd >= 0, "cannot create %s", path);
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
    close(fd);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* The built variant's bytes: libaidev-backend-|variant|.so. */
static char *variant_bytes(const char *variant, size_t *size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/libaidev-backend-%s.so", getenv("AIDEV_TEST_PLUGINS"),
             variant);
    return read_all(path, size);
}

/* Copies a built variant into |folder| as libaidev-backend-|as|.so. */
static void put_plugin(const char *folder, const char *variant, const char *as)
{
    size_t size;
    char *data = variant_bytes(variant, &size);
    char file[256];
    snprintf(file, sizeof file, "libaidev-backend-%s.so", as ? as : variant);
    write_file(folder, file, data, size, 0755);
    free(data);
}

static char *new_folder(void)
{
    const char *tmp = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/aidev-loader-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(path));
    return strdup(path);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_folder(char *folder)
{
    chmod(folder, 0700);
    nftw(folder, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(folder);
}

/* ------------------------------------------------------------------------ */
/* Contexts and reports                                                     */
/* ------------------------------------------------------------------------ */

static aidev_context load(const char *plugin_path, const char *backends)
{
    if (plugin_path)
        setenv("AIDEV_PLUGIN_PATH", plugin_path, 1);
    else
        unsetenv("AIDEV_PLUGIN_PATH");
    setenv("AIDEV_BACKENDS", backends, 1);
    aidev_context ctx = NULL;
    ck_assert_ok(aidev_context_create(NULL, &ctx));
    return ctx;
}

static aidev_backend_report reports[64];

static uint32_t get_reports(aidev_context ctx)
{
    uint32_t n = 64;
    ck_assert_ok(aidev_context_get_backends(ctx, &n, reports));
    return n;
}

/* The |nth| (from 0) report of backend |name|; fails the test if none. */
static const aidev_backend_report *report_of(aidev_context ctx, const char *name, int nth)
{
    uint32_t n = get_reports(ctx);
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(reports[i].name, name) == 0 && nth-- == 0)
            return &reports[i];
    ck_abort_msg("no report for backend '%s'", name);
    return NULL;
}

static void expect(aidev_context ctx, const char *name, aidev_backend_state state,
                   const char *needle)
{
    const aidev_backend_report *r = report_of(ctx, name, 0);
    ck_assert_msg(r->state == state, "backend %s: %s (%s), expected %s", name,
                  aidev_backend_state_string(r->state), r->reason,
                  aidev_backend_state_string(state));
    ck_assert_msg(strstr(r->reason, needle) != NULL, "backend %s: reason \"%s\" lacks \"%s\"",
                  name, r->reason, needle);
    ck_assert_msg(r->path[0], "backend %s: no path", name);
    if (state != AIDEV_BACKEND_LOADED)
        ck_assert_uint_eq(r->device_count, 0);
}

/* The device of backend |name| in |ctx|, or NULL. */
static aidev_device device_of(aidev_context ctx, const char *name)
{
    uint32_t n = 0;
    ck_assert_ok(aidev_context_get_devices(ctx, &n, NULL));
    for (uint32_t i = 0; i < n; i++) {
        aidev_device d;
        char backend[64];
        ck_assert_ok(aidev_context_get_device(ctx, i, &d));
        ck_assert_ok(aidev_device_get_info(d, AIDEV_DEVICE_INFO_BACKEND, sizeof backend, backend,
                                           NULL));
        if (strcmp(backend, name) == 0)
            return d;
    }
    return NULL;
}

/* The device moves data and runs a library kernel. */
static void device_works(aidev_device dev)
{
    ck_assert_ptr_nonnull(dev);
    enum { N = 777 };
    float x[N], y[N];
    for (int i = 0; i < N; i++)
        x[i] = (float)i, y[i] = 1.0f;
    aidev_queue q;
    ck_assert_ok(aidev_queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q));
    aidev_buffer_desc desc = {.size = sizeof x, .kind = AIDEV_MEMORY_DEVICE,
                              .element_type = AIDEV_TYPE_F32};
    aidev_buffer bx, by;
    ck_assert_ok(aidev_buffer_create(dev, &desc, &bx));
    ck_assert_ok(aidev_buffer_create(dev, &desc, &by));
    aidev_kernel k;
    ck_assert_ok(aidev_kernel_get(dev, "axpy", &k));
    ck_assert_ok(aidev_enqueue_write(q, bx, 0, sizeof x, x, 0, NULL, NULL));
    ck_assert_ok(aidev_enqueue_write(q, by, 0, sizeof y, y, 0, NULL, NULL));
    aidev_arg args[] = {aidev_arg_u32(N), aidev_arg_f32(3.0f), aidev_arg_buffer(bx, 0),
                        aidev_arg_buffer(by, 0)};
    ck_assert_ok(aidev_enqueue_dispatch(q, k, NULL, NULL, 4, args, 0, NULL, NULL));
    aidev_event done;
    ck_assert_ok(aidev_enqueue_read(q, by, 0, sizeof y, y, 0, NULL, &done));
    ck_assert_ok(aidev_event_wait(done, AIDEV_WAIT_FOREVER));
    for (int i = 0; i < N; i++)
        ck_assert_float_eq(y[i], 3.0f * (float)i + 1.0f);
    aidev_event_release(done);
    aidev_kernel_release(k);
    aidev_buffer_release(bx);
    aidev_buffer_release(by);
    aidev_queue_release(q);
}

/* The program goes on: the built-in CPU backend loaded and works. */
static void cpu_runs_on(aidev_context ctx)
{
    expect(ctx, "cpu", AIDEV_BACKEND_LOADED, "");
    device_works(device_of(ctx, "cpu"));
}

static void release(aidev_context ctx)
{
    ck_assert_ok(aidev_context_release(ctx));
}

/* ------------------------------------------------------------------------ */
/* Cases                                                                    */
/* ------------------------------------------------------------------------ */

START_TEST(folder_missing)
{
    char *a = new_folder();
    put_plugin(a, "fake", NULL);
    char path[8192];
    snprintf(path, sizeof path, "/nonexistent/aidev-plugins:%s", a);
    aidev_context ctx = load(path, "fake,nothere,cpu");
    expect(ctx, "fake", AIDEV_BACKEND_LOADED, "");
    /* A selected backend no folder holds is reported, with what was searched. */
    expect(ctx, "nothere", AIDEV_BACKEND_FAILED, "no libaidev-backend-nothere.so was found");
    expect(ctx, "nothere", AIDEV_BACKEND_FAILED,
           "/nonexistent/aidev-plugins (No such file or directory)");
    expect(ctx, "nothere", AIDEV_BACKEND_FAILED, a);
    /* AIDEV_BACKENDS orders the devices. */
    aidev_device first;
    ck_assert_ok(aidev_context_get_device(ctx, 0, &first));
    ck_assert_ptr_eq(first, device_of(ctx, "fake"));
    device_works(first);
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

START_TEST(file_not_elf)
{
    char *a = new_folder();
    const char script[] = "/* GNU ld script */\nINPUT(libfoo.so.1)\n";
    write_file(a, "libaidev-backend-ldscript.so", script, sizeof script - 1, 0755);
    write_file(a, "libaidev-backend-empty.so", "", 0, 0755);
    const unsigned char pe[] = {'M', 'Z', 0x90, 0x00, 0x03, 0x00, 0x00, 0x00};
    write_file(a, "libaidev-backend-windows.so", pe, sizeof pe, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/libaidev-backend-fifo.so", a);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    snprintf(path, sizeof path, "%s/libaidev-backend-folder.so", a);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    put_plugin(a, "fake", NULL);

    aidev_context ctx = load(a, "ldscript,empty,windows,fifo,folder,fake,cpu");
    expect(ctx, "ldscript", AIDEV_BACKEND_FAILED, "not an ELF file: text");
    expect(ctx, "empty", AIDEV_BACKEND_FAILED, "empty file");
    expect(ctx, "windows", AIDEV_BACKEND_FAILED, "not an ELF file: starts with bytes 4d 5a");
    /* Opened without blocking: a FIFO must not hang the program. */
    expect(ctx, "fifo", AIDEV_BACKEND_FAILED, "a FIFO, not a shared object");
    expect(ctx, "folder", AIDEV_BACKEND_FAILED, "a folder, not a shared object");
    expect(ctx, "fake", AIDEV_BACKEND_LOADED, "");
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

/* A copy of the fake plugin with its ELF header changed by |patch|. */
static void put_patched(const char *folder, const char *as, void (*patch)(ElfW(Ehdr) *))
{
    size_t size;
    char *data = variant_bytes("fake", &size);
    patch((ElfW(Ehdr) *)data);
    char file[256];
    snprintf(file, sizeof file, "libaidev-backend-%s.so", as);
    write_file(folder, file, data, size, 0755);
    free(data);
}

static void other_machine(ElfW(Ehdr) *eh)
{
    eh->e_machine = eh->e_machine == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
}

static void other_class(ElfW(Ehdr) *eh)
{
    eh->e_ident[EI_CLASS] = eh->e_ident[EI_CLASS] == ELFCLASS64 ? ELFCLASS32 : ELFCLASS64;
}

static void executable(ElfW(Ehdr) *eh)
{
    eh->e_type = ET_EXEC;
}

START_TEST(elf_for_another_machine_or_truncated)
{
    char *a = new_folder();
    put_patched(a, "othermachine", other_machine);
    put_patched(a, "otherclass", other_class);
    put_patched(a, "executable", executable);
    size_t size;
    char *data = variant_bytes("fake", &size);
    write_file(a, "libaidev-backend-truncated.so", data, size / 2, 0755);
    write_file(a, "libaidev-backend-tiny.so", data, 10, 0755);
    write_file(a, "libaidev-backend-headeronly.so", data, sizeof(ElfW(Ehdr)) + 8, 0755);
    free(data);
    put_plugin(a, "fake", NULL);

    aidev_context ctx =
        load(a, "othermachine,otherclass,executable,truncated,tiny,headeronly,fake,cpu");
    expect(ctx, "othermachine", AIDEV_BACKEND_FAILED, "ELF for ");
    expect(ctx, "othermachine", AIDEV_BACKEND_FAILED, "but this process runs on ");
    expect(ctx, "otherclass", AIDEV_BACKEND_FAILED, "but this process is");
    expect(ctx, "executable", AIDEV_BACKEND_FAILED, "not a shared object: an executable");
    expect(ctx, "truncated", AIDEV_BACKEND_FAILED, "truncated: ");
    expect(ctx, "tiny", AIDEV_BACKEND_FAILED, "truncated: 10 bytes");
    expect(ctx, "headeronly", AIDEV_BACKEND_FAILED, "truncated: ");
    expect(ctx, "fake", AIDEV_BACKEND_LOADED, "");
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

/* One variant alone in a folder, loaded beside the CPU backend. */
static aidev_context load_variant(char **folder, const char *variant)
{
    *folder = new_folder();
    put_plugin(*folder, variant, NULL);
    char backends[128];
    snprintf(backends, sizeof backends, "%s,cpu", variant);
    return load(*folder, backends);
}

START_TEST(no_entry_symbol)
{
    char *a;
    aidev_context ctx = load_variant(&a, "fake_noentry");
    expect(ctx, "fake_noentry", AIDEV_BACKEND_FAILED, "no entry symbol 'aidev_backend_entry'");
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

/* "1.2": the ABI this libaidev speaks, as the loader writes it. */
static const char *abi_now(void)
{
    static char s[32];
    snprintf(s, sizeof s, "%u.%u", AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION),
             AIDEV_BACKEND_ABI_MINOR(AIDEV_BACKEND_ABI_VERSION));
    return s;
}

START_TEST(entry_returns_failure)
{
    char *a;
    aidev_context ctx = load_variant(&a, "fake_entryfail");
    char want[128];
    snprintf(want, sizeof want, "entry failed with AIDEV_ERROR_BACKEND when offered ABI %s",
             abi_now());
    expect(ctx, "fake_entryfail", AIDEV_BACKEND_FAILED, want);
    expect(ctx, "fake_entryfail", AIDEV_BACKEND_FAILED, "entry failed on purpose");
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

START_TEST(abi_major_mismatch)
{
    char *a;
    aidev_context ctx = load_variant(&a, "fake_abi2");
    char want[128];
    snprintf(want, sizeof want, "ABI mismatch: plugin speaks 2.0, libaidev speaks %s", abi_now());
    expect(ctx, "fake_abi2", AIDEV_BACKEND_FAILED, want);
    ck_assert_uint_eq(report_of(ctx, "fake_abi2", 0)->abi_version, AIDEV_BACKEND_ABI_MAKE(2, 0));
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

static aidev_status free_memory(aidev_device dev, uint64_t *bytes)
{
    return aidev_device_get_info(dev, AIDEV_DEVICE_INFO_FREE_MEMORY_BYTES, sizeof *bytes, bytes,
                                 NULL);
}

/* ABI 1.0 plugins (a table that ends at 1.0, and a full table behind a
 * 1.0 answer) and a plugin answering a newer minor all load; the 1.1
 * member reads as absent for the 1.0 ones (the fakes put a function that
 * aborts there), and as present for the others. */
START_TEST(older_and_newer_minor_abi)
{
    char *a = new_folder();
    const char *variants[] = {"fake_v10", "fake_v10full", "fake", "fake_v17"};
    /* "fake" answers this header's ABI; "fake_v17" a newer one, used as
     * ours. */
    const uint32_t abi[] = {AIDEV_BACKEND_ABI_MAKE(1, 0), AIDEV_BACKEND_ABI_MAKE(1, 0),
                            AIDEV_BACKEND_ABI_VERSION, AIDEV_BACKEND_ABI_VERSION};
    for (int i = 0; i < 4; i++)
        put_plugin(a, variants[i], NULL);
    aidev_context ctx = load(a, "fake_v10,fake_v10full,fake,fake_v17,cpu");
    for (int i = 0; i < 4; i++) {
        expect(ctx, variants[i], AIDEV_BACKEND_LOADED, "");
        ck_assert_uint_eq(report_of(ctx, variants[i], 0)->abi_version, abi[i]);
        aidev_device dev = device_of(ctx, variants[i]);
        device_works(dev);
        uint64_t before = 0, after = 0;
        aidev_status st = free_memory(dev, &before);
        if (abi[i] == AIDEV_BACKEND_ABI_MAKE(1, 0)) {
            ck_assert_msg(st == AIDEV_ERROR_UNSUPPORTED, "%s: free memory: %s", variants[i],
                          aidev_status_string(st));
            continue;
        }
        /* The member answers live: a new buffer shows. */
        ck_assert_ok(st);
        aidev_buffer_desc desc = {.size = 1 << 20, .kind = AIDEV_MEMORY_DEVICE};
        aidev_buffer b;
        ck_assert_ok(aidev_buffer_create(dev, &desc, &b));
        ck_assert_ok(free_memory(dev, &after));
        ck_assert_uint_eq(before - after, 1 << 20);
        ck_assert_ok(aidev_buffer_release(b));
    }
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

START_TEST(plugin_with_zero_devices)
{
    char *a;
    aidev_context ctx = load_variant(&a, "fake_nodev");
    expect(ctx, "fake_nodev", AIDEV_BACKEND_SKIPPED, "no devices on this machine");
    ck_assert_ptr_null(device_of(ctx, "fake_nodev"));
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

START_TEST(plugin_found_twice)
{
    char *a = new_folder(), *b = new_folder();
    put_plugin(a, "fake", NULL);
    put_plugin(b, "fake", NULL);
    /* A plugin named like the built-in backend does not replace it. */
    put_plugin(b, "fake", "cpu");
    char path[8192];
    snprintf(path, sizeof path, "%s:%s:%s", a, b, a);
    aidev_context ctx = load(path, "fake,cpu");
    char first[4200];
    snprintf(first, sizeof first, "%s/libaidev-backend-fake.so", a);
    const aidev_backend_report *r = report_of(ctx, "fake", 0);
    ck_assert_int_eq(r->state, AIDEV_BACKEND_LOADED);
    ck_assert_str_eq(r->path, first);
    r = report_of(ctx, "fake", 1);
    ck_assert_int_eq(r->state, AIDEV_BACKEND_SKIPPED);
    ck_assert_msg(strstr(r->reason, "duplicate: backend 'fake' was already found at ") &&
                      strstr(r->reason, first),
                  "%s", r->reason);
    /* The folder listed twice is searched once: no third report. */
    uint32_t n = get_reports(ctx), fakes = 0, cpus = 0;
    for (uint32_t i = 0; i < n; i++) {
        fakes += strcmp(reports[i].name, "fake") == 0;
        cpus += strcmp(reports[i].name, "cpu") == 0;
    }
    ck_assert_uint_eq(fakes, 2);
    ck_assert_uint_eq(cpus, 2);
    r = report_of(ctx, "cpu", 1);
    ck_assert_int_eq(r->state, AIDEV_BACKEND_SKIPPED);
    ck_assert_ptr_nonnull(strstr(r->reason, "already found at (built-in)"));
    /* One device of each. */
    uint32_t devices = 0;
    ck_assert_ok(aidev_context_get_devices(ctx, &devices, NULL));
    ck_assert_uint_eq(devices, 2);
    device_works(device_of(ctx, "fake"));
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
    remove_folder(b);
}
END_TEST

START_TEST(world_writable_folder)
{
    char *a = new_folder();
    put_plugin(a, "fake", NULL);
    ck_assert_int_eq(chmod(a, 0777), 0);
    aidev_context ctx = load(a, "fake,cpu");
    expect(ctx, "fake", AIDEV_BACKEND_FAILED, "is writable by every user (mode 0777)");
    expect(ctx, "fake", AIDEV_BACKEND_FAILED, "AIDEV_ALLOW_INSECURE_PLUGINS=1");
    expect(ctx, "fake", AIDEV_BACKEND_FAILED, a);
    cpu_runs_on(ctx);
    release(ctx);

    /* The user may opt in explicitly. */
    setenv("AIDEV_ALLOW_INSECURE_PLUGINS", "1", 1);
    ctx = load(a, "fake,cpu");
    expect(ctx, "fake", AIDEV_BACKEND_LOADED, "");
    device_works(device_of(ctx, "fake"));
    release(ctx);
    unsetenv("AIDEV_ALLOW_INSECURE_PLUGINS");
    remove_folder(a);
}
END_TEST

/* A copy refused by the trust checks does not take the backend's name: the
 * trusted copy later in the search still loads, and both are reported (by
 * the API and by aidev-info). */
START_TEST(refused_copy_does_not_hide_trusted_one)
{
    char *planted = new_folder(), *trusted = new_folder();
    put_plugin(planted, "fake", NULL);
    put_plugin(trusted, "fake", NULL);
    ck_assert_int_eq(chmod(planted, 0777), 0);
    char path[8192], trusted_file[4200], planted_file[4200];
    snprintf(path, sizeof path, "%s:%s", planted, trusted);
    snprintf(planted_file, sizeof planted_file, "%s/libaidev-backend-fake.so", planted);
    snprintf(trusted_file, sizeof trusted_file, "%s/libaidev-backend-fake.so", trusted);
    aidev_context ctx = load(path, "fake,cpu");
    const aidev_backend_report *r = report_of(ctx, "fake", 0);
    ck_assert_int_eq(r->state, AIDEV_BACKEND_FAILED);
    ck_assert_str_eq(r->path, planted_file);
    ck_assert_msg(strstr(r->reason, "refused: ") && strstr(r->reason, "writable by every user"),
                  "%s", r->reason);
    r = report_of(ctx, "fake", 1);
    ck_assert_msg(r->state == AIDEV_BACKEND_LOADED, "the trusted copy: %s (%s)",
                  aidev_backend_state_string(r->state), r->reason);
    ck_assert_str_eq(r->path, trusted_file);
    device_works(device_of(ctx, "fake"));
    cpu_runs_on(ctx);
    release(ctx);

    /* aidev-info lists both copies. */
    setenv("AIDEV_PLUGIN_PATH", path, 1);
    setenv("AIDEV_BACKENDS", "fake,cpu", 1);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "%s --json", getenv("AIDEV_TEST_AIDEV_INFO"));
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    static char out[65536];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    const char *first = strstr(out, planted_file), *second = strstr(out, trusted_file);
    ck_assert_msg(first && second && first < second, "aidev-info --json:\n%s", out);
    /* Each path is followed by its own status. */
    const char *first_status = strstr(first, "\"status\":"),
               *second_status = strstr(second, "\"status\":");
    ck_assert_msg(first_status && first_status < second &&
                      strncmp(first_status, "\"status\":\"failed\"", 17) == 0 &&
                      second_status &&
                      strncmp(second_status, "\"status\":\"loaded\"", 17) == 0,
                  "aidev-info --json:\n%s", out);
    remove_folder(planted);
    remove_folder(trusted);
}
END_TEST

START_TEST(world_writable_file)
{
    char *a = new_folder();
    put_plugin(a, "fake", NULL);
    char path[4200];
    snprintf(path, sizeof path, "%s/libaidev-backend-fake.so", a);
    ck_assert_int_eq(chmod(path, 0757), 0);
    aidev_context ctx = load(a, "fake,cpu");
    expect(ctx, "fake", AIDEV_BACKEND_FAILED, "libaidev-backend-fake.so is writable by every user");
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

START_TEST(init_fails)
{
    char *a;
    aidev_context ctx = load_variant(&a, "fake_initfail");
    expect(ctx, "fake_initfail", AIDEV_BACKEND_FAILED, "init: fake_initfail: init failed on purpose");
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

START_TEST(required_member_missing)
{
    char *a;
    aidev_context ctx = load_variant(&a, "fake_nosubmit");
    expect(ctx, "fake_nosubmit", AIDEV_BACKEND_FAILED, "lacks the required member 'queue_submit'");
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

START_TEST(file_and_vtable_names_differ)
{
    char *a = new_folder();
    put_plugin(a, "fake", "renamed");
    aidev_context ctx = load(a, "renamed,cpu");
    expect(ctx, "renamed", AIDEV_BACKEND_FAILED,
           "file is named for 'renamed' but the vtable names 'fake'");
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

/* A plugin left out by AIDEV_BACKENDS is not even opened: the broken file
 * reads as "not selected", not as "not an ELF file". */
START_TEST(unselected_plugins_are_not_opened)
{
    char *a = new_folder();
    write_file(a, "libaidev-backend-broken.so", "junk", 4, 0755);
    put_plugin(a, "fake", NULL);
    aidev_context ctx = load(a, "cpu");
    expect(ctx, "broken", AIDEV_BACKEND_SKIPPED, "not selected by AIDEV_BACKENDS=cpu");
    expect(ctx, "fake", AIDEV_BACKEND_SKIPPED, "not selected by AIDEV_BACKENDS=cpu");
    ck_assert_ptr_null(device_of(ctx, "fake"));
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

/* A backend that creates a context from its init gets an error instead of
 * deadlocking the program on the registry's lock. */
START_TEST(init_creating_a_context)
{
    char *a;
    aidev_context ctx = load_variant(&a, "fake_reenter");
    expect(ctx, "fake_reenter", AIDEV_BACKEND_FAILED, "AIDEV_ERROR_INVALID_STATE");
    expect(ctx, "fake_reenter", AIDEV_BACKEND_FAILED, "while libaidev was loading it");
    cpu_runs_on(ctx);
    release(ctx);
    remove_folder(a);
}
END_TEST

/* AIDEV_DEBUG=loader: every folder searched and every file tried, with
 * the steps and the outcome. */
START_TEST(debug_output)
{
    char *a = new_folder();
    put_plugin(a, "fake", NULL);
    write_file(a, "libaidev-backend-junk.so", "junk", 4, 0755);
    write_file(a, "libunrelated.so", "junk", 4, 0755);
    char path[8192];
    snprintf(path, sizeof path, "/nonexistent/aidev:%s", a);

    char log_path[4200];
    snprintf(log_path, sizeof log_path, "%s/log", a);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    dup2(fd, 2);
    close(fd);
    setenv("AIDEV_DEBUG", "loader", 1);
    aidev_context ctx = load(path, "fake,junk,cpu");
    unsetenv("AIDEV_DEBUG");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);

    size_t size;
    char *raw = read_all(log_path, &size);
    char *log = calloc(1, size + 1);
    memcpy(log, raw, size);
    free(raw);
    char want[12][8400];
    int n = 0;
    snprintf(want[n++], sizeof want[0], "aidev: loader: libaidev %s speaks backend ABI %s",
             aidev_version(), abi_now());
    snprintf(want[n++], sizeof want[0], "AIDEV_PLUGIN_PATH=%s", path);
    snprintf(want[n++], sizeof want[0], "searching /nonexistent/aidev (AIDEV_PLUGIN_PATH)");
    snprintf(want[n++], sizeof want[0], "/nonexistent/aidev: No such file or directory");
    snprintf(want[n++], sizeof want[0], "searching %s (AIDEV_PLUGIN_PATH)", a);
    snprintf(want[n++], sizeof want[0], "ignoring %s/libunrelated.so: not named", a);
    snprintf(want[n++], sizeof want[0], "trying %s/libaidev-backend-fake.so", a);
    snprintf(want[n++], sizeof want[0], "entry: offered ABI %s, plugin answered %s", abi_now(),
             abi_now());
    snprintf(want[n++], sizeof want[0], "=> fake: loaded");
    snprintf(want[n++], sizeof want[0], "=> junk: failed: not an ELF file");
    snprintf(want[n++], sizeof want[0], "installed plugin folder: ");
    snprintf(want[n++], sizeof want[0], "=> cpu: loaded");
    for (int i = 0; i < n; i++)
        ck_assert_msg(strstr(log, want[i]) != NULL, "the loader's debug output lacks \"%s\":\n%s",
                      want[i], log);
    free(log);
    release(ctx);
    remove_folder(a);
}
END_TEST

/* aidev-info shows the reason. */
START_TEST(aidev_info_shows_the_reason)
{
    char *a = new_folder();
    put_plugin(a, "fake_abi2", NULL);
    setenv("AIDEV_PLUGIN_PATH", a, 1);
    setenv("AIDEV_BACKENDS", "fake_abi2,cpu", 1);
    FILE *p = popen(getenv("AIDEV_TEST_AIDEV_INFO"), "r");
    ck_assert_ptr_nonnull(p);
    char out[16384] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    char want[128];
    snprintf(want, sizeof want, "ABI mismatch: plugin speaks 2.0, libaidev speaks %s", abi_now());
    ck_assert_msg(strstr(out, "fake_abi2") && strstr(out, "failed") && strstr(out, want),
                  "aidev-info output:\n%s", out);
    remove_folder(a);
}
END_TEST

int main(void)
{
    if (!getenv("AIDEV_TEST_PLUGINS")) {
        fprintf(stderr, "test-loader: AIDEV_TEST_PLUGINS must name the test plugins' folder\n");
        return 1;
    }
    unsetenv("AIDEV_ALLOW_INSECURE_PLUGINS");
    unsetenv("AIDEV_DEBUG");
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("outcomes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, folder_missing);
    tcase_add_test(tc, file_not_elf);
    tcase_add_test(tc, elf_for_another_machine_or_truncated);
    tcase_add_test(tc, no_entry_symbol);
    tcase_add_test(tc, entry_returns_failure);
    tcase_add_test(tc, abi_major_mismatch);
    tcase_add_test(tc, older_and_newer_minor_abi);
    tcase_add_test(tc, plugin_with_zero_devices);
    tcase_add_test(tc, plugin_found_twice);
    tcase_add_test(tc, world_writable_folder);
    tcase_add_test(tc, world_writable_file);
    tcase_add_test(tc, refused_copy_does_not_hide_trusted_one);
    tcase_add_test(tc, init_fails);
    tcase_add_test(tc, required_member_missing);
    tcase_add_test(tc, file_and_vtable_names_differ);
    tcase_add_test(tc, unselected_plugins_are_not_opened);
    tcase_add_test(tc, init_creating_a_context);
    tcase_add_test(tc, debug_output);
    tcase_add_test(tc, aidev_info_shows_the_reason);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
