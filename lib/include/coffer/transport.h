/* Byte-stream transports for ttrpc, named by address strings:
 *   unix:/path                 unix stream socket (also a bare "/path")
 *   vsock:PORT                 listen on AF_VSOCK (any CID)
 *   vsock:CID:PORT             connect to AF_VSOCK CID:PORT
 *   hvsock:/path:PORT          hybrid vsock: unix socket + "CONNECT PORT\n" → "OK ...\n"
 *   serial:/dev/vport0p1       a character device byte stream (virtio-serial port)
 * The URL spellings unix:///path, vsock://CID:PORT, hvsock:///path:PORT work too.
 * All returned fds are O_CLOEXEC and non-blocking. */
#ifndef COFFER_TRANSPORT_H
#define COFFER_TRANSPORT_H

#include "coffer/error.h"

/* Returns a listening fd (unix removes a stale socket file first). */
int cf_transport_listen(const char *addr, cf_error *err);
/* Connects within timeout_ms (retrying ENOENT/ECONNREFUSED until then).
 * timeout_ms <= 0: a single attempt (a vsock connect or hybrid handshake in
 * progress may still take up to 1 s). */
int cf_transport_connect(const char *addr, int timeout_ms, cf_error *err);
/* Opens a character device stream for serial: addresses. */
int cf_transport_open_serial(const char *path, cf_error *err);
/* For unix sockets: fail unless the peer runs as our uid (SO_PEERCRED). */
int cf_transport_check_peer(int fd, cf_error *err);

#endif
