/* agent_test cases: the pod: shared namespaces, the guest's refusal of host paths, rootfs
 * kinds (virtiofs, block), the end of a container that shares a PID
 * namespace. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <termios.h>
#include <time.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include "coffer/transport.h"
#include "cases.h"

void ns_link(uint32_t pid, const char *ns, char *buf, size_t cap) {
  char p[64];
  snprintf(p, sizeof(p), "/proc/%u/ns/%s", pid, ns);
  ssize_t n = readlink(p, buf, cap - 1);
  buf[n > 0 ? n : 0] = '\0';
}

static void test_pod_shares_ipc(void) {
  uint32_t p1, p2;
  spec_opts sb = {.annotation_type = "sandbox"};
  CHECK(h_create(&H, "pause", ARGS("sleep", "100"), &sb, &p1, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "pause", msg, sizeof(msg)) == CF_OK, "%s", msg);
  spec_opts app = {.annotation_type = "container"};
  CHECK(h_create(&H, "app", ARGS("sleep", "100"), &app, &p2, msg,
                 sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "app", msg, sizeof(msg)) == CF_OK, "%s", msg);
  char a[64], b[64], self[64];
  ns_link(p1, "ipc", a, sizeof(a));
  ns_link(p2, "ipc", b, sizeof(b));
  ns_link((uint32_t)getpid(), "ipc", self, sizeof(self));
  CHECK(a[0] && !strcmp(a, b), "ipc namespaces differ: %s vs %s", a, b);
  CHECK(strcmp(a, self), "the pod shares the host's ipc namespace");
  ns_link(p1, "uts", a, sizeof(a));
  ns_link(p2, "uts", b, sizeof(b));
  CHECK(a[0] && !strcmp(a, b), "uts namespaces differ: %s vs %s", a, b);
  ns_link(p1, "pid", a, sizeof(a));
  ns_link(p2, "pid", b, sizeof(b));
  CHECK(strcmp(a, b), "pid namespace shared although not asked");
  /* the container cgroups sit under the pod's cgroup parent */
  char cg[256];
  struct stat st;
  snprintf(cg, sizeof(cg), "/sys/fs/cgroup/memory%s/app", H.cgroup_parent);
  if (h_builtin) /* the agent's own cgroup2 mount is this hierarchy */
    snprintf(cg, sizeof(cg), "/sys/fs/cgroup/unified%s/app", H.cgroup_parent);
  else if (stat("/sys/fs/cgroup/memory", &st) != 0)
    snprintf(cg, sizeof(cg), "/sys/fs/cgroup%s/app", H.cgroup_parent);
  CHECK(stat(cg, &st) == 0, "no pod cgroup %s", cg);
  CHECK(h_remove(&H, "app", true) == CF_OK && h_remove(&H, "pause", true) == CF_OK, "remove");
}

/* ------------------------------------------------------------- cycles */

static void test_guest_rejects_host_paths(void) {
  char *good = h_spec(&H, ARGS("true"), NULL);
  expect(create_raw("g1", good, strlen(good), 0, H.rootfs), CF_INVALID_ARGUMENT,
         "HOST_PATH in guest mode");
  free(good);
  char path[400];
  snprintf(path, sizeof(path), "cp -a %s %s/share/c1 && mkdir -p %s/share/vol && echo shared-data > %s/share/vol/f",
           H.rootfs, H.dir, H.dir, H.dir);
  CHECK(system(path) == 0, "prepare share");
  char *spec_txt = h_spec(&H, ARGS("sh", "-c", "cat /data/f; ls /hostbind 2>&1 | head -1; cat /etc/resolv.conf /etc/hosts; stat -c 'mode %a' /etc/resolv.conf /etc/hosts"), NULL);
  json_object *s = json_tokener_parse(spec_txt);
  free(spec_txt);
  json_object *mounts, *m = json_object_new_object(), *opts = json_object_new_array(),
              *hooks = json_object_new_object(), *pre = json_object_new_array(),
              *hook = json_object_new_object();
  json_object_object_get_ex(s, "mounts", &mounts);
  size_t hostbind_idx = json_object_array_length(mounts);
  json_object_object_add(m, "destination", json_object_new_string("/hostbind"));
  json_object_object_add(m, "type", json_object_new_string("bind"));
  json_object_object_add(m, "source", json_object_new_string("/nonexistent/host/dir"));
  json_object_array_add(opts, json_object_new_string("rbind"));
  json_object_object_add(m, "options", opts);
  json_object_array_add(mounts, m);
  /* CRI's resolv.conf bind from a host path: the guest's file replaces it */
  json_object *rm = json_object_new_object(), *ropts = json_object_new_array();
  json_object_object_add(rm, "destination", json_object_new_string("/etc/resolv.conf"));
  json_object_object_add(rm, "type", json_object_new_string("bind"));
  json_object_object_add(rm, "source", json_object_new_string("/var/lib/containerd/nope/resolv.conf"));
  json_object_array_add(ropts, json_object_new_string("rbind"));
  json_object_object_add(rm, "options", ropts);
  json_object_array_add(mounts, rm);
  json_object *hm = json_object_new_object();
  json_object_object_add(hm, "destination", json_object_new_string("/etc/hosts"));
  json_object_object_add(hm, "type", json_object_new_string("bind"));
  json_object_object_add(hm, "source", json_object_new_string("/var/lib/containerd/nope/hosts"));
  json_object_array_add(mounts, hm);
  json_object_object_add(hook, "path", json_object_new_string("/nonexistent/hook"));
  json_object_array_add(pre, hook);
  json_object_object_add(hooks, "prestart", pre);
  json_object_object_add(s, "hooks", hooks);
  const char *txt = json_object_to_json_string(s);
  Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT, vol = COFFER__AGENT__V1__ROOTFS__INIT;
  Coffer__Agent__V1__SharedMount sm = COFFER__AGENT__V1__SHARED_MOUNT__INIT, *smp = &sm;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  rf.kind = vol.kind = COFFER__AGENT__V1__ROOTFS__KIND__VIRTIOFS;
  rf.source = "c1";
  vol.source = "vol";
  sm.destination = "/data";
  sm.source = &vol;
  st.stdout = st.stderr = true;
  req.container_id = "g2";
  req.spec.data = (uint8_t *)txt;
  req.spec.len = strlen(txt);
  req.rootfs = &rf;
  req.stdio = &st;
  req.mounts = &smp;
  req.n_mounts = 1;
  CHECK(h_call(&H, "CreateContainer", &req.base, &coffer__agent__v1__create_container_response__descriptor,
               NULL, msg, sizeof(msg)) == CF_INVALID_ARGUMENT && strstr(msg, "/hostbind") &&
            strstr(msg, "/nonexistent/host/dir"),
        "an unshared host bind must fail the create naming it: %s", msg);
  json_object_array_del_idx(mounts, hostbind_idx, 1);
  txt = json_object_to_json_string(s);
  req.spec.data = (uint8_t *)txt;
  req.spec.len = strlen(txt);
  CHECK(h_call(&H, "CreateContainer", &req.base, &coffer__agent__v1__create_container_response__descriptor,
               NULL, msg, sizeof(msg)) == CF_OK, "create in guest mode: %s", msg);
  json_object_put(s);
  CHECK(h_start(&H, "g2", msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_wait(&H, "g2", "") == 0, "exit");
  char *out = h_read_all(&H, "g2", "", false, NULL);
  CHECK(!strncmp(out, "shared-data\n", 12), "shared mount content \"%s\"", out);
  CHECK(strstr(out, "No such file"), "/hostbind exists in the container: \"%s\"", out);
  CHECK(strstr(out, "nameserver 10.9.8.7\n"), "pod resolv.conf not in the container: \"%s\"", out);
  CHECK(strstr(out, "10.1.2.3\tdb.pod\tdb\n"), "pod hosts not in the container: \"%s\"", out);
  /* readable by any user the container runs as, as kubelet writes them */
  CHECK(strstr(out, "mode 644\nmode 644\n"), "pod resolv.conf/hosts not 0644: \"%s\"", out);
  free(out);
  CHECK(h_remove(&H, "g2", false) == CF_OK, "remove");

  /* a namespace path not belonging to a container of this pod */
  char *sp = h_spec(&H, ARGS("true"), NULL);
  json_object *o = json_tokener_parse(sp), *lx, *nss, *ne = json_object_new_object();
  free(sp);
  json_object_object_get_ex(o, "linux", &lx);
  json_object_object_get_ex(lx, "namespaces", &nss);
  json_object_object_add(ne, "type", json_object_new_string("cgroup"));
  json_object_object_add(ne, "path", json_object_new_string("/proc/1/ns/cgroup"));
  json_object_array_add(nss, ne);
  const char *t2 = json_object_to_json_string(o);
  expect(create_raw("g3", t2, strlen(t2), 1, "c1"), CF_INVALID_ARGUMENT,
         "namespace path of a process outside the pod");
  json_object_put(o);
}

/* VIRTIOFS rootfs: a path inside the share (a plain directory here). */
static void test_rootfs_virtiofs(void) {
  char share[256], pod[300], link[300];
  snprintf(share, sizeof(share), "%s/share", H.dir);
  snprintf(pod, sizeof(pod), "%s/pod", share);
  mkdir(share, 0755);
  mkdir(pod, 0755);
  char cmd[700];
  snprintf(cmd, sizeof(cmd), "cp -a %s %s/c1", H.rootfs, pod);
  CHECK(system(cmd) == 0, "copy rootfs");
  snprintf(link, sizeof(link), "%s/evil", pod);
  CHECK(symlink("/", link) == 0, "symlink");
  char *spec = h_spec(&H, ARGS("sh", "-c", "echo via-share"), NULL);
  Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  st.stdout = true;
  rf.kind = COFFER__AGENT__V1__ROOTFS__KIND__VIRTIOFS;
  rf.source = "pod/c1";
  req.container_id = "vfs";
  req.spec.data = (uint8_t *)spec;
  req.spec.len = strlen(spec);
  req.rootfs = &rf;
  req.stdio = &st;
  CHECK(h_call(&H, "CreateContainer", &req.base, &coffer__agent__v1__create_container_response__descriptor,
               NULL, msg, sizeof(msg)) == CF_OK, "create: %s", msg);
  CHECK(h_start(&H, "vfs", msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_wait(&H, "vfs", "") == 0, "exit");
  char *out = h_read_all(&H, "vfs", "", false, NULL);
  CHECK(!strcmp(out, "via-share\n"), "output \"%s\"", out);
  free(out);
  CHECK(h_remove(&H, "vfs", false) == CF_OK, "remove");
  expect(create_raw("v2", spec, strlen(spec), 1, "pod/evil"), CF_INVALID_ARGUMENT,
         "VIRTIOFS symlink leading out of the share");
  free(spec);
}

/* BLOCK rootfs, found by its serial: a read-only erofs image gets a
 * writable overlay (tmpfs upper), an ext4 image is mounted as is. Loop
 * devices stand in for virtio-blk disks; --block-dir maps their serials. */
char loops[2][64];

void block_cleanup(void) {
  char cmd[128];
  for (int i = 0; i < 2; i++)
    if (loops[i][0]) {
      snprintf(cmd, sizeof(cmd), "losetup -d %s 2>/dev/null", loops[i]);
      if (system(cmd) != 0)
        fprintf(stderr, "losetup -d %s failed\n", loops[i]);
    }
}

static void test_rootfs_block(void) {
  char *spec0 = h_spec(&H, ARGS("sh", "-c", "echo written > /new && cat /new && test -x /bin/busybox && echo ok"), NULL);
  json_object *so = json_tokener_parse(spec0), *root;
  free(spec0);
  json_object_object_get_ex(so, "root", &root);
  json_object_object_add(root, "readonly", json_object_new_boolean(0)); /* runc spec says true */
  char *spec = strdup(json_object_to_json_string(so));
  json_object_put(so);
  const char *kinds[2] = {"erofs", "ext4"};
  for (int i = 0; i < 2; i++) {
    char id[16], serial[32];
    snprintf(id, sizeof(id), "blk-%s", kinds[i]);
    snprintf(serial, sizeof(serial), "serial-%s", kinds[i]);
    Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
    Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT;
    Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
    st.stdout = st.stderr = true;
    rf.kind = COFFER__AGENT__V1__ROOTFS__KIND__BLOCK;
    rf.source = serial;
    rf.fstype = (char *)kinds[i];
    rf.readonly = i == 0;
    req.container_id = id;
    req.spec.data = (uint8_t *)spec;
    req.spec.len = strlen(spec);
    req.rootfs = &rf;
    req.stdio = &st;
    CHECK(h_call(&H, "CreateContainer", &req.base,
                 &coffer__agent__v1__create_container_response__descriptor, NULL, msg,
                 sizeof(msg)) == CF_OK, "create on %s: %s", kinds[i], msg);
    CHECK(h_start(&H, id, msg, sizeof(msg)) == CF_OK, "%s", msg);
    CHECK(h_wait(&H, id, "") == 0, "%s exit", id);
    char *out = h_read_all(&H, id, "", false, NULL);
    CHECK(!strcmp(out, "written\nok\n"), "%s output \"%s\"", id, out);
    free(out);
    CHECK(h_remove(&H, id, false) == CF_OK, "remove");
  }
  free(spec);
  /* nothing stays mounted under the test dir */
  char line[512];
  FILE *f = fopen("/proc/self/mounts", "re");
  int left = 0;
  while (f && fgets(line, sizeof(line), f))
    left += strstr(line, H.dir) != NULL;
  if (f)
    fclose(f);
  CHECK(left == 0, "%d mounts left under %s", left, H.dir);
  char *good = h_spec(&H, ARGS("true"), NULL);
  expect(create_raw("blk-x", good, strlen(good), 2, "serial-missing"), CF_NOT_FOUND, "BLOCK serial not present");
  free(good);
}

/* DestroySandbox removes every container (and the agent exits when asked). */
static void test_shared_pid_namespace(void) {
  uint32_t p1, p2;
  spec_opts sb = {.annotation_type = "sandbox"};
  CHECK(h_create(&H, "pause", ARGS("sleep", "1000"), &sb, &p1, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "pause", msg, sizeof(msg)) == CF_OK, "%s", msg);
  spec_opts app = {.annotation_type = "container", .in = true};
  CHECK(h_create(&H, "app", ARGS("sh", "-c", "echo self=$$; ps -o pid,comm; read x || true"), &app, &p2,
                 msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "app", msg, sizeof(msg)) == CF_OK, "%s", msg);
  char a[64], b[64], self[64];
  ns_link(p1, "pid", a, sizeof(a));
  ns_link(p2, "pid", b, sizeof(b));
  ns_link((uint32_t)getpid(), "pid", self, sizeof(self));
  printf("pid namespaces: pause %u %s, app %u %s, host %s\n", p1, a, p2, b, self);
  CHECK(a[0] && !strcmp(a, b), "pid namespaces differ: %s vs %s", a, b);
  CHECK(strcmp(a, self), "the pod runs in the host's pid namespace");
  CHECK(h_close_stdin(&H, "app", "") == CF_OK, "close stdin");
  int st = h_wait(&H, "app", "");
  char *out = h_read_all(&H, "app", "", false, NULL);
  printf("--- app exited %d:\n%s", st, out);
  CHECK(st == 0, "app exit status %d", st);
  int me = 0;
  CHECK(sscanf(out, "self=%d", &me) == 1 && me > 1, "app's own pid: \"%s\"", out);
  /* ps lists the pause container's sleep as PID 1, and the app's shell */
  bool pause_seen = false, self_seen = false;
  for (char *line = strchr(out, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
    int pid = 0;
    char comm[32] = "";
    if (sscanf(line + 1, "%d %31s", &pid, comm) != 2)
      continue;
    pause_seen |= pid == 1 && !strcmp(comm, "sleep");
    self_seen |= pid == me && !strcmp(comm, "sh");
  }
  CHECK(pause_seen && self_seen, "ps in the app: pause's sleep as 1 %s, its own sh %s:\n%s",
        pause_seen ? "seen" : "missing", self_seen ? "seen" : "missing", out);
  free(out);
  CHECK(h_remove(&H, "app", false) == CF_OK, "remove app");
  CHECK(h_remove(&H, "pause", true) == CF_OK, "remove pause");
}

/* Live (not zombie) processes whose command line is exactly argv. */
static int count_live(const char *const *argv) {
  char want[256];
  size_t wl = 0;
  for (size_t i = 0; argv[i]; i++)
    wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "%s", argv[i]) + 1;
  int n = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    char path[64], buf[256], stat[512] = "";
    snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
    FILE *f = fopen(path, "re");
    size_t len = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f)
      fclose(f);
    if (len != wl || memcmp(buf, want, wl))
      continue;
    snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
    f = fopen(path, "re");
    if (f && fgets(stat, sizeof(stat), f)) {
      const char *st = strrchr(stat, ')');
      n += st && st[1] == ' ' && st[2] != 'Z';
    }
    if (f)
      fclose(f);
  }
  if (d)
    closedir(d);
  return n;
}

/* A container in the pod's PID namespace whose main process leaves a child
 * behind that holds its stdout (as nginx's workers do): the exit is
 * reported at once, not after the drain timeout, and the child is gone
 * (runc's shim kills the cgroup's rest the same way). */
static void test_init_exit_ends_shared_pid_namespace_container(void) {
  CHECK(h_create(&H, "pause", ARGS("sleep", "1000"), &(spec_opts){.annotation_type = "sandbox"},
                 NULL, msg, sizeof(msg)) == CF_OK, "%s", msg);
  CHECK(h_start(&H, "pause", msg, sizeof(msg)) == CF_OK, "%s", msg);
  /* a command line of this run's own: the runc and built-in variants may
   * run at the same time */
  char secs[16], script[96];
  snprintf(secs, sizeof(secs), "%d", 100000 + (int)(getpid() % 100000));
  snprintf(script, sizeof(script), "sleep %s & echo started; exec sleep 0.2", secs);
  const char *const orphan[] = {"sleep", secs, NULL};
  CHECK(count_live(orphan) == 0, "a \"sleep %s\" runs already on this host", secs);
  CHECK(h_create(&H, "app", ARGS("sh", "-c", script),
                 &(spec_opts){.annotation_type = "container"}, NULL, msg, sizeof(msg)) == CF_OK,
        "%s", msg);
  uint64_t t0 = cf_now_ms();
  CHECK(h_start(&H, "app", msg, sizeof(msg)) == CF_OK, "%s", msg);
  int st = h_wait(&H, "app", "");
  uint64_t took = cf_now_ms() - t0;
  char *out = h_read_all(&H, "app", "", false, NULL);
  int left = count_live(orphan);
  printf("app exited %d after %lu ms, output \"%s\", %d \"sleep %s\" left\n", st,
         (unsigned long)took, out, left, secs);
  CHECK(st == 0, "exit status %d", st);
  CHECK(!strcmp(out, "started\n"), "output \"%s\"", out);
  CHECK(took < 2000, "exit reported %lu ms after start (the drain timeout is 3 s)",
        (unsigned long)took);
  CHECK(left == 0, "the child that outlived the container's init still runs");
  free(out);
  CHECK(h_remove(&H, "app", false) == CF_OK, "remove app");
  CHECK(h_remove(&H, "pause", true) == CF_OK, "remove pause");
}

const agent_case agent_cases_pod[] = {
    {"pod_shares_ipc", test_pod_shares_ipc},
    {"guest_rejects_host_paths", test_guest_rejects_host_paths},
    {"rootfs_virtiofs", test_rootfs_virtiofs},
    {"rootfs_block", test_rootfs_block},
    {"shared_pid_namespace", test_shared_pid_namespace},
    {"init_exit_ends_shared_pid_namespace_container", test_init_exit_ends_shared_pid_namespace_container},
    {NULL, NULL},
};
