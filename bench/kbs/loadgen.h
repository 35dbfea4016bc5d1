/* Light RCAR load for bench_kbs (loadgen.c). */
#pragma once
#include <jansson.h>

typedef struct loadgen {
  unsigned port;
  const char *auth_body;   /* {"version","tee","extra-params"} */
  const char *pubkey_json; /* the TEE public JWK, compact */
  const json_t *pubkey;
  char *evidence_json; /* fixed evidence (SNP), or NULL: sample evidence per nonce */
} loadgen;

typedef struct loadgen_job {
  const loadgen *g;
  int cpu;
  double until;
  int n, errors;
} loadgen_job;

double loadgen_now(void);
/* Handshakes on one keep-alive connection until `until`, pinned to `cpu`. */
void *loadgen_worker(void *job);
