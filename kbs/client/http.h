/* One HTTP exchange through libcurl, bounded in time and size. */
#ifndef COFFER_KBS_CLIENT_HTTP_H
#define COFFER_KBS_CLIENT_HTTP_H

#include <pthread.h>
#include <stddef.h>

#include "coffer/error.h"

typedef struct kbs_http {
  const char *url, *ca_file;
  long timeout_ms;
  char cookie[160]; /* kbs-session-id=…, kept across calls */
  void *curl;       /* CURL*: one handle, so its connection (and TLS session) is reused */
  int (*connect)(void *ud, cf_error *err); /* optional: hands over a connected socket */
  void *connect_ud;
  cf_error connect_err; /* why the hook failed, for the call's error */
  char refused[96];     /* why on_header aborted the reply, for the call's error */
  int bridge_fd;        /* see bridge.c; -1 when not started */
  char bridge_name[64];
  pthread_t bridge_thread;
} kbs_http;

typedef struct kbs_reply {
  long status;
  char *body; /* NUL-terminated, malloc()ed */
  size_t len;
} kbs_reply;

/* method "GET"/"POST"/"DELETE"; `path` below the base url; bearer may be
 * NULL. Fails only when no HTTP answer came (connection, TLS, timeout). */
int kbs_http_call(kbs_http *h, const char *method, const char *path, const char *ctype,
                  const void *body, size_t len, const char *bearer, kbs_reply *out,
                  cf_error *err);
void kbs_reply_free(kbs_reply *r);
/* Closes the connection kept by `h`. */
void kbs_http_close(kbs_http *h);
/* Starts / stops the bridge through which curl reaches the connect hook. */
int kbs_bridge_start(kbs_http *h, cf_error *err);
void kbs_bridge_stop(kbs_http *h);
/* The error detail of a KBS error body, or the body itself. */
const char *kbs_reply_detail(const kbs_reply *r, char *buf, size_t n);

#endif
