/*
 * registry.c - the process-wide list of backends, and the plugin loader.
 *
 * The registry is loaded when the first context is made and unloaded when
 * the last one goes, so a program that makes no context loads no plugin and
 * a test can change AIDEV_PLUGIN_PATH between contexts.
 *
 * Discovery order: AIDEV_PLUGIN_PATH (colon-separated folders; ignored in
 * setuid/setgid programs), then the build tree when libaidev itself runs from
 * it (so a developer's fresh plugins win over an older installed copy), then
 * the installed plugin folder. A backend name found twice loads once: the
 * first one found. AIDEV_BACKENDS=a,b selects and orders backends; those it
 * leaves out are not even opened.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "aidev_config.h"
#include "hal/internal.h"

#define PLUGIN_PREFIX "libaidev-backend-"
#define PLUGIN_SUFFIX ".so"
#define MAX_BACKENDS 64

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t registry_refs;
static aidev_registry_backend *registry;
static uint32_t registry_count;

/* Members every ABI 1.x table must fill in. */
static const struct {
    const char *name;
    size_t offset;
} required_members[] = {
#define REQ(m) {#m, offsetof(aidev_backend_vtable, m)}
    REQ(init),          REQ(shutdown),       REQ(device_count),  REQ(device_info),
    REQ(device_open),   REQ(device_close),   REQ(buffer_create), REQ(buffer_destroy),
    REQ(queue_create),  REQ(queue_destroy),  REQ(queue_submit),  REQ(queue_finish),
    REQ(kernel_create), REQ(kernel_destroy),
#undef REQ
};

/* The smallest table an ABI 1.0 plugin may hand over. */
#define VTABLE_MIN_SIZE (offsetof(aidev_backend_vtable, kernel_destroy) + sizeof(void *))

static void loader_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void loader_debug(const char *fmt, ...)
{
    if (!aidev_backend_debug_enabled("loader"))
        return;
    char line[4096 + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "aidev: loader: %s\n", line);
}

/* ------------------------------------------------------------------------ */
/* Selection: AIDEV_BACKENDS                                                */
/* ------------------------------------------------------------------------ */

/* Position of |name| in the comma-separated |list|, or -1. */
static int list_position(const char *list, const char *name)
{
    size_t len = strlen(name);
    int pos = 0;
    for (const char *p = list; p && *p; pos++) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n && p[n - 1] == ' ')
            n--;
        if (n == len && strncmp(p, name, n) == 0)
            return pos;
        p = end ? end + 1 : NULL;
    }
    return -1;
}

static const char *selected_backends(void)
{
    const char *env = getenv("AIDEV_BACKENDS");
    return env && *env ? env : NULL;
}

/* ------------------------------------------------------------------------ */
/* Recording outcomes                                                       */
/* ------------------------------------------------------------------------ */

static aidev_registry_backend *add_entry(const char *name, const char *path)
{
    if (registry_count >= MAX_BACKENDS)
        return NULL;
    aidev_registry_backend *b = &registry[registry_count++];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    snprintf(b->path, sizeof b->path, "%s", path);
    return b;
}

static void set_outcome(aidev_registry_backend *b, aidev_backend_state state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_outcome(aidev_registry_backend *b, aidev_backend_state state, const char *fmt, ...)
{
    b->state = state;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->reason, sizeof b->reason, fmt, ap);
    va_end(ap);
    loader_debug("%s (%s): %s%s%s", b->path, b->name, aidev_backend_state_string(state),
                 b->reason[0] ? ": " : "", b->reason);
}

static const aidev_registry_backend *find_loaded(const char *name)
{
    for (uint32_t i = 0; i < registry_count; i++)
        if (registry[i].state == AIDEV_BACKEND_LOADED && strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Bringing one backend up                                                  */
/* ------------------------------------------------------------------------ */

static bool check_vtable(aidev_registry_backend *b, const aidev_backend_vtable *vt,
                         uint32_t abi)
{
    if (!vt) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "entry returned no vtable");
        return false;
    }
    if (vt->struct_size < VTABLE_MIN_SIZE) {
        set_outcome(b, AIDEV_BACKEND_FAILED,
                    "vtable is %u bytes, shorter than the %zu of ABI 1.0", vt->struct_size,
                    (size_t)VTABLE_MIN_SIZE);
        return false;
    }
    if (vt->abi_version != abi) {
        set_outcome(b, AIDEV_BACKEND_FAILED,
                    "vtable says ABI %u.%u but the entry answered %u.%u",
                    AIDEV_BACKEND_ABI_MAJOR(vt->abi_version),
                    AIDEV_BACKEND_ABI_MINOR(vt->abi_version), AIDEV_BACKEND_ABI_MAJOR(abi),
                    AIDEV_BACKEND_ABI_MINOR(abi));
        return false;
    }
    /* Copy what the plugin has; what it lacks stays NULL (unsupported). */
    size_t n = vt->struct_size < sizeof b->vt ? vt->struct_size : sizeof b->vt;
    memset(&b->vt, 0, sizeof b->vt);
    memcpy(&b->vt, vt, n);
    b->vt.struct_size = (uint32_t)n;
    for (size_t i = 0; i < sizeof required_members / sizeof required_members[0]; i++) {
        void *fn;
        memcpy(&fn, (const char *)&b->vt + required_members[i].offset, sizeof fn);
        if (!fn) {
            set_outcome(b, AIDEV_BACKEND_FAILED, "vtable lacks the required member '%s'",
                        required_members[i].name);
            return false;
        }
    }
    if (!b->vt.name || !b->vt.name[0]) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "vtable has no name");
        return false;
    }
    return true;
}

/* Initialises the backend and caches its devices' info. */
static void init_backend(aidev_registry_backend *b)
{
    aidev_error_clear();
    aidev_status st = b->vt.init(&b->instance);
    if (st != AIDEV_SUCCESS) {
        const char *why = aidev_last_error()[0] ? aidev_last_error() : aidev_status_string(st);
        set_outcome(b, st == AIDEV_ERROR_UNSUPPORTED ? AIDEV_BACKEND_SKIPPED : AIDEV_BACKEND_FAILED,
                    "init: %s", why);
        b->instance = NULL;
        return;
    }
    uint32_t n = b->vt.device_count(b->instance);
    if (n == 0) {
        set_outcome(b, AIDEV_BACKEND_SKIPPED, "no devices on this machine");
        b->vt.shutdown(b->instance);
        b->instance = NULL;
        return;
    }
    b->device_infos = calloc(n, sizeof *b->device_infos);
    if (!b->device_infos) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "out of host memory");
        b->vt.shutdown(b->instance);
        b->instance = NULL;
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        aidev_backend_device_info *info = &b->device_infos[i];
        info->struct_size = sizeof *info;
        info->numa_node = -1;
        aidev_error_clear();
        st = b->vt.device_info(b->instance, i, info);
        if (st != AIDEV_SUCCESS) {
            set_outcome(b, AIDEV_BACKEND_FAILED, "device_info(%u): %s", i,
                        aidev_last_error()[0] ? aidev_last_error() : aidev_status_string(st));
            free(b->device_infos);
            b->device_infos = NULL;
            b->vt.shutdown(b->instance);
            b->instance = NULL;
            return;
        }
        /* Never trust a plugin to terminate its strings. */
        info->name[sizeof info->name - 1] = '\0';
        info->vendor[sizeof info->vendor - 1] = '\0';
        info->driver_version[sizeof info->driver_version - 1] = '\0';
        info->api_version[sizeof info->api_version - 1] = '\0';
        info->pci_bus_id[sizeof info->pci_bus_id - 1] = '\0';
    }
    b->device_count = n;
    set_outcome(b, AIDEV_BACKEND_LOADED, "%s", "");
}

static void add_builtin_cpu(void)
{
    const aidev_backend_vtable *vt = aidev_cpu_backend_vtable();
    const char *sel = selected_backends();
    if (find_loaded(vt->name))
        return;
    aidev_registry_backend *b = add_entry(vt->name, "(built-in)");
    if (!b)
        return;
    b->abi_version = vt->abi_version;
    if (sel && list_position(sel, vt->name) < 0) {
        set_outcome(b, AIDEV_BACKEND_SKIPPED, "not selected by AIDEV_BACKENDS=%s", sel);
        return;
    }
    if (check_vtable(b, vt, vt->abi_version))
        init_backend(b);
}

/* ------------------------------------------------------------------------ */
/* Plugins                                                                  */
/* ------------------------------------------------------------------------ */

static bool insecure_allowed(void)
{
    const char *env = secure_getenv("AIDEV_ALLOW_INSECURE_PLUGINS");
    return env && strcmp(env, "1") == 0;
}

/* A file or folder other users can write may be swapped under us: refuse it,
 * as the dynamic loader refuses such paths for setuid programs. */
static bool path_is_safe(const char *path, char *why, size_t why_size)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, why_size, "cannot stat %s: %s", path, strerror(errno));
        return false;
    }
    if ((st.st_mode & S_IWOTH) && !(S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX))) {
        snprintf(why, why_size,
                 "%s is writable by every user (mode %04o); set "
                 "AIDEV_ALLOW_INSECURE_PLUGINS=1 to load it anyway",
                 path, (unsigned)(st.st_mode & 07777));
        return insecure_allowed();
    }
    return true;
}

static void load_plugin(const char *path, const char *file_name, bool folder_safe,
                        const char *folder_why)
{
    /* libaidev-backend-NAME.so -> NAME */
    char name[64];
    size_t len = strlen(file_name) - strlen(PLUGIN_PREFIX) - strlen(PLUGIN_SUFFIX);
    snprintf(name, sizeof name, "%.*s", (int)len, file_name + strlen(PLUGIN_PREFIX));

    const aidev_registry_backend *twin = find_loaded(name);
    for (uint32_t i = 0; !twin && i < registry_count; i++)
        if (strcmp(registry[i].name, name) == 0 && registry[i].state != AIDEV_BACKEND_SKIPPED)
            twin = &registry[i];
    aidev_registry_backend *b = add_entry(name, path);
    if (!b) {
        loader_debug("%s: ignored, more than %d backends", path, MAX_BACKENDS);
        return;
    }
    if (twin) {
        set_outcome(b, AIDEV_BACKEND_SKIPPED, "duplicate: backend '%s' already found at %s",
                    name, twin->path);
        return;
    }
    const char *sel = selected_backends();
    if (sel && list_position(sel, name) < 0) {
        set_outcome(b, AIDEV_BACKEND_SKIPPED, "not selected by AIDEV_BACKENDS=%s", sel);
        return;
    }
    char why[600];
    if (!folder_safe) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "refused: %s", folder_why);
        return;
    }
    if (!path_is_safe(path, why, sizeof why)) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "refused: %s", why);
        return;
    }

    dlerror();
    b->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!b->dl) {
        const char *err = dlerror();
        set_outcome(b, AIDEV_BACKEND_FAILED, "dlopen: %s", err ? err : "unknown error");
        return;
    }
    aidev_backend_entry_fn entry;
    void *sym = dlsym(b->dl, AIDEV_BACKEND_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry);
    if (!entry) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "no entry symbol '%s'", AIDEV_BACKEND_ENTRY_SYMBOL);
        goto fail;
    }

    aidev_backend_negotiation nego = {
        .struct_size = sizeof nego,
        .abi_version = AIDEV_BACKEND_ABI_VERSION,
    };
    aidev_error_clear();
    aidev_status st = entry(&nego);
    if (st != AIDEV_SUCCESS) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "entry refused ABI %u.%u: %s",
                    AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION),
                    AIDEV_BACKEND_ABI_MINOR(AIDEV_BACKEND_ABI_VERSION),
                    aidev_last_error()[0] ? aidev_last_error() : aidev_status_string(st));
        goto fail;
    }
    b->abi_version = nego.abi_version;
    if (AIDEV_BACKEND_ABI_MAJOR(nego.abi_version) != AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION) ||
        AIDEV_BACKEND_ABI_MINOR(nego.abi_version) > AIDEV_BACKEND_ABI_MINOR(AIDEV_BACKEND_ABI_VERSION)) {
        set_outcome(b, AIDEV_BACKEND_FAILED,
                    "ABI mismatch: plugin speaks %u.%u, loader speaks %u.%u",
                    AIDEV_BACKEND_ABI_MAJOR(nego.abi_version),
                    AIDEV_BACKEND_ABI_MINOR(nego.abi_version),
                    AIDEV_BACKEND_ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION),
                    AIDEV_BACKEND_ABI_MINOR(AIDEV_BACKEND_ABI_VERSION));
        goto fail;
    }
    if (!check_vtable(b, nego.vtable, nego.abi_version))
        goto fail;
    if (strcmp(b->vt.name, name) != 0) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "file is named for '%s' but the vtable names '%s'",
                    name, b->vt.name);
        goto fail;
    }
    init_backend(b);
    if (b->state == AIDEV_BACKEND_LOADED)
        return;
fail:
    dlclose(b->dl);
    b->dl = NULL;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void scan_folder(const char *folder)
{
    loader_debug("searching %s", folder);
    DIR *d = opendir(folder);
    if (!d) {
        loader_debug("  %s: %s", folder, strerror(errno));
        return;
    }
    char why[600];
    bool safe = path_is_safe(folder, why, sizeof why);

    /* Sorted, so the load order does not depend on the file system. */
    char *names[256];
    size_t count = 0;
    struct dirent *de;
    while ((de = readdir(d)) && count < sizeof names / sizeof names[0]) {
        size_t len = strlen(de->d_name);
        if (len <= strlen(PLUGIN_PREFIX) + strlen(PLUGIN_SUFFIX) ||
            strncmp(de->d_name, PLUGIN_PREFIX, strlen(PLUGIN_PREFIX)) != 0 ||
            strcmp(de->d_name + len - strlen(PLUGIN_SUFFIX), PLUGIN_SUFFIX) != 0)
            continue;
        names[count] = strdup(de->d_name);
        if (names[count])
            count++;
    }
    closedir(d);
    qsort(names, count, sizeof names[0], compare_names);
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", folder, names[i]);
        loader_debug("  trying %s", path);
        load_plugin(path, names[i], safe, why);
        free(names[i]);
    }
}

static void scan_path_list(const char *list)
{
    char *copy = strdup(list);
    if (!copy)
        return;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
        if (*dir)
            scan_folder(dir);
    free(copy);
}

/* True when this libaidev is the one in the build tree, not an installed copy. */
static bool running_from_build_tree(void)
{
    Dl_info info;
    if (!dladdr((void *)running_from_build_tree, &info) || !info.dli_fname)
        return false;
    char real[PATH_MAX];
    if (!realpath(info.dli_fname, real))
        return false;
    size_t n = strlen(AIDEV_BUILD_ROOT);
    return strncmp(real, AIDEV_BUILD_ROOT, n) == 0 && real[n] == '/';
}

static void scan_build_tree(void)
{
    const char *folders[] = {"opencl", "vulkan"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof folders / sizeof folders[0]; i++) {
        snprintf(path, sizeof path, "%s/backends/%s", AIDEV_BUILD_ROOT, folders[i]);
        struct stat st;
        if (stat(path, &st) == 0)
            scan_folder(path);
    }
}

/* Where a backend goes in the list: AIDEV_BACKENDS order when set, else
 * plugins first and the built-in CPU fallback last. */
static int selection_rank(const aidev_registry_backend *b)
{
    const char *sel = selected_backends();
    int pos = sel ? list_position(sel, b->name) : -1;
    if (pos >= 0)
        return pos;
    return strcmp(b->path, "(built-in)") != 0 ? MAX_BACKENDS : MAX_BACKENDS + 1;
}

/* Insertion sort: stable, so equal ranks keep their discovery order. */
static void sort_by_rank(void)
{
    for (uint32_t i = 1; i < registry_count; i++) {
        aidev_registry_backend tmp = registry[i];
        int rank = selection_rank(&tmp);
        uint32_t j = i;
        for (; j > 0 && selection_rank(&registry[j - 1]) > rank; j--)
            registry[j] = registry[j - 1];
        registry[j] = tmp;
    }
}

static void registry_load(void)
{
    registry = calloc(MAX_BACKENDS, sizeof *registry);
    registry_count = 0;
    if (!registry)
        return;

    const char *env = secure_getenv("AIDEV_PLUGIN_PATH");
    if (env && *env)
        scan_path_list(env);
    else if (getenv("AIDEV_PLUGIN_PATH") && !secure_getenv("AIDEV_PLUGIN_PATH"))
        loader_debug("AIDEV_PLUGIN_PATH ignored: setuid/setgid program");
    if (running_from_build_tree())
        scan_build_tree();
    scan_folder(AIDEV_INSTALLED_PLUGIN_DIR);
    add_builtin_cpu();

    sort_by_rank();
}

static void registry_unload(void)
{
    for (uint32_t i = 0; i < registry_count; i++) {
        aidev_registry_backend *b = &registry[i];
        if (b->instance)
            b->vt.shutdown(b->instance);
        free(b->device_infos);
        if (b->dl)
            dlclose(b->dl);
    }
    free(registry);
    registry = NULL;
    registry_count = 0;
}

aidev_status aidev_registry_acquire(aidev_registry_backend **out_backends, uint32_t *out_count)
{
    pthread_mutex_lock(&registry_lock);
    if (registry_refs++ == 0)
        registry_load();
    aidev_status st = AIDEV_SUCCESS;
    if (!registry) {
        registry_refs--;
        st = aidev_error(AIDEV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory loading backends");
    }
    *out_backends = registry;
    *out_count = registry_count;
    pthread_mutex_unlock(&registry_lock);
    return st;
}

void aidev_registry_release(void)
{
    pthread_mutex_lock(&registry_lock);
    if (registry_refs && --registry_refs == 0)
        registry_unload();
    pthread_mutex_unlock(&registry_lock);
}
