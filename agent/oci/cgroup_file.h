/* liboci internal: reading and writing a cgroup's interface files, for the
 * cgroup_*.c files. Every access goes through the directory fd opened at
 * create time (when open), so a rename of the path cannot redirect writes. */
#ifndef COFFER_OCI_CGROUP_FILE_H
#define COFFER_OCI_CGROUP_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "cgroup.h"

/* openat(2) of a file in the cgroup (O_CLOEXEC added); -1 with errno. */
int cg_openat(const oci_cgroup *cg, const char *name, int flags);
/* A fresh fd of the directory (own file offset, for fdopendir). */
int cg_open_dir(const oci_cgroup *cg);
/* The whole file into a NUL-terminated malloc'd buffer; -errno on failure
 * (so -ENOENT tells a missing controller). */
int cg_slurp_fd(int fd, char **out);
int cg_slurp_at(int dirfd, const char *name, char **out);
int cg_slurp(const oci_cgroup *cg, const char *name, char **out);
/* "max" → UINT64_MAX (the value runc reports for "unlimited"). */
bool cg_parse_u64(const char *s, uint64_t *out);
/* A single-number file; false when missing or unparsable. */
bool cg_read_u64(const oci_cgroup *cg, const char *name, uint64_t *out);
/* The value of "key N" in a flat-keyed file (cpu.stat, memory.events). */
bool cg_keyed_u64(const char *buf, const char *key, uint64_t *out);
/* word in a blank-separated list (cgroup.controllers, subtree_control). */
bool cg_has_word(const char *list, const char *word);
/* ENOENT for field's file, naming the controller that would provide it. */
int cg_missing_file(const oci_cgroup *cg, const char *field, const char *file, cf_error *err);
/* Writes of a spec field's value: errors name the field and the file. */
int cg_open_for_write(const oci_cgroup *cg, const char *field, const char *file, cf_error *err);
int cg_write_value(int fd, const oci_cgroup *cg, const char *field, const char *file,
                   const char *value, cf_error *err);
int cg_write(const oci_cgroup *cg, const char *field, const char *file, const char *value,
             cf_error *err);
/* A write of the runtime's own (freeze, cgroup.procs). */
int cg_write_simple(const oci_cgroup *cg, const char *file, const char *value, cf_error *err);
void cg_sleep_ms(long ms);

#endif
