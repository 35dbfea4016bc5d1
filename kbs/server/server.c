/* The broker's state from its configuration: keys, policy, reference values,
 * verifiers and the files they need, all read once at start. */
#include <errno.h>
#include <jose/jose.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/log.h"
#include "kbs.h"

#define MAX_FILE (4u << 20)

static json_t *load_jwk(const char *path, bool need_private, cf_error *err) {
  _cleanup_free_ char *text = NULL;
  size_t len;
  if (cf_read_file(path, 1 << 16, &text, &len, err))
    return NULL;
  json_t *k = cf_kbs_json_parse(text, len, err);
  const char *kty = json_string_value(json_object_get(k, "kty"));
  const char *crv = json_string_value(json_object_get(k, "crv"));
  if (k && (!kty || strcmp(kty, "EC") || !crv || strcmp(crv, "P-256") ||
            (need_private && !json_object_get(k, "d")))) {
    json_decref(k);
    k = NULL;
    cf_err_status(err, CF_INVALID_ARGUMENT, "not an EC P-256 %s JWK", need_private ? "private" : "public");
  }
  if (!k)
    cf_error_prefix(err, "%s", path);
  return k;
}

static int load_policy(kbs_server *s, cf_error *err) {
  if (s->cfg.dev && !s->cfg.policy[0]) {
    s->policy = kbs_policy_allow_all();
    return s->policy ? 0 : cf_err(err, ENOMEM, "policy");
  }
  if (!s->cfg.policy[0])
    return 0; /* no policy: every resource request is denied */
  _cleanup_free_ char *text = NULL;
  size_t len;
  if (cf_read_file(s->cfg.policy, 1 << 20, &text, &len, err))
    return -EINVAL;
  s->policy = kbs_policy_parse(text, len, err);
  return s->policy ? 0 : cf_error_prefix(err, "%s", s->cfg.policy);
}

static int load_verifiers(kbs_server *s, cf_error *err) {
  if (!(s->snp = cf_snp_verifier_new(err)) || !(s->tdx = cf_tdx_verifier_new(err)))
    return -EINVAL;
  _cleanup_free_ char *buf = NULL;
  size_t len;
  if (s->cfg.snp_chain[0] &&
      (cf_read_file(s->cfg.snp_chain, MAX_FILE, &buf, &len, err) ||
       cf_snp_verifier_load_chain(s->snp, (uint8_t *)buf, len, err)))
    return cf_error_prefix(err, "snp.chain %s", s->cfg.snp_chain);
  free(buf);
  buf = NULL;
  if (s->cfg.snp_crl[0] &&
      (cf_read_file(s->cfg.snp_crl, MAX_FILE, &buf, &len, err) ||
       cf_snp_verifier_load_crl(s->snp, (uint8_t *)buf, len, err)))
    return cf_error_prefix(err, "snp.crl %s", s->cfg.snp_crl);
  for (size_t i = 0; i < s->cfg.n_snp_signers; i++) {
    char *b;
    if (cf_read_file(s->cfg.snp_signers[i], MAX_FILE, &b, &s->snp_signer_len[i], err))
      return -EINVAL;
    s->snp_signers[i] = (uint8_t *)b;
  }
  const char *coll[5] = {s->cfg.tdx_tcb_info, s->cfg.tdx_qe_identity, s->cfg.tdx_pck_crl,
                         s->cfg.tdx_root_crl, s->cfg.tdx_tcb_chain};
  for (int i = 0; i < 5; i++)
    if (coll[i][0] && cf_read_file(coll[i], MAX_FILE, &s->tdx_coll[i], &s->tdx_coll_len[i], err))
      return -EINVAL;
  if (s->cfg.reference[0]) {
    free(buf);
    buf = NULL;
    if (cf_read_file(s->cfg.reference, MAX_FILE, &buf, &len, err) ||
        !(s->reference = cf_reference_parse(buf, len, err)))
      return cf_error_prefix(err, "reference %s", s->cfg.reference);
  }
  return 0;
}

int kbs_server_init(kbs_server *s, const kbs_config *cfg, cf_error *err) {
  memset(s, 0, sizeof(*s));
  s->cfg = *cfg;
  pthread_rwlock_init(&s->policy_lock, NULL);
  pthread_mutex_init(&s->snp_lock, NULL);
  pthread_mutex_init(&s->tdx_lock, NULL);
  if (!(s->sessions = kbs_sessions_new(cfg->max_sessions)))
    return cf_err(err, ENOMEM, "sessions");
  if (cfg->token_key[0]) {
    if (!(s->token_key = load_jwk(cfg->token_key, true, err)))
      return -EINVAL;
  } else {
    s->token_key = json_pack("{s:s,s:s}", "kty", "EC", "crv", "P-256");
    if (!s->token_key || !jose_jwk_gen(NULL, s->token_key))
      return cf_err_status(err, CF_INTERNAL, "generating the token signing key failed");
  }
  if (!(s->token_pub = cf_kbs_key_public(s->token_key, err)) ||
      !(s->token_signer = cf_kbs_signer_new(s->token_key, true, err)))
    return -EINVAL;
  json_object_set_new(s->token_pub, "alg", json_string("ES256"));
  json_object_set_new(s->token_pub, "use", json_string("sig"));
  if (cfg->admin_jwk[0] && !(s->admin_pub = load_jwk(cfg->admin_jwk, false, err)))
    return -EINVAL;
  if (s->admin_pub)
    json_object_del(s->admin_pub, "d"); /* only the public half is needed */
  int r = load_policy(s, err);
  return r ? r : load_verifiers(s, err);
}

void kbs_server_fini(kbs_server *s) {
  kbs_sessions_free(s->sessions);
  json_decref(s->token_key);
  json_decref(s->token_pub);
  cf_kbs_signer_free(s->token_signer);
  json_decref(s->admin_pub);
  kbs_policy_free(s->policy);
  cf_reference_free(s->reference);
  cf_snp_verifier_free(s->snp);
  cf_tdx_verifier_free(s->tdx);
  for (int i = 0; i < 8; i++)
    free(s->snp_signers[i]);
  for (int i = 0; i < 5; i++)
    free(s->tdx_coll[i]);
  pthread_rwlock_destroy(&s->policy_lock);
  pthread_mutex_destroy(&s->snp_lock);
  pthread_mutex_destroy(&s->tdx_lock);
}
