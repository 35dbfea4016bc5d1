/* coffer-vmm's create lock (vmm/coffer-vmm/create_lock.c): a destroy waits
 * for a create running on the same VM dir (a shim killed mid-create), up to
 * its bound, and goes on at once when no create runs or ever ran. The
 * "create" here is a child process holding the lock, as `coffer-vmm create`
 * does until it exits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coffer/clock.h"
#include "create_lock.h"

static int failures;
#define CHECK(c)                                                              \
  do {                                                                        \
    if (!(c)) {                                                               \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);   \
      failures++;                                                             \
    }                                                                         \
  } while (0)

int main(void) {
  char dir[] = "/tmp/test_create_lock.XXXXXX";
  if (!mkdtemp(dir))
    return 1;
  cf_error err = {0};
  /* never created: no wait */
  uint64_t t0 = cf_now_ms();
  CHECK(create_lock_wait(dir, 2000, &err) == 0);
  CHECK(cf_now_ms() - t0 < 500);

  int ready[2];
  if (pipe(ready) < 0)
    return 1;
  pid_t pid = fork();
  if (pid == 0) {
    cf_error e = {0};
    int fd = create_lock_take(dir, &e);
    if (write(ready[1], "r", 1) != 1 || fd < 0)
      _exit(1);
    usleep(1500 * 1000); /* the domain is being created */
    _exit(0);            /* exit releases the lock */
  }
  char b;
  CHECK(read(ready[0], &b, 1) == 1);

  /* a create runs: a short bound expires, naming the dir */
  err = (cf_error){0};
  t0 = cf_now_ms();
  CHECK(create_lock_wait(dir, 300, &err) < 0);
  CHECK(strstr(err.msg, dir) != NULL);
  CHECK(cf_now_ms() - t0 >= 300);
  /* a long bound: returns once the create is done, not at the bound */
  err = (cf_error){0};
  CHECK(create_lock_wait(dir, 10000, &err) == 0);
  CHECK(cf_now_ms() - t0 >= 1200 && cf_now_ms() - t0 < 8000);
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);

  /* done: a later destroy does not wait */
  t0 = cf_now_ms();
  CHECK(create_lock_wait(dir, 2000, &err) == 0 && cf_now_ms() - t0 < 500);
  char path[256];
  snprintf(path, sizeof(path), "%s/" CREATE_LOCK_NAME, dir);
  unlink(path);
  rmdir(dir);
  if (failures)
    fprintf(stderr, "%d check(s) failed\n", failures);
  return failures ? 1 : 0;
}
