/* The shim's socket address (containerd's hashing), pod grouping from
 * annotations, SHA-256 vectors and start's stdin decoding. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "containerd/bootstrap/v1/bootstrap.pb-c.h"
#include "containerd/runtimeoptions/v1/api.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "coffer/sha2.h"
#include "startopts.h"

#include "check.h"

static void sha256_hex(const char *s, size_t len, char out[65]) {
  uint8_t d[32];
  cf_sha256(s, len, d);
  cf_hex(d, sizeof(d), out);
}

static void test_sha256(void) {
  char hex[65];
  sha256_hex("", 0, hex);
  CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
  char a[200];
  memset(a, 'a', sizeof(a));
  sha256_hex(a, 55, hex); /* padding fits the last block exactly */
  CHECK(strcmp(hex, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318") == 0);
  sha256_hex(a, 56, hex); /* padding needs one more block */
  CHECK(strcmp(hex, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a") == 0);
  sha256_hex(a, 200, hex);
  CHECK(strcmp(hex, "c2a908d98f5df987ade41b5fce213067efbcc21ef2240212a41e54b5e7c28ae5") == 0);
}

static void test_address(void) {
  char out[300];
  cf_error err = {0};
  CHECK(shim_socket_address("/run/containerd/containerd.sock", "default", "abc", out,
                            sizeof(out), &err) == 0);
  CHECK(strcmp(out, "unix:///run/containerd/s/"
                    "8cb244a719603fe00870d5ce1d8e1f1db43a654cb993d107df1f1ae23ddffa59") == 0);
  /* filepath.Join cleans: doubled and trailing slashes, "." elements */
  CHECK(shim_socket_address("/tmp//x/./containerd.sock/", "k8s.io", "pod1", out, sizeof(out),
                            &err) == 0);
  CHECK(strcmp(out, "unix:///run/containerd/s/"
                    "31e05ffe143960bccd14a8a2623830f1868c2d92056e7f925de662b40221e75c") == 0);
  CHECK(strcmp(shim_address_path(out), out + 7) == 0);
  char clean[64];
  shim_path_clean("/a/b/../c/./d//", clean, sizeof(clean));
  CHECK(strcmp(clean, "/a/c/d") == 0);
  shim_path_clean("/../x", clean, sizeof(clean));
  CHECK(strcmp(clean, "/x") == 0);
  shim_path_clean("a/../../b", clean, sizeof(clean));
  CHECK(strcmp(clean, "../b") == 0);
}

static void test_group(void) {
  char g[160];
  cf_error err = {0};
  CHECK(shim_group_id("{}", "t1", g, sizeof(g), &err) == 0 && strcmp(g, "t1") == 0);
  CHECK(shim_group_id("{\"annotations\":{\"io.kubernetes.cri.container-type\":\"sandbox\","
                      "\"io.kubernetes.cri.sandbox-id\":\"pod1\"}}",
                      "pod1", g, sizeof(g), &err) == 0 && strcmp(g, "pod1") == 0);
  CHECK(shim_group_id("{\"annotations\":{\"io.kubernetes.cri.container-type\":\"container\","
                      "\"io.kubernetes.cri.sandbox-id\":\"pod1\"}}",
                      "c1", g, sizeof(g), &err) == 0 && strcmp(g, "pod1") == 0);
  CHECK(shim_group_id("not json", "t2", g, sizeof(g), &err) == 0 && strcmp(g, "t2") == 0);
  CHECK(shim_group_id("{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"../etc\"}}", "c1",
                      g, sizeof(g), &err) < 0);
  char dir[256];
  CHECK(shim_pod_dir("/run/coffer", "default", "t1", dir, sizeof(dir), &err) == 0 &&
        strcmp(dir, "/run/coffer/default/t1") == 0);
  /* A pod dir longer than any socket path is fine: sockets go to the
   * socket dir, whose path has one length whatever the pod dir's. */
  char longid[129], longroot[200], big[512], sock1[64], sock2[64];
  memset(longid, 'a', 128);
  longid[128] = 0;
  memset(longroot, 'r', sizeof(longroot) - 1);
  longroot[0] = '/';
  longroot[sizeof(longroot) - 1] = 0;
  CHECK(shim_pod_dir(longroot, "k8s.io", longid, big, sizeof(big), &err) == 0);
  CHECK(shim_pod_dir("/run/coffer", "default", longid, dir, 64, &err) < 0 &&
        strstr(err.msg, "too long"));
  CHECK(shim_sock_dir(big, sock1, sizeof(sock1), &err) == 0 &&
        strlen(sock1) == strlen(SHIM_SOCK_ROOT "/") + 32 &&
        strncmp(sock1, SHIM_SOCK_ROOT "/", strlen(SHIM_SOCK_ROOT "/")) == 0);
  CHECK(strlen(sock1) + sizeof("/agent.sock") <= 108);
  /* one per pod dir: the same pod id in another namespace gets another */
  char other[512];
  CHECK(shim_pod_dir(longroot, "default", longid, other, sizeof(other), &err) == 0);
  CHECK(shim_sock_dir(other, sock2, sizeof(sock2), &err) == 0 && strcmp(sock1, sock2) != 0);
  CHECK(shim_sock_dir(big, sock2, sizeof(sock2), &err) == 0 && strcmp(sock1, sock2) == 0);
}

static size_t pack_options_any(uint8_t *buf, const char *path) {
  Runtimeoptions__V1__Options o = RUNTIMEOPTIONS__V1__OPTIONS__INIT;
  o.config_path = (char *)path;
  uint8_t inner[512];
  size_t n = runtimeoptions__v1__options__pack(&o, inner);
  Google__Protobuf__Any a = GOOGLE__PROTOBUF__ANY__INIT;
  a.type_url = "runtimeoptions.v1.Options";
  a.value.data = inner;
  a.value.len = n;
  return google__protobuf__any__pack(&a, buf);
}

static void test_start_input(void) {
  uint8_t buf[1024];
  cf_error err = {0};
  char *path = NULL, *body = NULL, *ttrpc = NULL;
  size_t n = pack_options_any(buf, "/etc/coffer/p.json");
  CHECK(shim_parse_start_input(buf, n, "t1", "default", &path, &body, &ttrpc, &err) == 0);
  CHECK(path && strcmp(path, "/etc/coffer/p.json") == 0 && !body && !ttrpc);
  free(path);
  path = NULL;

  /* containerd 2.3+: BootstrapParams with the options as an extension */
  uint8_t anybuf[512];
  size_t an = pack_options_any(anybuf, "/x.json");
  Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, an, anybuf);
  Containerd__Runtime__Bootstrap__V1__Extension ext =
      CONTAINERD__RUNTIME__BOOTSTRAP__V1__EXTENSION__INIT;
  ext.value = any;
  Containerd__Runtime__Bootstrap__V1__Extension *exts[] = {&ext};
  Containerd__Runtime__Bootstrap__V1__BootstrapParams bp =
      CONTAINERD__RUNTIME__BOOTSTRAP__V1__BOOTSTRAP_PARAMS__INIT;
  bp.instance_id = "t1";
  bp.namespace_ = "default";
  bp.containerd_ttrpc_address = "/run/containerd/containerd.sock.ttrpc";
  bp.extensions = exts;
  bp.n_extensions = 1;
  n = containerd__runtime__bootstrap__v1__bootstrap_params__pack(&bp, buf);
  CHECK(shim_parse_start_input(buf, n, "t1", "default", &path, &body, &ttrpc, &err) == 0);
  CHECK(path && strcmp(path, "/x.json") == 0);
  CHECK(ttrpc && strcmp(ttrpc, "/run/containerd/containerd.sock.ttrpc") == 0);
  free(path);
  free(ttrpc);
  path = ttrpc = NULL;
  google__protobuf__any__free_unpacked(any, NULL);

  /* garbage is a clear error; empty input is no options */
  CHECK(shim_parse_start_input((const uint8_t *)"\xff\xff\xff", 3, "t1", "default", &path,
                               &body, &ttrpc, &err) < 0 && strstr(err.msg, "stdin"));
  CHECK(shim_parse_start_input(NULL, 0, "t1", "default", &path, &body, &ttrpc, &err) == 0 &&
        !path);
}

static bool exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

/* The pod dir goes, then <root>/<ns> once no other pod's dir is in it. */
static void test_pod_dir_remove(void) {
  char root[] = "/tmp/cfpoddir.XXXXXX", ns[64], a[96], b[96];
  if (!mkdtemp(root)) {
    CHECK(!"mkdtemp");
    return;
  }
  snprintf(ns, sizeof(ns), "%s/k8s.io", root);
  snprintf(a, sizeof(a), "%s/pod-a", ns);
  snprintf(b, sizeof(b), "%s/pod-b", ns);
  CHECK(mkdir(ns, 0700) == 0 && mkdir(a, 0700) == 0 && mkdir(b, 0700) == 0);
  shim_pod_dir_remove(a); /* pod-b lives on: the namespace dir stays */
  CHECK(!exists(a) && exists(b) && exists(ns));
  shim_pod_dir_remove(a); /* twice (delete after the daemon): harmless */
  CHECK(exists(b) && exists(ns));
  CHECK(mkdir(a, 0700) == 0);
  char f[128];
  snprintf(f, sizeof(f), "%s/left", a);
  FILE *fp = fopen(f, "w");
  CHECK(fp != NULL);
  if (fp)
    fclose(fp);
  shim_pod_dir_remove(a); /* not empty: kept, nothing above touched */
  CHECK(exists(f) && exists(ns));
  unlink(f);
  shim_pod_dir_remove(a);
  shim_pod_dir_remove(b); /* the last pod of the namespace */
  CHECK(!exists(a) && !exists(b) && !exists(ns) && exists(root));
  shim_pod_dir_remove(b); /* all gone already: ENOENT ignored */
  CHECK(exists(root));
  rmdir(root);
}

int main(void) {
  test_pod_dir_remove();
  test_sha256();
  test_address();
  test_group();
  test_start_input();
  if (failures)
    fprintf(stderr, "%d failure(s)\n", failures);
  return failures ? 1 : 0;
}
