/* The broker relay over real sockets: a guest program's stream reaches the
 * one broker address and nothing else; every limit of the host side holds
 * against a hostile guest (floods, garbage, credit overruns), and the guest
 * side's waits are bounded against a host that stalls. */
#include "relay_rig.h"

#include <time.h>

#include "coffer/clock.h"

static int accepts_pipe[2];

/* An echo broker; writes one byte to accepts_pipe per connection. */
static pid_t start_echo_broker(unsigned *port) {
  int lfd = rig_tcp_listener(port);
  CHECK(pipe2(accepts_pipe, O_CLOEXEC) == 0);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    rig_die_with_parent();
    signal(SIGCHLD, SIG_IGN);
    for (;;) {
      int c = accept(lfd, NULL, NULL);
      if (c < 0)
        continue;
      if (write(accepts_pipe[1], "a", 1) != 1)
        _exit(1);
      if (fork() == 0) {
        rig_die_with_parent();
        char b[65536];
        ssize_t n;
        while ((n = read(c, b, sizeof(b))) > 0)
          if (write(c, b, (size_t)n) != n)
            break;
        _exit(0);
      }
      close(c);
    }
  }
  close(lfd);
  close(accepts_pipe[1]);
  fcntl(accepts_pipe[0], F_SETFL, O_NONBLOCK);
  return pid;
}

static int accepted_so_far(void) {
  static int total;
  char b[4096];
  ssize_t n;
  while ((n = read(accepts_pipe[0], b, sizeof(b))) > 0)
    total += (int)n;
  return total;
}

static void stop(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
}

static char broker_url[64];

/* ---------------------------------------------------------- functional */

static void a_stream_moves_a_megabyte_both_ways_with_flow_control(void) {
  rig r;
  rig_start(&r, &(rig_opts){.broker = broker_url}, NULL);
  cf_error err = {0};
  int before = accepted_so_far();
  int fd = cf_relay_dial_at(r.sock, 3000, &err);
  if (fd < 0)
    fprintf(stderr, "dial: %s\n", err.msg);
  CHECK(fd >= 0);
  size_t total = 1 << 20, sent = 0, got = 0;
  uint8_t *out = malloc(total), *in = malloc(total);
  for (size_t i = 0; i < total; i++)
    out[i] = (uint8_t)(i * 7 + (i >> 11));
  fcntl(fd, F_SETFL, O_NONBLOCK);
  uint64_t deadline = cf_now_ms() + 20000;
  while (got < total && cf_now_ms() < deadline) {
    struct pollfd p = {.fd = fd, .events = POLLIN | (sent < total ? POLLOUT : 0)};
    CHECK(poll(&p, 1, 1000) >= 0);
    if (p.revents & POLLOUT) {
      ssize_t n = write(fd, out + sent, total - sent > 50000 ? 50000 : total - sent);
      if (n > 0)
        sent += (size_t)n;
    }
    if (p.revents & POLLIN) {
      ssize_t n = read(fd, in + got, total - got);
      CHECK(n > 0);
      got += (size_t)n;
    }
  }
  CHECK(got == total && memcmp(in, out, total) == 0);
  CHECK(accepted_so_far() == before + 1);
  close(fd);
  free(in);
  free(out);
  rig_stop(&r);
  printf("ok   1 MiB echoed through guest pump, channel and host relay, bytes intact\n");
}

static void a_refused_broker_gives_the_hosts_reason(void) {
  unsigned port;
  int l = rig_tcp_listener(&port);
  close(l); /* nothing listens there now */
  char url[64];
  snprintf(url, sizeof(url), "127.0.0.1:%u", port);
  rig r;
  rig_start(&r, &(rig_opts){.broker = url}, NULL);
  cf_error err = {0};
  uint64_t t0 = cf_now_ms();
  CHECK(cf_relay_dial_at(r.sock, 3000, &err) < 0);
  char want[96];
  snprintf(want, sizeof(want), "connect 127.0.0.1:%u: Connection refused", port);
  fprintf(stderr, "  dial error: %s\n", err.msg);
  CHECK(strstr(err.msg, want) && cf_now_ms() - t0 < 2000);
  char line[160];
  snprintf(line, sizeof(line), "(host): stream 1 refused: %s", want);
  CHECK(rig_log_count(&r, line) == 1);
  rig_stop(&r);
  printf("ok   a refused broker: the dial fails at once with the host's reason\n");
}

static void streams_beyond_the_limit_are_refused_and_logged(void) {
  rig r;
  rig_start(&r, &(rig_opts){.broker = broker_url, .max_streams = 2}, NULL);
  cf_error err = {0};
  int a = cf_relay_dial_at(r.sock, 3000, &err), b = cf_relay_dial_at(r.sock, 3000, &err);
  CHECK(a >= 0 && b >= 0);
  CHECK(cf_relay_dial_at(r.sock, 3000, &err) < 0);
  fprintf(stderr, "  dial error: %s\n", err.msg);
  CHECK(strstr(err.msg, "2 streams open, the limit"));
  CHECK(rig_log_count(&r, "(host): stream 3 refused: 2 streams open, the limit") == 1);
  close(a);
  /* the slot comes back once the guest's close reached the host */
  int c = -1;
  for (int i = 0; i < 50 && c < 0; i++) {
    usleep(20000);
    c = cf_relay_dial_at(r.sock, 3000, &err);
  }
  CHECK(c >= 0);
  CHECK(write(c, "ping", 4) == 4);
  char buf[4];
  CHECK(read(c, buf, 4) == 4 && !memcmp(buf, "ping", 4));
  close(b);
  close(c);
  rig_stop(&r);
  printf("ok   streams beyond the limit are refused with a reason and a log line; freed slots reused\n");
}

static void an_idle_stream_is_closed(void) {
  rig r;
  rig_start(&r, &(rig_opts){.broker = broker_url, .idle_ms = 300}, NULL);
  cf_error err = {0};
  int fd = cf_relay_dial_at(r.sock, 3000, &err);
  CHECK(fd >= 0);
  uint64_t t0 = cf_now_ms();
  char b;
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  CHECK(read(fd, &b, 1) == 0);
  uint64_t took = cf_now_ms() - t0;
  CHECK(took >= 250 && took < 2000);
  CHECK(rig_log_count(&r, "closed: idle for 300 ms") >= 1);
  close(fd);
  rig_stop(&r);
  printf("ok   an idle stream is closed after its idle timeout (%llu ms)\n", (unsigned long long)took);
}

/* ------------------------------------------------- hostile host (guest) */

static void a_host_that_never_answers_bounds_the_dial(void) {
  int host;
  rig r;
  rig_start(&r, &(rig_opts){.guest_only = true}, &host);
  cf_error err = {0};
  uint64_t t0 = cf_now_ms();
  CHECK(cf_relay_dial_at(r.sock, 700, &err) < 0);
  uint64_t took = cf_now_ms() - t0;
  fprintf(stderr, "  dial error: %s\n", err.msg);
  CHECK(took >= 600 && took < 2000 && strstr(err.msg, "within 700 ms"));
  /* the OPEN reached the "host", which kept silent */
  uint8_t b[64];
  CHECK(read(host, b, sizeof(b)) >= CF_RELAY_HEADER && b[4] == CF_RELAY_OPEN);
  close(host);
  rig_stop(&r);
  printf("ok   a host that stalls: the guest's dial times out in %llu ms\n", (unsigned long long)took);
}

static void a_host_that_sends_garbage_ends_the_guest_relay_with_a_reason(void) {
  int host;
  rig r;
  rig_start(&r, &(rig_opts){.guest_only = true}, &host);
  uint8_t junk[CF_RELAY_HEADER];
  cf_relay_frame_header(junk, 1, 77, 0);
  CHECK(write(host, junk, sizeof(junk)) == sizeof(junk));
  usleep(100000);
  cf_error err = {0};
  CHECK(cf_relay_dial_at(r.sock, 2000, &err) < 0);
  fprintf(stderr, "  dial error: %s\n", err.msg);
  CHECK(strstr(err.msg, "bad relay frame") && strstr(err.msg, "unknown type"));
  close(host);
  rig_stop(&r);
  printf("ok   a host that sends a bad frame: later dials fail naming it\n");
}

/* ------------------------------------------------- hostile guest (host) */

/* Write everything, unless the peer stops reading for a second (a relay
 * that turned its channel off): false then. */
static bool send_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EAGAIN) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      if (poll(&pf, 1, 1000) == 0)
        return false;
      continue;
    }
    CHECK(w > 0);
    b += w;
    n -= (size_t)w;
  }
  return true;
}

static bool frame(int fd, uint32_t id, uint8_t type, const void *p, uint16_t len) {
  uint8_t h[CF_RELAY_HEADER];
  cf_relay_frame_header(h, id, type, len);
  return send_all(fd, h, sizeof(h)) && (!len || send_all(fd, p, len));
}

/* Read frames from the host for up to ms; count each type. */
static void read_frames(int fd, int ms, unsigned counts[8], char *last_close, size_t cap) {
  static uint8_t buf[1 << 20];
  size_t len = 0;
  uint64_t end = cf_now_ms() + (uint64_t)ms;
  while (cf_now_ms() < end) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 50) <= 0)
      continue;
    ssize_t n = read(fd, buf + len, sizeof(buf) - len);
    if (n <= 0)
      break;
    len += (size_t)n;
    size_t off = 0;
    for (;;) {
      cf_relay_frame f;
      cf_error err = {0};
      int k = cf_relay_frame_parse(buf + off, len - off, &f, &err);
      CHECK(k >= 0);
      if (k == 0)
        break;
      counts[f.type & 7]++;
      if (f.type == CF_RELAY_CLOSE && last_close)
        snprintf(last_close, cap, "%.*s", (int)f.len, (const char *)f.payload);
      off += (size_t)k;
    }
    memmove(buf, buf + off, len - off);
    len -= off;
  }
}

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  long kib = -1;
  while (f && fgets(line, sizeof(line), f))
    if (sscanf(line, "VmRSS: %ld", &kib) == 1)
      break;
  if (f)
    fclose(f);
  return kib;
}

static void the_guest_cannot_name_an_address(void) {
  int guest;
  rig r;
  rig_start(&r, &(rig_opts){.broker = broker_url, .host_only = true}, &guest);
  int before = accepted_so_far();
  /* a well-formed OPEN: to the configured broker, whatever the guest wants */
  frame(guest, 1, CF_RELAY_OPEN, NULL, 0);
  unsigned c[8] = {0};
  read_frames(guest, 300, c, NULL, 0);
  CHECK(c[CF_RELAY_OPEN_OK] == 1 && accepted_so_far() == before + 1);
  /* an OPEN that names an address is a protocol violation */
  frame(guest, 2, CF_RELAY_OPEN, "10.9.8.7:22", 11);
  frame(guest, 3, CF_RELAY_OPEN, NULL, 0);
  memset(c, 0, sizeof(c));
  read_frames(guest, 300, c, NULL, 0);
  CHECK(c[CF_RELAY_OPEN_OK] == 0 && accepted_so_far() == before + 1);
  CHECK(rig_log_count(&r, "OPEN/OPEN_OK carry nothing (the guest cannot name an address)") == 1);
  CHECK(rig_log_count(&r, "the relay is off for this pod") == 1);
  CHECK(rig_relays_alive(&r));
  close(guest);
  rig_stop(&r);
  printf("ok   the guest cannot name an address: OPEN with one ends the channel, nothing else is dialled\n");
}

static void thousands_of_opens_stay_bounded(void) {
  int guest;
  rig r;
  rig_start(&r, &(rig_opts){.broker = broker_url, .host_only = true, .max_streams = 8}, &guest);
  int before = accepted_so_far();
  fcntl(guest, F_SETFL, O_NONBLOCK);
  long rss0 = rss_kib(r.relays);
  unsigned c[8] = {0};
  char last[256] = "";
  for (uint32_t id = 1; id <= 5000; id++) {
    frame(guest, id, CF_RELAY_OPEN, NULL, 0);
    if (id % 500 == 0)
      read_frames(guest, 20, c, last, sizeof(last));
  }
  read_frames(guest, 500, c, last, sizeof(last));
  long rss1 = rss_kib(r.relays);
  fprintf(stderr, "  OPEN_OK %u CLOSE %u; host RSS %ld → %ld KiB; last reason: %s\n",
          c[CF_RELAY_OPEN_OK], c[CF_RELAY_CLOSE], rss0, rss1, last);
  CHECK(c[CF_RELAY_OPEN_OK] == 8 && c[CF_RELAY_CLOSE] == 5000 - 8);
  CHECK(accepted_so_far() - before == 8);
  CHECK(strstr(last, "8 streams open, the limit"));
  CHECK(rss1 - rss0 < 4096);
  int lines = rig_log_count(&r, "refused");
  CHECK(lines >= 1 && lines <= 14); /* the first, then at each power of two */
  CHECK(rig_log_count(&r, "(4096 refused so far)") == 1);
  CHECK(rig_relays_alive(&r));
  close(guest);
  rig_stop(&r);
  printf("ok   5000 OPENs: 8 connections, 4992 refusals, %d log lines, host RSS +%ld KiB\n", lines,
         rss1 - rss0);
}

static void garbage_and_credit_overruns_end_the_channel_not_the_host(void) {
  const char *cases[] = {"garbage", "overrun", "flags", "stale-data"};
  for (size_t k = 0; k < sizeof(cases) / sizeof(*cases); k++) {
    int guest;
    rig r;
    /* overrun: a broker that never reads, so the host's credit stops coming */
    unsigned deaf_port;
    int deaf = rig_tcp_listener(&deaf_port);
    char deaf_url[64];
    snprintf(deaf_url, sizeof(deaf_url), "127.0.0.1:%u", deaf_port);
    bool overrun = !strcmp(cases[k], "overrun");
    rig_start(&r, &(rig_opts){.broker = overrun ? deaf_url : broker_url, .host_only = true}, &guest);
    const char *want;
    if (!strcmp(cases[k], "garbage")) {
      uint8_t junk[4096];
      for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 131 + 17);
      send_all(guest, junk, sizeof(junk));
      want = "the guest sent a bad frame";
    } else if (!strcmp(cases[k], "flags")) {
      uint8_t h[CF_RELAY_HEADER];
      cf_relay_frame_header(h, 1, CF_RELAY_OPEN, 0);
      h[5] = 1;
      send_all(guest, h, sizeof(h));
      want = "flags must be 0";
    } else if (!strcmp(cases[k], "stale-data")) {
      static uint8_t d[100];
      frame(guest, 9, CF_RELAY_DATA, d, sizeof(d));
      want = "no such stream was opened";
    } else {
      frame(guest, 1, CF_RELAY_OPEN, NULL, 0);
      unsigned c[8] = {0};
      read_frames(guest, 300, c, NULL, 0);
      CHECK(c[CF_RELAY_OPEN_OK] == 1);
      /* ignore every WINDOW: sooner or later the socket buffers are full
       * and the credit the host gave is spent */
      static uint8_t d[CF_RELAY_MAX_PAYLOAD];
      want = "DATA beyond the credit window";
      fcntl(guest, F_SETFL, O_NONBLOCK);
      for (int i = 0; i < 2048 && !rig_log_count(&r, want); i++) {
        if (!frame(guest, 1, CF_RELAY_DATA, d, sizeof(d)))
          break; /* the host stopped reading: it should say why */
        char sink[65536];
        while (read(guest, sink, sizeof(sink)) > 0)
          ;
      }
    }
    usleep(200000);
    if (rig_log_count(&r, want) != 1)
      fprintf(stderr, "  %s: no log line with \"%s\"\n", cases[k], want);
    CHECK(rig_log_count(&r, want) == 1);
    CHECK(rig_relays_alive(&r));
    /* the channel is off: a later OPEN gets nothing */
    frame(guest, 100, CF_RELAY_OPEN, NULL, 0);
    unsigned c[8] = {0};
    read_frames(guest, 200, c, NULL, 0);
    CHECK(c[CF_RELAY_OPEN_OK] == 0);
    close(guest);
    close(deaf);
    rig_stop(&r);
  }
  printf("ok   garbage, bad flags, frames for unopened streams, credit overruns: logged, channel off, host up\n");
}

static unsigned long cpu_ticks(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  FILE *f = fopen(path, "r");
  CHECK(f);
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  unsigned long ut = 0, st = 0;
  /* fields after comm: state(3) ... utime(14) stime(15) */
  CHECK(p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2);
  return ut + st;
}

/* A guest that takes the broker's bytes but never returns credit, and a
 * broker that then resets the connection: the host must not spin on the
 * hung-up socket it cannot read. */
static void a_reset_broker_socket_without_credit_does_not_spin(void) {
  unsigned bport;
  int blfd = rig_tcp_listener(&bport);
  pid_t rst = fork();
  CHECK(rst >= 0);
  if (rst == 0) {
    rig_die_with_parent();
    int c = accept(blfd, NULL, NULL);
    static char big[256 * 1024];
    ssize_t w = write(c, big, sizeof(big)); /* more than one window */
    (void)w;
    usleep(300000);
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(c); /* RST */
    pause();
    _exit(0);
  }
  close(blfd);
  char url[64];
  snprintf(url, sizeof(url), "127.0.0.1:%u", bport);
  int guest;
  rig r;
  rig_start(&r, &(rig_opts){.broker = url, .host_only = true}, &guest);
  frame(guest, 1, CF_RELAY_OPEN, NULL, 0);
  unsigned c[8] = {0};
  read_frames(guest, 600, c, NULL, 0); /* takes the 64 KiB, returns no credit */
  CHECK(c[CF_RELAY_OPEN_OK] == 1 && c[CF_RELAY_DATA] >= 1);
  unsigned long t0 = cpu_ticks(r.relays);
  usleep(1000000);
  unsigned long used = cpu_ticks(r.relays) - t0;
  fprintf(stderr, "  host relay CPU over 1 s with a reset, credit-less stream: %lu ticks\n", used);
  CHECK(used < 10); /* a spinning loop burns ~100 */
  /* credit comes: the host reads what is left, then finds the reset */
  uint8_t credit[4] = {0, 1, 0, 0};
  char why[256] = "";
  memset(c, 0, sizeof(c));
  for (int i = 0; i < 8 && !c[CF_RELAY_CLOSE]; i++) {
    frame(guest, 1, CF_RELAY_WINDOW_UPDATE, credit, 4);
    read_frames(guest, 300, c, why, sizeof(why));
  }
  fprintf(stderr, "  after credit: DATA %u CLOSE %u (%s)\n", c[CF_RELAY_DATA], c[CF_RELAY_CLOSE], why);
  CHECK(c[CF_RELAY_CLOSE] == 1);
  CHECK(rig_relays_alive(&r));
  close(guest);
  rig_stop(&r);
  stop(rst);
  printf("ok   a broker reset while the guest holds back credit: no busy loop, the stream closes when credit comes\n");
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IONBF, 0);
  unsigned port;
  pid_t broker = start_echo_broker(&port);
  snprintf(broker_url, sizeof(broker_url), "127.0.0.1:%u", port);
  a_stream_moves_a_megabyte_both_ways_with_flow_control();
  a_refused_broker_gives_the_hosts_reason();
  streams_beyond_the_limit_are_refused_and_logged();
  an_idle_stream_is_closed();
  a_host_that_never_answers_bounds_the_dial();
  a_host_that_sends_garbage_ends_the_guest_relay_with_a_reason();
  the_guest_cannot_name_an_address();
  thousands_of_opens_stay_bounded();
  garbage_and_credit_overruns_end_the_channel_not_the_host();
  a_reset_broker_socket_without_credit_does_not_spin();
  stop(broker);
  return 0;
}
