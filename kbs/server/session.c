/* Sessions of the RCAR handshake: Authed {tee, nonce} -> Attested {token}.
 * Ids are 128-bit random (simple-form UUIDv4); expired sessions are refused
 * on lookup and swept periodically. */
#include <errno.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "kbs.h"

#define BUCKETS 1024

typedef struct sess {
  struct sess *next;
  char id[33];
  kbs_session_view v;
} sess;

struct kbs_sessions {
  pthread_mutex_t lock;
  sess *b[BUCKETS];
  size_t n, max;
};

static unsigned bucket(const char *id) { return (unsigned)strtoul((char[4]){id[0], id[1], id[2], 0}, NULL, 16) % BUCKETS; }

kbs_sessions *kbs_sessions_new(unsigned max) {
  kbs_sessions *t = calloc(1, sizeof(*t));
  if (t) {
    pthread_mutex_init(&t->lock, NULL);
    t->max = max;
  }
  return t;
}

static void sess_free(sess *s) {
  kbs_session_view_free(&s->v);
  free(s);
}

void kbs_sessions_free(kbs_sessions *t) {
  if (!t)
    return;
  for (size_t i = 0; i < BUCKETS; i++)
    while (t->b[i]) {
      sess *s = t->b[i];
      t->b[i] = s->next;
      sess_free(s);
    }
  pthread_mutex_destroy(&t->lock);
  free(t);
}

void kbs_session_view_free(kbs_session_view *v) {
  free(v->token);
  v->token = NULL;
}

static bool valid_id(const char *id) {
  if (!id || strlen(id) != 32)
    return false;
  for (int i = 0; i < 32; i++)
    if (!strchr("0123456789abcdef", id[i]))
      return false;
  return true;
}

int kbs_session_create(kbs_sessions *t, const char *tee, const char *nonce, int timeout_s,
                       char id[33], time_t *expires) {
  uint8_t r[16];
  if (RAND_bytes(r, sizeof(r)) != 1)
    return -EIO;
  r[6] = (r[6] & 0x0f) | 0x40; /* UUID version 4, variant 10 */
  r[8] = (r[8] & 0x3f) | 0x80;
  sess *s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  cf_kbs_hex(r, 16, s->id);
  s->v.state = KBS_AUTHED;
  snprintf(s->v.tee, sizeof(s->v.tee), "%s", tee);
  snprintf(s->v.nonce, sizeof(s->v.nonce), "%s", nonce);
  s->v.expires = time(NULL) + timeout_s;
  pthread_mutex_lock(&t->lock);
  if (t->n >= t->max) {
    pthread_mutex_unlock(&t->lock);
    free(s);
    return -EAGAIN;
  }
  unsigned b = bucket(s->id);
  s->next = t->b[b];
  t->b[b] = s;
  t->n++;
  pthread_mutex_unlock(&t->lock);
  memcpy(id, s->id, 33);
  *expires = s->v.expires;
  return 0;
}

/* Under the lock: the session, unlinked and freed if expired. */
static sess **find(kbs_sessions *t, const char *id) {
  if (!valid_id(id))
    return NULL;
  sess **pp = &t->b[bucket(id)];
  while (*pp && strcmp((*pp)->id, id))
    pp = &(*pp)->next;
  if (!*pp)
    return NULL;
  if ((*pp)->v.expires <= time(NULL)) {
    sess *s = *pp;
    *pp = s->next;
    t->n--;
    sess_free(s);
    return NULL;
  }
  return pp;
}

int kbs_session_get(kbs_sessions *t, const char *id, kbs_session_view *out) {
  pthread_mutex_lock(&t->lock);
  sess **pp = find(t, id);
  if (pp) {
    *out = (*pp)->v;
    out->token = (*pp)->v.token ? strdup((*pp)->v.token) : NULL;
  }
  pthread_mutex_unlock(&t->lock);
  return pp ? 0 : -ENOENT;
}

/* Only the token is kept: an attested session is ~3 kB, not the ~12 kB its
 * claims took as JSON values (with the session table growing under load,
 * every such page was a fresh page fault). */
int kbs_session_attest(kbs_sessions *t, const char *id, const char *token, const uint8_t hash[32]) {
  char *tok = strdup(token);
  if (!tok)
    return -ENOMEM;
  pthread_mutex_lock(&t->lock);
  sess **pp = find(t, id);
  if (pp) {
    kbs_session_view_free(&(*pp)->v);
    (*pp)->v.state = KBS_ATTESTED;
    (*pp)->v.token = tok;
    memcpy((*pp)->v.attest_hash, hash, 32);
  }
  pthread_mutex_unlock(&t->lock);
  if (!pp)
    free(tok);
  return pp ? 0 : -ENOENT;
}

void kbs_session_drop(kbs_sessions *t, const char *id) {
  pthread_mutex_lock(&t->lock);
  sess **pp = find(t, id);
  if (pp) {
    sess *s = *pp;
    *pp = s->next;
    t->n--;
    sess_free(s);
  }
  pthread_mutex_unlock(&t->lock);
}

size_t kbs_sessions_sweep(kbs_sessions *t, time_t now) {
  size_t gone = 0;
  pthread_mutex_lock(&t->lock);
  for (size_t i = 0; i < BUCKETS; i++)
    for (sess **pp = &t->b[i]; *pp;) {
      if ((*pp)->v.expires <= now) {
        sess *s = *pp;
        *pp = s->next;
        sess_free(s);
        t->n--;
        gone++;
      } else {
        pp = &(*pp)->next;
      }
    }
  pthread_mutex_unlock(&t->lock);
  return gone;
}

size_t kbs_sessions_count(kbs_sessions *t) {
  pthread_mutex_lock(&t->lock);
  size_t n = t->n;
  pthread_mutex_unlock(&t->lock);
  return n;
}
