/* TDX: MRTD from the TDVF metadata, RTMR[1] and RTMR[2] of a direct kernel
 * boot.
 *
 * MRTD is one SHA-384 over what the TDX module records while the VMM builds
 * the TD: per 4 KiB page added, a 128-byte block "MEM.PAGE.ADD" (padded to
 * 16) | u64 gpa | zeros; per 256-byte chunk extended, "MR.EXTEND" | u64 gpa |
 * zeros, then the chunk. QEMU walks the TDVF sections in metadata order and,
 * with KVM_TDX_INIT_MEM_REGION, adds each page then extends it (sections
 * with the MR.EXTEND attribute); older stacks added all pages of a section
 * before extending any (two_pass). Sections with PAGE.AUG are not added.
 *
 * RTMR[i] = SHA-384(RTMR[i] | event digest), starting from zeros. For a
 * direct boot TDVF logs into RTMR[1] the kernel's PE image (its Authenticode
 * SHA-384, after QEMU patched its setup header), "Calling EFI Application
 * from Boot Option", the separator, "Exit Boot Services Invocation" and
 * "Exit Boot Services Returned with Success"; a kernel whose EFI stub speaks
 * the CC measurement protocol logs into RTMR[2] its load options (UTF-16LE
 * with NUL; OVMF prefixes "initrd=initrd " when an initrd is passed) and the
 * initrd. */
#include "measure_internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coffer/measure.h"

#define PAGE 4096u
#define CHUNK 256u
#define FW_MAX (64u << 20)
#define BLOB_MAX (1ull << 31)
#define SECTION_MAX (256ull << 20) /* real TDVF sections are a few MiB */

#define GUID_TDX_METADATA "e47a6535-984a-4798-865e-4685a7bf8ec2"
#define ATTR_MR_EXTEND 0x1u
#define ATTR_PAGE_AUG 0x2u
enum { TDVF_BFV = 0, TDVF_CFV = 1, TDVF_TD_HOB = 2, TDVF_TEMP_MEM = 3 };

typedef struct tdvf_section {
  uint32_t data_offset, raw_size;
  uint64_t gpa, mem_size;
  uint32_t type, attr;
} tdvf_section;

#define MAX_SECTIONS 32

static int tdvf_parse(const mbuf *fw, const char *path, tdvf_section *s, unsigned *count, cf_error *err) {
  uint32_t off;
  int r = fw_table_u32(fw, path, GUID_TDX_METADATA, "TDX metadata", &off, err);
  if (r < 0)
    return r;
  if (off < 16 || off > fw->len)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "%s: TDVF metadata offset %u from the end lies outside the %zu-byte image",
                         path, off, fw->len);
  const uint8_t *h = fw->data + fw->len - off;
  if (memcmp(h, "TDVF", 4) != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: TDVF metadata signature is not \"TDVF\"", path);
  uint32_t len = le32(h + 4), version = le32(h + 8), n = le32(h + 12);
  if (version != 1)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: TDVF metadata version %u unknown (1 expected)", path, version);
  if (n == 0 || n > MAX_SECTIONS || len < 16 + 32ull * n || len > off)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "%s: TDVF metadata of %u bytes with %u sections is truncated or too large", path, len, n);
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *d = h + 16 + 32 * i;
    tdvf_section x = {le32(d), le32(d + 4), le64(d + 8), le64(d + 16), le32(d + 24), le32(d + 28)};
    if (x.type > TDVF_TEMP_MEM)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: TDVF section %u has type %u, which QEMU does not load (BFV, CFV, TD_HOB, TEMP_MEM)",
                           path, i, x.type);
    if (x.gpa % PAGE || x.mem_size % PAGE || x.mem_size == 0 || x.mem_size > SECTION_MAX ||
        x.gpa > (1ull << 52))
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: TDVF section %u (gpa 0x%llx, size 0x%llx) is not whole pages", path, i,
                           (unsigned long long)x.gpa, (unsigned long long)x.mem_size);
    if ((uint64_t)x.data_offset + x.raw_size > fw->len || x.raw_size > x.mem_size)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: TDVF section %u data (offset 0x%x, 0x%x bytes) outside the image or its memory",
                           path, i, x.data_offset, x.raw_size);
    if ((x.attr & ATTR_MR_EXTEND) && x.raw_size != x.mem_size)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: TDVF section %u is measured but its data (0x%x bytes) does not fill its memory",
                           path, i, x.raw_size);
    s[i] = x;
  }
  *count = n;
  return 0;
}

static void page_add(EVP_MD_CTX *c, uint64_t gpa) {
  uint8_t b[128] = "MEM.PAGE.ADD";
  put64(b + 16, gpa);
  EVP_DigestUpdate(c, b, sizeof(b));
}

static void mr_extend_page(EVP_MD_CTX *c, uint64_t gpa, const uint8_t *data) {
  for (unsigned i = 0; i < PAGE / CHUNK; i++) {
    uint8_t b[128] = "MR.EXTEND";
    put64(b + 16, gpa + i * CHUNK);
    EVP_DigestUpdate(c, b, sizeof(b));
    EVP_DigestUpdate(c, data + i * CHUNK, CHUNK);
  }
}

static int mrtd(const mbuf *fw, const tdvf_section *s, unsigned n, bool two_pass, uint8_t out[48],
                cf_error *err) {
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (!c || EVP_DigestInit_ex(c, EVP_sha384(), NULL) != 1) {
    EVP_MD_CTX_free(c);
    return cf_err(err, ENOMEM, "SHA-384 context");
  }
  for (unsigned i = 0; i < n; i++) {
    uint64_t pages = s[i].mem_size / PAGE;
    bool add = !(s[i].attr & ATTR_PAGE_AUG), extend = s[i].attr & ATTR_MR_EXTEND;
    const uint8_t *data = fw->data + s[i].data_offset;
    for (uint64_t p = 0; p < pages; p++) {
      if (add)
        page_add(c, s[i].gpa + p * PAGE);
      if (extend && !two_pass)
        mr_extend_page(c, s[i].gpa + p * PAGE, data + p * PAGE);
    }
    for (uint64_t p = 0; extend && two_pass && p < pages; p++)
      mr_extend_page(c, s[i].gpa + p * PAGE, data + p * PAGE);
  }
  unsigned int len = 48;
  EVP_DigestFinal_ex(c, out, &len);
  EVP_MD_CTX_free(c);
  return 0;
}

/* ---- the kernel as TDVF measures it ---- */

/* QEMU's x86 Linux loader writes into the bzImage setup header before it
 * hands the kernel to the firmware (fw_cfg): loader type, heap end, command
 * line address, and the initrd's address and size. The initrd goes at the
 * top of RAM below 4 GiB (q35: at most 2 GiB once RAM reaches 2.75 GiB),
 * under the 0x28000 bytes of ACPI data, page aligned. */
#define Q35_ACPI_DATA 0x28000u

static int patch_setup_header(uint8_t *k, size_t len, uint64_t initrd_len, uint64_t mem_mib,
                              const char *path, cf_error *err) {
  if (len < 0x1000 || memcmp(k + 0x202, "HdrS", 4) != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: not a bzImage (no \"HdrS\" setup header)", path);
  uint16_t proto = le16(k + 0x206);
  uint32_t real = 0x10000, cmdline = 0x20000;
  if (proto < 0x200 || !(k[0x211] & 0x01))
    real = 0x90000, cmdline = 0x9a000;
  if (proto >= 0x200)
    k[0x210] = 0xb0; /* type_of_loader: QEMU */
  if (proto >= 0x201) {
    k[0x211] |= 0x80; /* CAN_USE_HEAP */
    put16(k + 0x224, (uint16_t)(cmdline - real - 0x200));
  }
  if (proto >= 0x202) {
    put32(k + 0x228, cmdline);
  } else {
    put16(k + 0x20, 0xa33f);
    put16(k + 0x22, (uint16_t)(cmdline - real));
  }
  if (!initrd_len)
    return 0;
  if (proto < 0x200)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: boot protocol too old for an initrd", path);
  uint64_t max = 0x37ffffff;
  if (proto >= 0x20c && (le16(k + 0x236) & 0x40))
    max = UINT32_MAX;
  else if (proto >= 0x203 && le32(k + 0x22c))
    max = le32(k + 0x22c);
  uint64_t mem = mem_mib << 20;
  uint64_t lowmem = mem < 0xb0000000ull ? 0xb0000000ull : 0x80000000ull;
  uint64_t below4g = mem >= lowmem ? lowmem : mem;
  if (below4g <= Q35_ACPI_DATA)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "memory of %llu MiB leaves no room for the initrd",
                         (unsigned long long)mem_mib);
  if (max >= below4g - Q35_ACPI_DATA)
    max = below4g - Q35_ACPI_DATA - 1;
  if (initrd_len >= max)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "initrd of %llu bytes does not fit below %llu MiB",
                         (unsigned long long)initrd_len, (unsigned long long)mem_mib);
  put32(k + 0x218, (uint32_t)((max - initrd_len) & ~(uint64_t)0xfff));
  put32(k + 0x21c, (uint32_t)initrd_len);
  return 0;
}

/* Authenticode SHA-384 of a PE image (PE/COFF spec, "Calculating the PE
 * image hash"): headers without CheckSum and the certificate-table entry,
 * sections in file order, then what follows them minus the certificate
 * table; TDVF's loaded-image buffer is zero-padded to 8 bytes. */
static int authenticode(const uint8_t *d, size_t len, const char *path, const EVP_MD *md, uint8_t *out,
                        cf_error *err) {
#define NEED(cond, what)                                                                        \
  do {                                                                                          \
    if (!(cond))                                                                                \
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: PE image: %s", path, what);           \
  } while (0)
  NEED(len >= 0x40 && d[0] == 'M' && d[1] == 'Z', "no MZ header (a kernel without an EFI stub?)");
  uint64_t pe = le32(d + 0x3c);
  NEED(pe + 24 <= len && memcmp(d + pe, "PE\0\0", 4) == 0, "no PE signature");
  uint64_t coff = pe + 4, opt = coff + 20;
  uint16_t nsec = le16(coff + d + 2), optlen = le16(d + coff + 16);
  NEED(opt + optlen <= len && optlen >= 96, "optional header truncated");
  uint16_t magic = le16(d + opt);
  NEED(magic == 0x10b || magic == 0x20b, "unknown optional header magic");
  uint64_t dirs = opt + (magic == 0x20b ? 112 : 96);
  uint64_t checksum = opt + 64, certdir = dirs + 4 * 8;
  NEED(certdir + 8 <= opt + optlen, "no certificate table entry");
  uint64_t hdrs = le32(d + opt + 60);
  NEED(hdrs <= len && hdrs >= certdir + 8, "SizeOfHeaders out of range");
  uint64_t sec_tab = opt + optlen;
  NEED(sec_tab + 40ull * nsec <= len, "section table truncated");

  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (!c || EVP_DigestInit_ex(c, md, NULL) != 1) {
    EVP_MD_CTX_free(c);
    return cf_err(err, ENOMEM, "digest context");
  }
  EVP_DigestUpdate(c, d, checksum);
  EVP_DigestUpdate(c, d + checksum + 4, certdir - checksum - 4);
  EVP_DigestUpdate(c, d + certdir + 8, hdrs - certdir - 8);
  uint64_t hashed = hdrs;
  struct { uint64_t off, size; } sec[96];
  unsigned ns = 0;
  for (unsigned i = 0; i < nsec && ns < 96; i++) {
    const uint8_t *e = d + sec_tab + 40ull * i;
    uint64_t size = le32(e + 16), off = le32(e + 20);
    if (size)
      sec[ns].off = off, sec[ns].size = size, ns++;
  }
  for (unsigned i = 1; i < ns; i++) /* insertion sort by file offset */
    for (unsigned j = i; j > 0 && sec[j].off < sec[j - 1].off; j--) {
      __typeof__(sec[0]) t = sec[j];
      sec[j] = sec[j - 1];
      sec[j - 1] = t;
    }
  for (unsigned i = 0; i < ns; i++) {
    if (sec[i].off < len)
      EVP_DigestUpdate(c, d + sec[i].off, sec[i].off + sec[i].size <= len ? sec[i].size : len - sec[i].off);
    hashed += sec[i].size;
  }
  uint64_t cert_size = le32(d + certdir + 4);
  if (le32(d + certdir) && cert_size && len > hashed && len - hashed > cert_size)
    EVP_DigestUpdate(c, d + hashed, len - hashed - cert_size);
  static const uint8_t zeros[8];
  if (len % 8)
    EVP_DigestUpdate(c, zeros, 8 - len % 8);
  unsigned int n = 0;
  EVP_DigestFinal_ex(c, out, &n);
  EVP_MD_CTX_free(c);
  return 0;
#undef NEED
}

int cf_pe_authenticode(const char *path, bool sha256, uint8_t *out, size_t *len, cf_error *err) {
  mbuf k __attribute__((cleanup(mbuf_freep))) = {0};
  int r = mbuf_read(&k, path, BLOB_MAX, err);
  if (r < 0)
    return r;
  *len = sha256 ? 32 : 48;
  return authenticode(k.data, k.len, path, sha256 ? EVP_sha256() : EVP_sha384(), out, err);
}

static void rtmr_extend(uint8_t rtmr[48], const uint8_t digest[48]) {
  uint8_t b[96];
  memcpy(b, rtmr, 48);
  memcpy(b + 48, digest, 48);
  sha384(b, sizeof(b), rtmr);
}

static void rtmr_extend_data(uint8_t rtmr[48], const void *data, size_t len) {
  uint8_t h[48];
  sha384(data, len, h);
  rtmr_extend(rtmr, h);
}

static int rtmrs(const cf_tdx_input *in, cf_tdx_measurements *out, cf_error *err) {
  mbuf k __attribute__((cleanup(mbuf_freep))) = {0};
  int r = mbuf_read(&k, in->kernel, BLOB_MAX, err);
  if (r < 0)
    return cf_error_prefix(err, "kernel");
  uint8_t initrd_hash[48];
  uint64_t initrd_len = 0;
  /* QEMU needs the initrd's size; only a measuring EFI stub needs its hash. */
  if (in->initrd && in->stub_measures && (r = hash_file(in->initrd, true, initrd_hash, &initrd_len, err)) < 0)
    return cf_error_prefix(err, "initrd");
  struct stat st;
  if (in->initrd && !in->stub_measures) {
    if (stat(in->initrd, &st) < 0)
      return cf_err(err, errno, "initrd: stat %s", in->initrd);
    initrd_len = (uint64_t)st.st_size;
  }
  if (initrd_len > UINT32_MAX)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: initrd larger than 4 GiB", in->initrd);
  if ((r = patch_setup_header(k.data, k.len, initrd_len, in->memory_mib, in->kernel, err)) < 0)
    return r;
  uint8_t h[48];
  if ((r = authenticode(k.data, k.len, in->kernel, EVP_sha384(), h, err)) < 0)
    return r;

  memset(out->rtmr1, 0, 48);
  rtmr_extend(out->rtmr1, h);
  static const char *const actions[] = {"Calling EFI Application from Boot Option", NULL,
                                        "Exit Boot Services Invocation",
                                        "Exit Boot Services Returned with Success"};
  for (int a = 0; a < 4; a++) {
    if (actions[a])
      rtmr_extend_data(out->rtmr1, actions[a], strlen(actions[a]));
    else
      rtmr_extend_data(out->rtmr1, "\0\0\0\0", 4); /* EV_SEPARATOR */
  }

  memset(out->rtmr2, 0, 48);
  if (!in->stub_measures)
    return 0;
  const char *prefix = in->initrd ? "initrd=initrd " : "";
  const char *cmd = in->append ? in->append : "";
  size_t n = strlen(prefix) + strlen(cmd);
  if (n) {
    uint8_t *u = calloc(n + 1, 2);
    if (!u)
      return cf_err(err, ENOMEM, "command line");
    size_t j = 0;
    /* Byte-wise widening, as OVMF converts the ASCII command line. */
    for (const char *p = prefix; *p; p++, j++)
      u[2 * j] = (uint8_t)*p;
    for (const char *p = cmd; *p; p++, j++)
      u[2 * j] = (uint8_t)*p;
    rtmr_extend_data(out->rtmr2, u, 2 * (n + 1));
    free(u);
  }
  if (in->initrd)
    rtmr_extend(out->rtmr2, initrd_hash);
  return 0;
}

int cf_tdx_measure(const cf_tdx_input *in, cf_tdx_measurements *out, cf_error *err) {
  memset(out, 0, sizeof(*out));
  if (!in->firmware)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "no firmware given");
  if ((in->initrd || in->append) && !in->kernel)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "an initrd or command line needs a kernel");
  if (in->append && strlen(in->append) > 65536)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "command line longer than 64 KiB");
  mbuf fw __attribute__((cleanup(mbuf_freep))) = {0};
  int r = mbuf_read(&fw, in->firmware, FW_MAX, err);
  if (r < 0)
    return cf_error_prefix(err, "firmware");
  tdvf_section s[MAX_SECTIONS];
  unsigned n = 0;
  if ((r = tdvf_parse(&fw, in->firmware, s, &n, err)) < 0)
    return r;
  if ((r = mrtd(&fw, s, n, in->two_pass, out->mrtd, err)) < 0)
    return r;
  if (!in->kernel)
    return 0;
  if (!in->memory_mib)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "the RTMRs of a kernel need the guest's memory size");
  if ((r = rtmrs(in, out, err)) < 0)
    return r;
  out->has_rtmr = true;
  return 0;
}
