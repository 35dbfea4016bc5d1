#include "init_data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/initdata.h"
#include "coffer/sha2.h"

/* The digest fitted to an n-byte field, as hex into a new string. */
static int fitted_hex(const cf_initdata *id, size_t n, char **out, cf_error *err) {
  uint8_t field[64];
  char hex[129];
  cf_initdata_fit(id->digest, id->digest_len, field, n);
  cf_hex(field, n, hex);
  free(*out);
  *out = strdup(hex);
  return *out ? 0 : cf_err(err, ENOMEM, "init-data digest");
}

int init_data_fill_digests(vm_spec *s, cf_error *err) {
  if (!s->init_data_path[0])
    return 0;
  _cleanup_free_ char *buf = NULL;
  size_t len = 0;
  int r = cf_read_file(s->init_data_path, INIT_DATA_MAX_BYTES, &buf, &len, err);
  if (r < 0)
    return cf_error_prefix(err, "init-data");
  if (len > 0) { /* empty: the pod has none, the fields stay unset */
    _cleanup_(cf_initdata_freep) cf_initdata *id = cf_initdata_parse(buf, len, err);
    if (!id)
      return cf_error_prefix(err, "%s", s->init_data_path);
    if ((r = fitted_hex(id, 32, &s->init_data_sha256, err)) < 0 ||
        (r = fitted_hex(id, 48, &s->init_data_sha384, err)) < 0)
      return r;
  }
  s->init_data_path[0] = 0;
  return 0;
}
