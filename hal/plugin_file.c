/*
 * plugin_file.c - checks of a plugin file before it is loaded.
 *
 * dlopen() runs a library's constructors before the loader can look at it,
 * maps segments past the end of a truncated file (touching them later is a
 * SIGBUS, not an error), and words its refusals for linker experts. So the
 * loader reads the ELF header itself first, and refuses, with a reason a
 * vendor can act on, anything that is not a complete shared object for this
 * very process: the class, byte order and machine are taken from libaidev's
 * own ELF header in memory, not from a list of compile-time guesses.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hal/plugin_file.h"

/* ------------------------------------------------------------------------ */
/* Ownership and permissions                                                */
/* ------------------------------------------------------------------------ */

bool aidev_plugin_path_trusted(const char *path, const struct stat *st, char *why,
                               size_t why_size)
{
    /* Whoever owns a file can rewrite it, so "writable by others" includes
     * files of other users, whatever their mode says. */
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        snprintf(why, why_size, "%s is owned by user %u, neither root nor this user (%u)", path,
                 (unsigned)st->st_uid, (unsigned)geteuid());
        return false;
    }
    if (st->st_mode & S_IWOTH) {
        snprintf(why, why_size, "%s is writable by every user (mode %04o)", path,
                 (unsigned)(st->st_mode & 07777));
        return false;
    }
    /* A group other than our own primary group may hold other users. */
    if ((st->st_mode & S_IWGRP) && st->st_gid != getegid()) {
        snprintf(why, why_size, "%s is writable by group %u (mode %04o), which is not this "
                 "user's group", path, (unsigned)st->st_gid, (unsigned)(st->st_mode & 07777));
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------------ */
/* What this process is                                                     */
/* ------------------------------------------------------------------------ */

/* libaidev's own ELF header: the first bytes of its mapping. */
static const ElfW(Ehdr) *own_header(void)
{
    Dl_info info;
    if (!dladdr((void *)own_header, &info) || !info.dli_fbase)
        return NULL;
    const ElfW(Ehdr) *eh = info.dli_fbase;
    return memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 ? eh : NULL;
}

static const char *machine_name(unsigned machine)
{
    switch (machine) {
    case EM_X86_64: return "x86-64";
    case EM_386: return "i386";
    case EM_AARCH64: return "AArch64";
    case EM_ARM: return "ARM";
    case EM_RISCV: return "RISC-V";
    case EM_PPC64: return "PowerPC64";
    case EM_PPC: return "PowerPC";
    case EM_S390: return "s390";
    case EM_MIPS: return "MIPS";
    case EM_SPARCV9: return "SPARC V9";
#ifdef EM_LOONGARCH
    case EM_LOONGARCH: return "LoongArch";
#endif
    default: return "an unknown machine";
    }
}

static const char *class_name(unsigned char c)
{
    return c == ELFCLASS64 ? "64-bit" : c == ELFCLASS32 ? "32-bit" : "unknown-class";
}

static const char *data_name(unsigned char d)
{
    return d == ELFDATA2LSB ? "little-endian" : d == ELFDATA2MSB ? "big-endian"
                                                                : "unknown-byte-order";
}

/* ------------------------------------------------------------------------ */
/* Reading the file                                                         */
/* ------------------------------------------------------------------------ */

/* Reads up to |size| bytes at |offset|; returns the count read. */
static size_t read_at(int fd, void *buf, size_t size, uint64_t offset)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = pread(fd, (char *)buf + done, size - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    return done;
}

/* Why a file that does not start with the ELF magic is not a plugin. */
static void describe_not_elf(const unsigned char *head, size_t n, char *what, size_t what_size)
{
    if (n >= 8 && memcmp(head, "!<arch>\n", 8) == 0) {
        snprintf(what, what_size, "not a shared object: a static library (ar archive); "
                 "build the plugin with -shared");
        return;
    }
    if (n >= 2 && head[0] == '#' && head[1] == '!') {
        snprintf(what, what_size, "not an ELF file: a script");
        return;
    }
    bool text = n > 0;
    for (size_t i = 0; i < n && text; i++)
        text = head[i] == '\n' || head[i] == '\t' || head[i] == '\r' ||
               (head[i] >= 0x20 && head[i] < 0x7f);
    if (text) {
        snprintf(what, what_size, "not an ELF file: text (a linker script?)");
        return;
    }
    snprintf(what, what_size, "not an ELF file: starts with bytes %02x %02x %02x %02x", head[0],
             n > 1 ? head[1] : 0, n > 2 ? head[2] : 0, n > 3 ? head[3] : 0);
}

/* The checks of the ELF identification and header. */
static bool check_header(const ElfW(Ehdr) *eh, const ElfW(Ehdr) *self, uint64_t size,
                         char *what, size_t what_size)
{
    if (eh->e_ident[EI_CLASS] != self->e_ident[EI_CLASS]) {
        snprintf(what, what_size, "ELF %s, but this process is %s",
                 class_name(eh->e_ident[EI_CLASS]), class_name(self->e_ident[EI_CLASS]));
        return false;
    }
    if (eh->e_ident[EI_DATA] != self->e_ident[EI_DATA]) {
        snprintf(what, what_size, "ELF %s, but this process is %s",
                 data_name(eh->e_ident[EI_DATA]), data_name(self->e_ident[EI_DATA]));
        return false;
    }
    if (size < sizeof *eh) {
        snprintf(what, what_size, "truncated: %llu bytes, shorter than the %zu-byte ELF header",
                 (unsigned long long)size, sizeof *eh);
        return false;
    }
    if (eh->e_type != ET_DYN) {
        const char *kind = eh->e_type == ET_EXEC  ? "an executable"
                           : eh->e_type == ET_REL ? "an object file (.o); link it with -shared"
                           : eh->e_type == ET_CORE ? "a core dump"
                                                   : "of an unknown ELF type";
        snprintf(what, what_size, "not a shared object: %s", kind);
        return false;
    }
    if (eh->e_machine != self->e_machine) {
        snprintf(what, what_size, "ELF for %s (e_machine %u), but this process runs on %s (%u)",
                 machine_name(eh->e_machine), (unsigned)eh->e_machine,
                 machine_name(self->e_machine), (unsigned)self->e_machine);
        return false;
    }
    return true;
}

/* The program headers: every loadable segment must lie inside the file,
 * else touching its pages after dlopen() kills the process with SIGBUS. */
static bool check_segments(int fd, const ElfW(Ehdr) *eh, uint64_t size, char *what,
                           size_t what_size)
{
    if (eh->e_phentsize != sizeof(ElfW(Phdr)) || eh->e_phnum == 0) {
        snprintf(what, what_size, "malformed ELF: no program headers");
        return false;
    }
    uint64_t ph_end = (uint64_t)eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(ElfW(Phdr));
    if (eh->e_phoff > size || ph_end > size) {
        snprintf(what, what_size,
                 "truncated: the program headers end at byte %llu, the file has %llu bytes",
                 (unsigned long long)ph_end, (unsigned long long)size);
        return false;
    }
    bool have_load = false, have_dynamic = false;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        ElfW(Phdr) ph;
        if (read_at(fd, &ph, sizeof ph, eh->e_phoff + (uint64_t)i * sizeof ph) != sizeof ph) {
            snprintf(what, what_size, "could not read program header %u: %s", i,
                     strerror(errno ? errno : EIO));
            return false;
        }
        have_dynamic |= ph.p_type == PT_DYNAMIC;
        if (ph.p_type != PT_LOAD)
            continue;
        have_load = true;
        uint64_t end = (uint64_t)ph.p_offset + (uint64_t)ph.p_filesz;
        if (end < ph.p_offset || end > size) {
            snprintf(what, what_size,
                     "truncated: a loadable segment ends at byte %llu, the file has %llu bytes",
                     (unsigned long long)end, (unsigned long long)size);
            return false;
        }
    }
    if (!have_load || !have_dynamic) {
        snprintf(what, what_size, "not a shared object: no %s segment",
                 have_load ? "dynamic" : "loadable");
        return false;
    }
    /* The section headers sit at the end of the file: a cut-off copy loses
     * them first. */
    if (eh->e_shnum) {
        uint64_t sh_end = (uint64_t)eh->e_shoff + (uint64_t)eh->e_shnum * eh->e_shentsize;
        if (eh->e_shoff > size || sh_end > size) {
            snprintf(what, what_size,
                     "truncated: the section headers end at byte %llu, the file has %llu bytes",
                     (unsigned long long)sh_end, (unsigned long long)size);
            return false;
        }
    }
    return true;
}

static const char *file_kind(mode_t mode)
{
    return S_ISDIR(mode)    ? "a folder"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
                            : "not a regular file";
}

bool aidev_plugin_file_inspect(const char *path, struct stat *st, char *what, size_t what_size)
{
    memset(st, 0, sizeof *st);
    /* O_NONBLOCK: a FIFO named like a plugin must not hang the program. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        snprintf(what, what_size, "cannot open: %s", strerror(errno));
        return false;
    }
    bool ok = false;
    if (fstat(fd, st) != 0) {
        snprintf(what, what_size, "cannot stat: %s", strerror(errno));
        st->st_mode = 0;
        goto out;
    }
    if (!S_ISREG(st->st_mode)) {
        snprintf(what, what_size, "%s, not a shared object", file_kind(st->st_mode));
        goto out;
    }
    uint64_t size = (uint64_t)st->st_size;
    ElfW(Ehdr) eh;
    memset(&eh, 0, sizeof eh);
    size_t got = read_at(fd, &eh, sizeof eh, 0);
    if (got == 0) {
        snprintf(what, what_size, size ? "cannot read: %s" : "empty file (0 bytes)",
                 strerror(errno ? errno : EIO));
        goto out;
    }
    size_t magic = got < SELFMAG ? got : SELFMAG;
    if (memcmp(eh.e_ident, ELFMAG, magic) != 0) {
        describe_not_elf(eh.e_ident, got < 16 ? got : 16, what, what_size);
        goto out;
    }
    if (got < EI_NIDENT) {
        snprintf(what, what_size, "truncated: %llu bytes, shorter than an ELF identification",
                 (unsigned long long)size);
        goto out;
    }
    const ElfW(Ehdr) *self = own_header();
    if (!self) {
        snprintf(what, what_size, "cannot read libaidev's own ELF header to compare");
        goto out;
    }
    if (!check_header(&eh, self, size, what, what_size) ||
        !check_segments(fd, &eh, size, what, what_size))
        goto out;
    snprintf(what, what_size, "ELF %s %s shared object, %llu bytes",
             class_name(eh.e_ident[EI_CLASS]), machine_name(eh.e_machine),
             (unsigned long long)size);
    ok = true;
out:
    close(fd);
    return ok;
}
