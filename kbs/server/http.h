/* coffer-kbs over HTTP(S): libmicrohttpd with an epoll thread pool. */
#ifndef COFFER_KBS_HTTP_H
#define COFFER_KBS_HTTP_H

#include "kbs.h"

/* Starts serving on cfg.listen ("host:port", port 0 picks one: s->port). */
int kbs_http_start(kbs_server *s, cf_error *err);
void kbs_http_stop(kbs_server *s);

#endif
