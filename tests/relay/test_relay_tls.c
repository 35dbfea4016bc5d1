/* TLS through the relay, as the guest's attester does it: libcurl
 * connects to the guest pump's socket (CURLOPT_UNIX_SOCKET_PATH: Debian 12's
 * libcurl 7.88 ignores CURL_SOCKOPT_ALREADY_CONNECTED and would connect() a
 * socket from CURLOPT_OPENSOCKETFUNCTION again), speaks TLS to the broker
 * through it with the broker's CA pinned, and cf_relay_dial() gives the
 * host's reason when that fails. The broker is a real coffer-kbs over
 * HTTPS; its /healthz is the target. A hostile host (flipping a bit,
 * dropping bytes, withholding them) makes the guest's TLS fail or time
 * out: never a success with altered bytes.
 *
 * usage: test_relay_tls COFFER_KBS */
#include "relay_rig.h"

#include <curl/curl.h>

#include "coffer/clock.h"

static char tmp[64];
static char ca_crt[128], other_ca_crt[128];
static char sock_path[108];

static size_t collect(char *p, size_t sz, size_t n, void *data) {
  char *body = data;
  size_t have = strlen(body), add = sz * n;
  if (have + add < 256) {
    memcpy(body + have, p, add);
    body[have + add] = '\0';
  }
  return sz * n;
}

typedef struct fetch_result {
  CURLcode code;
  long status;
  char body[256], error[CURL_ERROR_SIZE];
  uint64_t ms;
} fetch_result;

/* GET https://broker.test:PORT/healthz: the name exists nowhere (no DNS
 * here), curl never resolves it with a unix socket path; the host relay
 * picks the address, the certificate's name is checked. */
static fetch_result fetch(unsigned port, const char *ca, long timeout_ms) {
  fetch_result res = {0};
  CURL *c = curl_easy_init();
  CHECK(c);
  char url[96];
  snprintf(url, sizeof(url), "https://broker.test:%u/healthz", port);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock_path);
  curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, res.body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, res.error);
  curl_easy_setopt(c, CURLOPT_VERBOSE, getenv("RELAY_TEST_VERBOSE") ? 1L : 0L);
  uint64_t t0 = cf_now_ms();
  res.code = curl_easy_perform(c);
  res.ms = cf_now_ms() - t0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res.status);
  curl_easy_cleanup(c);
  return res;
}

static int sh(const char *cmd) {
  char full[2048];
  snprintf(full, sizeof(full), "cd %s && (%s) >/dev/null 2>&1", tmp, cmd);
  return system(full);
}

static void make_pki(void) {
  CHECK(sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
           "-out ca.crt -days 2 -subj '/CN=coffer relay test CA'") == 0);
  CHECK(sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout o.key "
           "-out other-ca.crt -days 2 -subj '/CN=some other CA'") == 0);
  CHECK(sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key "
           "-out srv.csr -subj /CN=broker.test && "
           "printf 'subjectAltName=DNS:broker.test,IP:127.0.0.1\\n' > san.ext && "
           "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt "
           "-days 2 -extfile san.ext") == 0);
  snprintf(ca_crt, sizeof(ca_crt), "%s/ca.crt", tmp);
  snprintf(other_ca_crt, sizeof(other_ca_crt), "%s/other-ca.crt", tmp);
}

static pid_t start_kbs(const char *kbs, unsigned *port) {
  char cfg[128];
  snprintf(cfg, sizeof(cfg), "%s/kbs.json", tmp);
  FILE *f = fopen(cfg, "w");
  CHECK(f);
  fprintf(f, "{\"listen\": \"127.0.0.1:0\", \"tls\": {\"cert\": \"%s/srv.crt\", \"key\": \"%s/srv.key\"}}\n",
          tmp, tmp);
  fclose(f);
  int out[2];
  CHECK(pipe(out) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    rig_die_with_parent();
    dup2(out[1], 1);
    char log[128];
    snprintf(log, sizeof(log), "%s/kbs.log", tmp);
    int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(lfd, 2);
    execl(kbs, kbs, "--config", cfg, (char *)NULL);
    _exit(127);
  }
  close(out[1]);
  char line[256] = "";
  size_t len = 0;
  while (len < sizeof(line) - 1 && !strchr(line, '\n')) {
    ssize_t n = read(out[0], line + len, sizeof(line) - 1 - len);
    if (n <= 0)
      break;
    len += (size_t)n;
    line[len] = '\0';
  }
  char *at = strstr(line, "https://127.0.0.1:");
  if (!at) {
    fprintf(stderr, "coffer-kbs did not start: %s (see %s/kbs.log)\n", line, tmp);
    exit(1);
  }
  *port = (unsigned)atoi(at + strlen("https://127.0.0.1:"));
  return pid;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IONBF, 0);
  if (argc < 2 || !*argv[1] || access(argv[1], X_OK) != 0) {
    printf("SKIP: coffer-kbs is not built (kbs/ needs libmicrohttpd, libcurl and jose)\n");
    return 77;
  }
  if (system("openssl version >/dev/null 2>&1") != 0) {
    printf("SKIP: the openssl command is missing (test PKI)\n");
    return 77;
  }
  snprintf(tmp, sizeof(tmp), "/tmp/relay-tls-XXXXXX");
  CHECK(mkdtemp(tmp));
  make_pki();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  unsigned port;
  pid_t kbs = start_kbs(argv[1], &port);
  char broker[64];
  snprintf(broker, sizeof(broker), "https://127.0.0.1:%u", port);

  /* 1. an honest host: the guest's TLS client reaches the broker */
  rig r;
  rig_start(&r, &(rig_opts){.broker = broker}, NULL);
  snprintf(sock_path, sizeof(sock_path), "%s", r.sock);
  fetch_result f = fetch(port, ca_crt, 10000);
  printf("  honest: curl %d HTTP %ld in %llu ms body \"%s\" %s\n", f.code, f.status,
         (unsigned long long)f.ms, f.body, f.error);
  CHECK(f.code == CURLE_OK && f.status == 200);
  printf("ok   HTTPS to coffer-kbs /healthz through guest pump and host relay, CA pinned (%llu ms)\n",
         (unsigned long long)f.ms);
  /* the pin matters: another CA fails the handshake */
  f = fetch(port, other_ca_crt, 10000);
  CHECK(f.code == CURLE_PEER_FAILED_VERIFICATION || f.code == CURLE_SSL_CACERT ||
        f.code == CURLE_SSL_CONNECT_ERROR);
  printf("ok   a broker certificate from another CA is refused: %s\n", f.error);
  rig_stop(&r);

  /* 2. hostile hosts */
  const char *modes[] = {"flip", "cut", "stall"};
  for (size_t i = 0; i < 3; i++) {
    rig_start(&r, &(rig_opts){.broker = broker, .tamper = modes[i]}, NULL);
    snprintf(sock_path, sizeof(sock_path), "%s", r.sock);
    f = fetch(port, ca_crt, 3000);
    printf("  %s: curl %d (%s) HTTP %ld in %llu ms: %s\n", modes[i], f.code,
           curl_easy_strerror(f.code), f.status, (unsigned long long)f.ms, f.error);
    CHECK(f.code != CURLE_OK && f.status != 200 && f.body[0] == '\0');
    CHECK(f.ms < 4000);
    if (!strcmp(modes[i], "stall"))
      CHECK(f.code == CURLE_OPERATION_TIMEDOUT);
    /* a flipped bit fails the handshake at once, or, when it lands in a
     * record's length (how the broker's bytes are framed varies with load),
     * leaves TLS waiting for bytes that never come: both refuse the stream */
    rig_stop(&r);
    printf("ok   a host that %s the broker's bytes: the guest's TLS fails (%s) in %llu ms\n",
           !strcmp(modes[i], "flip") ? "flips a bit of" : !strcmp(modes[i], "cut") ? "drops some of" : "withholds",
           curl_easy_strerror(f.code), (unsigned long long)f.ms);
  }

  /* 3. the reason for a failure: a refused broker, and no host at all */
  unsigned closed;
  close(rig_tcp_listener(&closed));
  char refused[64];
  snprintf(refused, sizeof(refused), "https://127.0.0.1:%u", closed);
  rig_start(&r, &(rig_opts){.broker = refused}, NULL);
  snprintf(sock_path, sizeof(sock_path), "%s", r.sock);
  f = fetch(port, ca_crt, 3000);
  cf_error err = {0};
  CHECK(f.code != CURLE_OK && cf_relay_dial_at(r.sock, 3000, &err) < 0);
  printf("  refused: curl %d (%s); dial: %s\n", f.code, f.error, err.msg);
  CHECK(strstr(err.msg, "Connection refused"));
  rig_stop(&r);
  printf("ok   a refused broker: curl fails, cf_relay_dial names why\n");
  rig_start(&r, &(rig_opts){.guest_only = true}, NULL);
  uint64_t t0 = cf_now_ms();
  CHECK(cf_relay_dial_at(r.sock, 1500, &err) < 0);
  uint64_t took = cf_now_ms() - t0;
  printf("  no host: dial %llu ms: %s\n", (unsigned long long)took, err.msg);
  CHECK(strstr(err.msg, "within 1500 ms") && took < 3000);
  rig_stop(&r);
  printf("ok   no answer from the host: the dial gives up after its bound\n");

  kill(kbs, SIGKILL);
  waitpid(kbs, NULL, 0);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
  return system(cmd) == 0 ? 0 : 1;
}
