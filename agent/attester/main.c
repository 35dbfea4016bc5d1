/* coffer-attester: started by the agent once init-data is verified. It
 * attests (bounded in time), writes the default token, keeps it fresh and
 * serves the agent's and the workload's sockets until SIGTERM. Prints
 * "coffer-attester: ready" on stdout when the sockets serve. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attester.h"
#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/log.h"

static void usage(void) {
  fprintf(stderr,
          "usage: coffer-attester --url URL --cert PEM --tee sample|snp|tdx [--init-data TOML]\n"
          "         --token-file PATH --tee-sock PATH --agent-sock PATH [--connect unix:PATH]\n"
          "         [--secret kbs:///repo/type/tag]... [--any-secret] [--timeout-ms N] [--deadline-s N]\n");
}

static int parse_args(int argc, char **argv, att_config *c) {
  static const struct option opts[] = {
      {"url", 1, 0, 'u'},        {"cert", 1, 0, 'c'},       {"tee", 1, 0, 't'},
      {"init-data", 1, 0, 'i'},  {"token-file", 1, 0, 'f'}, {"tee-sock", 1, 0, 's'},
      {"agent-sock", 1, 0, 'a'}, {"connect", 1, 0, 'n'},    {"secret", 1, 0, 'S'},
      {"any-secret", 0, 0, 'A'}, {"timeout-ms", 1, 0, 'T'}, {"deadline-s", 1, 0, 'D'},
      {0, 0, 0, 0}};
  c->timeout_ms = 5000;
  c->attest_deadline_s = 30;
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
    case 'T': c->timeout_ms = strtol(optarg, NULL, 10); break;
    case 'D': c->attest_deadline_s = strtol(optarg, NULL, 10); break;
    case 'S':
      if (c->n_secrets == ATT_MAX_SECRETS || strncmp(optarg, "kbs:///", 7) ||
          !att_resource_path_ok(optarg + 7)) {
        fprintf(stderr, "coffer-attester: --secret %s: expected kbs:///repo/type/tag (at most %d)\n",
                optarg, ATT_MAX_SECRETS);
        return -1;
      }
      c->secrets[c->n_secrets++] = optarg;
      break;
    default: usage(); return -1;
    }
  }
  if (!c->url || !c->tee || !c->token_file || !c->tee_sock || !c->agent_sock ||
      c->timeout_ms <= 0 || c->attest_deadline_s <= 0) {
    usage();
    return -1;
  }
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

int main(int argc, char **argv) {
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
  if (s.cfg.init_data && cf_read_file(s.cfg.init_data, 1 << 20, &s.init_data, NULL, &err)) {
    cf_error_log("coffer-attester: %s", err.msg);
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
