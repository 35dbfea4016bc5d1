/* The default token: written to a file the workload reads, replaced by
 * rename so a reader never sees half a token, refreshed at a random point in
 * [0.70, 0.85] of its lifetime, so the pods a node started together do not
 * all ask the broker at once (retries back off from 1 s, doubling, capped at
 * 60 s). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "attester.h"
#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/kbs_common.h"
#include "coffer/log.h"

int att_token_times(const char *jwt, long long *iat, long long *exp, cf_error *err) {
  const char *a = strchr(jwt, '.'), *b = a ? strchr(a + 1, '.') : NULL;
  if (!b || b - a - 1 > 16384)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "token: not a compact JWT");
  _cleanup_free_ char *mid = strndup(a + 1, (size_t)(b - a - 1));
  _cleanup_free_ uint8_t *raw = NULL;
  size_t n = 0;
  if (!mid || cf_kbs_b64url_decode(mid, &raw, &n))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "token: claims are not base64url");
  json_t *c = json_loadb((const char *)raw, n, 0, NULL);
  json_t *i = json_object_get(c, "iat"), *e = json_object_get(c, "exp");
  int r = 0;
  if (!json_is_integer(i) || !json_is_integer(e) || json_integer_value(e) <= json_integer_value(i))
    r = cf_err_status(err, CF_INVALID_ARGUMENT, "token: needs integer iat < exp");
  else
    *iat = json_integer_value(i), *exp = json_integer_value(e);
  json_decref(c);
  return r;
}

long long att_refresh_in(long long iat, long long exp, long long now, uint32_t draw) {
  if (exp <= iat)
    return 0;
  long long permille = ATT_REFRESH_MIN_PERMILLE +
                       draw % (ATT_REFRESH_MAX_PERMILLE - ATT_REFRESH_MIN_PERMILLE + 1);
  long long life = exp - iat;
  /* life * permille / 1000 without overflow for any lifetime */
  long long at = iat + life / 1000 * permille + life % 1000 * permille / 1000;
  return at > now ? at - now : 0;
}

static uint32_t refresh_draw(void) {
  uint32_t d = 0;
  if (getrandom(&d, sizeof(d), GRND_NONBLOCK) != (ssize_t)sizeof(d))
    d = (uint32_t)time(NULL) ^ (uint32_t)getpid(); /* no entropy yet: still spread pods */
  return d;
}

int att_token_write(const char *path, const char *jwt, cf_error *err) {
  return cf_write_file_atomic(path, jwt, strlen(jwt), 0644, 0, err);
}

static void *refresh_loop(void *ud) {
  att_state *s = ud;
  long long backoff = 1;
  uint32_t draw = refresh_draw(); /* one point per token */
  for (;;) {
    pthread_mutex_lock(&s->lock);
    long long wait = att_refresh_in(s->token_iat, s->token_exp, (long long)time(NULL), draw);
    pthread_mutex_unlock(&s->lock);
    if (wait > 0)
      sleep((unsigned)(wait > 3600 ? 3600 : wait));
    if (wait > 3600)
      continue;
    cf_error err = {0};
    char *jwt = NULL;
    int r = att_attest(s, &err);
    pthread_mutex_lock(&s->lock);
    jwt = r ? NULL : strdup(s->token);
    pthread_mutex_unlock(&s->lock);
    if (!r && jwt)
      r = att_token_write(s->cfg.token_file, jwt, &err);
    free(jwt);
    if (!r) {
      backoff = 1;
      draw = refresh_draw();
      continue;
    }
    cf_warn("attester: token refresh failed (retry in %llds): %s", backoff, err.msg);
    sleep((unsigned)backoff);
    backoff = backoff * 2 > 60 ? 60 : backoff * 2;
  }
  return NULL;
}

int att_refresh_start(att_state *s, cf_error *err) {
  pthread_t t;
  int r = pthread_create(&t, NULL, refresh_loop, s);
  if (r)
    return cf_err(err, r, "token refresh thread");
  pthread_detach(t);
  return 0;
}
