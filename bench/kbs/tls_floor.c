/* The cheapest client of the broker, as the peer of coffer-attester in
 * bench/vm/secrets.sh: OpenSSL only, a P-256 key (as the TEE key), one
 * TLS 1.3 handshake against the pinned CA, one POST /kbs/v0/auth, nothing
 * else (no attestation, no token, no resource). Any attester built on
 * OpenSSL pays at least this. Prints one line once the reply is in: its CPU
 * time from exec (loading included) per step, and the HTTP status line.
 *   bench_tls_floor https://IP:PORT CA.pem */
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static long cpu_ms(void) {
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000L +
         (r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1000L;
}

static int fail(const char *what) {
  char e[256];
  ERR_error_string_n(ERR_get_error(), e, sizeof(e));
  fprintf(stderr, "bench_tls_floor: %s: %s\n", what, e);
  return 1;
}

int main(int argc, char **argv) {
  long t[6];
  t[0] = cpu_ms();
  char host[64];
  int port = 0;
  struct sockaddr_in a = {.sin_family = AF_INET};
  if (argc != 3 || sscanf(argv[1], "https://%63[0-9.]:%d", host, &port) != 2 ||
      inet_pton(AF_INET, host, &a.sin_addr) != 1 || port <= 0 || port > 65535) {
    fprintf(stderr, "usage: bench_tls_floor https://IPv4:PORT CA.pem\n");
    return 2;
  }
  a.sin_port = htons((unsigned short)port);
  unsigned char seed[16];
  if (RAND_bytes(seed, sizeof(seed)) != 1)
    return fail("random");
  t[1] = cpu_ms();
  EVP_PKEY *key = EVP_EC_gen("P-256");
  if (!key)
    return fail("P-256 key");
  t[2] = cpu_ms();
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx || SSL_CTX_load_verify_locations(ctx, argv[2], NULL) != 1)
    return fail(argv[2]);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  t[3] = cpu_ms();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
    perror("bench_tls_floor: connect");
    return 1;
  }
  SSL *ssl = SSL_new(ctx);
  if (!ssl || !SSL_set_fd(ssl, fd) || !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) ||
      SSL_connect(ssl) != 1)
    return fail("TLS handshake");
  t[4] = cpu_ms();
  static const char body[] =
      "{\"version\":\"0.4.0\",\"tee\":\"sample\",\"extra-params\":{\"supported-hash-algorithms\":[\"sha384\"]}}";
  char req[512], rep[4096];
  int n = snprintf(req, sizeof(req),
                   "POST /kbs/v0/auth HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   host, sizeof(body) - 1, body);
  if (SSL_write(ssl, req, n) != n || (n = SSL_read(ssl, rep, sizeof(rep) - 1)) <= 0)
    return fail("request");
  t[5] = cpu_ms();
  rep[n] = '\0';
  rep[strcspn(rep, "\r\n")] = '\0';
  printf("tls-floor cpu ms: load %ld, random %ld, key %ld, context %ld, handshake %ld, request %ld, "
         "all %ld; reply \"%s\"\n",
         t[0], t[1] - t[0], t[2] - t[1], t[3] - t[2], t[4] - t[3], t[5] - t[4], t[5], rep);
  fflush(stdout);
  SSL_free(ssl);
  close(fd);
  SSL_CTX_free(ctx);
  EVP_PKEY_free(key);
  return 0;
}
