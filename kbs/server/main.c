/* coffer-kbs: the key broker.
 *
 *   coffer-kbs --config FILE
 *   coffer-kbs --dev --listen 127.0.0.1:PORT --resource-dir DIR
 *
 * Prints "coffer-kbs: listening on <url>" on stdout once it serves; stops on
 * SIGINT/SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/log.h"
#include "http.h"

static void usage(FILE *f) {
  fprintf(f, "usage: coffer-kbs --config FILE [--verify-at RFC3339]\n"
             "       coffer-kbs --dev --listen 127.0.0.1:PORT --resource-dir DIR\n");
}

/* --dev serves plain HTTP with sample evidence: loopback addresses only. */
static bool loopback(const char *listen) {
  char host[128];
  const char *colon = strrchr(listen, ':');
  if (!colon || (size_t)(colon - listen) >= sizeof(host))
    return false;
  memcpy(host, listen, (size_t)(colon - listen));
  host[colon - listen] = '\0';
  struct in_addr a4;
  struct in6_addr a6;
  if (inet_pton(AF_INET, host, &a4) == 1)
    return (ntohl(a4.s_addr) >> 24) == 127;
  if (!strcmp(host, "[::1]"))
    return true;
  return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static void *sweeper(void *arg) {
  kbs_server *s = arg;
  for (;;) {
    sleep(s->cfg.session_timeout_s < 60 ? (unsigned)s->cfg.session_timeout_s : 60);
    size_t n = kbs_sessions_sweep(s->sessions, time(NULL));
    if (n)
      cf_debug("swept %zu expired sessions", n);
  }
  return NULL;
}

int main(int argc, char **argv) {
  enum { O_CONFIG = 1, O_DEV, O_LISTEN, O_RESDIR, O_AT, O_LOG, O_HELP };
  static const struct option lo[] = {
      {"config", required_argument, NULL, O_CONFIG}, {"dev", no_argument, NULL, O_DEV},
      {"listen", required_argument, NULL, O_LISTEN}, {"resource-dir", required_argument, NULL, O_RESDIR},
      {"verify-at", required_argument, NULL, O_AT},  {"log-level", required_argument, NULL, O_LOG},
      {"help", no_argument, NULL, O_HELP},           {NULL, 0, NULL, 0}};
  const char *config = NULL, *listen = NULL, *resdir = NULL, *at = NULL;
  bool dev = false;
  int level = CF_LOG_INFO, c;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case O_CONFIG: config = optarg; break;
    case O_DEV: dev = true; break;
    case O_LISTEN: listen = optarg; break;
    case O_RESDIR: resdir = optarg; break;
    case O_AT: at = optarg; break;
    case O_LOG: level = cf_log_level_parse(optarg); break;
    case O_HELP: usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  cf_log_init("coffer-kbs", level < 0 ? CF_LOG_INFO : level, 2);
  if (optind != argc || (dev == !!config) || (dev && (!listen || !resdir)) ||
      (!dev && (listen || resdir))) {
    usage(stderr);
    return 2;
  }
  cf_error err = {0};
  kbs_config cfg;
  kbs_config_defaults(&cfg);
  if (dev) {
    if (!loopback(listen)) {
      fprintf(stderr, "coffer-kbs: --dev refuses to listen on %s: only a loopback address "
                      "(127.0.0.0/8, [::1]) is allowed\n", listen);
      return 2;
    }
    cfg.dev = cfg.insecure_http = cfg.sample_enabled = true;
    snprintf(cfg.listen, sizeof(cfg.listen), "%s", listen);
    snprintf(cfg.resource_dir, sizeof(cfg.resource_dir), "%s", resdir);
    fprintf(stderr,
            "coffer-kbs: ************************************************************\n"
            "coffer-kbs: WARNING: DEVELOPMENT MODE. INSECURE. Plain HTTP, `sample`\n"
            "coffer-kbs: evidence (no hardware) accepted, and every file under\n"
            "coffer-kbs: %s is released to ANY attested session.\n"
            "coffer-kbs: Never use this for real secrets.\n"
            "coffer-kbs: ************************************************************\n",
            resdir);
  } else if (kbs_config_load(&cfg, config, &err)) {
    fprintf(stderr, "coffer-kbs: %s\n", err.msg);
    return 2;
  }
  if (at) {
    if (cf_parse_rfc3339(at, &cfg.verify_at)) {
      fprintf(stderr, "coffer-kbs: --verify-at must be an RFC 3339 time\n");
      return 2;
    }
    cfg.has_verify_at = true;
  }
  if (cfg.insecure_http && !dev)
    cf_warn("insecure_http: serving plain HTTP; tokens and cookies travel in clear");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits the mask */
  static kbs_server s;
  if (kbs_server_init(&s, &cfg, &err) || kbs_http_start(&s, &err)) {
    fprintf(stderr, "coffer-kbs: %s\n", err.msg);
    kbs_server_fini(&s);
    return 1;
  }
  pthread_t sw;
  pthread_create(&sw, NULL, sweeper, &s);
  pthread_detach(sw);
  char host[128];
  snprintf(host, sizeof(host), "%.*s", (int)(strrchr(cfg.listen, ':') - cfg.listen), cfg.listen);
  printf("coffer-kbs: listening on %s://%s:%u\n", cfg.insecure_http ? "http" : "https", host, s.port);
  fflush(stdout);
  int sig;
  do
    sigwait(&set, &sig);
  while (sig == SIGPIPE);
  kbs_http_stop(&s);
  kbs_server_fini(&s);
  return 0;
}
