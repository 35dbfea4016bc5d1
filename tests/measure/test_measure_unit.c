/* Unit tests of coffer_measure (SEV-SNP part) on the published 4 KiB OVMF
 * fixture: malformed or truncated firmware metadata is a clear error (never a
 * crash), one changed byte of kernel, initrd or command line changes the
 * digest, and the digest has the size and form of the measurement field of
 * real SNP reports in ../shared/testdata/attestation.
 *
 *   test_measure_unit snp-metadata VECTORS_DIR
 *   test_measure_unit snp-inputs VECTORS_DIR
 *   test_measure_unit snp-reports VECTORS_DIR ATTESTATION_DATA_DIR */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/measure.h"

static int failures;
#define EXPECT(c)                                                    \
  do {                                                               \
    if (!(c)) {                                                      \
      fprintf(stderr, "%s:%d: FAILED %s\n", __FILE__, __LINE__, #c); \
      failures++;                                                    \
    }                                                                \
  } while (0)

static char tmpdir[] = "/tmp/coffer-measure-test.XXXXXX";

static char *tmp_path(const char *name) {
  static char p[4][256];
  static int i;
  char *s = p[i++ % 4];
  snprintf(s, 256, "%s/%s", tmpdir, name);
  return s;
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "we");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
    perror(path);
    exit(2);
  }
}

static unsigned char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "re");
  if (!f)
    return NULL;
  unsigned char *b = malloc(1 << 20);
  *n = fread(b, 1, 1 << 20, f);
  fclose(f);
  return b;
}

static unsigned char fixture[4096];

static cf_snp_input base_input(const char *ovmf) {
  cf_snp_input in = {.ovmf = ovmf, .vcpus = 2, .guest_features = 1};
  cf_error err = {0};
  cf_snp_vcpu_sig("EPYC-Milan", &in.vcpu_sig, &err);
  return in;
}

/* Expect the firmware bytes to be refused with a message containing want. */
static void expect_refused(const unsigned char *fw, size_t n, const char *want, int line) {
  char *p = tmp_path("fw.bin");
  write_file(p, fw, n);
  cf_snp_input in = base_input(p);
  uint8_t d[CF_MEASURE_LEN];
  cf_error err = {0};
  int r = cf_snp_launch_digest(&in, d, &err);
  if (r >= 0 || !strstr(err.msg, want)) {
    fprintf(stderr, "line %d: want an error with \"%s\", got r=%d \"%s\"\n", line, want, r, err.msg);
    failures++;
  } else {
    printf("refused as expected: %s\n", err.msg);
  }
}
#define REFUSED(fw, n, want) expect_refused(fw, n, want, __LINE__)

static size_t find(const unsigned char *b, size_t n, const char *s, size_t len) {
  void *p = memmem(b, n, s, len);
  return p ? (size_t)((unsigned char *)p - b) : (size_t)-1;
}

static void test_metadata(void) {
  unsigned char fw[4096];
  size_t asev = find(fixture, sizeof(fixture), "ASEV", 4);
  EXPECT(asev != (size_t)-1);
  size_t footer = sizeof(fixture) - 32 - 18;

  memcpy(fw, fixture, sizeof(fw));
  REFUSED(fw, 4000, "not a positive multiple of 4 KiB"); /* truncated image */
  REFUSED(fw, 0, "not a positive multiple of 4 KiB");

  memcpy(fw, fixture, sizeof(fw));
  fw[footer + 2] ^= 0xff; /* no footer GUID: no table at all */
  REFUSED(fw, sizeof(fw), "no SEV metadata entry");

  memcpy(fw, fixture, sizeof(fw));
  fw[footer] = 0xff, fw[footer + 1] = 0xff; /* table larger than the image */
  REFUSED(fw, sizeof(fw), "does not fit the image");

  memcpy(fw, fixture, sizeof(fw));
  fw[footer] = 19, fw[footer + 1] = 0; /* one byte of table: truncated entry */
  REFUSED(fw, sizeof(fw), "SEV metadata");

  memcpy(fw, fixture, sizeof(fw));
  fw[asev + 3] = 'X';
  REFUSED(fw, sizeof(fw), "signature is not \"ASEV\"");

  memcpy(fw, fixture, sizeof(fw));
  fw[asev + 8] = 2;
  REFUSED(fw, sizeof(fw), "version 2 unknown");

  memcpy(fw, fixture, sizeof(fw));
  fw[asev + 4] = 20, fw[asev + 5] = 0; /* header size cuts the sections off */
  REFUSED(fw, sizeof(fw), "truncated or too large");

  memcpy(fw, fixture, sizeof(fw));
  fw[asev + 12] = 0xff; /* 255 sections */
  REFUSED(fw, sizeof(fw), "truncated or too large");

  memcpy(fw, fixture, sizeof(fw));
  fw[asev + 16 + 8] = 0x07; /* first section: type 7 */
  REFUSED(fw, sizeof(fw), "unknown type 0x7");

  memcpy(fw, fixture, sizeof(fw));
  fw[asev + 16 + 0] |= 0x01; /* first section's gpa not page-aligned */
  REFUSED(fw, sizeof(fw), "not whole pages");

  /* Every single corrupted byte of the table and metadata region either
   * still measures or is refused: never a crash (run under ASan in CI). */
  char *p = tmp_path("fuzz.bin");
  size_t start = asev < 3072 ? asev : 3072;
  for (size_t off = start; off < sizeof(fixture); off++) {
    for (int v = 0; v < 2; v++) {
      memcpy(fw, fixture, sizeof(fw));
      fw[off] = v == 0 ? (unsigned char)(fw[off] ^ 0x80) : 0xff;
      write_file(p, fw, sizeof(fw));
      cf_snp_input in = base_input(p);
      in.kernel = "/dev/null";
      uint8_t d[CF_MEASURE_LEN];
      cf_error err = {0};
      int r = cf_snp_launch_digest(&in, d, &err);
      EXPECT(r == 0 || err.msg[0]);
    }
  }

  /* Missing files name the path. */
  cf_snp_input in = base_input("/nonexistent/OVMF.fd");
  uint8_t d[CF_MEASURE_LEN];
  cf_error err = {0};
  EXPECT(cf_snp_launch_digest(&in, d, &err) < 0 && strstr(err.msg, "/nonexistent/OVMF.fd"));
  char *good = tmp_path("good.bin");
  write_file(good, fixture, sizeof(fixture));
  in = base_input(good);
  in.kernel = "/nonexistent/vmlinuz";
  err.msg[0] = 0;
  EXPECT(cf_snp_launch_digest(&in, d, &err) < 0 && strstr(err.msg, "/nonexistent/vmlinuz"));
  in.kernel = NULL;
  in.append = "x";
  EXPECT(cf_snp_launch_digest(&in, d, &err) < 0 && strstr(err.msg, "needs a kernel"));
  in = base_input(good);
  in.vcpus = 0;
  EXPECT(cf_snp_launch_digest(&in, d, &err) < 0);
  uint32_t sig;
  EXPECT(cf_snp_vcpu_sig("EPYC-Nonesuch", &sig, &err) < 0 && strstr(err.msg, "EPYC-Nonesuch"));
  EXPECT(cf_snp_vcpu_sig("EPYC-v4", &sig, &err) == 0 && sig == 0x800f12);
  EXPECT(cf_snp_cpu_sig(25, 1, 1) == 0xa00f11);
}

static void digest_of(const cf_snp_input *in, uint8_t d[CF_MEASURE_LEN]) {
  cf_error err = {0};
  if (cf_snp_launch_digest(in, d, &err) < 0) {
    fprintf(stderr, "digest failed: %s\n", err.msg);
    failures++;
    memset(d, 0, CF_MEASURE_LEN);
  }
}

static void test_inputs(void) {
  char *fw = tmp_path("fw.bin");
  write_file(fw, fixture, sizeof(fixture));
  static unsigned char kernel[1 << 16], initrd[3 << 12];
  for (size_t i = 0; i < sizeof(kernel); i++)
    kernel[i] = (unsigned char)(i * 131 + 7);
  for (size_t i = 0; i < sizeof(initrd); i++)
    initrd[i] = (unsigned char)(i * 17 + 3);
  char *k = tmp_path("kernel"), *i = tmp_path("initrd");
  write_file(k, kernel, sizeof(kernel));
  write_file(i, initrd, sizeof(initrd));

  cf_snp_input in = base_input(fw);
  in.kernel = k, in.initrd = i, in.append = "console=ttyS0 quiet panic=-1";
  uint8_t base[CF_MEASURE_LEN], again[CF_MEASURE_LEN], d[CF_MEASURE_LEN];
  digest_of(&in, base);
  digest_of(&in, again);
  EXPECT(memcmp(base, again, CF_MEASURE_LEN) == 0); /* deterministic */

  kernel[sizeof(kernel) / 2] ^= 1;
  write_file(k, kernel, sizeof(kernel));
  digest_of(&in, d);
  EXPECT(memcmp(base, d, CF_MEASURE_LEN) != 0);
  kernel[sizeof(kernel) / 2] ^= 1;
  write_file(k, kernel, sizeof(kernel));
  digest_of(&in, d);
  EXPECT(memcmp(base, d, CF_MEASURE_LEN) == 0);

  initrd[sizeof(initrd) - 1] ^= 0x40;
  write_file(i, initrd, sizeof(initrd));
  digest_of(&in, d);
  EXPECT(memcmp(base, d, CF_MEASURE_LEN) != 0);
  initrd[sizeof(initrd) - 1] ^= 0x40;
  write_file(i, initrd, sizeof(initrd));

  in.append = "console=ttyS0 quiet panic=-2";
  digest_of(&in, d);
  EXPECT(memcmp(base, d, CF_MEASURE_LEN) != 0);
  in.append = "console=ttyS0 quiet panic=-1 ";
  digest_of(&in, d);
  EXPECT(memcmp(base, d, CF_MEASURE_LEN) != 0);
  in.append = "console=ttyS0 quiet panic=-1";

  in.vcpus = 3;
  digest_of(&in, d);
  EXPECT(memcmp(base, d, CF_MEASURE_LEN) != 0);
  in.vcpus = 2;
  in.guest_features = 0x21;
  digest_of(&in, d);
  EXPECT(memcmp(base, d, CF_MEASURE_LEN) != 0);
  in.guest_features = 1;
  in.vcpu_sig ^= 1;
  digest_of(&in, d);
  EXPECT(memcmp(base, d, CF_MEASURE_LEN) != 0);
  in.vcpu_sig ^= 1;
  digest_of(&in, d);
  EXPECT(memcmp(base, d, CF_MEASURE_LEN) == 0);
}

/* The measurement field of a real SNP report (offset 0x90, 48 bytes) has the
 * digest's size; in expected.json it is 96 lowercase hex digits, which is
 * what coffer-measure prints. */
static int test_reports(const char *data) {
  char path[512];
  snprintf(path, sizeof(path), "%s/expected.json", data);
  size_t n;
  unsigned char *json = read_all(path, &n);
  if (!json) {
    printf("SKIP: %s not found (shared attestation test data)\n", path);
    return 77;
  }
  json[n < (1 << 20) ? n : (1 << 20) - 1] = 0;
  static const char *reports[] = {"snp/gsg_milan/attestation.bin",
                                  "snp/trustee_genoa_e2e/report.bin", "snp/virtee_milan/report_milan.bin",
                                  "snp/trustee_milan_vlek/test-vlek-report.bin"};
  int seen = 0;
  for (size_t r = 0; r < sizeof(reports) / sizeof(reports[0]); r++) {
    snprintf(path, sizeof(path), "%s/%s", data, reports[r]);
    size_t len;
    unsigned char *rep = read_all(path, &len);
    if (!rep)
      continue;
    EXPECT(len == 0x4a0);
    char hex[2 * CF_MEASURE_LEN + 1];
    for (int i = 0; i < CF_MEASURE_LEN; i++)
      sprintf(hex + 2 * i, "%02x", rep[0x90 + i]);
    /* The same hex string appears as a "measurement" in expected.json. */
    char needle[160];
    snprintf(needle, sizeof(needle), "\"measurement\": \"%s\"", hex);
    EXPECT(strstr((char *)json, needle) != NULL);
    printf("%s: measurement %s (%zu hex digits, as coffer-measure prints)\n", reports[r], hex, strlen(hex));
    EXPECT(strlen(hex) == 96);
    free(rep);
    seen++;
  }
  free(json);
  EXPECT(seen >= 3); /* every report expected.json lists */
  return 0;
}

static void cleanup(void) {
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: test_measure_unit snp-metadata|snp-inputs|snp-reports VECTORS_DIR [DATA]\n");
    return 2;
  }
  char path[512];
  snprintf(path, sizeof(path), "%s/ovmf_AmdSev_suffix.bin", argv[2]);
  size_t n;
  unsigned char *f = read_all(path, &n);
  if (!f || n != sizeof(fixture)) {
    fprintf(stderr, "%s: missing or not 4096 bytes\n", path);
    return 2;
  }
  memcpy(fixture, f, n);
  free(f);
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  atexit(cleanup);
  int rc = 0;
  if (!strcmp(argv[1], "snp-metadata"))
    test_metadata();
  else if (!strcmp(argv[1], "snp-inputs"))
    test_inputs();
  else if (!strcmp(argv[1], "snp-reports") && argc > 3)
    rc = test_reports(argv[3]);
  else
    return 2;
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  return rc;
}
