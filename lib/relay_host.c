/* The host side of the broker relay: each stream the guest opens is
 * connected to the pod's one broker address, resolved once when the relay
 * is made. The guest names nothing: OPEN carries no address. */
#include "relay_internal.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "coffer/cleanup.h"
#include "coffer/log.h"

/* "https://HOST[:PORT][/path]", "http://…" or "HOST:PORT"; IPv6 in brackets. */
static int parse_broker(const char *url, char *host, size_t hcap, char *port, size_t pcap,
                        cf_error *err) {
  const char *p = url, *dflt = NULL;
  if (strncmp(p, "https://", 8) == 0)
    p += 8, dflt = "443";
  else if (strncmp(p, "http://", 7) == 0)
    p += 7, dflt = "80";
  else if (strstr(p, "://"))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "broker %s: only http and https URLs", url);
  size_t hlen = strcspn(p, "/?#");
  char hostport[300];
  if (hlen == 0 || hlen >= sizeof(hostport) || memchr(p, '@', hlen))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "broker %s: bad host", url);
  memcpy(hostport, p, hlen);
  hostport[hlen] = '\0';
  char *h = hostport, *colon;
  if (*h == '[') {
    char *close = strchr(h, ']');
    if (!close || (close[1] && close[1] != ':'))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "broker %s: bad IPv6 address", url);
    *close = '\0';
    h++;
    colon = close[1] == ':' ? close + 1 : NULL;
  } else {
    colon = strchr(h, ':');
    if (colon && strchr(colon + 1, ':'))
      return cf_err_status(err, CF_INVALID_ARGUMENT, "broker %s: IPv6 needs brackets", url);
    if (colon)
      *colon = '\0';
  }
  const char *pt = colon ? colon + 1 : dflt;
  if (!pt || !*pt || strspn(pt, "0123456789") != strlen(pt) || atoi(pt) < 1 || atoi(pt) > 65535)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "broker %s: needs a port 1..65535", url);
  if (!*h || strlen(h) >= hcap || strlen(pt) >= pcap)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "broker %s: bad host", url);
  snprintf(host, hcap, "%s", h);
  snprintf(port, pcap, "%s", pt);
  return 0;
}

static int resolve_broker(cf_relay *r, const char *url, cf_error *err) {
  char host[256], port[8];
  int rc = parse_broker(url, host, sizeof(host), port, sizeof(port), err);
  if (rc < 0)
    return rc;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
  struct addrinfo *res = NULL;
  int g = getaddrinfo(host, port, &hints, &res);
  if (g != 0 || !res)
    return cf_err_status(err, CF_UNAVAILABLE, "broker %s: cannot resolve %s: %s", url, host,
                         gai_strerror(g));
  memcpy(&r->broker, res->ai_addr, res->ai_addrlen);
  r->broker_len = res->ai_addrlen;
  freeaddrinfo(res);
  char ip[INET6_ADDRSTRLEN] = "?";
  const void *a = r->broker.ss_family == AF_INET6
                      ? (const void *)&((struct sockaddr_in6 *)&r->broker)->sin6_addr
                      : (const void *)&((struct sockaddr_in *)&r->broker)->sin_addr;
  inet_ntop(r->broker.ss_family, a, ip, sizeof(ip));
  snprintf(r->broker_text, sizeof(r->broker_text),
           r->broker.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip, port);
  return 0;
}

static void refuse(cf_relay *r, uint32_t id, const char *why) {
  relay_log_refused(r, id, why);
  relay_send(r, id, CF_RELAY_CLOSE, why, strnlen(why, CF_RELAY_REASON_MAX));
}

static void host_connected(cf_relay *r, relay_stream *s);

static void host_open(cf_relay *r, uint32_t id) {
  char why[CF_RELAY_REASON_MAX + 1];
  _cleanup_close_ int fd =
      socket(r->broker.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(why, sizeof(why), "socket for %s: %s", r->broker_text, strerror(errno));
    refuse(r, id, why);
    return;
  }
  unsigned open_now = 0;
  for (unsigned i = 0; i < r->max_streams; i++)
    open_now += r->streams[i].state != ST_FREE;
  if (open_now >= r->max_streams) {
    snprintf(why, sizeof(why), "%u streams open, the limit", open_now);
    refuse(r, id, why);
    return;
  }
  bool done = connect(fd, (struct sockaddr *)&r->broker, r->broker_len) == 0;
  if (!done && errno != EINPROGRESS) {
    snprintf(why, sizeof(why), "connect %s: %s", r->broker_text, strerror(errno));
    refuse(r, id, why);
    return;
  }
  relay_stream *s = relay_stream_alloc(r, id, fd, ST_CONNECTING);
  if (!s) {
    refuse(r, id, "out of memory");
    return;
  }
  fd = -1; /* the stream owns it */
  if (done)
    host_connected(r, s);
}

static void host_connected(cf_relay *r, relay_stream *s) {
  int soerr = 0;
  socklen_t len = sizeof(soerr);
  if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
    soerr = errno;
  if (soerr) {
    char why[CF_RELAY_REASON_MAX + 1];
    snprintf(why, sizeof(why), "connect %s: %s", r->broker_text, strerror(soerr));
    relay_log_refused(r, s->id, why);
    relay_stream_close(r, s, why);
    return;
  }
  uint32_t id = s->id;
  relay_stream_opened(r, s);
  cf_debug("relay %s (host): stream %u connected to %s", r->name, (unsigned)id, r->broker_text);
  relay_send(r, id, CF_RELAY_OPEN_OK, NULL, 0);
}

static const relay_side host_side = {.open = host_open, .connected = host_connected};

cf_relay *cf_relay_host_new(cf_loop *loop, int channel_fd, const cf_relay_opts *o, cf_error *err) {
  if (!o || !o->broker || !*o->broker) {
    close(channel_fd);
    cf_err_status(err, CF_INVALID_ARGUMENT, "relay: no broker address for this pod");
    return NULL;
  }
  cf_relay *r = relay_new(RELAY_HOST, &host_side, loop, channel_fd, o, err);
  if (!r)
    return NULL;
  if (resolve_broker(r, o->broker, err) < 0) {
    cf_relay_free(r);
    return NULL;
  }
  cf_info("relay %s (host): streams reach %s only (broker %s)", r->name, r->broker_text,
          o->broker);
  return r;
}
