/* A light RCAR load generator for bench_kbs: plain HTTP/1.1 on keep-alive
 * sockets, requests written from templates, so that the clients' core is
 * not what limits the broker's core. The broker does the full handshake
 * (session, nonce check, binding, verification, token) for every request;
 * only the client side is lighter than libcoffer_kbs_client: one TEE key
 * for all handshakes, no JSON parsing beyond finding the nonce. */
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "coffer/kbs_client.h"
#include "coffer/kbs_common.h"
#include "loadgen.h"

double loadgen_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int connect_to(unsigned port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One response into buf (headers and Content-Length body); returns the
 * status, the body in *body, or -1. */
static int recv_response(int fd, char *buf, size_t cap, char **body, size_t *blen) {
  size_t have = 0;
  char *end = NULL;
  while (!end) {
    if (have + 1 >= cap)
      return -1;
    ssize_t r = recv(fd, buf + have, cap - 1 - have, 0);
    if (r <= 0)
      return -1;
    have += (size_t)r;
    buf[have] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  const char *cl = strcasestr(buf, "\r\nContent-Length:");
  size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0, hdr = (size_t)(end + 4 - buf);
  if (hdr + want + 1 > cap)
    return -1;
  while (have < hdr + want) {
    ssize_t r = recv(fd, buf + have, hdr + want - have, 0);
    if (r <= 0)
      return -1;
    have += (size_t)r;
  }
  buf[have] = '\0';
  *body = buf + hdr;
  *blen = want;
  return !strncmp(buf, "HTTP/1.1 ", 9) ? atoi(buf + 9) : -1;
}

/* One RCAR handshake on connection fd. */
static int handshake(const loadgen *g, int fd, char *buf, size_t cap, char *req, size_t req_cap) {
  char *body;
  size_t blen;
  int n = snprintf(req, req_cap,
                   "POST /kbs/v0/auth HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAccept: */*\r\n"
                   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                   g->port, strlen(g->auth_body), g->auth_body);
  if (send_all(fd, req, (size_t)n) || recv_response(fd, buf, cap, &body, &blen) != 200)
    return -1;
  char cookie[64], nonce[64];
  const char *c = strstr(buf, "kbs-session-id="), *q = strstr(body, "\"nonce\":\"");
  if (!c || !q || sscanf(c + 15, "%32[0-9a-f]", cookie) != 1 || sscanf(q + 9, "%60[^\"]", nonce) != 1)
    return -1;
  char rt[512];
  snprintf(rt, sizeof(rt), "{\"nonce\":\"%s\",\"tee-pubkey\":%s}", nonce, g->pubkey_json);
  char *ev = NULL;
  if (g->evidence_json) {
    ev = g->evidence_json;
  } else {
    uint8_t d[48];
    cf_error err = {0};
    if (cf_kbs_runtime_digest(g->pubkey, nonce, "", d, &err) ||
        cf_kbs_sample_evidence(NULL, "sample", d, &ev, &err))
      return -1;
  }
  size_t blen2 = strlen(rt) + strlen(ev) + 96;
  char *att = malloc(blen2);
  if (!att)
    return -1;
  int an = snprintf(att, blen2,
                    "{\"runtime-data\":%s,\"tee-evidence\":{\"primary_evidence\":%s,"
                    "\"additional_evidence\":\"\"}}",
                    rt, ev);
  if (ev != g->evidence_json)
    free(ev);
  n = snprintf(req, req_cap,
               "POST /kbs/v0/attest HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nAccept: */*\r\n"
               "Cookie: kbs-session-id=%s\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n",
               g->port, cookie, an);
  int r = (size_t)n < req_cap && !send_all(fd, req, (size_t)n) && !send_all(fd, att, (size_t)an) &&
                  recv_response(fd, buf, cap, &body, &blen) == 200 && !strncmp(body, "{\"token\":\"", 10)
              ? 0
              : -1;
  free(att);
  return r;
}

void *loadgen_worker(void *arg) {
  loadgen_job *j = arg;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(j->cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  size_t cap = 64 * 1024, req_cap = 1024;
  char *buf = malloc(cap), *req = malloc(req_cap);
  int fd = connect_to(j->g->port);
  while (buf && req && fd >= 0 && loadgen_now() < j->until) {
    if (handshake(j->g, fd, buf, cap, req, req_cap)) {
      j->errors++;
      close(fd);
      fd = connect_to(j->g->port);
      continue;
    }
    j->n++;
  }
  if (fd < 0)
    j->errors++;
  else
    close(fd);
  free(buf);
  free(req);
  return NULL;
}
