/* The error object passed down through every call that can fail.
 *
 * A failing function fills it once with what failed and why (naming the id or
 * path involved) and returns a negative errno; callers add context with
 * cf_error_prefix() instead of overwriting it. Exactly one place logs it. */
#ifndef COFFER_ERROR_H
#define COFFER_ERROR_H

#include <stdarg.h>

/* gRPC status codes, as carried by ttrpc and containerd's errdefs. */
enum cf_status {
  CF_OK = 0,
  CF_CANCELLED = 1,
  CF_UNKNOWN = 2,
  CF_INVALID_ARGUMENT = 3,
  CF_DEADLINE_EXCEEDED = 4,
  CF_NOT_FOUND = 5,
  CF_ALREADY_EXISTS = 6,
  CF_PERMISSION_DENIED = 7,
  CF_RESOURCE_EXHAUSTED = 8,
  CF_FAILED_PRECONDITION = 9,
  CF_ABORTED = 10,
  CF_OUT_OF_RANGE = 11,
  CF_UNIMPLEMENTED = 12,
  CF_INTERNAL = 13,
  CF_UNAVAILABLE = 14,
  CF_DATA_LOSS = 15,
  CF_UNAUTHENTICATED = 16,
};

#define CF_ERROR_MSG_MAX 1024

typedef struct cf_error {
  int errnum;      /* positive errno, 0 when not from a system call */
  int status;      /* enum cf_status to report over ttrpc; CF_OK = unset */
  char msg[CF_ERROR_MSG_MAX];
} cf_error;

/* Record an error; appends ": strerror(errnum)" when errnum != 0.
 * Returns -errnum (or -EIO when errnum is 0) for `return cf_err(...)`. */
int cf_err(cf_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with a gRPC status that a ttrpc handler will answer with. */
int cf_err_status(cf_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepend context: "context: previous message". Returns the same -errno. */
int cf_error_prefix(cf_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cf_error_clear(cf_error *err);
/* The status to answer with: err->status, else one derived from errnum. */
int cf_error_grpc_status(const cf_error *err);
const char *cf_status_name(int status);

#endif
