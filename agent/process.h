/* A container's processes: stdio set-up, exit, WaitProcess (process.c). */
#ifndef COFFER_AGENT_PROCESS_H
#define COFFER_AGENT_PROCESS_H

#include "agent.h"

proc *agent_proc_new(container *c, const char *exec_id);
proc *agent_proc_find(container *c, const char *exec_id);
void agent_proc_free(agent *a, proc *p, const char *why);
void agent_proc_check_done(agent *a, proc *p);
void agent_proc_reaped(agent *a, proc *p, int wstatus);
void agent_proc_wait(agent *a, proc *p, ttrpc_call *call);
/* Set up stdio for a process about to be created: the fds the engine hands
 * it, or a console socket for runc to send a terminal's master over. */
typedef struct proc_stdio {
  int child_in, child_out, child_err; /* the process's ends (closed after create) */
  int console_listen;
  int console_fd;
  bool want_stdin;
  char *console_path;
} proc_stdio;
int agent_proc_stdio_prepare(agent *a, proc *p, bool terminal, bool in, bool out,
                       bool err_, bool console_socket, proc_stdio *ps, cf_error *err);
int agent_proc_stdio_finish(agent *a, proc *p, proc_stdio *ps, cf_error *err);
void agent_proc_stdio_cleanup(proc_stdio *ps);
int agent_read_pid_file(const char *path, pid_t *pid, cf_error *err);

#endif
