/* liboci internal: linux.seccomp → a seccomp filter (libseccomp). */
#ifndef COFFER_OCI_SECCOMP_FILTER_H
#define COFFER_OCI_SECCOMP_FILTER_H

#include <json-c/json.h>

#include "coffer/error.h"

typedef struct oci_seccomp oci_seccomp;
/* Builds the filter of linux.seccomp; *out NULL when seccomp is NULL. */
int oci_seccomp_build(json_object *seccomp, oci_seccomp **out, cf_error *err);
/* Loads it into the calling process. With no_new_privs, the last step
 * before execve; without, seccomp(2) needs CAP_SYS_ADMIN, so before the
 * user and capabilities change (the profile must then allow those calls).
 * NULL: nothing to load. */
int oci_seccomp_load(oci_seccomp *s, cf_error *err);
void oci_seccomp_free(oci_seccomp *s);

#endif
