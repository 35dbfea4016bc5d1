/* agent_test cases: volumes in guest memory (Rootfs kind GUEST) and the TEE
 * rules for rootfs and volumes.
 *  - guest_volumes: a copied volume in kubelet's layout (..data swap) is in
 *    the container at create, and PutVolumeFiles replaces it while the
 *    container runs (the container sees the new value, the old generation
 *    is gone); an emptyDir is the container's, on its own tmpfs; the host
 *    cannot write outside a volume named at create: "..", absolute paths,
 *    a symlink on the way or as a target, an unknown volume, too many
 *    entries or bytes are refused and nothing is written.
 *  - tee_refuses_host_sharing: with the TEE rules (--tee: no TEE hardware
 *    here), a virtiofs rootfs, a virtiofs volume and a block rootfs
 *    without a dm-verity root hash are refused, naming them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cases.h"
#include "coffer/file.h"

typedef Coffer__Agent__V1__VolumeEntry entry;

static entry file_e(const char *path, const char *data) {
  entry e = COFFER__AGENT__V1__VOLUME_ENTRY__INIT;
  e.path = (char *)path;
  e.type = COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__FILE;
  e.data.data = (uint8_t *)data;
  e.data.len = strlen(data);
  return e;
}

static entry dir_e(const char *path) {
  entry e = COFFER__AGENT__V1__VOLUME_ENTRY__INIT;
  e.path = (char *)path;
  e.type = COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__DIR;
  return e;
}

static entry link_e(const char *path, const char *target) {
  entry e = COFFER__AGENT__V1__VOLUME_ENTRY__INIT;
  e.path = (char *)path;
  e.type = COFFER__AGENT__V1__VOLUME_ENTRY__TYPE__SYMLINK;
  e.target = (char *)target;
  return e;
}

static int put(const char *cid, const char *vol, entry *e, size_t n) {
  entry **p = calloc(n + 1, sizeof(*p));
  for (size_t i = 0; i < n; i++)
    p[i] = &e[i];
  Coffer__Agent__V1__PutVolumeFilesRequest r = COFFER__AGENT__V1__PUT_VOLUME_FILES_REQUEST__INIT;
  r.container_id = (char *)cid;
  r.volume = (char *)vol;
  r.entries = p;
  r.n_entries = n;
  int st = h_call(&H, "PutVolumeFiles", &r.base, &google__protobuf__empty__descriptor, NULL, msg,
                  sizeof(msg));
  free(p);
  return st;
}

static int create_with(const char *id, const char *spec, Coffer__Agent__V1__Rootfs *rootfs,
                       Coffer__Agent__V1__SharedMount **mounts, size_t n) {
  Coffer__Agent__V1__CreateContainerRequest req = COFFER__AGENT__V1__CREATE_CONTAINER_REQUEST__INIT;
  Coffer__Agent__V1__Stdio st = COFFER__AGENT__V1__STDIO__INIT;
  st.stdout = st.stderr = true;
  req.container_id = (char *)id;
  req.spec.data = (uint8_t *)spec;
  req.spec.len = strlen(spec);
  req.rootfs = rootfs;
  req.stdio = &st;
  req.mounts = mounts;
  req.n_mounts = n;
  return h_call(&H, "CreateContainer", &req.base,
                &coffer__agent__v1__create_container_response__descriptor, NULL, msg, sizeof(msg));
}

static bool exists(const char *fmt, const char *a) {
  char p[600];
  struct stat st;
  snprintf(p, sizeof(p), fmt, a);
  return lstat(p, &st) == 0;
}

static void test_guest_volumes(void) {
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "cp -a %s %s/share/c1", H.rootfs, H.dir);
  CHECK(system(cmd) == 0, "prepare share");
  char *spec = h_spec(&H, ARGS("sh", "-c",
      "echo bye >/termlog; ls -l /termlog | cut -c1-10; cat /cfg/key; echo; ls -a /cfg | tr '\\n' ' '; echo; cat /cfg/key >/scratch/first; echo scratch >/scratch/x && cat /scratch/x; "
      "awk '$2==\"/scratch\"||$2==\"/cfg\"{print $2, $3}' /proc/mounts; "
      "i=0; while [ \"$(cat /cfg/key)\" != v2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; "
      "echo now $(cat /cfg/key) $(cat /cfg/sub/deep); ls -a /cfg | tr '\\n' ' '"), NULL);
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT, cfg = COFFER__AGENT__V1__ROOTFS__INIT,
                            scratch = COFFER__AGENT__V1__ROOTFS__INIT,
                            term = COFFER__AGENT__V1__ROOTFS__INIT;
  rf.kind = COFFER__AGENT__V1__ROOTFS__KIND__VIRTIOFS;
  rf.source = "c1";
  cfg.kind = scratch.kind = COFFER__AGENT__V1__ROOTFS__KIND__GUEST;
  cfg.source = "vol-0";
  cfg.fstype = "volume";
  scratch.source = "vol-1";
  scratch.fstype = "emptydir";
  term.kind = COFFER__AGENT__V1__ROOTFS__KIND__GUEST;
  term.source = "vol-2";
  term.fstype = "file"; /* kubelet's termination-message file */
  /* kubelet's layout: ..<generation>/key, ..data -> ..<generation>, key -> ..data/key */
  entry v1[] = {dir_e("..2024_01"), file_e("..2024_01/key", "v1"), link_e("..data", "..2024_01"),
                link_e("key", "..data/key")};
  entry *v1p[] = {&v1[0], &v1[1], &v1[2], &v1[3]};
  Coffer__Agent__V1__SharedMount m0 = COFFER__AGENT__V1__SHARED_MOUNT__INIT,
                                 m1 = COFFER__AGENT__V1__SHARED_MOUNT__INIT;
  m0.destination = "/cfg";
  m0.source = &cfg;
  m0.files = v1p;
  m0.n_files = 4;
  m1.destination = "/scratch";
  m1.source = &scratch;
  Coffer__Agent__V1__SharedMount m2 = COFFER__AGENT__V1__SHARED_MOUNT__INIT;
  m2.destination = "/termlog";
  m2.source = &term;
  Coffer__Agent__V1__SharedMount *mounts[] = {&m0, &m1, &m2};
  CHECK(create_with("gv", spec, &rf, mounts, 3) == CF_OK, "create with guest volumes: %s", msg);
  CHECK(h_start(&H, "gv", msg, sizeof(msg)) == CF_OK, "%s", msg);

  /* once the container read the first value (its emptyDir is a host path
   * in process mode): the refresh kubelet would trigger, a new
   * generation, then the swap */
  /* seen from the agent's mount namespace (the built-in runtime's agent
   * has its own) */
  char first[400];
  snprintf(first, sizeof(first), "/proc/%d/root%s/volumes/gv/.vol-1/first", (int)H.agent_pid,
           H.state);
  for (int i = 0; i < 200 && access(first, F_OK) != 0; i++)
    h_sleep_ms(25);
  CHECK(access(first, F_OK) == 0, "the container did not read its volume");
  entry v2[] = {dir_e("..2024_02"), file_e("..2024_02/key", "v2"), dir_e("sub"),
                file_e("sub/deep", "d2"), link_e("..data", "..2024_02"), link_e("key", "..data/key")};
  CHECK(put("gv", "vol-0", v2, 6) == CF_OK, "PutVolumeFiles: %s", msg);
  CHECK(h_wait(&H, "gv", "") == 0, "exit");
  char *out = h_read_all(&H, "gv", "", false, NULL);
  CHECK(!strncmp(out, "-rw-rw-rw-\nv1\n", 14), "termination file and initial content: \"%s\"", out);
  char term_file[400];
  snprintf(term_file, sizeof(term_file), "/proc/%d/root%s/volumes/gv/.vol-2/file", (int)H.agent_pid,
           H.state);
  char *tl = NULL;
  size_t tl_len = 0;
  cf_error ferr = {0};
  cf_read_file(term_file, 4096, &tl, &tl_len, &ferr);
  CHECK(tl && !strcmp(tl, "bye\n"), "the termination message is not in the guest file: \"%s\"",
        tl ? tl : "(none)");
  free(tl);
  CHECK(strstr(out, "..2024_01 ..data key"), "initial layout: \"%s\"", out);
  CHECK(strstr(out, "scratch\n"), "emptyDir not writable: \"%s\"", out);
  CHECK(strstr(out, "/cfg tmpfs") && strstr(out, "/scratch tmpfs"), "volumes not on tmpfs: \"%s\"", out);
  CHECK(strstr(out, "now v2 d2"), "the update did not reach the container: \"%s\"", out);
  CHECK(!strstr(out, "..2024_01 ..2024_02"), "the old generation was not removed: \"%s\"", out);
  free(out);

  /* hostile host: nothing outside the volume, no symlink followed */
  char vdir[400];
  snprintf(vdir, sizeof(vdir), "/proc/%d/root%s/volumes/gv/vol-0", (int)H.agent_pid, H.state);
  entry esc[] = {file_e("../../../escaped", "x")};
  expect(put("gv", "vol-0", esc, 1), CF_INVALID_ARGUMENT, "a path with ..");
  entry abs[] = {file_e("/etc/escaped", "x")};
  expect(put("gv", "vol-0", abs, 1), CF_INVALID_ARGUMENT, "an absolute path");
  entry via_link[] = {file_e("..data/planted", "x")};  /* ..data is a symlink */
  CHECK(put("gv", "vol-0", via_link, 1) != CF_OK, "a write through the ..data symlink was accepted");
  CHECK(!exists("%s/..2024_02/planted", vdir), "a file was written through a symlink");
  entry out_link[] = {link_e("up", "../../..")};
  expect(put("gv", "vol-0", out_link, 1), CF_INVALID_ARGUMENT, "a symlink target with ..");
  entry abs_link[] = {link_e("up", "/etc/shadow")};
  expect(put("gv", "vol-0", abs_link, 1), CF_INVALID_ARGUMENT, "an absolute symlink target");
  entry ok1[] = {file_e("f", "x")};
  expect(put("gv", "vol-9", ok1, 1), CF_NOT_FOUND, "a volume not named at create");
  /* only copied volumes take host content: not the emptyDir, not the
   * termination-message file the container writes */
  expect(put("gv", "vol-1", ok1, 1), CF_NOT_FOUND, "a write into the emptyDir");
  expect(put("gv", "vol-2", ok1, 1), CF_NOT_FOUND, "a write into the termination-message file");
  expect(put("gv", "../vol-0", ok1, 1), CF_INVALID_ARGUMENT, "a volume name with ..");
  expect(put("nope", "vol-0", ok1, 1), CF_NOT_FOUND, "an unknown container");
  entry *many = calloc(1025, sizeof(*many));
  char (*names)[16] = calloc(1025, 16);
  for (int i = 0; i < 1025; i++) {
    snprintf(names[i], 16, "f%d", i);
    many[i] = file_e(names[i], "x");
  }
  expect(put("gv", "vol-0", many, 1025), CF_INVALID_ARGUMENT, "1025 entries");
  free(many);
  free(names);
  size_t big_len = 3500u << 10;
  char *big = malloc(big_len + 1);
  memset(big, 'b', big_len);
  big[big_len] = 0;
  entry bige[] = {file_e("big", big)};
  expect(put("gv", "vol-0", bige, 1), CF_RESOURCE_EXHAUSTED, "3.5 MiB in one call");
  free(big);
  /* none of the refused calls changed the volume */
  CHECK(exists("%s/..2024_02/key", vdir) && !exists("%s/f", vdir) && !exists("%s/big", vdir) &&
            !exists("%s/up", vdir),
        "a refused call changed the volume in %s", vdir);
  CHECK(h_remove(&H, "gv", true) == CF_OK, "remove");
  CHECK(!exists("%s", vdir), "the volume outlived its container");
  free(spec);
}

static void test_tee_refuses_host_sharing(void) {
  char *spec = h_spec(&H, ARGS("true"), NULL);
  Coffer__Agent__V1__Rootfs rf = COFFER__AGENT__V1__ROOTFS__INIT;
  rf.kind = COFFER__AGENT__V1__ROOTFS__KIND__VIRTIOFS;
  rf.source = "c1";
  CHECK(create_with("t1", spec, &rf, NULL, 0) == CF_PERMISSION_DENIED &&
            strstr(msg, "rootfs \"c1\" is a virtiofs share of the host: refused in a TEE guest"),
        "virtiofs rootfs in a TEE: %s", msg);
  Coffer__Agent__V1__Rootfs blk = COFFER__AGENT__V1__ROOTFS__INIT;
  blk.kind = COFFER__AGENT__V1__ROOTFS__KIND__BLOCK;
  blk.source = "cfslot-0";
  blk.fstype = "erofs";
  blk.readonly = true;
  CHECK(create_with("t2", spec, &blk, NULL, 0) == CF_PERMISSION_DENIED &&
            strstr(msg, "block rootfs cfslot-0 of container t2 has no dm-verity root hash"),
        "unverified block rootfs in a TEE: %s", msg);
  Coffer__Agent__V1__Verity v = COFFER__AGENT__V1__VERITY__INIT;
  v.root_hash = "00";
  blk.verity = &v;
  blk.readonly = false;
  blk.fstype = "ext4";
  CHECK(create_with("t3", spec, &blk, NULL, 0) == CF_PERMISSION_DENIED &&
            strstr(msg, "is writable (ext4)"), "writable block rootfs in a TEE: %s", msg);
  /* a virtiofs volume, even next to an acceptable rootfs */
  blk.readonly = true;
  blk.fstype = "erofs";
  v.root_hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  Coffer__Agent__V1__Rootfs vol = COFFER__AGENT__V1__ROOTFS__INIT;
  vol.kind = COFFER__AGENT__V1__ROOTFS__KIND__VIRTIOFS;
  vol.source = "c1/vol";
  Coffer__Agent__V1__SharedMount m = COFFER__AGENT__V1__SHARED_MOUNT__INIT, *mp = &m;
  m.destination = "/data";
  m.source = &vol;
  CHECK(create_with("t4", spec, &blk, &mp, 1) == CF_PERMISSION_DENIED &&
            strstr(msg, "mount /data shares host files (c1/vol): refused in a TEE guest"),
        "a virtiofs volume in a TEE: %s", msg);
  rf.kind = COFFER__AGENT__V1__ROOTFS__KIND__GUEST;
  rf.source = "vol-0";
  rf.fstype = "volume";
  CHECK(create_with("t5", spec, &rf, NULL, 0) == CF_INVALID_ARGUMENT &&
            strstr(msg, "cannot be a rootfs"), "a guest volume as rootfs: %s", msg);
  free(spec);
}

const agent_case agent_cases_volumes[] = {
    {"guest_volumes", test_guest_volumes},
    {"tee_refuses_host_sharing", test_tee_refuses_host_sharing},
    {NULL, NULL},
};
