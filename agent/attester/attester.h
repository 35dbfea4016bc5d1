/* coffer-attester: the guest daemon that attests the pod to the key broker
 * named in its init-data, fetches the pod's secrets for the agent, keeps the
 * broker's token fresh in a file and serves tokens bound to a relying
 * party's nonces on a unix socket. The TEE private key lives only here. */
#ifndef COFFER_ATTESTER_H
#define COFFER_ATTESTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"
#include "coffer/kbs_client.h"

#define ATT_MAX_SECRETS 64

typedef struct att_secret {
  const char *name, *uri;
} att_secret;

typedef struct att_config {
  const char *url;        /* broker, from init-data's aa.toml [token_configs.kbs] url */
  const char *cert;       /* PEM file pinning the broker (aa.toml cert) */
  const char *tee;        /* "sample", "snp", "tdx" */
  const char *init_data;  /* path of the verified init-data TOML, sent with the evidence */
  const char *token_file; /* the default token, replaced atomically */
  const char *tee_sock;   /* the workload's socket (POST /v1/token, GET /v1/resource) */
  const char *agent_sock; /* the agent's socket (GET /v1/secret): never in a container */
  const char *connect;    /* NULL: direct; "relay": the guest's broker relay; "unix:PATH" */
  const char *sample_binding; /* plain profile: the init-data binding the host gave (hex) */
  att_secret secrets[ATT_MAX_SECRETS]; /* what the agent may fetch: init-data's [secrets] */
  size_t n_secrets;
  bool any_secret;        /* plain profile: the pod's annotations may name any resource */
  long timeout_ms;        /* per broker request */
  long attest_deadline_s; /* the first attestation gives up after this */
} att_config;

typedef struct att_state {
  att_config cfg;
  pthread_mutex_t lock; /* one broker exchange at a time: the client is not thread-safe */
  cf_kbs_client *kbs;
  char *init_data;      /* TOML text */
  struct cf_initdata *id; /* parsed: broker, secrets */
  char *token;          /* the default token (no audience) */
  long long token_exp, token_iat;
} att_state;

/* broker.c */
int att_broker_open(att_state *s, cf_error *err);
int att_attest(att_state *s, cf_error *err);
int att_fetch(att_state *s, const char *uri, uint8_t **data, size_t *len, cf_error *err);
int att_bound_token(att_state *s, const char *audience, const char *const *nonces, size_t n,
                    char **token, cf_error *err);
/* Whether the agent may fetch `uri` as secret `name`: the pair is listed in
 * init-data (the host can neither add a secret nor point a name elsewhere). */
bool att_secret_allowed(const att_state *s, const char *name, const char *uri);

/* token_file.c */
int att_token_times(const char *jwt, long long *iat, long long *exp, cf_error *err);
int att_token_write(const char *path, const char *jwt, cf_error *err);
/* Seconds until the token should be refreshed: at a point of its lifetime
 * in [0.700, 0.850] after iat that `draw` (random, one per token) picks. */
#define ATT_REFRESH_MIN_PERMILLE 700
#define ATT_REFRESH_MAX_PERMILLE 850
long long att_refresh_in(long long iat, long long exp, long long now, uint32_t draw);
int att_refresh_start(att_state *s, cf_error *err);

/* request.c: the body of POST /v1/token */
typedef struct att_token_request {
  char *audience;
  char *nonces[6];
  size_t n_nonces;
  char token_type[32];
} att_token_request;
int att_token_request_parse(const char *body, size_t len, att_token_request *r, cf_error *err);
void att_token_request_free(att_token_request *r);
/* "repo/type/tag" with each segment [A-Za-z0-9_-][A-Za-z0-9_.-]* */
bool att_resource_path_ok(const char *p);

/* server.c */
typedef struct att_server att_server;
att_server *att_server_start(att_state *s, const char *path, bool agent, int mode, cf_error *err);
void att_server_stop(att_server *srv);

#endif
