/* The broker side: one libcoffer_kbs_client (one TEE key pair) behind a
 * mutex, evidence for the guest's TEE, and the connect hook for a relay. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "attester.h"
#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/kbs_common.h"
#include "coffer/log.h"
#include "coffer/relay.h"
#include "coffer/tee.h"

/* Sample evidence (plain profile, no hardware): the broker accepts it only
 * when configured to, and its tokens say "sample". It states the init-data
 * digest itself, as HOST_DATA would, so the broker's check runs. */
static int sample_evidence(const att_state *s, const uint8_t digest[48], char **json,
                           cf_error *err) {
  _cleanup_free_ char *rd = cf_kbs_b64std_encode(digest, 48);
  json_t *o = rd ? json_pack("{s:s,s:s}", "svn", "1", "report_data", rd) : NULL;
  if (o && s->init_data) {
    uint8_t d[64], fit[32];
    size_t n = 0;
    char hex[65];
    if (cf_kbs_initdata_digest(s->init_data, strlen(s->init_data), d, &n, err)) {
      json_decref(o);
      return cf_error_prefix(err, "sample evidence");
    }
    cf_kbs_fit(d, n, fit, sizeof(fit));
    cf_kbs_hex(fit, sizeof(fit), hex);
    json_object_set_new(o, "init_data", json_string(hex));
  }
  *json = o ? json_dumps(o, JSON_COMPACT) : NULL;
  json_decref(o);
  return *json ? 0 : cf_err(err, ENOMEM, "sample evidence");
}

/* Evidence from the guest's TEE (libcoffer_tee: configfs-tsm, /dev/sev-guest,
 * TDX), report_data = the 48-byte digest zero-padded to 64. The sample
 * attester reports the binding the host gave (plain profile), or without
 * one the digest of the init-data it holds. */
static int evidence(void *ud, const char *tee, const uint8_t digest[48], char **json,
                    cf_error *err) {
  const att_state *s = ud;
  cf_tee_kind k = !strcmp(tee, "snp") ? CF_TEE_SNP : !strcmp(tee, "tdx") ? CF_TEE_TDX : CF_TEE_SAMPLE;
  if (k == CF_TEE_SAMPLE && !s->cfg.sample_binding)
    return sample_evidence(s, digest, json, err);
  uint8_t rd[64] = {0};
  memcpy(rd, digest, 48);
  /* coffer-kbs checks a sample's init_data as HOST_DATA: the digest fitted
   * to 32 bytes; the host's binding may carry the whole digest. */
  char bind[65] = "";
  if (k == CF_TEE_SAMPLE)
    snprintf(bind, sizeof(bind), "%s", s->cfg.sample_binding);
  cf_tee_env env = {.sample_binding_hex = k == CF_TEE_SAMPLE ? bind : NULL};
  uint64_t t0 = cf_now_ms();
  int r = cf_tee_evidence(&env, k, rd, json, err);
  cf_info("attester: %s evidence in %llu ms", tee, (unsigned long long)(cf_now_ms() - t0));
  return r;
}

/* "unix:PATH": a relay that forwards the stream's bytes to the broker. */
static int connect_unix(void *ud, cf_error *err) {
  const char *path = ud;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(a.sun_path))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "relay %s: path too long", path);
  strcpy(a.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return cf_err(err, errno, "relay %s: socket", path);
  if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
    int e = errno;
    close(fd);
    return cf_err(err, e, "relay %s: connect", path);
  }
  return fd;
}

/* "relay": the guest's broker relay (lib/relay: the host forwards bytes to
 * the one broker address it was configured with; its refusal is the error). */
static int connect_relay(void *ud, cf_error *err) {
  (void)ud;
  return cf_relay_dial(err);
}

int att_broker_open(att_state *s, cf_error *err) {
  cf_kbs_client_config kc = {.url = s->cfg.url, .tee = s->cfg.tee, .ca_file = s->cfg.cert,
                             .init_data = s->init_data, .timeout_ms = s->cfg.timeout_ms,
                             .evidence = evidence, .evidence_ud = s};
  if (s->cfg.connect && !strcmp(s->cfg.connect, "relay")) {
    kc.connect = connect_relay;
  } else if (s->cfg.connect) {
    if (strncmp(s->cfg.connect, "unix:", 5))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "--connect %s: expected relay or unix:PATH",
                           s->cfg.connect);
    kc.connect = connect_unix;
    kc.connect_ud = (void *)(s->cfg.connect + 5);
  }
  uint64_t t0 = cf_now_ms();
  s->kbs = cf_kbs_client_new(&kc, err);
  cf_info("attester: broker client (TEE key pair) in %llu ms", (unsigned long long)(cf_now_ms() - t0));
  return s->kbs ? 0 : cf_error_prefix(err, "broker %s", s->cfg.url);
}

static int keep_token(att_state *s, const char *jwt, cf_error *err) {
  long long iat, exp;
  if (att_token_times(jwt, &iat, &exp, err))
    return -EINVAL;
  char *t = strdup(jwt);
  if (!t)
    return cf_err(err, ENOMEM, "token");
  free(s->token);
  s->token = t;
  s->token_iat = iat;
  s->token_exp = exp;
  return 0;
}

int att_attest(att_state *s, cf_error *err) {
  pthread_mutex_lock(&s->lock);
  uint64_t t0 = cf_now_ms();
  int r = cf_kbs_client_attest(s->kbs, err);
  if (!r)
    r = keep_token(s, cf_kbs_client_token(s->kbs), err);
  pthread_mutex_unlock(&s->lock);
  cf_info("attester: RCAR with %s %s in %llu ms", s->cfg.url, r ? "failed" : "done",
          (unsigned long long)(cf_now_ms() - t0));
  return r ? cf_error_prefix(err, "attestation to %s", s->cfg.url) : 0;
}

int att_fetch(att_state *s, const char *uri, uint8_t **data, size_t *len, cf_error *err) {
  pthread_mutex_lock(&s->lock);
  uint64_t t0 = cf_now_ms();
  int r = cf_kbs_client_get_resource(s->kbs, uri, data, len, err);
  pthread_mutex_unlock(&s->lock);
  cf_info("attester: resource %s %s in %llu ms", uri, r ? "failed" : "fetched",
          (unsigned long long)(cf_now_ms() - t0));
  return r ? cf_error_prefix(err, "resource %s", uri) : 0;
}

int att_bound_token(att_state *s, const char *audience, const char *const *nonces, size_t n,
                    char **token, cf_error *err) {
  pthread_mutex_lock(&s->lock);
  int r = cf_kbs_client_attest_bound(s->kbs, audience, nonces, n, token, err);
  pthread_mutex_unlock(&s->lock);
  return r ? cf_error_prefix(err, "token for %s", audience) : 0;
}

bool att_secret_allowed(const att_state *s, const char *name, const char *uri) {
  if (s->cfg.any_secret)
    return true;
  for (size_t i = 0; i < s->cfg.n_secrets; i++)
    if (!strcmp(s->cfg.secrets[i].uri, uri) && name && !strcmp(s->cfg.secrets[i].name, name))
      return true;
  return false;
}
