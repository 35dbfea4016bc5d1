#include "coffer/error.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int ret_for(int errnum) { return errnum > 0 ? -errnum : -EIO; }

static void vset(cf_error *err, int errnum, const char *fmt, va_list ap) {
  int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
  if (errnum > 0 && n >= 0 && (size_t)n < sizeof(err->msg))
    snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
}

int cf_err(cf_error *err, int errnum, const char *fmt, ...) {
  if (!err)
    return ret_for(errnum);
  va_list ap;
  va_start(ap, fmt);
  vset(err, errnum, fmt, ap);
  va_end(ap);
  err->errnum = errnum;
  err->status = CF_OK;
  return ret_for(errnum);
}

int cf_err_status(cf_error *err, int status, const char *fmt, ...) {
  if (!err)
    return -EIO;
  va_list ap;
  va_start(ap, fmt);
  vset(err, 0, fmt, ap);
  va_end(ap);
  err->errnum = 0;
  err->status = status;
  return -EIO;
}

int cf_error_prefix(cf_error *err, const char *fmt, ...) {
  if (!err)
    return -EIO;
  char prefix[CF_ERROR_MSG_MAX], old[CF_ERROR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof(prefix), fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof(old));
  snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
  return ret_for(err->errnum);
}

void cf_error_clear(cf_error *err) {
  if (err)
    memset(err, 0, sizeof(*err));
}

int cf_error_grpc_status(const cf_error *err) {
  if (!err)
    return CF_UNKNOWN;
  if (err->status != CF_OK)
    return err->status;
  switch (err->errnum) {
  case ENOENT: case ESRCH: return CF_NOT_FOUND;
  case EEXIST: return CF_ALREADY_EXISTS;
  case EINVAL: case E2BIG: case ENAMETOOLONG: return CF_INVALID_ARGUMENT;
  case EPERM: case EACCES: return CF_PERMISSION_DENIED;
  case ETIMEDOUT: return CF_DEADLINE_EXCEEDED;
  case ENOSYS: case EOPNOTSUPP: return CF_UNIMPLEMENTED;
  case ECONNREFUSED: case ECONNRESET: case EPIPE: case ENOTCONN: return CF_UNAVAILABLE;
  case EBUSY: return CF_FAILED_PRECONDITION;
  case ENOMEM: case ENOSPC: case EMSGSIZE: return CF_RESOURCE_EXHAUSTED;
  case ECANCELED: return CF_CANCELLED;
  default: return CF_UNKNOWN;
  }
}

const char *cf_status_name(int status) {
  static const char *names[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
      "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  if (status < 0 || status > CF_UNAUTHENTICATED)
    return "UNKNOWN";
  return names[status];
}
