/* A process's streams: bounded output buffers, the stdin queue, the pty (stream.c). */
#ifndef COFFER_AGENT_STREAM_H
#define COFFER_AGENT_STREAM_H

#include "agent.h"

void agent_outbuf_init(outbuf *ob, proc *p, int fd);
int agent_outbuf_start(agent *a, outbuf *ob, cf_error *err);
void agent_outbuf_free(outbuf *ob);
/* Park or answer a read. */
void agent_outbuf_read(agent *a, outbuf *ob, ttrpc_call *call, uint32_t max);
int agent_stdin_write(agent *a, proc *p, ttrpc_call *call, const uint8_t *data,
                size_t len, cf_error *err);
int agent_stdin_close(agent *a, proc *p, cf_error *err);
void agent_stdin_free(proc *p);
int agent_pty_resize(proc *p, unsigned w, unsigned h, cf_error *err);
/* Receives a pty master over SCM_RIGHTS from an accepted console connection. */
int agent_console_recv_fd(int conn, cf_error *err);

#endif
