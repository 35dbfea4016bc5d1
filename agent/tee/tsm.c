/* configfs-tsm reports (kbs-protocol.md A2): a fresh instance per request,
 * the provider checked, privlevel "0" for SNP, one 64-byte inblob write, the
 * blobs read whole, the generation checked against our own writes (another
 * writer in between would have changed what we read), the instance removed. */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "tee_internal.h"

#define PROVIDER_MAX 64
#define INSTANCE_TRIES 8

typedef struct instance {
  const cf_tee_env *env;
  char dir[4096];
  bool made;
} instance;

static void instance_removep(instance *in) {
  /* A failure leaves an instance the kernel frees when the agent exits. */
  if (in->made)
    (void)tee_rmdir(in->env, in->dir);
  in->made = false;
}

/* mkdir a name nobody else uses: pid, a counter and random bits. */
static int instance_make(const cf_tee_env *env, instance *in, cf_error *err) {
  static atomic_uint counter;
  char base[4096];
  int r = tee_path(env, TEE_TSM_DIR, base, sizeof(base), err);
  if (r)
    return r;
  in->env = env;
  for (int i = 0; i < INSTANCE_TRIES; i++) {
    uint32_t rnd = 0;
    if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
      rnd = (uint32_t)rand();
    int n = snprintf(in->dir, sizeof(in->dir), "%s/coffer-%d-%u-%08" PRIx32, base, (int)getpid(),
                     atomic_fetch_add(&counter, 1), rnd);
    if (n < 0 || (size_t)n >= sizeof(in->dir))
      return cf_err(err, ENAMETOOLONG, "configfs-tsm instance under %s", base);
    if (tee_mkdir(env, in->dir) == 0) {
      in->made = true;
      return 0;
    }
    if (errno == EEXIST)
      continue;
    if (errno == ENOENT || errno == ENXIO || errno == ENOTDIR)
      return cf_err(err, ENXIO, "configfs-tsm: no report provider (mkdir %s: %s)", in->dir,
                    strerror(errno));
    return cf_err(err, errno, "configfs-tsm: mkdir %s", in->dir);
  }
  return cf_err(err, EEXIST, "configfs-tsm: no unused instance name under %s", base);
}

static int attr(const instance *in, const char *name, char *buf, size_t size, cf_error *err) {
  int n = snprintf(buf, size, "%s/%s", in->dir, name);
  if (n < 0 || (size_t)n >= size)
    return cf_err(err, ENAMETOOLONG, "configfs-tsm attribute %s/%s", in->dir, name);
  return 0;
}

static int read_text(const instance *in, const char *name, char *out, size_t size, cf_error *err) {
  char p[4200];
  _cleanup_free_ uint8_t *b = NULL;
  size_t n;
  int r = attr(in, name, p, sizeof(p), err);
  if (!r)
    r = tee_read_all(p, size - 1, &b, &n, err);
  if (r)
    return cf_error_prefix(err, "configfs-tsm %s", name);
  while (n && (b[n - 1] == '\n' || b[n - 1] == ' '))
    n--;
  if (memchr(b, 0, n))
    return cf_err(err, EPROTO, "configfs-tsm %s holds a NUL byte", p);
  memcpy(out, b, n);
  out[n] = 0;
  return 0;
}

int tee_tsm_provider(const cf_tee_env *env, char *provider, size_t size, cf_error *err) {
  provider[0] = 0;
  _cleanup_(instance_removep) instance in = {0};
  cf_error sub = {0};
  int r = instance_make(env, &in, &sub);
  if (r == -ENXIO)
    return 0;
  if (r) {
    *err = sub;
    return r;
  }
  return read_text(&in, "provider", provider, size, err);
}

static int parse_generation(const char *s, uint64_t *out) {
  if (!*s || strlen(s) > 20)
    return -1;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*s - '0');
  }
  *out = v;
  return 0;
}

static int read_blob(const instance *in, const char *name, size_t max, bool optional,
                     uint8_t **out, size_t *len, cf_error *err) {
  char p[4200];
  int r = attr(in, name, p, sizeof(p), err);
  if (r)
    return r;
  if (optional && !tee_exists(p))
    return 0;
  r = tee_read_all(p, max, out, len, err);
  if (r == -EFBIG)
    return cf_err(err, EFBIG, "configfs-tsm %s is larger than the %zu bytes a report can be", name, max);
  if (r)
    return cf_error_prefix(err, "configfs-tsm %s", name);
  if (*len == 0) {
    free(*out);
    *out = NULL;
  }
  return 0;
}

int tee_tsm_get(const cf_tee_env *env, const char *want_provider, const uint8_t inblob[64],
                size_t max_out, size_t max_aux, tee_tsm_report *rep, cf_error *err) {
  memset(rep, 0, sizeof(*rep));
  _cleanup_(instance_removep) instance in = {0};
  int r = instance_make(env, &in, err);
  if (r)
    return r;
  char provider[PROVIDER_MAX], p[4200];
  r = read_text(&in, "provider", provider, sizeof(provider), err);
  if (r)
    return r;
  if (strcmp(provider, want_provider))
    return cf_err(err, EPROTO, "configfs-tsm provider is \"%s\", expected \"%s\"", provider,
                  want_provider);
  uint64_t writes = 0;
  if (!strcmp(want_provider, "sev_guest")) {
    /* VMPL 0: the verifier accepts no other; ASCII, as the attribute is decimal. */
    if ((r = attr(&in, "privlevel", p, sizeof(p), err)))
      return r;
    if (tee_exists(p)) {
      if ((r = tee_write_once(p, "0", 1, err)))
        return cf_error_prefix(err, "configfs-tsm privlevel");
      writes++;
    }
  }
  if ((r = attr(&in, "inblob", p, sizeof(p), err)) || (r = tee_write_once(p, inblob, 64, err)))
    return cf_error_prefix(err, "configfs-tsm inblob");
  writes++;
  r = read_blob(&in, "outblob", max_out, false, &rep->outblob, &rep->outblob_len, err);
  if (!r && !rep->outblob)
    r = cf_err(err, EPROTO, "configfs-tsm outblob is empty");
  if (!r)
    r = read_blob(&in, "auxblob", max_aux, true, &rep->auxblob, &rep->auxblob_len, err);
  char gen[32];
  uint64_t g = 0;
  if (!r)
    r = read_text(&in, "generation", gen, sizeof(gen), err);
  if (!r && parse_generation(gen, &g))
    r = cf_err(err, EPROTO, "configfs-tsm generation \"%s\" is not a number", gen);
  if (!r && g != writes)
    r = cf_err(err, EBUSY,
               "configfs-tsm generation is %" PRIu64 " after our %" PRIu64
               " writes: another writer changed the request, the report is discarded",
               g, writes);
  if (r)
    tee_tsm_report_free(rep);
  return r;
}

void tee_tsm_report_free(tee_tsm_report *rep) {
  free(rep->outblob);
  free(rep->auxblob);
  memset(rep, 0, sizeof(*rep));
}
