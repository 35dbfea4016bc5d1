/* A process's stdio: containerd's stdio URIs (fifos, file://, binary://)
 * <-> the agent's ReadStdout/ReadStderr/WriteStdin calls, one chunk in
 * flight per stream. */
#ifndef COFFER_SHIM_STDIO_PUMP_H
#define COFFER_SHIM_STDIO_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"
#include "coffer/loop.h"

typedef struct shim shim;
typedef struct shim_proc shim_proc;

/* One output stream: agent ReadStdout/ReadStderr -> fd, one chunk at a time. */
typedef struct out_pump {
  int fd;             /* -1: no such stream */
  bool is_file;       /* regular file: plain blocking writes, no epoll */
  bool reading;       /* a Read call is in flight */
  bool done;          /* EOF seen and everything written (or dropped) */
  bool broken;        /* reader went away: drain and drop */
  uint8_t *buf;       /* unwritten rest of the last chunk */
  size_t len, off;
  cf_watch *w;
  void *ref;          /* the watch's callback data, freed with it */
} out_pump;

/* stdin: fd -> agent WriteStdin, one chunk in flight. */
typedef struct in_pump {
  int fd;
  cf_watch *w;
  bool writing;
  bool eof;           /* no more input: CloseStdin once writes are done */
  bool close_sent;
  bool close_requested; /* CloseIO: EOF once the fifo is empty */
  void *ref;
} in_pump;

int shim_stdio_open(shim *s, shim_proc *p, cf_error *err);
void shim_stdio_start_output(shim *s, shim_proc *p);
void shim_stdio_start_input(shim *s, shim_proc *p);
void shim_stdio_close_stdin(shim *s, shim_proc *p);
/* Stop pumping, free buffers, close fds (output left undelivered is lost). */
void shim_stdio_close(shim *s, shim_proc *p);
/* Mark both output pumps done (the agent is gone). */
void shim_stdio_abandon(shim *s, shim_proc *p);
bool shim_stdio_drained(const shim_proc *p);

#endif
