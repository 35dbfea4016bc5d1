/* The parsers of what the kernel and the QGS hand back to libcoffer_tee:
 * the SNP cert table, the SNP report (checks and evidence JSON), the TDX
 * quote, the QGS reply. The first byte picks the parser; the rest is its
 * input. Built as a libFuzzer target with COFFER_FUZZ; otherwise
 * (FUZZ_REPLAY_MAIN) a test replaying the seed corpus. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t which = data[0];
  const uint8_t *in = data + 1;
  size_t n = size - 1;
  cf_error err = {0};
  switch (which % 4) {
  case 0: {
    tee_snp_cert certs[TEE_SNP_CERT_ENTRIES_MAX];
    size_t count = 0;
    if (!tee_snp_cert_table_parse(in, n, certs, TEE_SNP_CERT_ENTRIES_MAX, &count, &err))
      for (size_t i = 0; i < count; i++) /* every entry lies inside the input */
        if (certs[i].data < in || certs[i].data + certs[i].len > in + n)
          abort();
    break;
  }
  case 1: {
    uint8_t rd[64];
    memcpy(rd, n >= TEE_SNP_REPORT_SIZE ? in + TEE_SNP_REPORT_DATA : (const uint8_t[64]){0}, 64);
    if (!tee_snp_report_check(in, n, rd, &err)) {
      /* A report that passes, with the rest of the input as its cert table. */
      tee_snp_cert certs[TEE_SNP_CERT_ENTRIES_MAX];
      size_t count = 0;
      char *json = NULL;
      tee_snp_cert_table_parse(in, n, certs, TEE_SNP_CERT_ENTRIES_MAX, &count, &err);
      if (!tee_snp_evidence_json(in, certs, count, &json, &err) && !json)
        abort();
      free(json);
    }
    break;
  }
  case 2: {
    uint8_t rd[64] = {0}, mc[48];
    size_t used = 0;
    if (n >= 0x238 + 64)
      memcpy(rd, in + 0x238, 64);
    if (!tee_tdx_quote_check(in, n, rd, &used, &err) && used > n)
      abort();
    tee_tdx_quote_mrconfigid(in, n, mc, &err);
    break;
  }
  case 3: {
    const uint8_t *q = NULL;
    size_t ql = 0;
    if (!tee_tdx_qgs_reply_parse(in, n, &q, &ql, &err) && (q < in || q + ql > in + n))
      abort();
    break;
  }
  }
  return 0;
}

#ifdef FUZZ_REPLAY_MAIN
int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  DIR *d = opendir(argv[1]);
  if (!d)
    return fprintf(stderr, "no corpus at %s\n", argv[1]), 1;
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", argv[1], e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f)
      return fprintf(stderr, "open %s\n", path), 1;
    static uint8_t buf[1 << 17];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    n++;
  }
  closedir(d);
  printf("%d inputs replayed\n", n);
  return n ? 0 : 1;
}
#endif
