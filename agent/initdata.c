/* The pod's init-data in the guest: verify, then write (see initdata.h). */
#include "initdata.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/path.h"
#include "coffer/sha2.h"

static const char *field_name(cf_tee_kind k) {
  switch (k) {
  case CF_TEE_SNP: return "HOST_DATA";
  case CF_TEE_TDX: return "MRCONFIGID";
  case CF_TEE_SAMPLE: return "sample binding";
  default: return "binding";
  }
}

/* Recomputed digest against the one the hardware reports. */
static int verify(const cf_tee_env *env, cf_tee_kind kind, const cf_initdata *id, cf_error *err) {
  uint8_t bound[64], mine[64];
  size_t blen = 0;
  int r = cf_tee_init_data_binding(env, kind, bound, &blen, err);
  if (r < 0)
    return cf_error_prefix(err, "init-data: reading the %s (%s)", field_name(kind),
                           cf_tee_kind_name(kind));
  if (blen == 0 || blen > sizeof(bound))
    return cf_err_status(err, CF_PERMISSION_DENIED, "init-data: the %s is empty", field_name(kind));
  cf_initdata_fit(id->digest, id->digest_len, mine, blen);
  if (memcmp(mine, bound, blen) != 0) {
    char a[129], b[129];
    cf_hex(mine, blen, a);
    cf_hex(bound, blen, b);
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "init-data digest %s (%s of the document given) does not match the %s %s "
                         "bound at launch (%s): the pod is refused",
                         a, cf_initdata_alg_name(id->alg), field_name(kind), b,
                         cf_tee_kind_name(kind));
  }
  return 0;
}

static int write_file(const char *dir, const char *name, const char *data, size_t len,
                      cf_error *err) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
    return cf_err(err, ENAMETOOLONG, "init-data file %s/%s", dir, name);
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0400);
  if (fd < 0 || fchmod(fd, 0400) < 0)
    return cf_err(err, errno, "init-data file %s", path);
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return cf_err(err, w < 0 ? errno : EIO, "write %s", path);
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

/* initdata.toml and each [data] entry (keys were checked to be file names). */
static int write_all(const char *dir, const cf_initdata *id, cf_error *err) {
  int r = cf_mkdir_p(dir, 0700, 0700);
  if (r < 0)
    return cf_err(err, -r, "init-data directory %s", dir);
  if ((r = write_file(dir, "initdata.toml", id->toml, id->toml_len, err)) < 0)
    return r;
  for (size_t i = 0; i < cf_toml_count(id->data); i++) {
    const char *name, *v;
    size_t len;
    v = cf_toml_string(cf_toml_at(id->data, i, &name), &len);
    if ((r = write_file(dir, name, v, len, err)) < 0)
      return r;
  }
  return 0;
}

int agent_initdata_accept(const cf_tee_env *env, bool guest, const uint8_t *toml, size_t len,
                          const char *dir, cf_initdata **out, cf_tee_kind *kind, cf_error *err) {
  *out = NULL;
  *kind = CF_TEE_NONE;
  cf_tee_kind k = CF_TEE_NONE;
  int r;
  if (guest) {
    if ((r = cf_tee_detect(env, &k, err)) < 0)
      return cf_error_prefix(err, "init-data: which TEE this guest runs in");
  } else if (env && env->sample_binding_hex) {
    k = CF_TEE_SAMPLE; /* a host process has no TEE; the sample binding is all there is */
  }
  if (len == 0) {
    if (k != CF_TEE_NONE)
      return cf_err_status(err, CF_PERMISSION_DENIED,
                           "no init-data: a %s guest runs only with init-data verified against "
                           "its %s (annotation %s)",
                           cf_tee_kind_name(k), field_name(k), CF_INITDATA_ANNOTATION);
    return 0; /* plain profile: optional */
  }
  _cleanup_(cf_initdata_freep) cf_initdata *id = cf_initdata_parse((const char *)toml, len, err);
  if (!id)
    return -EINVAL;
  if (k != CF_TEE_NONE && (r = verify(env, k, id, err)) < 0)
    return r;
  if ((r = write_all(dir, id, err)) < 0)
    return r;
  *kind = k;
  *out = cf_steal_ptr(id);
  return 0;
}

/* The value of word key=... in a command line, into out. */
static void find_word(const char *line, const char *key, char *out, size_t cap) {
  size_t kl = strlen(key);
  for (const char *p = line; p && *p;) {
    while (*p == ' ' || *p == '\t' || *p == '\n')
      p++;
    size_t n = strcspn(p, " \t\n");
    if (n > kl && !strncmp(p, key, kl) && n - kl < cap) {
      memcpy(out, p + kl, n - kl);
      out[n - kl] = 0;
    }
    p += n;
  }
}

void agent_initdata_sample_hex(bool pid1, char *out, size_t cap) {
  out[0] = 0;
  char line[4096] = "";
  if (pid1) {
    _cleanup_fclose_ FILE *f = fopen("/proc/cmdline", "re");
    if (!f || !fgets(line, sizeof(line), f))
      return;
  } else {
    const char *e = getenv("COFFER_AGENT_CMDLINE");
    if (!e)
      return;
    snprintf(line, sizeof(line), "%s", e);
  }
  find_word(line, "coffer.sample_init_data=", out, cap);
}
