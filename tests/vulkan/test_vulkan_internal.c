/*
 * The Vulkan backend from the inside (linked from its objects, driven
 * through its own vtable): the pipeline cache file (its checks, reuse, a
 * damaged file), REDUCE launches of a pass form of this test's own,
 * small enough that a pass needs more workgroups than the device allows in
 * one dispatch (so passes are split into chunks), and the memory types
 * chosen per kind on the memory layouts of devices this machine does not
 * have (which DEVICE memory libaidev may address).
 *
 * Exits 77 (skipped) when the backend has no device on this machine.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/vulkan/vk_internal.h"

static const uint32_t reduce_spv[] =
#include "reduce_sum_u32.spv.h"
    ;

aidev_status aidev_backend_entry(aidev_backend_negotiation *nego);

static const aidev_backend_vtable *vt;
static void *backend;
static char cache_root[4096];

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static vkb_device *open_device(void)
{
    void *dev = NULL;
    aidev_status st = vt->device_open(backend, 0, &dev);
    ck_assert_msg(st == AIDEV_SUCCESS, "device_open: %s", aidev_last_error());
    return dev;
}

static vkb_buffer *new_buffer(vkb_device *dev, uint64_t size)
{
    aidev_backend_buffer_desc d = {.size = size, .kind = AIDEV_MEMORY_DEVICE};
    void *b, *host;
    ck_assert_int_eq(vt->buffer_create(dev, &d, &b, &host), AIDEV_SUCCESS);
    return b;
}

static void submit(void *q, const aidev_backend_command *cmd)
{
    aidev_status st = vt->queue_submit(q, cmd, 0, NULL, NULL);
    ck_assert_msg(st == AIDEV_SUCCESS, "queue_submit: %s", aidev_last_error());
}

static char *cache_file(char *out, size_t size)
{
    vkb_backend *b = backend;
    ck_assert(vkb_pipeline_cache_path(&b->devices[0].props, out, size));
    return out;
}

static void *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = malloc(n > 0 ? (size_t)n : 1);
    *size = fread(data, 1, (size_t)n, f);
    fclose(f);
    return data;
}

static void spit(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    fclose(f);
}

/* A library kernel through the vtable, as libaidev would build it. */
static void *library_kernel(vkb_device *dev, const char *name)
{
    for (uint32_t i = 0; i < aidev_library_kernel_count(); i++)
        if (strcmp(aidev_library_kernel(i)->name, name) == 0) {
            aidev_backend_kernel_source src = {i, aidev_library_kernel(i)};
            void *k = NULL;
            ck_assert_int_eq(vt->kernel_create(dev, &src, &k), AIDEV_SUCCESS);
            return k;
        }
    ck_abort_msg("no library kernel %s", name);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Pipeline cache file                                                      */
/* ------------------------------------------------------------------------ */

START_TEST(cache_file_checks)
{
    vkb_backend *b = backend;
    const VkPhysicalDeviceProperties *props = &b->devices[0].props;
    /* A file as the backend writes it, with some driver data. */
    vkb_device *dev = open_device();
    void *k = library_kernel(dev, "axpy");
    vt->kernel_destroy(dev, k);
    vt->device_close(dev);
    char path[4300];
    size_t size = 0;
    unsigned char *file = slurp(cache_file(path, sizeof path), &size);
    ck_assert_msg(file, "no cache file at %s", path);
    size_t off, len;
    char why[256];
    ck_assert_msg(vkb_pipeline_cache_check(file, size, props, &off, &len, why, sizeof why), "%s",
                  why);
    ck_assert_uint_eq(off + len, size);

    struct {
        const char *what;
        size_t at;          /* byte to change, or SIZE_MAX */
        size_t keep;        /* bytes to keep (truncation), or 0 */
        const char *needle; /* in the reason */
    } damage[] = {
        {"empty", SIZE_MAX, 1, "shorter"},
        {"truncated", SIZE_MAX, 0, "bytes of data"},
        {"magic", 0, 0, "magic"},
        {"format version", 8, 0, "version"},
        {"checksum", 24, 0, "checksum"},
        {"driver data", off + len - 1, 0, "checksum"},
    };
    for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
        unsigned char *copy = malloc(size);
        memcpy(copy, file, size);
        size_t n = size;
        if (damage[i].keep)
            n = damage[i].keep;
        else if (damage[i].at == SIZE_MAX)
            n = size - 1;
        else
            copy[damage[i].at] ^= 0x5a;
        ck_assert_msg(!vkb_pipeline_cache_check(copy, n, props, &off, &len, why, sizeof why),
                      "%s: accepted", damage[i].what);
        ck_assert_msg(strstr(why, damage[i].needle), "%s: reason '%s'", damage[i].what, why);
        free(copy);
    }
    /* Another device, another driver build. */
    VkPhysicalDeviceProperties other = *props;
    other.deviceID ^= 1;
    ck_assert(!vkb_pipeline_cache_check(file, size, &other, &off, &len, why, sizeof why));
    ck_assert_msg(strstr(why, "device"), "%s", why);
    other = *props;
    other.pipelineCacheUUID[3] ^= 1;
    ck_assert(!vkb_pipeline_cache_check(file, size, &other, &off, &len, why, sizeof why));
    ck_assert_msg(strstr(why, "pipelineCacheUUID"), "%s", why);
    free(file);
}
END_TEST

/* The second open hands the saved data to the driver, and does not write
 * the file again when nothing changed; a damaged file is ignored, the
 * kernels still build, and a good file replaces it. */
START_TEST(cache_reuse_and_damage)
{
    char path[4300];
    cache_file(path, sizeof path);
    unlink(path);
    vkb_device *dev = open_device();
    ck_assert_ptr_null(dev->pipeline_cache_loaded);
    vt->kernel_destroy(dev, library_kernel(dev, "axpy"));
    vt->kernel_destroy(dev, library_kernel(dev, "reduce_sum"));
    vt->device_close(dev);
    struct stat first;
    ck_assert_int_eq(stat(path, &first), 0);

    dev = open_device();
    ck_assert_msg(dev->pipeline_cache_loaded, "the saved cache was not loaded");
    ck_assert_uint_eq(dev->pipeline_cache_loaded_size, (uint64_t)first.st_size - 32);
    vt->kernel_destroy(dev, library_kernel(dev, "axpy"));
    vt->device_close(dev);
    struct stat second;
    ck_assert_int_eq(stat(path, &second), 0);
    /* Saving renames a new file into place: same inode, not rewritten. */
    ck_assert_uint_eq(first.st_ino, second.st_ino);

    /* Damage: garbage in the middle, then a cut-off file. */
    for (int round = 0; round < 2; round++) {
        size_t size;
        unsigned char *data = slurp(path, &size);
        if (round == 0)
            memset(data + size / 2, 0xee, size - size / 2);
        spit(path, data, round == 0 ? size : size / 3);
        free(data);
        dev = open_device();
        ck_assert_msg(!dev->pipeline_cache_loaded, "round %d: a damaged file was loaded", round);
        void *k = library_kernel(dev, "axpy");
        vt->kernel_destroy(dev, k);
        vt->device_close(dev);
        data = slurp(path, &size);
        size_t off, len;
        char why[256];
        vkb_backend *b = backend;
        ck_assert_msg(vkb_pipeline_cache_check(data, size, &b->devices[0].props, &off, &len, why,
                                               sizeof why),
                      "round %d: the file was not replaced: %s", round, why);
        free(data);
    }
    /* Not even an aidev file. */
    spit(path, "not a cache", 11);
    dev = open_device();
    ck_assert_ptr_null(dev->pipeline_cache_loaded);
    vt->device_close(dev);
}
END_TEST

/* A cache file another user could have written is never handed to the
 * driver: in a folder others can write (the cache is then bypassed:
 * nothing is read or saved), or writable by others itself, owned by
 * another user or a link. The same file in a private folder is loaded: the
 * proof that loading would show. */
START_TEST(cache_others_could_write_is_not_loaded)
{
    char path[4300], aidev_dir[4200];
    cache_file(path, sizeof path);
    snprintf(aidev_dir, sizeof aidev_dir, "%s/aidev", cache_root);
    unlink(path);
    vkb_device *dev = open_device();
    vt->kernel_destroy(dev, library_kernel(dev, "axpy"));
    vt->device_close(dev);
    size_t good_size;
    unsigned char *good = slurp(path, &good_size);
    ck_assert_msg(good && good_size > 32, "no pipeline cache saved at %s", path);

    dev = open_device();
    ck_assert_msg(dev->pipeline_cache_loaded, "a private cache file was not loaded");
    vt->device_close(dev);

    const mode_t open_modes[] = {0777, 0770, 0703};
    for (int m = 0; m < 3; m++) {
        ck_assert_int_eq(chmod(aidev_dir, open_modes[m]), 0);
        struct stat before, after;
        ck_assert_int_eq(stat(path, &before), 0);
        dev = open_device();
        ck_assert_msg(!dev->pipeline_cache_loaded, "loaded from a folder of mode %04o",
                      (unsigned)open_modes[m]);
        vt->kernel_destroy(dev, library_kernel(dev, "reduce_sum"));
        vt->device_close(dev);
        ck_assert_int_eq(stat(path, &after), 0);
        ck_assert_msg(before.st_ino == after.st_ino && before.st_size == after.st_size,
                      "saved into a folder of mode %04o", (unsigned)open_modes[m]);
        ck_assert_int_eq(chmod(aidev_dir, 0700), 0);
    }

    char target[4400];
    snprintf(target, sizeof target, "%s/elsewhere.bin", cache_root);
    for (int c = 0; c < 4; c++) {
        if (c == 2 && geteuid() != 0)
            continue; /* only root can give a file away */
        unlink(path);
        if (c == 3) {
            spit(target, good, good_size);
            ck_assert_int_eq(symlink(target, path), 0);
        } else {
            spit(path, good, good_size);
            ck_assert_int_eq(chmod(path, c == 0 ? 0666 : c == 1 ? 0620 : 0600), 0);
            if (c == 2)
                ck_assert_int_eq(chown(path, 65534, 65534), 0);
        }
        dev = open_device();
        ck_assert_msg(!dev->pipeline_cache_loaded, "case %d: the file was loaded", c);
        vt->kernel_destroy(dev, library_kernel(dev, "axpy"));
        vt->device_close(dev);
        /* Replaced by a file of this user's alone. */
        struct stat st;
        ck_assert_int_eq(lstat(path, &st), 0);
        ck_assert_msg(S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0,
                      "case %d: not replaced (mode %04o, owner %u)", c,
                      (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
    }
    unlink(target);
    free(good);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* REDUCE                                                                   */
/* ------------------------------------------------------------------------ */

static const aidev_kernel_arg_desc reduce_args[] = {
    {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
    {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_U32, AIDEV_ACCESS_READ, "n"},
    {"y", AIDEV_ARG_BUFFER, AIDEV_TYPE_U32, AIDEV_ACCESS_WRITE, "1"},
};

START_TEST(reduce_passes_and_chunks)
{
    vkb_device *dev = open_device();
    aidev_kernel_desc desc = {.name = "test_reduce_sum", .arg_count = 3, .args = reduce_args};
    aidev_library_gpu_form form = {"test_reduce_sum", "main", reduce_spv, sizeof reduce_spv,
                                   AIDEV_LAUNCH_REDUCE, {4, 1, 1}, 3};
    vkb_kernel *k;
    ck_assert_msg(vkb_kernel_from_form(dev, &desc, &form, &k) == AIDEV_SUCCESS, "%s",
                  aidev_last_error());
    void *q;
    ck_assert_int_eq(vt->queue_create(dev, AIDEV_QUEUE_PRIORITY_NORMAL, &q), AIDEV_SUCCESS);
    uint32_t max_groups = dev->phys->props.limits.maxComputeWorkGroupCount[0];
    /* Runs of 12: past 12 * max_groups elements, the first pass is split. */
    uint32_t big = 12u * max_groups + 12u * 1000u + 5u;
    const uint32_t sizes[] = {0, 1, 11, 12, 13, 144, 145, 1000, 65537, big};
    const uint64_t offsets[] = {0, 4}; /* 4: not a multiple of the storage alignment */
    /* n elements after an offset of up to 4 bytes, and 4 bytes of slack. */
    uint32_t *data = malloc(((size_t)big + 2) * 4);
    for (uint32_t i = 0; i < big + 2; i++)
        data[i] = (i * 2654435761u) >> 24;
    for (size_t o = 0; o < 2; o++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            uint32_t n = sizes[s];
            uint64_t off = offsets[o];
            uint32_t want = 0;
            for (uint32_t i = 0; i < n; i++)
                want += data[off / 4 + i];
            vkb_buffer *x = new_buffer(dev, (uint64_t)n * 4 + off + 4);
            vkb_buffer *y = new_buffer(dev, 4);
            aidev_backend_command w = {.type = AIDEV_COMMAND_WRITE};
            w.u.write.buffer = x;
            w.u.write.size = (uint64_t)n * 4 + off + 4;
            w.u.write.src = data;
            submit(q, &w);
            aidev_backend_arg args[3] = {{.kind = AIDEV_ARG_SCALAR, .type = AIDEV_TYPE_U32},
                                         {.kind = AIDEV_ARG_BUFFER},
                                         {.kind = AIDEV_ARG_BUFFER}};
            args[0].u.u32 = n;
            args[1].u.buffer.buffer = x;
            args[1].u.buffer.offset = off;
            args[1].u.buffer.size = x->size - off;
            args[2].u.buffer.buffer = y;
            args[2].u.buffer.size = 4;
            aidev_backend_command d = {.type = AIDEV_COMMAND_DISPATCH};
            d.u.dispatch.kernel = k;
            d.u.dispatch.grid[0] = d.u.dispatch.grid[1] = d.u.dispatch.grid[2] = 1;
            d.u.dispatch.arg_count = 3;
            d.u.dispatch.args = args;
            submit(q, &d);
            uint32_t got = 0xdeadbeef;
            aidev_backend_command r = {.type = AIDEV_COMMAND_READ};
            r.u.read.buffer = y;
            r.u.read.size = 4;
            r.u.read.dst = &got;
            submit(q, &r);
            ck_assert_int_eq(vt->queue_finish(q), AIDEV_SUCCESS);
            ck_assert_msg(got == want, "n = %u at offset %llu: sum %u, want %u", n,
                          (unsigned long long)off, got, want);
            vt->buffer_destroy(dev, x);
            vt->buffer_destroy(dev, y);
        }
    free(data);
    vt->queue_destroy(q);
    vkb_kernel_unref(k);
    vt->device_close(dev);
}
END_TEST

/* A reduce form must take (u32 n, in, out). */
START_TEST(reduce_needs_its_signature)
{
    vkb_device *dev = open_device();
    const aidev_kernel_arg_desc wrong[] = {
        {"n", AIDEV_ARG_SCALAR, AIDEV_TYPE_U32, 0, NULL},
        {"a", AIDEV_ARG_SCALAR, AIDEV_TYPE_F32, 0, NULL},
        {"x", AIDEV_ARG_BUFFER, AIDEV_TYPE_U32, AIDEV_ACCESS_READ, "n"},
        {"y", AIDEV_ARG_BUFFER, AIDEV_TYPE_U32, AIDEV_ACCESS_WRITE, "1"},
    };
    aidev_kernel_desc desc = {.name = "bad_reduce", .arg_count = 4, .args = wrong};
    aidev_library_gpu_form form = {"bad_reduce", "main", reduce_spv, sizeof reduce_spv,
                                   AIDEV_LAUNCH_REDUCE, {4, 1, 1}, 3};
    vkb_kernel *k = NULL;
    ck_assert_int_eq(vkb_kernel_from_form(dev, &desc, &form, &k), AIDEV_ERROR_UNSUPPORTED);
    ck_assert_msg(strstr(aidev_last_error(), "u32 n, in, out"), "%s", aidev_last_error());
    vt->device_close(dev);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Memory plans                                                             */
/* ------------------------------------------------------------------------ */

enum {
    LOCAL = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT,
    VISIBLE = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT,
    COHERENT = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
    CACHED = VK_MEMORY_PROPERTY_HOST_CACHED_BIT,
};

/* Memory properties of |n| types, each on a heap of its own. */
static VkPhysicalDeviceMemoryProperties memory_of(uint32_t n, const VkMemoryPropertyFlags *types)
{
    VkPhysicalDeviceMemoryProperties m = {.memoryTypeCount = n, .memoryHeapCount = n};
    for (uint32_t i = 0; i < n; i++) {
        m.memoryTypes[i] = (VkMemoryType){.propertyFlags = types[i], .heapIndex = i};
        VkMemoryHeapFlags heap = types[i] & LOCAL ? VK_MEMORY_HEAP_DEVICE_LOCAL_BIT : 0;
        m.memoryHeaps[i] = (VkMemoryHeap){.size = 8ull << 30, .flags = heap};
    }
    return m;
}

static vkb_memory_plan plan_of(const VkPhysicalDeviceMemoryProperties *m,
                               VkPhysicalDeviceType type, bool emulate_discrete)
{
    vkb_memory_plan plan;
    const char *missing = "";
    ck_assert_msg(vkb_memory_plan_make(m, (1u << m->memoryTypeCount) - 1, type,
                                       emulate_discrete, &plan, &missing),
                  "no plan: no %s type", missing);
    return plan;
}

/* DEVICE memory is addressable by libaidev on a CPU device only, where a
 * type is device-local, host-visible and coherent; never on a GPU, even
 * one whose every type is host-visible (an integrated GPU, a ReBAR
 * window), nor in the discrete emulation. */
START_TEST(memory_plan_by_device_type)
{
    /* lavapipe: one type, all four flags. */
    const VkMemoryPropertyFlags cpu[] = {LOCAL | VISIBLE | COHERENT | CACHED};
    VkPhysicalDeviceMemoryProperties m = memory_of(1, cpu);
    vkb_memory_plan p = plan_of(&m, VK_PHYSICAL_DEVICE_TYPE_CPU, false);
    ck_assert(p.device_addressable);
    ck_assert_int_eq(p.kind_type[AIDEV_MEMORY_DEVICE], 0);
    ck_assert(p.kind_mapped[AIDEV_MEMORY_DEVICE]);
    /* The same memory, as a discrete GPU in the emulation: mapped for
     * nothing, addressed by nobody. */
    p = plan_of(&m, VK_PHYSICAL_DEVICE_TYPE_CPU, true);
    ck_assert(!p.device_addressable);
    ck_assert(!p.kind_mapped[AIDEV_MEMORY_DEVICE]);
    /* The same memory on an integrated or virtual GPU, or a device of
     * another type: mapped to zero it, never addressed. */
    const VkPhysicalDeviceType gpus[] = {VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU,
                                         VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU,
                                         VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU,
                                         VK_PHYSICAL_DEVICE_TYPE_OTHER};
    for (size_t i = 0; i < sizeof gpus / sizeof gpus[0]; i++) {
        p = plan_of(&m, gpus[i], false);
        ck_assert_msg(!p.device_addressable, "device type %d", (int)gpus[i]);
        ck_assert_int_eq(p.kind_type[AIDEV_MEMORY_DEVICE], 0);
    }

    /* A discrete GPU with a ReBAR window: DEVICE is the plain VRAM type,
     * HOST system memory, SHARED the window; DEVICE never addressed. */
    const VkMemoryPropertyFlags dgpu[] = {LOCAL, VISIBLE | COHERENT | CACHED,
                                          LOCAL | VISIBLE | COHERENT};
    m = memory_of(3, dgpu);
    p = plan_of(&m, VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU, false);
    ck_assert(!p.device_addressable);
    ck_assert_int_eq(p.kind_type[AIDEV_MEMORY_DEVICE], 0);
    ck_assert(!p.kind_mapped[AIDEV_MEMORY_DEVICE]);
    ck_assert_int_eq(p.kind_type[AIDEV_MEMORY_HOST], 1);
    ck_assert_int_eq(p.kind_type[AIDEV_MEMORY_SHARED], 2);

    /* A CPU device whose device-local memory is not coherent: DEVICE is
     * not addressed (the hal writes it with no flush). */
    const VkMemoryPropertyFlags noncoherent[] = {LOCAL | VISIBLE | CACHED,
                                                 VISIBLE | COHERENT};
    m = memory_of(2, noncoherent);
    p = plan_of(&m, VK_PHYSICAL_DEVICE_TYPE_CPU, false);
    ck_assert(!p.device_addressable);
    ck_assert_int_eq(p.kind_type[AIDEV_MEMORY_DEVICE], 0);
    /* A CPU device with a coherent device-local type beside others: that
     * one is DEVICE's, and addressed. */
    const VkMemoryPropertyFlags mixed[] = {LOCAL, LOCAL | VISIBLE | CACHED,
                                           LOCAL | VISIBLE | COHERENT, VISIBLE | COHERENT};
    m = memory_of(4, mixed);
    p = plan_of(&m, VK_PHYSICAL_DEVICE_TYPE_CPU, false);
    ck_assert(p.device_addressable);
    ck_assert_int_eq(p.kind_type[AIDEV_MEMORY_DEVICE], 2);

    /* No host-visible coherent type at all: no plan, and why. */
    const VkMemoryPropertyFlags none[] = {LOCAL};
    m = memory_of(1, none);
    vkb_memory_plan unused;
    const char *missing = NULL;
    ck_assert(!vkb_memory_plan_make(&m, 1, VK_PHYSICAL_DEVICE_TYPE_CPU, false, &unused, &missing));
    ck_assert_str_eq(missing, "host-visible coherent");
}
END_TEST

int main(void)
{
    /* A cache folder of this run's own. */
    snprintf(cache_root, sizeof cache_root, "%s/vulkan-internal-cache-XXXXXX",
             getenv("AIDEV_TEST_BUILD_ROOT") ? getenv("AIDEV_TEST_BUILD_ROOT") : "/tmp");
    if (!mkdtemp(cache_root)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("XDG_CACHE_HOME", cache_root, 1);

    aidev_backend_negotiation nego = {.struct_size = sizeof nego,
                                      .abi_version = AIDEV_BACKEND_ABI_VERSION};
    if (aidev_backend_entry(&nego) != AIDEV_SUCCESS)
        return 1;
    vt = nego.vtable;
    aidev_status st = vt->init(&backend);
    if (st != AIDEV_SUCCESS) {
        fprintf(stderr, "vulkan backend: %s\n", aidev_last_error());
        return st == AIDEV_ERROR_UNSUPPORTED ? 77 : 1;
    }
    Suite *s = suite_create("vulkan_internal");
    TCase *tc = tcase_create("internal");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, cache_file_checks);
    tcase_add_test(tc, cache_reuse_and_damage);
    tcase_add_test(tc, cache_others_could_write_is_not_loaded);
    tcase_add_test(tc, reduce_passes_and_chunks);
    tcase_add_test(tc, reduce_needs_its_signature);
    tcase_add_test(tc, memory_plan_by_device_type);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    vt->shutdown(backend);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cache_root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", cache_root);
    return failed ? 1 : 0;
}
