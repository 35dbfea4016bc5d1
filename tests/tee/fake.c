#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake.h"
#include "tee_uapi.h"

static void cpuid(void *ctx, uint32_t leaf, uint32_t sub, uint32_t r[4]) {
  fake *f = ctx;
  memset(r, 0, 16);
  if (leaf == 1 && f->cpuid_hypervisor)
    r[2] = 1u << 31;
  if (leaf == 0x21 && f->cpuid_tdx) {
    memcpy(&r[1], "Inte", 4);
    memcpy(&r[3], "lTDX", 4);
    memcpy(&r[2], "    ", 4);
  }
  if (leaf == 0x80000000u)
    r[0] = 0x80000021u;
  if (leaf == 0x8000001Fu && f->cpuid_snp)
    r[0] = 0x1f; /* SME, SEV, page flush, SEV-ES, SEV-SNP */
}

static void write_attr(const char *dir, const char *name, const void *data, size_t len) {
  char p[4200];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len)) {
    perror(p);
    exit(1);
  }
  close(fd);
}

static size_t read_attr(const char *dir, const char *name, void *buf, size_t size) {
  char p[4200];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  int fd = open(p, O_RDONLY);
  if (fd < 0)
    return 0;
  ssize_t n = read(fd, buf, size);
  close(fd);
  return n > 0 ? (size_t)n : 0;
}

/* configfs: the provider's mkdir makes the attribute files. */
static int tsm_mkdir(void *ctx, const char *path, mode_t mode) {
  fake *f = ctx;
  if (!f->provider) {
    errno = ENOENT;
    return -1;
  }
  if (!f->provider[0]) {
    errno = ENXIO;
    return -1;
  }
  if (mkdir(path, mode))
    return -1;
  f->mkdirs++;
  char text[64];
  snprintf(text, sizeof(text), "%s\n", f->provider);
  write_attr(path, "provider", text, strlen(text));
  bool snp = !strcmp(f->provider, "sev_guest");
  const char *gen = f->generation ? f->generation : snp && f->privlevel_attr ? "2\n" : "1\n";
  write_attr(path, "generation", gen, strlen(gen));
  write_attr(path, "inblob", "", 0);
  write_attr(path, "outblob", f->outblob, f->outblob_len);
  if (f->auxblob)
    write_attr(path, "auxblob", f->auxblob, f->auxblob_len);
  if (f->privlevel_attr)
    write_attr(path, "privlevel", "", 0);
  return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(p);
}

/* Records what the client wrote, then removes the instance. */
static int tsm_rmdir(void *ctx, const char *path) {
  fake *f = ctx;
  f->rmdirs++;
  f->inblob_seen_len = read_attr(path, "inblob", f->inblob_seen, sizeof(f->inblob_seen));
  size_t n = read_attr(path, "privlevel", f->privlevel_seen, sizeof(f->privlevel_seen) - 1);
  f->privlevel_seen[n] = 0;
  f->privlevel_written = n > 0;
  return nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int snp_ioctl(fake *f, unsigned long req, void *arg) {
  tee_snp_guest_request_ioctl *io = arg;
  f->ioctl_msg_version = io->msg_version;
  tee_snp_report_req *rq = (void *)(uintptr_t)io->req_data;
  tee_snp_ext_report_req *ext = req == TEE_SNP_GET_EXT_REPORT ? (void *)rq : NULL;
  f->ioctl_vmpl = rq->vmpl;
  if (ext && f->ioctl_calls <= 4)
    f->ioctl_certs_len[f->ioctl_calls - 1] = ext->certs_len;
  if (f->snp_errno) {
    io->exitinfo2 = f->snp_exitinfo2;
    errno = f->snp_errno;
    return -1;
  }
  if (ext && (ext->certs_len < f->snp_need_len || f->snp_invalid_len_always)) {
    ext->certs_len = f->snp_invalid_len_always ? ext->certs_len + 4096 : f->snp_need_len;
    io->exitinfo2 = (uint64_t)TEE_SNP_VMM_ERR_INVALID_LEN << 32;
    errno = EIO;
    return -1;
  }
  uint8_t *resp = (void *)(uintptr_t)io->resp_data;
  uint32_t size = f->snp_report_size ? f->snp_report_size : 0x4A0;
  memcpy(resp, &f->snp_status, 4);
  memcpy(resp + 4, &size, 4);
  memcpy(resp + 0x20, f->snp_report, 0x4A0);
  if (ext && f->snp_certs)
    memcpy((void *)(uintptr_t)ext->certs_address, f->snp_certs,
           f->snp_certs_len < ext->certs_len ? f->snp_certs_len : ext->certs_len);
  io->exitinfo2 = 0;
  return 0;
}

static int fake_ioctl(void *ctx, int fd, unsigned long req, void *arg) {
  fake *f = ctx;
  f->ioctl_calls++;
  f->ioctl_last = req;
  if (req == TEE_SNP_GET_REPORT || req == TEE_SNP_GET_EXT_REPORT)
    return snp_ioctl(f, req, arg);
  if (req == TEE_TDX_CMD_GET_REPORT0) {
    if (f->tdx_errno) {
      errno = f->tdx_errno;
      return -1;
    }
    tee_tdx_report_req *r = arg;
    uint8_t rd[64];
    memcpy(rd, r->reportdata, 64);
    memcpy(r->tdreport, f->tdreport, 1024);
    if (!f->tdreport_keep_rd)
      memcpy(r->tdreport + 128, rd, 64);
    memcpy(f->tdreport_sent, r->tdreport, 1024);
    return 0;
  }
  errno = ENOTTY;
  return -1;
}

static int read_full(int fd, void *buf, size_t len) {
  uint8_t *b = buf;
  while (len) {
    ssize_t n = read(fd, b, len);
    if (n <= 0)
      return -1;
    b += n, len -= (size_t)n;
  }
  return 0;
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The QGS: checks the request's framing, answers with the scripted quote. */
static void *qgs(void *arg) {
  fake *f = arg;
  int fd = f->qgs_fd;
  uint8_t req[4 + 1048];
  const char *problem = NULL;
  if (read_full(fd, req, sizeof(req)))
    problem = "request shorter than 4 + 1048 bytes";
  const uint8_t *m = req + 4;
  if (!problem && (req[0] || req[1] || req[2] != 1048 >> 8 || req[3] != (1048 & 0xff)))
    problem = "frame length is not 1048 (big-endian)";
  else if (!problem && (m[0] != 1 || m[1] != 0 || le32(m + 4) != 0 || le32(m + 8) != 1048 ||
                        le32(m + 12) != 0))
    problem = "header is not {1, minor, GET_QUOTE_REQ, 1048, 0}";
  else if (!problem && (le32(m + 16) != 1024 || le32(m + 20) != 0))
    problem = "report_size/id_list_size are not 1024/0";
  else if (!problem && memcmp(m + 24, f->tdreport_sent, 1024))
    problem = "the TDREPORT sent is not the one the device returned";
  f->qgs_request_ok = !problem;
  snprintf(f->qgs_request_problem, sizeof(f->qgs_request_problem), "%s", problem ? problem : "");
  if (!f->qgs_hang_up) {
    size_t len = 16 + 8 + f->qgs_quote_len;
    uint8_t *rep = calloc(1, 4 + len);
    uint32_t frame = f->qgs_len_override ? f->qgs_len_override : (uint32_t)len;
    rep[0] = frame >> 24, rep[1] = frame >> 16, rep[2] = frame >> 8, rep[3] = frame;
    uint8_t *h = rep + 4;
    h[0] = 1, h[2] = 1;
    h[4] = 1; /* GET_QUOTE_RESP */
    memcpy(h + 8, &(uint32_t){(uint32_t)len}, 4);
    memcpy(h + 12, &f->qgs_error, 4);
    memcpy(h + 20, &(uint32_t){(uint32_t)f->qgs_quote_len}, 4);
    memcpy(h + 24, f->qgs_quote, f->qgs_quote_len);
    size_t off = 0;
    while (off < 4 + len) {
      ssize_t n = write(fd, rep + off, 4 + len - off);
      if (n <= 0)
        break;
      off += (size_t)n;
    }
    free(rep);
  }
  close(fd);
  return NULL;
}

static int qgs_connect(void *ctx, unsigned port) {
  fake *f = ctx;
  f->qgs_port = port;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
    return -errno;
  f->qgs_fd = sv[1];
  if (pthread_create(&f->qgs_thread, NULL, qgs, f)) {
    close(sv[0]);
    close(sv[1]);
    return -EAGAIN;
  }
  f->qgs_running = true;
  return sv[0];
}

static void mkdirs(const char *root, const char *rel) {
  char p[4096];
  snprintf(p, sizeof(p), "%s%s", root, rel);
  for (char *s = p + strlen(root) + 1; (s = strchr(s, '/')); s++) {
    *s = 0;
    mkdir(p, 0700);
    *s = '/';
  }
  mkdir(p, 0700);
}

void fake_init(fake *f) {
  memset(f, 0, sizeof(*f));
  snprintf(f->root, sizeof(f->root), "/tmp/coffer-tee-test-XXXXXX");
  if (!mkdtemp(f->root)) {
    perror("mkdtemp");
    exit(1);
  }
  mkdirs(f->root, "/dev");
  mkdirs(f->root, "/etc");
  mkdirs(f->root, "/sys/kernel/config/tsm/report");
  f->ops = (struct cf_tee_ioctl_ops){.ctx = f, .cpuid = cpuid, .ioctl = fake_ioctl,
                                     .mkdir = tsm_mkdir, .rmdir = tsm_rmdir,
                                     .qgs_connect = qgs_connect};
  f->env = (cf_tee_env){.root = f->root, .ioctl = &f->ops};
  f->qgs_fd = -1;
}

void fake_join_qgs(fake *f) {
  if (f->qgs_running)
    pthread_join(f->qgs_thread, NULL);
  f->qgs_running = false;
}

void fake_fini(fake *f) {
  fake_join_qgs(f);
  nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fake_file(fake *f, const char *path, const void *data, size_t len) {
  char p[4096];
  snprintf(p, sizeof(p), "%s%s", f->root, path);
  char *slash = strrchr(p, '/');
  *slash = 0;
  mkdirs("", p);
  *slash = '/';
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len)) {
    perror(p);
    exit(1);
  }
  close(fd);
}

uint8_t *load(const char *dir, const char *rel, size_t *len) {
  char p[4096];
  snprintf(p, sizeof(p), "%s/%s", dir, rel);
  FILE *fp = fopen(p, "rb");
  if (!fp) {
    printf("SKIP: test vector %s not found (the shared attestation test data)\n", p);
    exit(77);
  }
  uint8_t *b = malloc(1 << 20);
  *len = fread(b, 1, 1 << 20, fp);
  fclose(fp);
  return b;
}

uint8_t *cert_table_vcek(const uint8_t *der, size_t len, size_t *out_len) {
  static const uint8_t vcek[16] = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
                                   0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
  *out_len = 48 + len;
  uint8_t *t = calloc(1, *out_len);
  memcpy(t, vcek, 16);
  uint32_t off = 48, l = (uint32_t)len;
  memcpy(t + 16, &off, 4);
  memcpy(t + 20, &l, 4);
  memcpy(t + 48, der, len);
  return t;
}
