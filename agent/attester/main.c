/* coffer-attester: started by the agent once init-data is verified. It
 * takes the broker (aa.toml [token_configs.kbs] url and cert) and the pod's
 * secrets (coffer.toml [secrets]) from that init-data, attests (bounded in
 * time), writes the default token, keeps it fresh and serves the agent's and
 * the workload's sockets until SIGTERM. Prints "coffer-attester: ready" on
 * stdout when the sockets serve. --url, --cert and --secret exist for tests
 * and for the plain profile without init-data. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "attester.h"
#include "coffer/cleanup.h"
#include "coffer/clock.h"
#include "coffer/file.h"
#include "coffer/initdata.h"
#include "coffer/log.h"

static void usage(void) {
  fprintf(stderr,
          "usage: coffer-attester --tee sample|snp|tdx --init-data TOML --token-file PATH\n"
          "         --tee-sock PATH --agent-sock PATH [--url URL] [--cert PEM] [--connect relay|unix:PATH]\n"
          "         [--secret NAME=kbs:///repo/type/tag]... [--any-secret] [--timeout-ms N] [--deadline-s N]\n"
          "         [--sample-binding HEX]\n");
}

static int add_secret(att_config *c, char *arg) {
  char *eq = strchr(arg, '=');
  if (!eq || c->n_secrets == ATT_MAX_SECRETS || strncmp(eq + 1, "kbs:///", 7) ||
      !att_resource_path_ok(eq + 8) || !cf_initdata_name_valid((*eq = '\0', arg))) {
    fprintf(stderr, "coffer-attester: --secret: expected NAME=kbs:///repo/type/tag (at most %d)\n",
            ATT_MAX_SECRETS);
    return -1;
  }
  c->secrets[c->n_secrets++] = (att_secret){arg, eq + 1};
  return 0;
}

static int parse_args(int argc, char **argv, att_config *c) {
  static const struct option opts[] = {
      {"url", 1, 0, 'u'},        {"cert", 1, 0, 'c'},       {"tee", 1, 0, 't'},
      {"init-data", 1, 0, 'i'},  {"token-file", 1, 0, 'f'}, {"tee-sock", 1, 0, 's'},
      {"agent-sock", 1, 0, 'a'}, {"connect", 1, 0, 'n'},    {"secret", 1, 0, 'S'},
      {"any-secret", 0, 0, 'A'}, {"timeout-ms", 1, 0, 'T'}, {"deadline-s", 1, 0, 'D'},
      {"sample-binding", 1, 0, 'B'}, {0, 0, 0, 0}};
  c->timeout_ms = 5000;
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
    case 'u': c->url = optarg; break;
    case 'c': c->cert = optarg; break;
    case 't': c->tee = optarg; break;
    case 'i': c->init_data = optarg; break;
    case 'f': c->token_file = optarg; break;
    case 's': c->tee_sock = optarg; break;
    case 'a': c->agent_sock = optarg; break;
    case 'n': c->connect = optarg; break;
    case 'A': c->any_secret = true; break;
    case 'B': c->sample_binding = optarg; break;
    case 'T': c->timeout_ms = strtol(optarg, NULL, 10); break;
    case 'D': c->attest_deadline_s = strtol(optarg, NULL, 10); break;
    case 'S':
      if (add_secret(c, optarg))
        return -1;
      break;
    default: usage(); return -1;
    }
  }
  if (!c->tee || !c->token_file || !c->tee_sock || !c->agent_sock || c->timeout_ms <= 0 ||
      c->attest_deadline_s < 0) {
    usage();
    return -1;
  }
  return 0;
}

/* The pinned broker certificate from init-data, as a file only this process
 * can name (a memfd): libcurl reads its trust anchor from a path. */
static char *cert_memfd(const char *pem, cf_error *err) {
  int fd = memfd_create("coffer-broker-cert", MFD_CLOEXEC);
  if (fd < 0) {
    cf_err(err, errno, "broker certificate: memfd");
    return NULL;
  }
  size_t len = strlen(pem);
  if (write(fd, pem, len) != (ssize_t)len) {
    cf_err(err, errno ? errno : EIO, "broker certificate: write");
    close(fd);
    return NULL;
  }
  char *path = NULL;
  if (asprintf(&path, "/proc/self/fd/%d", fd) < 0) {
    cf_err(err, ENOMEM, "broker certificate");
    return NULL;
  }
  return path; /* fd stays open for the process's life */
}

/* Broker and secrets from the verified init-data (flags given by the agent
 * or a test take precedence). */
static int load_init_data(att_state *s, cf_error *err) {
  if (!s->cfg.init_data)
    return 0;
  size_t len = 0;
  if (cf_read_file(s->cfg.init_data, CF_INITDATA_MAX_TOML, &s->init_data, &len, err))
    return -EIO;
  if (!(s->id = cf_initdata_parse(s->init_data, len, err)))
    return cf_error_prefix(err, "%s", s->cfg.init_data);
  if (!s->cfg.url)
    s->cfg.url = s->id->broker_url;
  if (!s->cfg.cert && s->id->broker_cert && !(s->cfg.cert = cert_memfd(s->id->broker_cert, err)))
    return -EIO;
  for (size_t i = 0; i < s->id->n_secrets && s->cfg.n_secrets < ATT_MAX_SECRETS; i++)
    s->cfg.secrets[s->cfg.n_secrets++] = (att_secret){s->id->secrets[i].name, s->id->secrets[i].uri};
  /* the image decryption keys, which the agent asks for as image-key-<i> */
  static char key_names[ATT_MAX_SECRETS][24];
  for (size_t i = 0; i < s->id->n_image_keys && s->cfg.n_secrets < ATT_MAX_SECRETS; i++) {
    snprintf(key_names[i], sizeof(key_names[i]), "image-key-%zu", i);
    s->cfg.secrets[s->cfg.n_secrets++] = (att_secret){key_names[i], s->id->image_keys[i]};
  }
  if (!s->cfg.attest_deadline_s)
    s->cfg.attest_deadline_s = (s->id->timeout_ms + 999) / 1000;
  return 0;
}

/* The first attestation: retried with back-off until the deadline, so a
 * broker that is still starting is waited for, but never forever. */
static int first_attestation(att_state *s, cf_error *err) {
  time_t end = time(NULL) + s->cfg.attest_deadline_s;
  unsigned pause = 1;
  for (;;) {
    cf_error_clear(err);
    if (!att_attest(s, err))
      return att_token_write(s->cfg.token_file, s->token, err);
    if (err->status == CF_PERMISSION_DENIED || time(NULL) + pause >= end)
      return -EIO;
    sleep(pause);
    pause = pause * 2 > 8 ? 8 : pause * 2;
  }
}

/* CPU time (user + system) this process has used so far, in ms. */
static unsigned long long cpu_ms(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru))
    return 0;
  return (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
         (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

int main(int argc, char **argv) {
  uint64_t t_start = cf_now_ms();
  unsigned long long cpu_load = cpu_ms(); /* exec, the dynamic loader, the libraries' constructors */
  cf_log_init("coffer-attester", CF_LOG_INFO, 2);
  static att_state s = {.lock = PTHREAD_MUTEX_INITIALIZER};
  if (parse_args(argc, argv, &s.cfg))
    return 2;
  /* Blocked before any thread starts, so that only sigwait() takes them. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  cf_error err = {0};
  if (load_init_data(&s, &err)) {
    cf_error_log("coffer-attester: %s", err.msg);
    return 1;
  }
  if (!s.cfg.attest_deadline_s)
    s.cfg.attest_deadline_s = 30;
  if (!s.cfg.url) {
    cf_error_log("coffer-attester: no broker: init-data has no aa.toml [token_configs.kbs] url");
    return 1;
  }
  if (att_broker_open(&s, &err)) {
    cf_error_log("coffer-attester: %s", err.msg);
    return 1;
  }
  /* A failed first attestation does not end the daemon: each secret request
   * retries it and answers the agent with the broker's reason. */
  if (first_attestation(&s, &err))
    cf_error_log("coffer-attester: %s", err.msg);
  if (att_refresh_start(&s, &err)) {
    cf_error_log("coffer-attester: %s", err.msg);
    return 1;
  }
  att_server *agent = att_server_start(&s, s.cfg.agent_sock, true, 0600, &err);
  att_server *tee = agent ? att_server_start(&s, s.cfg.tee_sock, false, 0666, &err) : NULL;
  if (!tee) {
    cf_error_log("coffer-attester: %s", err.msg);
    att_server_stop(agent);
    return 1;
  }
  cf_info("attester: serving %llu ms after it started (cpu: %llu ms to main, %llu ms in all)",
          (unsigned long long)(cf_now_ms() - t_start), cpu_load, cpu_ms());
  printf("coffer-attester: ready\n");
  fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  att_server_stop(tee);
  att_server_stop(agent);
  unlink(s.cfg.tee_sock);
  unlink(s.cfg.agent_sock);
  return 0;
}
