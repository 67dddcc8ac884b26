/*
 * plugin_file.h - what the loader checks of a plugin file and its folder
 * before any byte of the plugin runs (hal/plugin_file.c).
 */
#ifndef AIDEV_HAL_PLUGIN_FILE_H
#define AIDEV_HAL_PLUGIN_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Whether the folder or file |path|, whose status is |st|, can be trusted:
 * owned by root or by this process's user, and writable by no one else
 * (not by "others", and by its group only when that is this process's own
 * group). Otherwise writes the reason to |why| and returns false. */
bool aidev_plugin_path_trusted(const char *path, const struct stat *st, char *why,
                               size_t why_size);

/* Inspects the plugin file |path| without loading it: a regular file that
 * holds a complete ELF shared object of this process's class, byte order
 * and machine. Fills |st| with the file's status (also on most failures;
 * st_mode 0 when it could not be read). Returns true with a one-line
 * description in |what|, or false with the reason in |what|. */
bool aidev_plugin_file_inspect(const char *path, struct stat *st, char *what, size_t what_size);

#endif
