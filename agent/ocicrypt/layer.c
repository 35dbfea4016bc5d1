/* One encrypted layer: key unwrapping at open, then AES-256-CTR decryption
 * into a staging file the caller only receives once the HMAC-SHA256 over the
 * whole ciphertext (keyed with the layer key) has verified.
 *
 * Why a staging file and not plaintext returned per chunk: the HMAC covers
 * the entire blob, so any plaintext handed out before the last byte could be
 * the host's choice. Decrypting once while authenticating (rather than two
 * passes over the ciphertext) also means the ciphertext cannot change between
 * the check and the use.
 *
 * Speed: the HMAC (one SHA-256 stream) is the slowest part and cannot be
 * split, so with more than one CPU it runs on a second thread, pipelined
 * with the decryption and the staging writes on the caller's thread. Each
 * piece of ciphertext is first copied into a ring slot the library owns and
 * both the cipher and the HMAC read that copy, so they see the same bytes.
 * With one CPU there is no thread and no copy: the HMAC runs inline. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "ocicrypt_int.h"

#define CHUNK OC_CHUNK
#define SLOT OC_CHUNK /* ciphertext per hand-over to the HMAC thread */
#define NSLOTS OC_NSLOTS /* bounds the library's buffers to 5 chunks */

enum state { ST_OPEN, ST_FAILED, ST_DONE };

struct cf_ocicrypt_layer {
  char digest[OC_DIGEST_MAX + 8];
  char plain_digest[OC_DIGEST_MAX];
  const char *scheme;
  struct oc_pubopts pub;
  EVP_CIPHER_CTX *aes;
  EVP_MAC_CTX *hmac;
  int fd; /* staging */
  bool memfd;
  uint64_t size;
  enum state state;
  uint8_t *buf;
  struct hasher *hasher; /* NULL: the HMAC runs inline */
};

/* The HMAC thread and the ring of ciphertext slots it consumes. Slots are
 * numbered by two counters: the caller's thread fills slot `filled % NSLOTS`
 * (at offset `pos`) and publishes it by incrementing `filled`; the thread
 * hashes `hashed % NSLOTS` and increments `hashed`. Slots are allocated and
 * the thread started only as the layer grows (fresh pages cost page faults;
 * a small layer is hashed inline from slot 0 at the end). */
struct hasher {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  bool running, stop, failed;
  uint64_t filled, hashed;
  size_t pos;
  size_t len[NSLOTS];
  uint8_t *slot[NSLOTS];
  EVP_MAC_CTX *hmac;
};

unsigned oc_test_hmac_slot_delay_us;

static void *hash_slots(void *arg) {
  struct hasher *h = arg;
  pthread_mutex_lock(&h->mu);
  for (;;) {
    while (h->hashed == h->filled && !h->stop)
      pthread_cond_wait(&h->cv, &h->mu);
    if (h->hashed == h->filled)
      break;
    size_t i = h->hashed % NSLOTS;
    pthread_mutex_unlock(&h->mu);
    if (oc_test_hmac_slot_delay_us)
      usleep(oc_test_hmac_slot_delay_us);
    bool ok = EVP_MAC_update(h->hmac, h->slot[i], h->len[i]) == 1;
    pthread_mutex_lock(&h->mu);
    h->failed |= !ok;
    h->hashed++;
    pthread_cond_broadcast(&h->cv);
  }
  pthread_mutex_unlock(&h->mu);
  return NULL;
}

/* Whether a second CPU is there to run the HMAC on: with one, a thread only
 * adds copies and context switches. */
static bool several_cpus(void) {
  cpu_set_t set;
  return !sched_getaffinity(0, sizeof(set), &set) && CPU_COUNT(&set) > 1;
}

/* The ring, when a second CPU is there; NULL: the HMAC runs inline. */
static struct hasher *hasher_new(EVP_MAC_CTX *hmac) {
  if (!several_cpus())
    return NULL;
  struct hasher *h = calloc(1, sizeof(*h));
  if (!h)
    return NULL;
  h->hmac = hmac;
  pthread_mutex_init(&h->mu, NULL);
  pthread_cond_init(&h->cv, NULL);
  return h;
}

/* Publishes the slot being filled (if it holds anything), starting the
 * thread on the first one. Without a thread (it could not be started) the
 * slot is hashed here. */
static bool hasher_submit(struct hasher *h) {
  if (!h->pos)
    return true;
  size_t i = h->filled % NSLOTS;
  h->len[i] = h->pos;
  h->pos = 0;
  if (!h->running && !h->stop)
    h->running = !pthread_create(&h->thread, NULL, hash_slots, h);
  if (!h->running) {
    h->stop = true; /* no further attempts */
    h->filled++, h->hashed++;
    return EVP_MAC_update(h->hmac, h->slot[i], h->len[i]) == 1;
  }
  pthread_mutex_lock(&h->mu);
  h->filled++;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
  return true;
}

/* The slot about to be filled, once it has been hashed; NULL without memory. */
static uint8_t *hasher_next_slot(struct hasher *h) {
  size_t i = h->filled % NSLOTS;
  if (!h->slot[i])
    return h->slot[i] = malloc(SLOT);
  pthread_mutex_lock(&h->mu);
  while (h->filled - h->hashed >= NSLOTS)
    pthread_cond_wait(&h->cv, &h->mu);
  pthread_mutex_unlock(&h->mu);
  return h->slot[i];
}

/* Hashes what was published, the thread then joined. Returns false if an
 * HMAC update failed. */
static bool hasher_finish(struct hasher *h) {
  bool ok = hasher_submit(h);
  if (h->running) {
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    h->running = false;
  }
  return ok && !h->failed;
}

static void hasher_free(struct hasher *h) {
  if (!h)
    return;
  h->pos = 0; /* a refused layer: nothing more to hash */
  hasher_finish(h);
  for (size_t i = 0; i < NSLOTS; i++)
    free(h->slot[i]);
  pthread_cond_destroy(&h->cv);
  pthread_mutex_destroy(&h->mu);
  free(h);
}

static const struct {
  const char *enc, *plain;
} media_types[] = {
    {"application/vnd.oci.image.layer.v1.tar+encrypted", "application/vnd.oci.image.layer.v1.tar"},
    {"application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
     "application/vnd.oci.image.layer.v1.tar+gzip"},
    {"application/vnd.oci.image.layer.v1.tar+zstd+encrypted",
     "application/vnd.oci.image.layer.v1.tar+zstd"},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+encrypted",
     "application/vnd.oci.image.layer.nondistributable.v1.tar"},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip+encrypted",
     "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd+encrypted",
     "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"},
    {"application/vnd.docker.image.rootfs.diff.tar+encrypted",
     "application/vnd.docker.image.rootfs.diff.tar"},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip+encrypted",
     "application/vnd.docker.image.rootfs.diff.tar.gzip"},
    {"application/vnd.docker.image.rootfs.diff.tar.zstd+encrypted",
     "application/vnd.docker.image.rootfs.diff.tar.zstd"},
};

bool cf_ocicrypt_is_encrypted(const char *media_type, const char **plain) {
  for (size_t i = 0; media_type && i < sizeof(media_types) / sizeof(media_types[0]); i++)
    if (!strcmp(media_type, media_types[i].enc)) {
      if (plain)
        *plain = media_types[i].plain;
      return true;
    }
  return false;
}

static const char *find(const struct cf_ocicrypt_annotation *a, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (a[i].key && !strcmp(a[i].key, key))
      return a[i].value;
  return NULL;
}

/* Unwraps the private options with the first scheme that works. */
static int unwrap(cf_ocicrypt_layer *l, const struct cf_ocicrypt_annotation *a, size_t n,
                  const struct cf_ocicrypt_keys *keys, uint8_t **opts, size_t *len,
                  cf_error *err) {
  const char *jwe = find(a, n, OC_ANN_JWE), *aa = find(a, n, OC_ANN_AA);
  cf_error e1 = {0}, e2 = {0};
  if (jwe && keys->n_privkeys) {
    if (!oc_unwrap_jwe(jwe, keys, opts, len, &e1)) {
      l->scheme = "jwe";
      return 0;
    }
  }
  if (aa && keys->get_resource) {
    if (!oc_unwrap_keyprovider(aa, keys, opts, len, &e2)) {
      l->scheme = "provider.attestation-agent";
      return 0;
    }
  }
  if (e1.msg[0] || e2.msg[0]) {
    const cf_error *e = e1.msg[0] ? &e1 : &e2;
    return cf_err_status(err, e->status ? e->status : CF_PERMISSION_DENIED, "%s%.400s%s%s%.400s",
                         e1.msg[0] ? "jwe: " : "", e1.msg, e1.msg[0] && e2.msg[0] ? "; " : "",
                         e2.msg[0] ? "attestation-agent: " : "", e2.msg);
  }
  bool other = false;
  for (size_t i = 0; i < n; i++)
    other |= a[i].key && !strncmp(a[i].key, OC_ANN_PROVIDER, strlen(OC_ANN_PROVIDER));
  return cf_err_status(err, CF_FAILED_PRECONDITION,
                       "no key matches: %s%s%s", jwe ? "" : "no JWE annotation; ",
                       aa ? (keys->get_resource ? "" : "keyprovider annotation but no broker; ")
                          : "no attestation-agent keyprovider annotation; ",
                       jwe && !keys->n_privkeys ? "JWE annotation but no private keys"
                       : other ? "other keyprovider annotations are not supported"
                               : "nothing to unwrap the layer key with");
}

static int staging(cf_ocicrypt_layer *l, const char *dir, cf_error *err) {
  if (dir) {
    l->fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (l->fd < 0)
      return cf_err(err, errno, "staging file in %s", dir);
    return 0;
  }
  l->fd = memfd_create("coffer-layer", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (l->fd < 0)
    return cf_err(err, errno, "staging memfd");
  l->memfd = true;
  return 0;
}

static int setup(cf_ocicrypt_layer *l, const struct oc_privopts *p, cf_error *err) {
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                         OSSL_PARAM_construct_end()};
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  l->hmac = mac ? EVP_MAC_CTX_new(mac) : NULL;
  EVP_MAC_free(mac);
  l->aes = EVP_CIPHER_CTX_new();
  l->buf = malloc(CHUNK);
  if (!l->hmac || !l->aes || !l->buf ||
      EVP_MAC_init(l->hmac, p->symkey, OC_SYMKEY_LEN, params) != 1 ||
      EVP_DecryptInit_ex(l->aes, EVP_aes_256_ctr(), NULL, p->symkey, p->nonce) != 1)
    return cf_err_status(err, CF_INTERNAL, "OpenSSL AES-256-CTR / HMAC-SHA256 setup failed");
  snprintf(l->plain_digest, sizeof(l->plain_digest), "%s", p->digest);
  l->hasher = hasher_new(l->hmac);
  return 0;
}

int cf_ocicrypt_open(const char *digest, const char *media_type,
                     const struct cf_ocicrypt_annotation *annotations, size_t n_annotations,
                     const struct cf_ocicrypt_keys *keys, const char *staging_dir,
                     cf_ocicrypt_layer **out, cf_error *err) {
  const char *d = digest ? digest : "(no digest)";
  if (!cf_ocicrypt_is_encrypted(media_type, NULL))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "layer %.80s: media type %.120s is not an "
                         "encrypted layer type", d, media_type ? media_type : "(none)");
  for (size_t i = 0; i < n_annotations; i++)
    if (annotations[i].value && strlen(annotations[i].value) > CF_OCICRYPT_ANNOTATION_MAX)
      return cf_err_status(err, CF_RESOURCE_EXHAUSTED,
                           "layer %.80s: annotation %.80s over %d bytes", d, annotations[i].key,
                           CF_OCICRYPT_ANNOTATION_MAX);
  cf_ocicrypt_layer *l = calloc(1, sizeof(*l));
  if (!l)
    return cf_err(err, ENOMEM, "layer %.80s", d);
  l->fd = -1;
  snprintf(l->digest, sizeof(l->digest), "%.80s", d);
  _cleanup_ocicrypt_ cf_ocicrypt_layer *guard = l;
  const char *pub = find(annotations, n_annotations, OC_ANN_PUBOPTS);
  if (!pub)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "layer %s: no %s annotation", l->digest,
                         OC_ANN_PUBOPTS);
  if (oc_parse_pubopts(pub, &l->pub, err))
    return cf_error_prefix(err, "layer %s", l->digest);
  uint8_t *opts = NULL;
  size_t len = 0;
  if (unwrap(l, annotations, n_annotations, keys, &opts, &len, err))
    return cf_error_prefix(err, "layer %s", l->digest);
  struct oc_privopts p;
  int r = oc_parse_privopts(opts, len, &p, err);
  OPENSSL_cleanse(opts, len);
  free(opts);
  if (r)
    return cf_error_prefix(err, "layer %s (%s)", l->digest, l->scheme);
  r = setup(l, &p, err);
  OPENSSL_cleanse(&p, sizeof(p));
  if (r || staging(l, staging_dir, err))
    return cf_error_prefix(err, "layer %s", l->digest);
  *out = cf_steal_ptr(guard);
  return 0;
}

static int write_all(int fd, const uint8_t *b, size_t n) {
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return w < 0 ? -errno : -EIO;
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Drops what was decrypted so far: nothing of a refused layer survives. */
static void discard(cf_ocicrypt_layer *l) {
  l->state = ST_FAILED;
  if (l->fd >= 0) {
    (void)!ftruncate(l->fd, 0);
    close(l->fd);
    l->fd = -1;
  }
}

/* Takes the next n (<= CHUNK) ciphertext bytes into the HMAC: returns where
 * the cipher must read them (the ring slot's copy when the HMAC runs on the
 * thread, so both see the same bytes), or NULL if the HMAC failed. */
static const uint8_t *authenticate(cf_ocicrypt_layer *l, const uint8_t *p, size_t *n) {
  struct hasher *h = l->hasher;
  if (!h)
    return EVP_MAC_update(l->hmac, p, *n) == 1 ? p : NULL;
  uint8_t *slot = h->pos ? h->slot[h->filled % NSLOTS] : hasher_next_slot(h);
  if (!slot)
    return NULL;
  if (*n > SLOT - h->pos)
    *n = SLOT - h->pos;
  uint8_t *dst = slot + h->pos;
  memcpy(dst, p, *n);
  h->pos += *n;
  return dst;
}

int cf_ocicrypt_update(cf_ocicrypt_layer *l, const void *in, size_t len, cf_error *err) {
  if (l->state != ST_OPEN)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "layer %s: already finished or refused",
                         l->digest);
  const uint8_t *p = in;
  while (len) {
    size_t n = len < CHUNK ? len : CHUNK;
    const uint8_t *ct = authenticate(l, p, &n);
    if (!ct || (l->hasher && l->hasher->pos == SLOT && !hasher_submit(l->hasher))) {
      discard(l);
      return cf_err_status(err, CF_INTERNAL, "layer %s: HMAC-SHA256 failed (OpenSSL, or no "
                           "memory for its buffer)", l->digest);
    }
    int outl = 0;
    if (EVP_DecryptUpdate(l->aes, l->buf, &outl, ct, (int)n) != 1 || (size_t)outl != n) {
      discard(l);
      return cf_err_status(err, CF_INTERNAL, "layer %s: OpenSSL decryption failed", l->digest);
    }
    int r = write_all(l->fd, l->buf, n);
    if (r) {
      discard(l);
      return cf_err(err, -r, "layer %s: writing the staging file", l->digest);
    }
    l->size += n;
    p += n;
    len -= n;
  }
  return 0;
}

int cf_ocicrypt_final(cf_ocicrypt_layer *l, int *plain_fd, uint64_t *plain_size, cf_error *err) {
  if (l->state != ST_OPEN)
    return cf_err_status(err, CF_FAILED_PRECONDITION, "layer %s: already finished or refused",
                         l->digest);
  uint8_t mac[OC_HMAC_LEN];
  size_t ml = 0;
  bool hashed = true;
  if (l->hasher)
    hashed = hasher_finish(l->hasher);
  if (!hashed || EVP_MAC_final(l->hmac, mac, &ml, sizeof(mac)) != 1 || ml != OC_HMAC_LEN) {
    discard(l);
    return cf_err_status(err, CF_INTERNAL, "layer %s: HMAC computation failed", l->digest);
  }
  if (CRYPTO_memcmp(mac, l->pub.hmac, OC_HMAC_LEN)) {
    discard(l);
    return cf_err_status(err, CF_DATA_LOSS,
                         "layer %s: wrong HMAC after %llu bytes (ciphertext altered or truncated, "
                         "or pubopts altered): plaintext discarded",
                         l->digest, (unsigned long long)l->size);
  }
  if (l->memfd && fcntl(l->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
                                                F_SEAL_SEAL) < 0) {
    int e = errno;
    discard(l);
    return cf_err(err, e, "layer %s: sealing the plaintext", l->digest);
  }
  if (lseek(l->fd, 0, SEEK_SET) < 0) {
    int e = errno;
    discard(l);
    return cf_err(err, e, "layer %s: rewinding the plaintext", l->digest);
  }
  l->state = ST_DONE;
  *plain_fd = cf_steal_fd(l->fd);
  *plain_size = l->size;
  return 0;
}

const char *cf_ocicrypt_plain_digest(const cf_ocicrypt_layer *l) { return l->plain_digest; }
const char *cf_ocicrypt_scheme(const cf_ocicrypt_layer *l) { return l->scheme; }

void cf_ocicrypt_free(cf_ocicrypt_layer *l) {
  hasher_free(l->hasher); /* before the HMAC context it uses goes */
  if (l->state != ST_DONE)
    discard(l);
  EVP_CIPHER_CTX_free(l->aes); /* cleanses the key schedule */
  EVP_MAC_CTX_free(l->hmac);
  if (l->buf) {
    OPENSSL_cleanse(l->buf, CHUNK);
    free(l->buf);
  }
  OPENSSL_cleanse(l, sizeof(*l));
  free(l);
}
