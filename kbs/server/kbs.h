/* coffer-kbs internals: the broker state and the request/response pair its
 * handlers work on (independent of the HTTP library, so tests and the fuzz
 * target drive the handlers directly). */
#ifndef COFFER_KBS_H
#define COFFER_KBS_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "coffer/attest.h"
#include "coffer/error.h"
#include "coffer/kbs_common.h"

/* ---- configuration (config.c) ---- */
typedef struct kbs_config {
  char listen[128];          /* "host:port" */
  char tls_cert[512], tls_key[512];
  bool insecure_http;
  bool dev;                  /* --dev: sample accepted, every resource to any attested session */
  int session_timeout_s;     /* default 300 */
  int token_lifetime_s;      /* default 300 */
  size_t max_body;           /* default 1 MiB */
  unsigned max_connections;  /* default 4096 */
  unsigned connection_timeout_s; /* default 15: a stalled client is dropped */
  unsigned threads;          /* 0: one per CPU */
  unsigned max_sessions;     /* default 100000 */
  char token_key[512];       /* EC P-256 private JWK; empty: a fresh key per start */
  char admin_jwk[512];       /* admin public JWK (ES256); empty: admin API off */
  char resource_dir[512];
  char policy[512];          /* resource policy JSON; empty: deny all (dev: allow all) */
  char reference[512];       /* reference values (attest/README.md format) */
  bool sample_enabled;
  char snp_chain[512], snp_crl[512];
  char snp_signers[8][512];  /* VCEK/VLEK files used when the evidence has none */
  size_t n_snp_signers;
  char tdx_tcb_info[512], tdx_qe_identity[512], tdx_pck_crl[512], tdx_root_crl[512],
      tdx_tcb_chain[512];
  bool has_verify_at;
  time_t verify_at;          /* tests: the verifiers' clock */
} kbs_config;

void kbs_config_defaults(kbs_config *c);
int kbs_config_load(kbs_config *c, const char *path, cf_error *err);

/* ---- requests ---- */
typedef struct kbs_request {
  const char *method;
  const char *path;    /* below /kbs/v0, e.g. "/auth" */
  const char *session; /* kbs-session-id cookie or NULL */
  const char *bearer;  /* Authorization: Bearer token or NULL */
  const char *body;
  size_t body_len;
} kbs_request;

typedef struct kbs_response {
  int status;
  char *body; /* malloc()ed */
  const char *content_type;
  char cookie[160];
} kbs_response;

/* Fills an error response the way Trustee answers: {"type": ".../<variant>",
 * "detail": …}. Returns -1 for `return kbs_fail(...)`. */
int kbs_fail(kbs_response *rs, int status, const char *variant, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void kbs_json_reply(kbs_response *rs, json_t *body); /* steals body, 200 */

/* ---- sessions (session.c) ---- */
enum kbs_session_state { KBS_AUTHED, KBS_ATTESTED };

typedef struct kbs_session_view {
  enum kbs_session_state state;
  char tee[24];
  char nonce[48];
  time_t expires;
  uint8_t attest_hash[32]; /* of the /attest body that attested it */
  char *token;             /* a copy; free with kbs_session_view_free */
} kbs_session_view;

typedef struct kbs_sessions kbs_sessions;
kbs_sessions *kbs_sessions_new(unsigned max);
void kbs_sessions_free(kbs_sessions *t);
/* A new Authed session; id gets 33 bytes. -EAGAIN when full. */
int kbs_session_create(kbs_sessions *t, const char *tee, const char *nonce, int timeout_s,
                       char id[33], time_t *expires);
/* Copies the live session; -ENOENT when unknown or expired (then removed). */
int kbs_session_get(kbs_sessions *t, const char *id, kbs_session_view *out);
/* Attested: stores a copy of the token, which is all the session keeps
 * (its claims are read back from it: kbs_token_claims). -ENOENT if gone. */
int kbs_session_attest(kbs_sessions *t, const char *id, const char *token, const uint8_t hash[32]);
void kbs_session_drop(kbs_sessions *t, const char *id);
size_t kbs_sessions_sweep(kbs_sessions *t, time_t now);
size_t kbs_sessions_count(kbs_sessions *t);
void kbs_session_view_free(kbs_session_view *v);

/* ---- resource policy (policy.c) ---- */
typedef struct kbs_policy kbs_policy;
kbs_policy *kbs_policy_parse(const char *json, size_t len, cf_error *err);
kbs_policy *kbs_policy_allow_all(void);
void kbs_policy_free(kbs_policy *p);
/* 0 when allowed; otherwise `err` names the rule (or the absence of one). */
int kbs_policy_check(const kbs_policy *p, const json_t *token_claims, const char *repo,
                     const char *type, const char *tag, cf_error *err);

/* ---- the broker ---- */
typedef struct kbs_server {
  kbs_config cfg;
  json_t *token_key, *token_pub, *admin_pub;
  cf_kbs_signer *token_signer;
  kbs_sessions *sessions;
  pthread_rwlock_t policy_lock;
  kbs_policy *policy;
  cf_reference *reference;
  pthread_mutex_t snp_lock, tdx_lock;
  cf_snp_verifier *snp;
  cf_tdx_verifier *tdx;
  uint8_t *snp_signers[8];
  size_t snp_signer_len[8];
  char *tdx_coll[5];
  size_t tdx_coll_len[5];
  /* Benchmarks only (never set from configuration): the real SNP vectors'
   * report_data is fixed, so bench/kbs skips the 64-byte binding compare. */
  bool bench_skip_snp_binding;
  void *http; /* struct MHD_Daemon */
  unsigned short port;
} kbs_server;

int kbs_server_init(kbs_server *s, const kbs_config *cfg, cf_error *err);
void kbs_server_fini(kbs_server *s);
/* The verifiers' clock: the configured instant (tests) or now. */
time_t kbs_verify_time(const kbs_server *s);

/* Routes one request (rcar.c, resource.c, admin.c). */
void kbs_handle(kbs_server *s, const kbs_request *rq, kbs_response *rs);
void kbs_handle_auth(kbs_server *s, const kbs_request *rq, kbs_response *rs);
void kbs_handle_attest(kbs_server *s, const kbs_request *rq, kbs_response *rs);
void kbs_handle_resource_get(kbs_server *s, const kbs_request *rq, const char *const seg[3],
                             kbs_response *rs);
void kbs_handle_admin(kbs_server *s, const kbs_request *rq, kbs_response *rs);

/* Resource paths: exactly repo/type/tag, each [A-Za-z0-9_-][A-Za-z0-9_.-]*. */
int kbs_resource_split(const char *p, char buf[256], const char *seg[3]);
int kbs_resource_read(const kbs_server *s, const char *const seg[3], uint8_t **data,
                      size_t *len, cf_error *err);
int kbs_resource_write(const kbs_server *s, const char *const seg[3], const uint8_t *data,
                       size_t len, cf_error *err);
int kbs_resource_delete(const kbs_server *s, const char *const seg[3], cf_error *err);

/* ---- evidence (evidence*.c) and appraisal (appraise.c) ---- */
typedef struct kbs_binding {
  uint8_t runtime[48];  /* SHA-384 of the canonical runtime data */
  bool has_init;
  uint8_t init[64];     /* init-data digest */
  size_t init_len;
  json_t *init_claims;  /* its [data] map for the token (owned; NULL without init-data) */
} kbs_binding;

/* The init-data document's [data] map as the token's init_data_claims:
 * "aa.toml" and "cdh.toml" as JSON objects, other entries as strings. */
json_t *kbs_initdata_claims(const char *toml, size_t len, cf_error *err);

/* EAR-style outcome: trustworthiness claims and the status they give. */
typedef struct kbs_ear {
  int instance_identity, configuration, executables, file_system, hardware, runtime_opaque,
      storage_opaque, sourced_data;
  const char *status; /* affirming | warning | contraindicated | none */
} kbs_ear;

/* Verifies `evidence` of `tee`, its binding, and appraises it; `claims` gets
 * the TEE's claims (annotated evidence). Rejections fill `err`. */
/* `evidence` is one well-formed JSON value (kbs_jr_document checked it). */
int kbs_evidence_verify(kbs_server *s, const char *tee, const char *evidence, size_t len,
                        const kbs_binding *b, json_t **claims, kbs_ear *ear, cf_error *err);
int kbs_evidence_snp(kbs_server *s, const char *text, size_t len, const kbs_binding *b,
                     json_t **claims, kbs_ear *ear, cf_error *err);
int kbs_evidence_tdx(kbs_server *s, const json_t *ev, const kbs_binding *b, json_t **claims,
                     kbs_ear *ear, cf_error *err);
/* SNP evidence JSON (serde form of the report) to the 1184 report bytes. */
int kbs_snp_report_from_json(const char *text, size_t len, uint8_t out[CF_SNP_REPORT_SIZE],
                             cf_error *err);
void kbs_appraise(const cf_checks *ref, const cf_checks *hw_extra, kbs_ear *ear);
void kbs_ear_unappraised(kbs_ear *ear);

/* ---- tokens (token.c) ---- */
char *kbs_token_issue(kbs_server *s, const char *tee, const json_t *tee_claims,
                      const kbs_ear *ear, const json_t *runtime_claims, const kbs_binding *b,
                      json_t **claims_out, cf_error *err);
json_t *kbs_token_verify(kbs_server *s, const char *jwt, cf_error *err);
/* The tee-pubkey a token was issued for. */
const json_t *kbs_token_tee_pubkey(const json_t *claims);
/* The claims of a token this broker issued and kept in a session (no
 * signature check: it never left the broker's memory). */
json_t *kbs_token_claims(const char *jwt, cf_error *err);

#endif
