/*
 * registry.c - the process-wide list of backends, and the plugin loader.
 *
 * The registry is loaded when the first context is made and unloaded when
 * the last one goes, so a program that makes no context loads no plugin and
 * a test can change AIDEV_PLUGIN_PATH between contexts.
 *
 * Discovery order
 *   1. AIDEV_PLUGIN_PATH, colon-separated folders, in their order (ignored
 *      in setuid/setgid programs: secure_getenv);
 *   2. the build tree's backends/<name>/ folders, only when this libaidev
 *      is itself the one in the build tree: its plugins were built with it,
 *      while an installed copy may be older, so a developer's fresh plugins
 *      win;
 *   3. the installed plugin folder ($libdir/aidev/backends).
 *   A backend name is taken by the first file found that is not refused
 *   before it is opened (by the trust or file checks below): later files of
 *   that name are listed as duplicates and never opened, while a refused
 *   copy (one planted in a folder others can write, say) is listed as failed
 *   and the search goes on to a trusted copy. The CPU backend is built in,
 *   and its name is taken before any folder is searched.
 *   AIDEV_BACKENDS=a,b selects and orders backends: those it leaves out are
 *   listed but not opened, and a name it gives that no folder holds is
 *   listed as failed with the folders searched.
 *
 * Each plugin file goes through these steps; the first that fails becomes
 * the reason in its report, and the program goes on without it:
 *   name -> selection -> trust (the folder and the file writable by no
 *   other user, unless AIDEV_ALLOW_INSECURE_PLUGINS=1) -> file (a complete
 *   ELF shared object for this process, hal/plugin_file.c) -> dlopen ->
 *   entry symbol -> ABI negotiation -> vtable -> init -> devices.
 * AIDEV_DEBUG=loader prints every folder searched and every step of every
 * file on stderr.
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
#include "hal/env.h"
#include "hal/internal.h"
#include "hal/plugin_file.h"

#define PLUGIN_PREFIX "libaidev-backend-"
#define PLUGIN_SUFFIX ".so"
#define BUILTIN_PATH "(built-in)"
#define NOT_FOUND_PATH "(not found)"
#define MAX_BACKENDS 64
#define MAX_FOLDERS 64
#define MAX_FILES_PER_FOLDER 256
/* More devices than this from one backend is a broken plugin. */
#define MAX_DEVICES_PER_BACKEND 256

#define ABI_MAJOR(v) AIDEV_BACKEND_ABI_MAJOR(v)
#define ABI_MINOR(v) AIDEV_BACKEND_ABI_MINOR(v)

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t registry_refs;
static aidev_registry_backend *registry;
static uint32_t registry_count;
/* Set while this thread loads the registry: a backend that creates a
 * context from its entry or init gets an error, not a deadlock. */
static _Thread_local bool loading_here;

/* What one load searched: to skip a folder listed twice, and to tell a
 * user which folders lacked a backend they asked for. */
typedef struct search_log {
    struct {
        dev_t dev;
        ino_t ino;
    } seen[MAX_FOLDERS];
    uint32_t seen_count;
    char folders[2048];
} search_log;

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

/* Optional members, for the debug report of what a plugin offers. */
static const struct {
    const char *name;
    size_t offset;
} optional_members[] = {
#define OPT(m) {#m, offsetof(aidev_backend_vtable, m)}
    OPT(buffer_map), OPT(buffer_unmap), OPT(queue_flush), OPT(device_free_memory),
    OPT(buffer_query), OPT(queue_create_desc),
#undef OPT
};

#define KNOWN_CAPS                                                                             \
    (AIDEV_BACKEND_CAP_ANY_WAIT | AIDEV_BACKEND_CAP_HOST_CALLBACK |                              \
     AIDEV_BACKEND_CAP_NATIVE_WAITS | AIDEV_BACKEND_CAP_PREFETCH |                               \
     AIDEV_BACKEND_CAP_SPEC_CONSTANTS | AIDEV_BACKEND_CAP_LOCAL_ARGS)
/* Caps that ABI 1.4 defined: a plugin that negotiated an older minor
 * cannot mean them. */
#define CAPS_SINCE_1_4 (AIDEV_BACKEND_CAP_SPEC_CONSTANTS | AIDEV_BACKEND_CAP_LOCAL_ARGS)

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

/* A switch of the strict parser (hal/env.h), ignored in setuid programs. */
static bool insecure_allowed(void)
{
    bool allowed;
    aidev_env_flag("AIDEV_ALLOW_INSECURE_PLUGINS", true, false, &allowed);
    return allowed;
}

/* ------------------------------------------------------------------------ */
/* Recording outcomes                                                       */
/* ------------------------------------------------------------------------ */

static aidev_registry_backend *add_entry(const char *name, const char *path)
{
    if (registry_count >= MAX_BACKENDS) {
        loader_debug("  %s: ignored, more than %d backends", path, MAX_BACKENDS);
        return NULL;
    }
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
    loader_debug("  => %s: %s%s%s", b->name, aidev_backend_state_string(state),
                 b->reason[0] ? ": " : "", b->reason);
}

static const aidev_registry_backend *find_entry(const char *name)
{
    for (uint32_t i = 0; i < registry_count; i++)
        if (strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

/* The entry that holds |name|: the first one not refused before opening. */
static const aidev_registry_backend *find_claimant(const char *name)
{
    for (uint32_t i = 0; i < registry_count; i++)
        if (!registry[i].refused && strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

/* The message a failed backend call left, or its status name. */
static const char *call_reason(aidev_status st)
{
    return aidev_last_error()[0] ? aidev_last_error() : aidev_status_string(st);
}

/* ------------------------------------------------------------------------ */
/* Negotiation and the vtable                                               */
/* ------------------------------------------------------------------------ */

/* Bytes of the table that ABI 1.|minor| defines. */
static size_t vtable_size_for_minor(uint32_t minor)
{
    return minor >= 5   ? AIDEV_BACKEND_VTABLE_SIZE_1_5
           : minor == 4 ? AIDEV_BACKEND_VTABLE_SIZE_1_4
           : minor == 3 ? AIDEV_BACKEND_VTABLE_SIZE_1_3
           : minor == 2 ? AIDEV_BACKEND_VTABLE_SIZE_1_2
           : minor == 1 ? AIDEV_BACKEND_VTABLE_SIZE_1_1
                        : AIDEV_BACKEND_VTABLE_SIZE_1_0;
}

/* Offers our ABI to |entry| and settles on the version to use. */
static bool negotiate(aidev_registry_backend *b, aidev_backend_entry_fn entry,
                      const aidev_backend_vtable **out_vt)
{
    const uint32_t offer = AIDEV_BACKEND_ABI_VERSION;
    aidev_backend_negotiation nego = {.struct_size = sizeof nego, .abi_version = offer};
    aidev_error_clear();
    aidev_status st = entry(&nego);
    if (st != AIDEV_SUCCESS) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "entry failed with %s when offered ABI %u.%u: %s",
                    aidev_status_string(st), ABI_MAJOR(offer), ABI_MINOR(offer),
                    call_reason(st));
        return false;
    }
    uint32_t answer = nego.abi_version;
    b->abi_version = answer;
    loader_debug("    entry: offered ABI %u.%u, plugin answered %u.%u", ABI_MAJOR(offer),
                 ABI_MINOR(offer), ABI_MAJOR(answer), ABI_MINOR(answer));
    if (ABI_MAJOR(answer) != ABI_MAJOR(offer)) {
        set_outcome(b, AIDEV_BACKEND_FAILED,
                    "ABI mismatch: plugin speaks %u.%u, libaidev speaks %u.%u (major versions "
                    "differ)",
                    ABI_MAJOR(answer), ABI_MINOR(answer), ABI_MAJOR(offer), ABI_MINOR(offer));
        return false;
    }
    if (ABI_MINOR(answer) > ABI_MINOR(offer)) {
        /* Minors only append: a newer table is an older one plus members
         * we do not know and never read. */
        loader_debug("    plugin answered a newer minor than offered; using it as %u.%u",
                     ABI_MAJOR(offer), ABI_MINOR(offer));
        b->abi_version = offer;
    }
    *out_vt = nego.vtable;
    return true;
}

static void debug_members(const aidev_registry_backend *b)
{
    if (!aidev_backend_debug_enabled("loader"))
        return;
    char line[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < sizeof optional_members / sizeof optional_members[0]; i++) {
        void *fn;
        memcpy(&fn, (const char *)&b->vt + optional_members[i].offset, sizeof fn);
        int n = snprintf(line + len, sizeof line - len, "%s%s=%s", i ? ", " : "",
                         optional_members[i].name, fn ? "yes" : "absent");
        if (n > 0 && (size_t)n < sizeof line - len)
            len += (size_t)n;
    }
    loader_debug("    optional members: %s; caps %#x", line, b->vt.caps);
}

/* Copies the plugin's table into |b->vt| up to what both its size and the
 * negotiated ABI allow; everything past it reads as NULL. */
static bool check_vtable(aidev_registry_backend *b, const aidev_backend_vtable *vt)
{
    uint32_t abi = b->abi_version;
    if (!vt) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "entry returned no vtable");
        return false;
    }
    if (ABI_MAJOR(vt->abi_version) != ABI_MAJOR(abi)) {
        set_outcome(b, AIDEV_BACKEND_FAILED,
                    "vtable was built for ABI %u.%u but the entry answered %u.%u",
                    ABI_MAJOR(vt->abi_version), ABI_MINOR(vt->abi_version), ABI_MAJOR(abi),
                    ABI_MINOR(abi));
        return false;
    }
    if (vt->struct_size < AIDEV_BACKEND_VTABLE_SIZE_1_0) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "vtable is %u bytes, shorter than the %zu of ABI 1.0",
                    vt->struct_size, (size_t)AIDEV_BACKEND_VTABLE_SIZE_1_0);
        return false;
    }
    size_t n = vt->struct_size;
    if (n > vtable_size_for_minor(ABI_MINOR(abi)))
        n = vtable_size_for_minor(ABI_MINOR(abi));
    memset(&b->vt, 0, sizeof b->vt);
    memcpy(&b->vt, vt, n);
    b->vt.struct_size = (uint32_t)n;
    loader_debug("    vtable: %u bytes, built with ABI %u.%u; using %zu bytes (ABI %u.%u)",
                 vt->struct_size, ABI_MAJOR(vt->abi_version), ABI_MINOR(vt->abi_version), n,
                 ABI_MAJOR(abi), ABI_MINOR(abi));
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
    if (strnlen(b->vt.name, sizeof b->name) >= sizeof b->name ||
        strcmp(b->vt.name, b->name) != 0) {
        set_outcome(b, AIDEV_BACKEND_FAILED,
                    "file is named for '%s' but the vtable names '%.63s'; name the file "
                    PLUGIN_PREFIX "%.63s" PLUGIN_SUFFIX,
                    b->name, b->vt.name, b->vt.name);
        return false;
    }
    if (b->vt.caps & ~KNOWN_CAPS)
        loader_debug("    ignoring unknown caps %#x", b->vt.caps & ~KNOWN_CAPS);
    b->vt.caps &= KNOWN_CAPS;
    if (ABI_MINOR(abi) < 4 && (b->vt.caps & CAPS_SINCE_1_4)) {
        loader_debug("    ignoring caps %#x of ABI 1.4 (negotiated %u.%u)",
                     b->vt.caps & CAPS_SINCE_1_4, ABI_MAJOR(abi), ABI_MINOR(abi));
        b->vt.caps &= ~CAPS_SINCE_1_4;
    }
    debug_members(b);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Initialising a backend                                                   */
/* ------------------------------------------------------------------------ */

static void terminate_strings(aidev_backend_device_info *info)
{
    /* Never trust a plugin to terminate its strings or keep to the enums. */
    info->name[sizeof info->name - 1] = '\0';
    info->vendor[sizeof info->vendor - 1] = '\0';
    info->driver_version[sizeof info->driver_version - 1] = '\0';
    info->api_version[sizeof info->api_version - 1] = '\0';
    info->pci_bus_id[sizeof info->pci_bus_id - 1] = '\0';
    info->queue_scheduling[sizeof info->queue_scheduling - 1] = '\0';
    if (info->type < AIDEV_DEVICE_TYPE_CPU || info->type > AIDEV_DEVICE_TYPE_OTHER)
        info->type = AIDEV_DEVICE_TYPE_OTHER;
    info->memory_kinds &= (1u << AIDEV_MEMORY_KIND_COUNT_) - 1;
}

static void init_failed(aidev_registry_backend *b)
{
    free(b->device_infos);
    b->device_infos = NULL;
    b->vt.shutdown(b->instance);
    b->instance = NULL;
}

/* The user-kernel features libaidev answers for: what the device's forms
 * may ask, where its backend said (ABI 1.4 caps) that it applies them. A
 * backend's own claim of these bits counts for nothing. */
static void set_kernel_features(const aidev_registry_backend *b, aidev_backend_device_info *info)
{
    info->features &= ~(AIDEV_FEATURE_KERNEL_SPEC_CONSTANTS | AIDEV_FEATURE_KERNEL_LOCAL_ARGS);
    if ((info->features & AIDEV_FEATURE_KERNEL_SPIRV) &&
        (b->vt.caps & AIDEV_BACKEND_CAP_SPEC_CONSTANTS))
        info->features |= AIDEV_FEATURE_KERNEL_SPEC_CONSTANTS;
    if ((info->features & AIDEV_FEATURE_KERNEL_OPENCL_C) &&
        (b->vt.caps & AIDEV_BACKEND_CAP_LOCAL_ARGS))
        info->features |= AIDEV_FEATURE_KERNEL_LOCAL_ARGS;
}

/* Initialises the backend and caches its devices' info. */
static void init_backend(aidev_registry_backend *b)
{
    aidev_error_clear();
    aidev_status st = b->vt.init(&b->instance);
    if (st != AIDEV_SUCCESS) {
        /* UNSUPPORTED: "not on this machine", which is no failure. */
        set_outcome(b, st == AIDEV_ERROR_UNSUPPORTED ? AIDEV_BACKEND_SKIPPED : AIDEV_BACKEND_FAILED,
                    "init: %s", call_reason(st));
        b->instance = NULL;
        return;
    }
    uint32_t n = b->vt.device_count(b->instance);
    loader_debug("    init: %u device%s", n, n == 1 ? "" : "s");
    if (n == 0) {
        set_outcome(b, AIDEV_BACKEND_SKIPPED, "no devices on this machine");
        init_failed(b);
        return;
    }
    if (n > MAX_DEVICES_PER_BACKEND) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "reports %u devices, more than the %d allowed", n,
                    MAX_DEVICES_PER_BACKEND);
        init_failed(b);
        return;
    }
    b->device_infos = calloc(n, sizeof *b->device_infos);
    if (!b->device_infos) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "out of host memory");
        init_failed(b);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        aidev_backend_device_info *info = &b->device_infos[i];
        info->struct_size = sizeof *info;
        info->numa_node = -1;
        aidev_error_clear();
        st = b->vt.device_info(b->instance, i, info);
        if (st != AIDEV_SUCCESS) {
            set_outcome(b, AIDEV_BACKEND_FAILED, "device_info(%u): %s", i, call_reason(st));
            init_failed(b);
            return;
        }
        info->struct_size = sizeof *info;
        terminate_strings(info);
        set_kernel_features(b, info);
        /* The flag reaches a backend only through queue_create_desc. */
        if (!b->vt.queue_create_desc)
            info->features &= ~AIDEV_FEATURE_QUEUE_LOW_LATENCY;
        loader_debug("    device %u: %s (%s)", i, info->name, info->vendor);
    }
    b->device_count = n;
    set_outcome(b, AIDEV_BACKEND_LOADED, "%s", "");
}

static void add_builtin_cpu(void)
{
    const aidev_backend_vtable *vt = aidev_cpu_backend_vtable();
    aidev_registry_backend *b = add_entry(vt->name, BUILTIN_PATH);
    if (!b)
        return;
    loader_debug("built-in backend '%s'", vt->name);
    b->abi_version = vt->abi_version;
    const char *sel = selected_backends();
    if (sel && list_position(sel, vt->name) < 0) {
        set_outcome(b, AIDEV_BACKEND_SKIPPED, "not selected by AIDEV_BACKENDS=%s", sel);
        return;
    }
    if (check_vtable(b, vt))
        init_backend(b);
}

/* ------------------------------------------------------------------------ */
/* Plugins                                                                  */
/* ------------------------------------------------------------------------ */

/* "libaidev-backend-NAME.so" -> NAME; false when |file| is not so named. */
static bool plugin_name(const char *file, char *name, size_t name_size)
{
    size_t len = strlen(file), pre = strlen(PLUGIN_PREFIX), suf = strlen(PLUGIN_SUFFIX);
    if (len <= pre + suf || strncmp(file, PLUGIN_PREFIX, pre) != 0 ||
        strcmp(file + len - suf, PLUGIN_SUFFIX) != 0)
        return false;
    snprintf(name, name_size, "%.*s", (int)(len - pre - suf), file + pre);
    return true;
}

/* Trust, then the ELF check: nothing of the file runs before both pass. */
static bool check_file(aidev_registry_backend *b, const char *folder_why)
{
    char what[600], why[600];
    struct stat st;
    bool elf_ok = aidev_plugin_file_inspect(b->path, &st, what, sizeof what);
    bool trusted = !folder_why;
    if (trusted && st.st_mode && !aidev_plugin_path_trusted(b->path, &st, why, sizeof why))
        trusted = false;
    else if (folder_why)
        snprintf(why, sizeof why, "%s", folder_why);
    if (!trusted) {
        if (!insecure_allowed()) {
            set_outcome(b, AIDEV_BACKEND_FAILED,
                        "refused: %s; set AIDEV_ALLOW_INSECURE_PLUGINS=1 to load it anyway", why);
            b->refused = true;
            return false;
        }
        loader_debug("    %s; loading anyway (AIDEV_ALLOW_INSECURE_PLUGINS=1)", why);
    }
    if (!elf_ok) {
        set_outcome(b, AIDEV_BACKEND_FAILED, "%s", what);
        b->refused = true;
        return false;
    }
    loader_debug("    file: %s; owner uid %u, mode %04o", what, (unsigned)st.st_uid,
                 (unsigned)(st.st_mode & 07777));
    return true;
}

static void unload_failed(aidev_registry_backend *b)
{
    memset(&b->vt, 0, sizeof b->vt);
    if (b->dl)
        dlclose(b->dl);
    b->dl = NULL;
}

static void load_plugin(const char *path, const char *name, const char *folder_why)
{
    const aidev_registry_backend *twin = find_claimant(name);
    aidev_registry_backend *b = add_entry(name, path);
    if (!b)
        return;
    if (twin) {
        set_outcome(b, AIDEV_BACKEND_SKIPPED, "duplicate: backend '%s' was already found at %s",
                    name, twin->path);
        return;
    }
    const char *sel = selected_backends();
    if (sel && list_position(sel, name) < 0) {
        set_outcome(b, AIDEV_BACKEND_SKIPPED, "not selected by AIDEV_BACKENDS=%s", sel);
        return;
    }
    if (!check_file(b, folder_why))
        return;

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
        set_outcome(b, AIDEV_BACKEND_FAILED,
                    "no entry symbol '%s' (is it exported with AIDEV_BACKEND_EXPORT?)",
                    AIDEV_BACKEND_ENTRY_SYMBOL);
        unload_failed(b);
        return;
    }
    const aidev_backend_vtable *vt = NULL;
    if (!negotiate(b, entry, &vt) || !check_vtable(b, vt)) {
        unload_failed(b);
        return;
    }
    init_backend(b);
    if (b->state != AIDEV_BACKEND_LOADED)
        unload_failed(b);
}

/* ------------------------------------------------------------------------ */
/* Folders                                                                  */
/* ------------------------------------------------------------------------ */

static void log_folder(search_log *log, const char *folder, const char *note)
{
    size_t len = strlen(log->folders);
    snprintf(log->folders + len, sizeof log->folders - len, "%s%s%s%s%s", len ? ", " : "",
             folder, note ? " (" : "", note ? note : "", note ? ")" : "");
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The plugin file names of |d|, sorted so that the load order does not
 * depend on the file system. Returns the count; |names| are malloc'd. */
static size_t list_plugins(DIR *d, const char *folder, char **names, size_t max)
{
    size_t count = 0;
    struct dirent *de;
    char name[64];
    while ((de = readdir(d))) {
        if (!plugin_name(de->d_name, name, sizeof name)) {
            if (strstr(de->d_name, ".so"))
                loader_debug("  ignoring %s/%s: not named " PLUGIN_PREFIX "NAME" PLUGIN_SUFFIX,
                             folder, de->d_name);
            continue;
        }
        if (count == max) {
            loader_debug("  ignoring %s/%s: more than %zu plugins in one folder", folder,
                         de->d_name, max);
            continue;
        }
        if ((names[count] = strdup(de->d_name)))
            count++;
    }
    qsort(names, count, sizeof names[0], compare_names);
    return count;
}

static void scan_folder(search_log *log, const char *folder, const char *origin)
{
    loader_debug("searching %s (%s)", folder, origin);
    struct stat st;
    if (stat(folder, &st) != 0) {
        loader_debug("  %s: %s", folder, strerror(errno));
        log_folder(log, folder, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        loader_debug("  %s: not a folder", folder);
        log_folder(log, folder, "not a folder");
        return;
    }
    for (uint32_t i = 0; i < log->seen_count; i++) {
        if (log->seen[i].dev == st.st_dev && log->seen[i].ino == st.st_ino) {
            loader_debug("  %s: already searched", folder);
            return;
        }
    }
    if (log->seen_count < MAX_FOLDERS) {
        log->seen[log->seen_count].dev = st.st_dev;
        log->seen[log->seen_count].ino = st.st_ino;
        log->seen_count++;
    }
    log_folder(log, folder, NULL);

    /* An untrusted folder is reported on each plugin in it, so the reason
     * shows where the user looks: the backend report. */
    char why[600];
    bool trusted = aidev_plugin_path_trusted(folder, &st, why, sizeof why);
    if (!trusted)
        loader_debug("  %s", why);
    DIR *d = opendir(folder);
    if (!d) {
        loader_debug("  %s: %s", folder, strerror(errno));
        return;
    }
    char *names[MAX_FILES_PER_FOLDER];
    size_t count = list_plugins(d, folder, names, MAX_FILES_PER_FOLDER);
    closedir(d);
    if (count == 0)
        loader_debug("  no " PLUGIN_PREFIX "*" PLUGIN_SUFFIX " files");
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX], name[64];
        snprintf(path, sizeof path, "%s/%s", folder, names[i]);
        plugin_name(names[i], name, sizeof name);
        loader_debug("  trying %s", path);
        load_plugin(path, name, trusted ? NULL : why);
        free(names[i]);
    }
}

static void scan_path_list(search_log *log, const char *list)
{
    char *copy = strdup(list);
    if (!copy)
        return;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save))
        scan_folder(log, dir, "AIDEV_PLUGIN_PATH");
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

/* Every backends/<name>/ folder of the build tree, in name order. */
static void scan_build_tree(search_log *log)
{
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/backends", AIDEV_BUILD_ROOT);
    DIR *d = opendir(root);
    if (!d) {
        loader_debug("build tree: %s: %s", root, strerror(errno));
        return;
    }
    char *names[MAX_FOLDERS];
    size_t count = 0;
    struct dirent *de;
    while ((de = readdir(d)) && count < MAX_FOLDERS) {
        if (de->d_name[0] == '.')
            continue;
        if ((names[count] = strdup(de->d_name)))
            count++;
    }
    closedir(d);
    qsort(names, count, sizeof names[0], compare_names);
    for (size_t i = 0; i < count; i++) {
        char path[PATH_MAX];
        int n = snprintf(path, sizeof path, "%s/%s", root, names[i]);
        struct stat st;
        if (n > 0 && (size_t)n < sizeof path && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            scan_folder(log, path, "build tree");
        free(names[i]);
    }
}

/* A backend AIDEV_BACKENDS asks for that no folder held gets a report too:
 * the first thing to see when a plugin does not show up. */
static void report_missing_selected(const search_log *log)
{
    const char *sel = selected_backends();
    if (!sel)
        return;
    char *copy = strdup(sel);
    if (!copy)
        return;
    char *save = NULL;
    for (char *name = strtok_r(copy, ", ", &save); name; name = strtok_r(NULL, ", ", &save)) {
        if (find_entry(name) || strlen(name) >= sizeof registry[0].name)
            continue;
        aidev_registry_backend *b = add_entry(name, NOT_FOUND_PATH);
        if (b)
            set_outcome(b, AIDEV_BACKEND_FAILED,
                        "selected by AIDEV_BACKENDS but no " PLUGIN_PREFIX "%s" PLUGIN_SUFFIX
                        " was found; searched: %s",
                        name, log->folders[0] ? log->folders : "no folder");
    }
    free(copy);
}

/* ------------------------------------------------------------------------ */
/* Order, load and unload                                                   */
/* ------------------------------------------------------------------------ */

/* Where a backend goes in the list: AIDEV_BACKENDS order when set, else
 * plugins first and the built-in CPU fallback last. */
static int selection_rank(const aidev_registry_backend *b)
{
    const char *sel = selected_backends();
    int pos = sel ? list_position(sel, b->name) : -1;
    if (pos >= 0)
        return pos;
    return strcmp(b->path, BUILTIN_PATH) != 0 ? MAX_BACKENDS : MAX_BACKENDS + 1;
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

static void debug_environment(bool from_build_tree)
{
    if (!aidev_backend_debug_enabled("loader"))
        return;
    const char *path = getenv("AIDEV_PLUGIN_PATH");
    const char *sel = getenv("AIDEV_BACKENDS");
    loader_debug("libaidev %s speaks backend ABI %u.%u", aidev_version(),
                 ABI_MAJOR(AIDEV_BACKEND_ABI_VERSION), ABI_MINOR(AIDEV_BACKEND_ABI_VERSION));
    loader_debug("AIDEV_PLUGIN_PATH=%s%s", path ? path : "(unset)",
                 path && !secure_getenv("AIDEV_PLUGIN_PATH")
                     ? " - ignored: setuid/setgid program"
                     : "");
    loader_debug("AIDEV_BACKENDS=%s", sel ? sel : "(unset: every backend found)");
    loader_debug("build tree %s: %s", AIDEV_BUILD_ROOT,
                 from_build_tree ? "libaidev runs from it, searched before the installed folder"
                                 : "not searched (libaidev is an installed copy)");
    loader_debug("installed plugin folder: %s", AIDEV_INSTALLED_PLUGIN_DIR);
}

static void registry_load(void)
{
    registry = calloc(MAX_BACKENDS, sizeof *registry);
    registry_count = 0;
    if (!registry)
        return;
    search_log *log = calloc(1, sizeof *log);
    if (!log) {
        free(registry);
        registry = NULL;
        return;
    }
    bool from_build_tree = running_from_build_tree();
    debug_environment(from_build_tree);

    add_builtin_cpu();
    const char *env = secure_getenv("AIDEV_PLUGIN_PATH");
    if (env && *env)
        scan_path_list(log, env);
    if (from_build_tree)
        scan_build_tree(log);
    scan_folder(log, AIDEV_INSTALLED_PLUGIN_DIR, "installed");
    report_missing_selected(log);
    free(log);

    sort_by_rank();
    for (uint32_t i = 0; i < registry_count; i++)
        loader_debug("backend %u: %s %s (%u device%s)%s%s", i, registry[i].name,
                     aidev_backend_state_string(registry[i].state), registry[i].device_count,
                     registry[i].device_count == 1 ? "" : "s", registry[i].reason[0] ? ": " : "",
                     registry[i].reason);
}

static void registry_unload(void)
{
    for (uint32_t i = 0; i < registry_count; i++) {
        aidev_registry_backend *b = &registry[i];
        if (b->state == AIDEV_BACKEND_LOADED)
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
    if (loading_here)
        return aidev_error(AIDEV_ERROR_INVALID_STATE,
                           "a backend's entry or init created a context while libaidev was "
                           "loading it; backends may not use the aidev API there");
    pthread_mutex_lock(&registry_lock);
    if (registry_refs++ == 0) {
        loading_here = true;
        registry_load();
        loading_here = false;
    }
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
