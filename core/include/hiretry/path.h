/*
 * File names from HIRETRY_LOG_FILE and HIRETRY_STATS_FILE, where %p stands
 * for the process id, so that each process a program forks writes its own
 * file.
 */
#ifndef HIRETRY_PATH_H
#define HIRETRY_PATH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Expands pattern into out (size bytes): %p becomes pid in decimal and %%
 * becomes %. Any other % is kept as it is. Returns 0, or -1 with out
 * emptied when the result does not fit.
 */
int hr_path_expand(const char *pattern, long pid, char *out, size_t size);

/* Returns true when pattern contains %p, so that each process has its own
 * file. */
bool hr_path_per_process(const char *pattern);

#endif
