/* SEV-SNP launch digest (AMD SEV-SNP firmware ABI, SNP_LAUNCH_UPDATE).
 *
 * Each page the VMM adds extends the digest:
 *   digest = SHA-384(PAGE_INFO), PAGE_INFO (0x70 bytes) =
 *     digest (48) | contents (48: SHA-384 of the page, or zero) |
 *     u16 0x70 | u8 page type | u8 is_imi | u8 vmpl3/2/1 perms | u8 0 | u64 gpa
 * QEMU adds, in order: the firmware (NORMAL pages ending at 4 GiB), the
 * sections OVMF's SEV metadata declares (SNP_SEC_MEMORY as ZERO, SECRETS,
 * CPUID, the kernel-hashes page as NORMAL, SVSM CAA as ZERO), then one VMSA
 * per vCPU (gpa recorded as 0xFFFFFFFFF000). */
#include "measure_internal.h"

#include <errno.h>
#include <string.h>

#include "coffer/measure.h"

#define PAGE 4096u
#define FOUR_GIB 0x100000000ull
#define FW_MAX (64u << 20)
#define BLOB_MAX (1ull << 31)
#define SECTION_MAX (64u << 20)

enum { PT_NORMAL = 1, PT_VMSA = 2, PT_ZERO = 3, PT_UNMEASURED = 4, PT_SECRETS = 5, PT_CPUID = 6 };
enum { SEC_SNP_SEC_MEM = 1, SEC_SNP_SECRETS = 2, SEC_CPUID = 3, SEC_SVSM_CAA = 4, SEC_KERNEL_HASHES = 0x10 };

#define GUID_SEV_METADATA "dc886566-984a-4798-a75e-5585a7bf67cc"
#define GUID_SEV_ES_RESET_BLOCK "00f771de-1a7e-4fcb-890e-68c77e2fb44e"
#define GUID_SEV_HASH_TABLE_RV "7255371f-3a3b-4b04-927b-1da6efa8d454"
/* QEMU's hashes table (target/i386/sev.c). */
#define GUID_HT_HEADER "9438d606-4f22-4cc9-b479-a793d411fd21"
#define GUID_HT_KERNEL "4de79437-abd2-427f-b835-d5b172d2045b"
#define GUID_HT_INITRD "44baf731-3a2f-4bd7-9af1-41e29169781d"
#define GUID_HT_CMDLINE "97d02dd8-bd20-4c94-aa78-e7714d36ab2a"

static const uint64_t VMSA_GPA = 0xFFFFFFFFF000ull;
static const uint32_t BSP_EIP = 0xfffffff0u;

typedef struct gctx {
  uint8_t ld[48];
} gctx;

static void gctx_update(gctx *g, uint8_t type, uint64_t gpa, const uint8_t contents[48]) {
  uint8_t pi[0x70] = {0};
  memcpy(pi, g->ld, 48);
  if (contents)
    memcpy(pi + 48, contents, 48);
  put16(pi + 96, 0x70);
  pi[98] = type;
  put64(pi + 104, gpa);
  sha384(pi, sizeof(pi), g->ld);
}

static void gctx_pages(gctx *g, uint8_t type, uint64_t gpa, uint64_t len) {
  for (uint64_t off = 0; off < len; off += PAGE)
    gctx_update(g, type, gpa + off, NULL);
}

static void gctx_normal(gctx *g, uint64_t gpa, const uint8_t *data, size_t len) {
  uint8_t h[48];
  for (size_t off = 0; off < len; off += PAGE) {
    sha384(data + off, PAGE, h);
    gctx_update(g, PT_NORMAL, gpa + off, h);
  }
}

/* ---- QEMU CPU models ---- */

uint32_t cf_snp_cpu_sig(unsigned family, unsigned model, unsigned stepping) {
  unsigned fam_lo = family > 0xf ? 0xf : family;
  unsigned fam_hi = family > 0xf ? (family - 0xf) & 0xff : 0;
  return fam_hi << 20 | ((model >> 4) & 0xf) << 16 | fam_lo << 8 | (model & 0xf) << 4 | (stepping & 0xf);
}

static const struct {
  const char *name;
  unsigned family, model, stepping;
} cpu_models[] = {
    {"EPYC", 23, 1, 2},        {"EPYC-v1", 23, 1, 2},       {"EPYC-v2", 23, 1, 2},
    {"EPYC-IBPB", 23, 1, 2},   {"EPYC-v3", 23, 1, 2},       {"EPYC-v4", 23, 1, 2},
    {"EPYC-Rome", 23, 49, 0},  {"EPYC-Rome-v1", 23, 49, 0}, {"EPYC-Rome-v2", 23, 49, 0},
    {"EPYC-Rome-v3", 23, 49, 0}, {"EPYC-Milan", 25, 1, 1},  {"EPYC-Milan-v1", 25, 1, 1},
    {"EPYC-Milan-v2", 25, 1, 1}, {"EPYC-Genoa", 25, 17, 0}, {"EPYC-Genoa-v1", 25, 17, 0},
    {"EPYC-Turin", 26, 0, 0},
};

int cf_snp_vcpu_sig(const char *type, uint32_t *sig, cf_error *err) {
  for (size_t i = 0; i < sizeof(cpu_models) / sizeof(cpu_models[0]); i++)
    if (!strcmp(cpu_models[i].name, type)) {
      *sig = cf_snp_cpu_sig(cpu_models[i].family, cpu_models[i].model, cpu_models[i].stepping);
      return 0;
    }
  return cf_err_status(err, CF_INVALID_ARGUMENT,
                       "unknown vCPU type \"%s\" (EPYC, EPYC-v1..v4, EPYC-IBPB, EPYC-Rome[-v1..v3], "
                       "EPYC-Milan[-v1,-v2], EPYC-Genoa[-v1], EPYC-Turin)", type);
}

/* ---- VMSA (AMD APM vol. 2, table B-4: the VMCB state save area) ---- */

static void vmsa_seg(uint8_t *v, size_t off, uint16_t sel, uint16_t attr, uint32_t limit, uint64_t base) {
  put16(v + off, sel);
  put16(v + off + 2, attr);
  put32(v + off + 4, limit);
  put64(v + off + 8, base);
}

/* The reset state KVM (or the cloud's VMM) gives a vCPU starting at eip. */
static void vmsa_build(uint8_t v[PAGE], uint32_t eip, const cf_snp_input *in) {
  uint16_t cs = 0x9b, ss = 0x93, tr = 0x8b, fcw = 0x37f;
  uint32_t mxcsr = 0x1f80;
  uint64_t rdx = in->vcpu_sig, g_pat = 0x0007040600070406ull;
  if (in->vmm == CF_SNP_VMM_EC2) {
    cs = eip == BSP_EIP ? 0x9a : 0x9b;
    ss = 0x92;
    tr = 0x83;
    rdx = 0x600;
    mxcsr = 0;
    fcw = 0;
  } else if (in->vmm == CF_SNP_VMM_GCE) {
    g_pat = 0x00070106;
    rdx = 0x600;
    mxcsr = 0;
    fcw = 0;
  }
  memset(v, 0, PAGE);
  vmsa_seg(v, 0x00, 0, 0x93, 0xffff, 0);              /* es */
  vmsa_seg(v, 0x10, 0xf000, cs, 0xffff, eip & 0xffff0000u); /* cs */
  vmsa_seg(v, 0x20, 0, ss, 0xffff, 0);                /* ss */
  vmsa_seg(v, 0x30, 0, 0x93, 0xffff, 0);              /* ds */
  vmsa_seg(v, 0x40, 0, 0x93, 0xffff, 0);              /* fs */
  vmsa_seg(v, 0x50, 0, 0x93, 0xffff, 0);              /* gs */
  vmsa_seg(v, 0x60, 0, 0, 0xffff, 0);                 /* gdtr */
  vmsa_seg(v, 0x70, 0, 0x82, 0xffff, 0);              /* ldtr */
  vmsa_seg(v, 0x80, 0, 0, 0xffff, 0);                 /* idtr */
  vmsa_seg(v, 0x90, 0, tr, 0xffff, 0);                /* tr */
  put64(v + 0xd0, 0x1000);      /* efer: SVME, as KVM sets it */
  put64(v + 0x148, 0x40);       /* cr4: MCE */
  put64(v + 0x158, 0x10);       /* cr0: ET */
  put64(v + 0x160, 0x400);      /* dr7 */
  put64(v + 0x168, 0xffff0ff0); /* dr6 */
  put64(v + 0x170, 0x2);        /* rflags */
  put64(v + 0x178, eip & 0xffff); /* rip */
  put64(v + 0x268, g_pat);
  put64(v + 0x310, rdx);        /* rdx: the CPUID signature at reset */
  put64(v + 0x3b0, in->guest_features);
  put64(v + 0x3e8, 0x1);        /* xcr0 */
  put32(v + 0x408, mxcsr);
  put16(v + 0x410, fcw);        /* x87 fcw */
}

/* ---- OVMF SEV metadata ---- */

typedef struct sev_section {
  uint32_t gpa, size, type;
} sev_section;

#define MAX_SECTIONS 64

typedef struct sev_meta {
  sev_section s[MAX_SECTIONS];
  unsigned n;
} sev_meta;

static int sev_meta_parse(const mbuf *fw, const char *path, sev_meta *m, cf_error *err) {
  uint32_t off;
  m->n = 0;
  int r = fw_table_u32(fw, path, GUID_SEV_METADATA, "SEV metadata", &off, err);
  if (r < 0)
    return r;
  if (off < 16 || off > fw->len)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "%s: SEV metadata offset %u from the end lies outside the %zu-byte image",
                         path, off, fw->len);
  const uint8_t *h = fw->data + fw->len - off;
  if (memcmp(h, "ASEV", 4) != 0)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: SEV metadata signature is not \"ASEV\"", path);
  uint32_t size = le32(h + 4), version = le32(h + 8), n = le32(h + 12);
  if (version != 1)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: SEV metadata version %u unknown (1 expected)", path, version);
  if (n > MAX_SECTIONS || size < 16 + 12ull * n || size > off)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "%s: SEV metadata of %u bytes with %u sections is truncated or too large", path, size, n);
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *d = h + 16 + 12 * i;
    sev_section s = {le32(d), le32(d + 4), le32(d + 8)};
    switch (s.type) {
    case SEC_SNP_SEC_MEM: case SEC_SNP_SECRETS: case SEC_CPUID: case SEC_SVSM_CAA: case SEC_KERNEL_HASHES:
      break;
    default:
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: SEV metadata section %u has unknown type 0x%x",
                           path, i, s.type);
    }
    /* Real metadata declares a few pages; a huge section is a corrupt one. */
    if (s.size > SECTION_MAX)
      return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: SEV metadata section %u declares 0x%x bytes (over %u MiB)",
                           path, i, s.size, SECTION_MAX >> 20);
    if (s.gpa % PAGE || s.size % PAGE || (uint64_t)s.gpa + s.size > FOUR_GIB)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s: SEV metadata section %u (gpa 0x%x, size 0x%x) is not whole pages below 4 GiB",
                           path, i, s.gpa, s.size);
    m->s[m->n++] = s;
  }
  return 0;
}

/* ---- QEMU's kernel hashes table ---- */

#define HT_ENTRY 50                 /* GUID, u16 length, SHA-256 */
#define HT_LEN (16 + 2 + 3 * HT_ENTRY) /* 168, padded to 176 in the page */

static void ht_entry(uint8_t *p, const char *guid, const uint8_t hash[32]) {
  guid_bytes(guid, p);
  put16(p + 16, HT_ENTRY);
  memcpy(p + 18, hash, 32);
}

static int hashes_page(const cf_snp_input *in, const mbuf *fw, uint8_t page[PAGE], cf_error *err) {
  uint32_t table_gpa;
  int r = fw_table_u32(fw, in->ovmf, GUID_SEV_HASH_TABLE_RV, "SEV hash table", &table_gpa, err);
  if (r < 0)
    return r;
  size_t off = table_gpa & (PAGE - 1);
  if (off + ((HT_LEN + 15) & ~15u) > PAGE)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: SEV hash table at 0x%x crosses its page", in->ovmf,
                         table_gpa);
  uint8_t hk[32], hi[32], hc[32];
  if ((r = hash_file(in->kernel, false, hk, NULL, err)) < 0)
    return cf_error_prefix(err, "kernel");
  if (in->initrd) {
    if ((r = hash_file(in->initrd, false, hi, NULL, err)) < 0)
      return cf_error_prefix(err, "initrd");
  } else {
    sha256("", 0, hi);
  }
  /* QEMU hashes the command line with its terminating NUL. */
  const char *c = in->append ? in->append : "";
  sha256(c, strlen(c) + 1, hc);

  memset(page, 0, PAGE);
  uint8_t *t = page + off;
  guid_bytes(GUID_HT_HEADER, t);
  put16(t + 16, HT_LEN);
  ht_entry(t + 18, GUID_HT_CMDLINE, hc);
  ht_entry(t + 18 + HT_ENTRY, GUID_HT_INITRD, hi);
  ht_entry(t + 18 + 2 * HT_ENTRY, GUID_HT_KERNEL, hk);
  return 0;
}

static int add_metadata(gctx *g, const cf_snp_input *in, const mbuf *fw, const sev_meta *m, cf_error *err) {
  bool has_hashes = false;
  for (unsigned i = 0; i < m->n; i++) {
    const sev_section *s = &m->s[i];
    switch (s->type) {
    case SEC_SNP_SEC_MEM:
      gctx_pages(g, in->vmm == CF_SNP_VMM_GCE ? PT_UNMEASURED : PT_ZERO, s->gpa, s->size);
      break;
    case SEC_SNP_SECRETS:
      gctx_update(g, PT_SECRETS, s->gpa, NULL);
      break;
    case SEC_CPUID:
      if (in->vmm != CF_SNP_VMM_EC2) /* EC2 adds the CPUID pages last */
        gctx_update(g, PT_CPUID, s->gpa, NULL);
      break;
    case SEC_SVSM_CAA:
      gctx_pages(g, PT_ZERO, s->gpa, s->size);
      break;
    case SEC_KERNEL_HASHES:
      has_hashes = true;
      if (!in->kernel) {
        gctx_pages(g, PT_ZERO, s->gpa, s->size);
        break;
      }
      if (s->size != PAGE)
        return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: kernel hashes section is 0x%x bytes, one page expected",
                             in->ovmf, s->size);
      uint8_t page[PAGE];
      int r = hashes_page(in, fw, page, err);
      if (r < 0)
        return r;
      gctx_normal(g, s->gpa, page, PAGE);
      break;
    }
  }
  if (in->vmm == CF_SNP_VMM_EC2)
    for (unsigned i = 0; i < m->n; i++)
      if (m->s[i].type == SEC_CPUID)
        gctx_update(g, PT_CPUID, m->s[i].gpa, NULL);
  if (in->kernel && !has_hashes)
    return cf_err_status(err, CF_FAILED_PRECONDITION,
                         "%s: a kernel was given but the firmware's SEV metadata has no SNP_KERNEL_HASHES "
                         "section (not an AmdSev build: it cannot measure a direct kernel boot)", in->ovmf);
  return 0;
}

static int load_fw(const char *path, mbuf *fw, cf_error *err) {
  int r = mbuf_read(fw, path, FW_MAX, err);
  if (r < 0)
    return cf_error_prefix(err, "firmware");
  if (fw->len == 0 || fw->len % PAGE)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: firmware size %zu is not a positive multiple of 4 KiB",
                         path, fw->len);
  return 0;
}

int cf_snp_ovmf_hash(const char *ovmf, uint8_t out[CF_MEASURE_LEN], cf_error *err) {
  mbuf fw __attribute__((cleanup(mbuf_freep))) = {0};
  int r = load_fw(ovmf, &fw, err);
  if (r < 0)
    return r;
  gctx g = {{0}};
  gctx_normal(&g, FOUR_GIB - fw.len, fw.data, fw.len);
  memcpy(out, g.ld, CF_MEASURE_LEN);
  return 0;
}

int cf_snp_launch_digest(const cf_snp_input *in, uint8_t out[CF_MEASURE_LEN], cf_error *err) {
  if (!in->ovmf)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "no firmware given");
  if (in->vcpus < 1 || in->vcpus > 512)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "vCPU count %u out of range (1..512)", in->vcpus);
  if ((in->initrd || in->append) && !in->kernel)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "an initrd or command line needs a kernel");
  mbuf fw __attribute__((cleanup(mbuf_freep))) = {0};
  int r = load_fw(in->ovmf, &fw, err);
  if (r < 0)
    return r;
  sev_meta m;
  if ((r = sev_meta_parse(&fw, in->ovmf, &m, err)) < 0)
    return r;
  uint32_t ap_eip;
  if ((r = fw_table_u32(&fw, in->ovmf, GUID_SEV_ES_RESET_BLOCK, "SEV-ES reset block", &ap_eip, err)) < 0)
    return r;

  gctx g = {{0}};
  if (in->ovmf_hash)
    memcpy(g.ld, in->ovmf_hash, 48);
  else
    gctx_normal(&g, FOUR_GIB - fw.len, fw.data, fw.len);
  if ((r = add_metadata(&g, in, &fw, &m, err)) < 0)
    return r;

  uint8_t bsp[PAGE], ap[PAGE], hb[48], ha[48];
  vmsa_build(bsp, BSP_EIP, in);
  vmsa_build(ap, ap_eip, in);
  sha384(bsp, PAGE, hb);
  sha384(ap, PAGE, ha);
  for (unsigned i = 0; i < in->vcpus; i++)
    gctx_update(&g, PT_VMSA, VMSA_GPA, i == 0 ? hb : ha);
  memcpy(out, g.ld, CF_MEASURE_LEN);
  return 0;
}
