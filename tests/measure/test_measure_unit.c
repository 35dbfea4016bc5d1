/* Unit tests of coffer_measure (SEV-SNP part) on the published 4 KiB OVMF
 * fixture: malformed or truncated firmware metadata is a clear error (never a
 * crash), one changed byte of kernel, initrd or command line changes the
 * digest, and the digest has the size and form of the measurement field of
 * real SNP reports in ../shared/testdata/attestation.
 *
 *   test_measure_unit snp-metadata VECTORS_DIR
 *   test_measure_unit snp-inputs VECTORS_DIR
 *   test_measure_unit snp-reports VECTORS_DIR ATTESTATION_DATA_DIR
 *   test_measure_unit tdx-synthetic VECTORS_DIR
 *   test_measure_unit tdx-firmware VECTORS_DIR TDVF_FILE
 *   test_measure_unit tdx-rtmr VECTORS_DIR
 * TDX: MRTD of a small synthetic TDVF image against the byte stream the
 * TDX module hashes, written out here; malformed TDVF metadata refused; on a
 * real TDVF, a changed byte of a measured section changes MRTD and a changed
 * byte of an unmeasured one (CFV) does not. */
#include <dirent.h>
#include <openssl/evp.h>
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


/* ---- TDX ---- */

static void put32le(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}
static void put64le(unsigned char *p, uint64_t v) {
  put32le(p, (uint32_t)v);
  put32le(p + 4, (uint32_t)(v >> 32));
}

/* GUIDs in their on-disk byte order. */
static const unsigned char GUID_FOOTER[16] = {0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
                                              0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
static const unsigned char GUID_TDX[16] = {0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
                                           0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2};

#define SYN_LEN 0x4000
#define SYN_DESC 0x3000
/* A 16 KiB TDVF image: BFV (2 pages, measured), CFV (1 page), TD_HOB (1
 * page), TEMP_MEM (2 pages, PAGE.AUG: never added). */
static void synthetic_tdvf(unsigned char *fw) {
  for (size_t i = 0; i < SYN_LEN; i++)
    fw[i] = (unsigned char)(i * 7 + (i >> 8));
  unsigned char *d = fw + SYN_DESC;
  memcpy(d, "TDVF", 4);
  put32le(d + 4, 16 + 32 * 4);
  put32le(d + 8, 1);
  put32le(d + 12, 4);
  struct { uint32_t off, raw; uint64_t gpa, size; uint32_t type, attr; } sec[4] = {
      {0, 0x2000, 0xffffc000, 0x2000, 0, 1},
      {0x2000, 0x1000, 0xffffb000, 0x1000, 1, 0},
      {0, 0, 0x800000, 0x1000, 2, 0},
      {0, 0, 0x900000, 0x2000, 3, 2}};
  for (int i = 0; i < 4; i++) {
    unsigned char *e = d + 16 + 32 * i;
    put32le(e, sec[i].off);
    put32le(e + 4, sec[i].raw);
    put64le(e + 8, sec[i].gpa);
    put64le(e + 16, sec[i].size);
    put32le(e + 24, sec[i].type);
    put32le(e + 28, sec[i].attr);
  }
  /* GUID table: [u32 offset | u16 22 | TDX GUID][u16 40 | footer GUID][32 bytes] */
  unsigned char *t = fw + SYN_LEN - 32 - 18 - 22;
  put32le(t, SYN_LEN - SYN_DESC);
  t[4] = 22, t[5] = 0;
  memcpy(t + 6, GUID_TDX, 16);
  t[22] = 40, t[23] = 0;
  memcpy(t + 24, GUID_FOOTER, 16);
}

static void block(EVP_MD_CTX *c, const char *op, uint64_t gpa) {
  unsigned char b[128] = {0};
  memcpy(b, op, strlen(op));
  put64le(b + 16, gpa);
  EVP_DigestUpdate(c, b, sizeof(b));
}

static void extend_page(EVP_MD_CTX *c, uint64_t gpa, const unsigned char *data) {
  for (int i = 0; i < 16; i++) {
    block(c, "MR.EXTEND", gpa + 256u * i);
    EVP_DigestUpdate(c, data + 256 * i, 256);
  }
}

static void expected_mrtd(const unsigned char *fw, bool two_pass, unsigned char out[48]) {
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, EVP_sha384(), NULL);
  block(c, "MEM.PAGE.ADD", 0xffffc000);
  if (two_pass) {
    block(c, "MEM.PAGE.ADD", 0xffffd000);
    extend_page(c, 0xffffc000, fw);
    extend_page(c, 0xffffd000, fw + 0x1000);
  } else {
    extend_page(c, 0xffffc000, fw);
    block(c, "MEM.PAGE.ADD", 0xffffd000);
    extend_page(c, 0xffffd000, fw + 0x1000);
  }
  block(c, "MEM.PAGE.ADD", 0xffffb000); /* CFV: added, not extended */
  block(c, "MEM.PAGE.ADD", 0x800000);   /* TD HOB */
  unsigned int n = 48;
  EVP_DigestFinal_ex(c, out, &n);
  EVP_MD_CTX_free(c);
}

static int tdx_mrtd_of(const unsigned char *fw, size_t len, bool two_pass, unsigned char out[48], cf_error *err) {
  char *p = tmp_path("tdvf.bin");
  write_file(p, fw, len);
  cf_tdx_input in = {.firmware = p, .two_pass = two_pass};
  cf_tdx_measurements m;
  int r = cf_tdx_measure(&in, &m, err);
  memcpy(out, m.mrtd, 48);
  return r;
}

static void tdx_refused(const unsigned char *fw, const char *want, int line) {
  unsigned char d[48];
  cf_error err = {0};
  int r = tdx_mrtd_of(fw, SYN_LEN, false, d, &err);
  if (r >= 0 || !strstr(err.msg, want)) {
    fprintf(stderr, "line %d: want an error with \"%s\", got r=%d \"%s\"\n", line, want, r, err.msg);
    failures++;
  } else {
    printf("refused as expected: %s\n", err.msg);
  }
}
#define TDX_REFUSED(fw, want) tdx_refused(fw, want, __LINE__)

static void test_tdx_synthetic(void) {
  static unsigned char fw[SYN_LEN], bad[SYN_LEN];
  synthetic_tdvf(fw);
  unsigned char want[48], got[48];
  cf_error err = {0};
  for (int two = 0; two < 2; two++) {
    expected_mrtd(fw, two, want);
    EXPECT(tdx_mrtd_of(fw, SYN_LEN, two, got, &err) == 0);
    EXPECT(memcmp(want, got, 48) == 0);
  }
  unsigned char single[48];
  tdx_mrtd_of(fw, SYN_LEN, false, single, &err);
  EXPECT(memcmp(single, got, 48) != 0); /* the page order is measured */

  memcpy(bad, fw, SYN_LEN);
  bad[0x1234] ^= 1; /* BFV byte: measured */
  tdx_mrtd_of(bad, SYN_LEN, false, got, &err);
  EXPECT(memcmp(single, got, 48) != 0);
  memcpy(bad, fw, SYN_LEN);
  bad[0x2345] ^= 1; /* CFV byte: added, not extended */
  tdx_mrtd_of(bad, SYN_LEN, false, got, &err);
  EXPECT(memcmp(single, got, 48) == 0);

  unsigned char *d = bad + SYN_DESC;
  memcpy(bad, fw, SYN_LEN);
  d[0] = 'X';
  TDX_REFUSED(bad, "signature is not \"TDVF\"");
  memcpy(bad, fw, SYN_LEN);
  d[8] = 2;
  TDX_REFUSED(bad, "version 2 unknown");
  memcpy(bad, fw, SYN_LEN);
  d[12] = 200;
  TDX_REFUSED(bad, "truncated or too large");
  memcpy(bad, fw, SYN_LEN);
  d[16 + 32 + 24] = 5; /* CFV becomes PAYLOAD */
  TDX_REFUSED(bad, "type 5");
  memcpy(bad, fw, SYN_LEN);
  put32le(d + 16 + 4, 0x8000); /* BFV raw data past the image */
  TDX_REFUSED(bad, "outside the image");
  memcpy(bad, fw, SYN_LEN);
  put64le(d + 16 + 8, 0xffffc800); /* unaligned gpa */
  TDX_REFUSED(bad, "not whole pages");
  memcpy(bad, fw, SYN_LEN);
  put32le(bad + SYN_LEN - 32 - 18 - 22, SYN_LEN + 16); /* descriptor before the image */
  TDX_REFUSED(bad, "outside the");
  memcpy(bad, fw, SYN_LEN);
  bad[SYN_LEN - 32 - 16] ^= 1; /* footer GUID gone */
  TDX_REFUSED(bad, "no TDX metadata entry");

  /* An SEV firmware is no TDVF. */
  char *amd = tmp_path("amd.bin");
  write_file(amd, fixture, sizeof(fixture));
  cf_tdx_input in = {.firmware = amd};
  cf_tdx_measurements m;
  /* (This 4 KiB tail of a unified OVMF names TDVF metadata that lies
   * before it: the offset is refused.) */
  EXPECT(cf_tdx_measure(&in, &m, &err) < 0 && strstr(err.msg, amd));
  printf("SEV-only image refused for TDX: %s\n", err.msg);

  /* Every corrupted byte of metadata and table: measured or refused. */
  for (size_t off = SYN_DESC; off < SYN_DESC + 16 + 128; off++)
    for (int v = 0; v < 2; v++) {
      memcpy(bad, fw, SYN_LEN);
      bad[off] = v ? 0xff : (unsigned char)(bad[off] ^ 0x80);
      err.msg[0] = 0;
      int r = tdx_mrtd_of(bad, SYN_LEN, false, got, &err);
      EXPECT(r == 0 || err.msg[0]);
    }
}

/* On a real TDVF: flip one byte inside each section's data. */
static int test_tdx_firmware(const char *path) {
  size_t n;
  unsigned char *fw = NULL;
  FILE *f = fopen(path, "re");
  if (!f) {
    printf("SKIP: %s not found\n", path);
    return 77;
  }
  fw = malloc(64 << 20);
  n = fread(fw, 1, 64 << 20, f);
  fclose(f);
  cf_error err = {0};
  unsigned char base[48], got[48];
  EXPECT(tdx_mrtd_of(fw, n, false, base, &err) == 0);
  /* Locate the descriptor the way the metadata says (offset from the end). */
  size_t t = n - 32 - 18;
  size_t total = fw[t] | fw[t + 1] << 8;
  size_t end = t, start = t - (total - 18);
  size_t desc = 0;
  while (end - start >= 18) {
    size_t sz = fw[end - 18] | fw[end - 17] << 8;
    if (!memcmp(fw + end - 16, GUID_TDX, 16)) {
      uint32_t off = fw[end - sz] | fw[end - sz + 1] << 8 | fw[end - sz + 2] << 16 | (uint32_t)fw[end - sz + 3] << 24;
      desc = n - off;
      break;
    }
    end -= sz;
  }
  EXPECT(desc != 0);
  unsigned nsec = fw[desc + 12];
  int measured = 0, unmeasured = 0;
  for (unsigned i = 0; i < nsec; i++) {
    unsigned char *e = fw + desc + 16 + 32 * i;
    uint32_t off = e[0] | e[1] << 8 | e[2] << 16 | (uint32_t)e[3] << 24;
    uint32_t raw = e[4] | e[5] << 8 | e[6] << 16 | (uint32_t)e[7] << 24;
    uint32_t attr = e[28];
    if (!raw)
      continue;
    size_t at = off + raw / 2;
    if (at >= desc && at < desc + 16 + 32 * nsec)
      continue;
    fw[at] ^= 0x01;
    EXPECT(tdx_mrtd_of(fw, n, false, got, &err) == 0);
    bool changed = memcmp(base, got, 48) != 0;
    printf("section %u (type %u, attributes 0x%x): byte 0x%zx flipped, MRTD %s\n", i, e[24], attr, at,
           changed ? "changed" : "unchanged");
    EXPECT(changed == ((attr & 1) != 0));
    if (attr & 1)
      measured++;
    else
      unmeasured++;
    fw[at] ^= 0x01;
  }
  EXPECT(measured >= 1);
  free(fw);
  return 0;
}

/* A minimal bzImage with an EFI stub: MZ, PE32+ header at 0x40, one
 * section at 0x1000, the setup header ("HdrS", boot protocol 2.15, loaded
 * high, initrd above 4G allowed) at 0x1f1. */
#define KLEN 0x3000
static void synthetic_kernel(unsigned char *k) {
  memset(k, 0, KLEN);
  for (size_t i = 0x1000; i < KLEN; i++)
    k[i] = (unsigned char)(i * 13);
  k[0] = 'M', k[1] = 'Z';
  put32le(k + 0x3c, 0x40);
  memcpy(k + 0x40, "PE\0\0", 4);
  k[0x44] = 0x64, k[0x45] = 0x86;         /* machine x86-64 */
  k[0x46] = 1;                            /* one section */
  k[0x54] = 0xf0;                         /* optional header size */
  unsigned char *opt = k + 0x58;
  opt[0] = 0x0b, opt[1] = 0x02;           /* PE32+ */
  put32le(opt + 60, 0x1000);              /* SizeOfHeaders */
  put32le(opt + 108, 16);                 /* NumberOfRvaAndSizes */
  unsigned char *sec = k + 0x58 + 0xf0;
  memcpy(sec, ".text", 5);
  put32le(sec + 16, 0x2000);              /* SizeOfRawData */
  put32le(sec + 20, 0x1000);              /* PointerToRawData */
  memcpy(k + 0x202, "HdrS", 4);
  k[0x206] = 0x0f, k[0x207] = 0x02;       /* protocol 2.15 */
  k[0x211] = 0x01;                        /* LOADED_HIGH */
  k[0x236] = 0x40;                        /* XLF_CAN_BE_LOADED_ABOVE_4G */
}

static int tdx_rtmrs(const char *kernel, const char *initrd, const char *append, uint64_t mem, bool stub,
                     cf_tdx_measurements *m, cf_error *err) {
  static unsigned char fw[SYN_LEN];
  synthetic_tdvf(fw);
  char *p = tmp_path("tdvf-r.bin");
  write_file(p, fw, SYN_LEN);
  cf_tdx_input in = {.firmware = p, .kernel = kernel, .initrd = initrd, .append = append,
                     .memory_mib = mem, .stub_measures = stub};
  return cf_tdx_measure(&in, m, err);
}

static void sha384_of(const void *d, size_t n, unsigned char out[48]) {
  unsigned int len = 48;
  EVP_Digest(d, n, out, &len, EVP_sha384(), NULL);
}

static void extend(unsigned char r[48], const unsigned char d[48]) {
  unsigned char b[96];
  memcpy(b, r, 48);
  memcpy(b + 48, d, 48);
  sha384_of(b, 96, r);
}

static void test_tdx_rtmr(void) {
  static unsigned char k[KLEN], initrd[5000];
  synthetic_kernel(k);
  for (size_t i = 0; i < sizeof(initrd); i++)
    initrd[i] = (unsigned char)(i ^ 0x5a);
  char kp[256], ip[256], junk[256]; /* tmp_path's buffers rotate */
  snprintf(kp, sizeof(kp), "%s", tmp_path("bz"));
  snprintf(ip, sizeof(ip), "%s", tmp_path("rd"));
  snprintf(junk, sizeof(junk), "%s", tmp_path("junk"));
  write_file(kp, k, KLEN);
  write_file(ip, initrd, sizeof(initrd));
  cf_error err = {0};
  cf_tdx_measurements base, m;
  EXPECT(tdx_rtmrs(kp, ip, "console=hvc0", 256, true, &base, &err) == 0 && base.has_rtmr);

  /* RTMR[2] = extend(extend(0, SHA-384(UTF-16LE "initrd=initrd console=hvc0" NUL)), SHA-384(initrd)) */
  const char *opts = "initrd=initrd console=hvc0";
  unsigned char u[128] = {0}, h[48], want[48] = {0};
  for (size_t i = 0; opts[i]; i++)
    u[2 * i] = (unsigned char)opts[i];
  sha384_of(u, 2 * (strlen(opts) + 1), h);
  extend(want, h);
  sha384_of(initrd, sizeof(initrd), h);
  extend(want, h);
  EXPECT(memcmp(want, base.rtmr2, 48) == 0);

  /* Hostile host: changed command line, initrd or kernel byte. */
  EXPECT(tdx_rtmrs(kp, ip, "console=hvc0 init=/bin/sh", 256, true, &m, &err) == 0);
  EXPECT(memcmp(m.rtmr2, base.rtmr2, 48) != 0 && memcmp(m.rtmr1, base.rtmr1, 48) == 0);
  initrd[100] ^= 1;
  write_file(ip, initrd, sizeof(initrd));
  EXPECT(tdx_rtmrs(kp, ip, "console=hvc0", 256, true, &m, &err) == 0);
  EXPECT(memcmp(m.rtmr2, base.rtmr2, 48) != 0);
  initrd[100] ^= 1;
  write_file(ip, initrd, sizeof(initrd));
  k[0x1800] ^= 1;
  write_file(kp, k, KLEN);
  EXPECT(tdx_rtmrs(kp, ip, "console=hvc0", 256, true, &m, &err) == 0);
  EXPECT(memcmp(m.rtmr1, base.rtmr1, 48) != 0 && memcmp(m.mrtd, base.mrtd, 48) == 0);
  k[0x1800] ^= 1;
  write_file(kp, k, KLEN);

  /* QEMU places the initrd by the RAM size below 2.75 GiB: RTMR[1] follows it. */
  EXPECT(tdx_rtmrs(kp, ip, "console=hvc0", 512, true, &m, &err) == 0);
  EXPECT(memcmp(m.rtmr1, base.rtmr1, 48) != 0);
  cf_tdx_measurements a, b;
  EXPECT(tdx_rtmrs(kp, ip, "console=hvc0", 4096, true, &a, &err) == 0);
  EXPECT(tdx_rtmrs(kp, ip, "console=hvc0", 8192, true, &b, &err) == 0);
  EXPECT(memcmp(a.rtmr1, b.rtmr1, 48) == 0);

  /* An older EFI stub logs nothing into RTMR[2]. */
  EXPECT(tdx_rtmrs(kp, ip, "console=hvc0", 256, false, &m, &err) == 0);
  static const unsigned char zero[48];
  EXPECT(memcmp(m.rtmr2, zero, 48) == 0 && memcmp(m.rtmr1, base.rtmr1, 48) == 0);

  /* Not a bzImage, not a PE image, missing memory size: clear errors. */
  write_file(junk, initrd, sizeof(initrd));
  err.msg[0] = 0;
  EXPECT(tdx_rtmrs(junk, NULL, NULL, 256, false, &m, &err) < 0 && strstr(err.msg, "not a bzImage"));
  k[0] = 'X';
  write_file(kp, k, KLEN);
  EXPECT(tdx_rtmrs(kp, NULL, NULL, 256, false, &m, &err) < 0 && strstr(err.msg, "no MZ header"));
  k[0] = 'M';
  put32le(k + 0x3c, 0x7fffffff);
  write_file(kp, k, KLEN);
  EXPECT(tdx_rtmrs(kp, NULL, NULL, 256, false, &m, &err) < 0 && strstr(err.msg, "no PE signature"));
  put32le(k + 0x3c, 0x40);
  write_file(kp, k, KLEN);
  EXPECT(tdx_rtmrs(kp, NULL, NULL, 0, false, &m, &err) < 0 && strstr(err.msg, "memory size"));
  EXPECT(tdx_rtmrs(kp, NULL, NULL, 256, false, &m, &err) == 0);
  /* Every corrupted header byte: measured or refused, never a crash. */
  for (size_t off = 0; off < 0x280; off++) {
    synthetic_kernel(k);
    k[off] ^= 0xff;
    write_file(kp, k, KLEN);
    err.msg[0] = 0;
    int r = tdx_rtmrs(kp, ip, "x", 256, true, &m, &err);
    EXPECT(r == 0 || err.msg[0]);
  }
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
  else if (!strcmp(argv[1], "tdx-synthetic"))
    test_tdx_synthetic();
  else if (!strcmp(argv[1], "tdx-rtmr"))
    test_tdx_rtmr();
  else if (!strcmp(argv[1], "tdx-firmware") && argc > 3)
    rc = test_tdx_firmware(argv[3]);
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
