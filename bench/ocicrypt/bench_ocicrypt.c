/* Decryption throughput of libcoffer_ocicrypt (AES-256-CTR + HMAC-SHA256 into
 * its staging memfd) over a 64 MiB layer, next to two peers
 * measured in the same run:
 *   - `openssl speed -evp aes-256-ctr` (16 KiB blocks): the floor the issue
 *     names. The layer format also requires HMAC-SHA256 over every byte
 *     before any is used, and HMAC-SHA256 alone (`openssl speed -hmac
 *     sha256`, printed too) runs at a fraction of AES-CTR's rate, so this
 *     ratio cannot approach 1.
 *   - the format's peer: OpenSSL's AES-256-CTR and HMAC-SHA256 over the same
 *     ciphertext in this process, back to back in the same update size into one
 *     reused buffer, on one thread (no staging file, nothing else): what the
 *     format demands at the least.
 * The library runs the HMAC on a second thread when it has a second CPU, so
 * its wall-clock rate is the one compared with the peer's wall-clock rate;
 * CPU time (CLOCK_PROCESS_CPUTIME_ID, all threads, the staging memfd's page
 * allocation included) is printed beside it for both. `openssl speed` counts
 * its CPU time. Each pair runs openssl speed, then the peer and the library
 * (which of the two goes first alternates); medians of the per-pair ratios
 * are printed with the CPUs this process may use and the load average. Run
 * it under `taskset -c 0` for the one-CPU case (no HMAC thread).
 *
 *   bench_ocicrypt [PAIRS] [MIB] [KIB]   (default 7 pairs, 64 MiB, 256 KiB updates) */
#include <sched.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coffer/ocicrypt.h"

static size_t piece = 256 * 1024; /* bytes per update (the agent's pull feeds 64 KiB reads) */

static uint8_t kek[32];

static int get_resource(void *ctx, const char *kid, uint8_t **out, size_t *len, cf_error *err) {
  (void)ctx, (void)kid, (void)err;
  *out = malloc(32);
  memcpy(*out, kek, 32);
  *len = 32;
  return 0;
}

static char *b64(const uint8_t *b, size_t n) {
  char *s = malloc(n / 3 * 4 + 8);
  EVP_EncodeBlock((unsigned char *)s, b, (int)n);
  return s;
}

static double now(clockid_t clk) {
  struct timespec t;
  clock_gettime(clk, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* bytes/s from `openssl speed -mr ... -bytes 16384` ("+F:n:name:rate"). */
static double openssl_speed(const char *args) {
  char cmd[256], line[512];
  snprintf(cmd, sizeof(cmd), "openssl speed -mr %s -bytes 16384 -seconds 1 2>/dev/null", args);
  FILE *p = popen(cmd, "r");
  double rate = 0;
  while (p && fgets(line, sizeof(line), p))
    if (!strncmp(line, "+F:", 3)) {
      char *c = strrchr(line, ':');
      rate = atof(c + 1);
    }
  if (p)
    pclose(p);
  return rate;
}

struct rate {
  double wall, cpu; /* bytes/s */
};

/* The library: open (key unwrap included), 256 KiB updates, final. */
static int run_library(const struct cf_ocicrypt_annotation *ann, const struct cf_ocicrypt_keys *keys,
                       const uint8_t *ct, const uint8_t *pt, size_t size, struct rate *out) {
  cf_ocicrypt_layer *layer = NULL;
  cf_error err = {0};
  double t0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
  int r = cf_ocicrypt_open("sha256:bench", "application/vnd.oci.image.layer.v1.tar+encrypted", ann, 2,
                           keys, NULL, &layer, &err);
  for (size_t o = 0; !r && o < size; o += piece)
    r = cf_ocicrypt_update(layer, ct + o, size - o < piece ? size - o : piece, &err);
  int fd = -1;
  uint64_t got = 0;
  if (!r)
    r = cf_ocicrypt_final(layer, &fd, &got, &err);
  double t = now(CLOCK_PROCESS_CPUTIME_ID) - t0, w = now(CLOCK_MONOTONIC) - w0;
  if (r || got != size) {
    fprintf(stderr, "decrypt failed: %s\n", err.msg);
    return 1;
  }
  /* spot-check the plaintext */
  uint8_t probe[4096];
  if (pread(fd, probe, sizeof(probe), (off_t)(size / 2)) != sizeof(probe) ||
      memcmp(probe, pt + size / 2, sizeof(probe))) {
    fprintf(stderr, "decrypted bytes differ\n");
    return 1;
  }
  close(fd);
  cf_ocicrypt_free(layer);
  *out = (struct rate){size / w, size / t};
  return 0;
}

/* The format's peer: AES-256-CTR and HMAC-SHA256 over the same ciphertext
 * with OpenSSL, on this thread, into one reused buffer; the HMAC checked. */
static int run_peer(const uint8_t *key, const uint8_t *nonce, const uint8_t *want, const uint8_t *ct,
                    size_t size, struct rate *out) {
  static uint8_t buf[1 << 20];
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                         OSSL_PARAM_construct_end()};
  double t0 = now(CLOCK_PROCESS_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
  EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *h = EVP_MAC_CTX_new(m);
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int ok = EVP_MAC_init(h, key, 32, params) == 1 &&
           EVP_DecryptInit_ex(c, EVP_aes_256_ctr(), NULL, key, nonce) == 1;
  for (size_t o = 0; ok && o < size; o += piece) {
    size_t n = size - o < piece ? size - o : piece;
    int l = 0;
    ok = EVP_MAC_update(h, ct + o, n) == 1 && EVP_DecryptUpdate(c, buf, &l, ct + o, (int)n) == 1;
  }
  uint8_t mac[32];
  size_t ml = 0;
  ok = ok && EVP_MAC_final(h, mac, &ml, sizeof(mac)) == 1 && !memcmp(mac, want, 32);
  EVP_CIPHER_CTX_free(c);
  EVP_MAC_CTX_free(h);
  EVP_MAC_free(m);
  double t = now(CLOCK_PROCESS_CPUTIME_ID) - t0, w = now(CLOCK_MONOTONIC) - w0;
  if (!ok) {
    fprintf(stderr, "peer: OpenSSL failed or the HMAC differs\n");
    return 1;
  }
  *out = (struct rate){size / w, size / t};
  return 0;
}

int main(int argc, char **argv) {
  int pairs = argc > 1 ? atoi(argv[1]) : 7;
  size_t size = (size_t)(argc > 2 ? atoi(argv[2]) : 64) << 20;
  piece = (size_t)(argc > 3 ? atoi(argv[3]) : 256) << 10;
  if (pairs < 1 || pairs > 100 || size == 0 || piece == 0 || piece > (1u << 20))
    return 2;
  /* A layer encrypted the way ocicrypt does it, its key behind the
   * attestation-agent keyprovider scheme (no RSA in the timed part). */
  uint8_t key[32], nonce[16], iv[12], mac[32];
  RAND_bytes(key, 32);
  RAND_bytes(nonce, 16);
  RAND_bytes(iv, 12);
  RAND_bytes(kek, 32);
  uint8_t *pt = malloc(size), *ct = malloc(size);
  RAND_bytes(pt, (int)(size < (1u << 20) ? size : (1u << 20)));
  for (size_t o = 1u << 20; o < size; o += 1u << 20)
    memcpy(pt + o, pt, size - o < (1u << 20) ? size - o : (1u << 20));
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int l = 0;
  EVP_EncryptInit_ex(c, EVP_aes_256_ctr(), NULL, key, nonce);
  EVP_EncryptUpdate(c, ct, &l, pt, (int)size);
  EVP_CIPHER_CTX_free(c);
  size_t ml = 0;
  EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, ct, size, mac, 32, &ml);
  char *kb = b64(key, 32), *nb = b64(nonce, 16), *mb = b64(mac, 32), opts[512], pub[256];
  snprintf(opts, sizeof(opts), "{\"symkey\":\"%s\",\"digest\":\"\",\"cipheroptions\":{\"nonce\":\"%s\"}}",
           kb, nb);
  snprintf(pub, sizeof(pub), "{\"cipher\":\"AES_256_CTR_HMAC_SHA256\",\"hmac\":\"%s\",\"cipheroptions\":{}}",
           mb);
  size_t on = strlen(opts);
  uint8_t wrapped[600];
  int l2 = 0;
  c = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, iv);
  EVP_EncryptUpdate(c, wrapped, &l, (uint8_t *)opts, (int)on);
  EVP_EncryptFinal_ex(c, wrapped + l, &l2);
  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, wrapped + on);
  EVP_CIPHER_CTX_free(c);
  char *wb = b64(wrapped, on + 16), *ivb = b64(iv, 12), packet[1024];
  snprintf(packet, sizeof(packet),
           "{\"kid\":\"kbs:///default/image-kek/bench\",\"wrapped_data\":\"%s\",\"iv\":\"%s\","
           "\"wrap_type\":\"A256GCM\"}", wb, ivb);
  char *pubb = b64((uint8_t *)pub, strlen(pub)), *pkb = b64((uint8_t *)packet, strlen(packet));
  struct cf_ocicrypt_annotation ann[] = {{"org.opencontainers.image.enc.pubopts", pubb},
                                         {"org.opencontainers.image.enc.keys.provider.attestation-agent", pkb}};
  struct cf_ocicrypt_keys keys = {.get_resource = get_resource};

  double *aes = calloc((size_t)pairs, sizeof(double)), *hm = calloc((size_t)pairs, sizeof(double));
  double *r_floor = calloc((size_t)pairs, sizeof(double)), *r_peer = calloc((size_t)pairs, sizeof(double));
  double *r_cpu = calloc((size_t)pairs, sizeof(double)), *lw = calloc((size_t)pairs, sizeof(double));
  double *lc = calloc((size_t)pairs, sizeof(double)), *pw = calloc((size_t)pairs, sizeof(double));
  double *pc = calloc((size_t)pairs, sizeof(double));
  cpu_set_t cpus;
  int ncpu = sched_getaffinity(0, sizeof(cpus), &cpus) ? 0 : CPU_COUNT(&cpus);
  for (int i = 0; i < pairs; i++) {
    aes[i] = openssl_speed("-evp aes-256-ctr");
    hm[i] = openssl_speed("-hmac sha256");
    if (aes[i] <= 0 || hm[i] <= 0) {
      fprintf(stderr, "openssl speed gave no rate\n");
      return 1;
    }
    struct rate lib, peer;
    if (i % 2) {
      if (run_library(ann, &keys, ct, pt, size, &lib) || run_peer(key, nonce, mac, ct, size, &peer))
        return 1;
    } else if (run_peer(key, nonce, mac, ct, size, &peer) || run_library(ann, &keys, ct, pt, size, &lib)) {
      return 1;
    }
    lw[i] = lib.wall, lc[i] = lib.cpu, pw[i] = peer.wall, pc[i] = peer.cpu;
    r_peer[i] = lib.wall / peer.wall;
    r_cpu[i] = lib.cpu / peer.cpu;
    r_floor[i] = lib.wall / aes[i];
    printf("pair %d: openssl speed aes-256-ctr %.0f MB/s, hmac-sha256 %.0f MB/s; peer (aes-ctr + hmac, "
           "one thread) %.0f MB/s wall, %.0f MB/s CPU; coffer_ocicrypt %.0f MB/s wall, %.0f MB/s CPU\n",
           i + 1, aes[i] / 1e6, hm[i] / 1e6, peer.wall / 1e6, peer.cpu / 1e6, lib.wall / 1e6,
           lib.cpu / 1e6);
  }
  double load[3] = {0};
  getloadavg(load, 3);
  double fl = median(r_floor, pairs), pe = median(r_peer, pairs), cp = median(r_cpu, pairs);
  printf("median of %d pairs, %zu MiB layer in %zu KiB updates, %d CPU(s), load average %.2f %.2f %.2f:\n"
         "  coffer_ocicrypt %.0f MB/s wall (%.0f MB/s CPU time)\n"
         "  vs the format's peer, OpenSSL AES-256-CTR + HMAC-SHA256 on one thread, %.0f MB/s wall "
         "(%.0f CPU): %.2fx wall (%.2fx CPU time), target >= 0.7x: %s\n"
         "  vs openssl speed -evp aes-256-ctr %.0f MB/s: %.2fx, issue target >= 0.7x: %s "
         "(the format's HMAC alone, openssl speed -hmac sha256, runs at %.0f MB/s = %.2fx of it)\n",
         pairs, size >> 20, piece >> 10, ncpu, load[0], load[1], load[2], median(lw, pairs) / 1e6,
         median(lc, pairs) / 1e6, median(pw, pairs) / 1e6, median(pc, pairs) / 1e6, pe, cp,
         pe >= 0.7 ? "met" : "NOT met", median(aes, pairs) / 1e6, fl, fl >= 0.7 ? "met" : "NOT met",
         median(hm, pairs) / 1e6, median(hm, pairs) / median(aes, pairs));
  return 0;
}
