/* Expected launch measurements of a pod VM, computed offline.
 *
 * SEV-SNP: the launch digest the PSP accumulates while QEMU adds the
 * firmware, the metadata pages OVMF declares and one VMSA per vCPU
 * (SNP_LAUNCH_UPDATE, SHA-384 over a PAGE_INFO per page).
 * TDX: MRTD from the TDVF metadata (TDH.MEM.PAGE.ADD / TDH.MR.EXTEND), and
 * RTMR[1], RTMR[2] from the events TDVF and the kernel's EFI stub log for a
 * direct kernel boot. */
#ifndef COFFER_MEASURE_H
#define COFFER_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"

#define CF_MEASURE_LEN 48 /* SHA-384 */

/* How the VMM initialises the VMSA and metadata pages (as sev-snp-measure's
 * --vmm-type): QEMU/KVM, AWS EC2, Google GCE. */
enum cf_snp_vmm { CF_SNP_VMM_QEMU, CF_SNP_VMM_EC2, CF_SNP_VMM_GCE };

typedef struct cf_snp_input {
  const char *ovmf;           /* firmware file (OVMF AmdSev build) */
  const uint8_t *ovmf_hash;   /* NULL, or 48 bytes: the digest after the
                               * firmware pages (then the file's contents are
                               * not hashed, only its metadata read) */
  unsigned vcpus;             /* >= 1 */
  uint32_t vcpu_sig;          /* CPUID Fn0000_0001_EAX of the guest vCPU */
  uint64_t guest_features;    /* VMSA SEV_FEATURES, e.g. 0x1 SNPActive */
  const char *kernel;         /* NULL: no kernel hashes (kernelHashes=no) */
  const char *initrd;         /* NULL: empty */
  const char *append;         /* NULL: empty command line */
  enum cf_snp_vmm vmm;
} cf_snp_input;

/* The CPUID signature of a QEMU CPU model ("EPYC-v4", "EPYC-Milan", ...). */
int cf_snp_vcpu_sig(const char *type, uint32_t *sig, cf_error *err);
/* The signature from family, model, stepping (AMD CPUID spec encoding). */
uint32_t cf_snp_cpu_sig(unsigned family, unsigned model, unsigned stepping);

int cf_snp_launch_digest(const cf_snp_input *in, uint8_t out[CF_MEASURE_LEN], cf_error *err);
/* The digest after the firmware pages alone (sev-snp-measure snp:ovmf-hash). */
int cf_snp_ovmf_hash(const char *ovmf, uint8_t out[CF_MEASURE_LEN], cf_error *err);

typedef struct cf_tdx_input {
  const char *firmware;       /* TDVF (OVMF IntelTdx build) */
  const char *kernel;         /* bzImage; NULL: MRTD only */
  const char *initrd;         /* NULL: none */
  const char *append;         /* NULL: empty */
  uint64_t memory_mib;        /* guest RAM: QEMU places the initrd below it */
  bool two_pass;              /* all PAGE.ADDs of a section before its
                               * EXTENDs (older KVM/QEMU); default: per page */
  bool stub_measures;         /* the kernel's EFI stub logs its command line
                               * and initrd into RTMR[2] (Linux >= 6.9, through
                               * the CC measurement protocol); older stubs log
                               * nothing there */
} cf_tdx_input;

typedef struct cf_tdx_measurements {
  uint8_t mrtd[CF_MEASURE_LEN];
  bool has_rtmr;              /* a kernel was given */
  uint8_t rtmr1[CF_MEASURE_LEN];
  uint8_t rtmr2[CF_MEASURE_LEN];
} cf_tdx_measurements;

int cf_tdx_measure(const cf_tdx_input *in, cf_tdx_measurements *out, cf_error *err);

/* The Authenticode digest of a PE file as it is (SHA-384, or SHA-256 as
 * signers use: then it can be compared with the file's own signature).
 * out holds 48 bytes; *len is set to 32 or 48. */
int cf_pe_authenticode(const char *path, bool sha256, uint8_t *out, size_t *len, cf_error *err);

#endif
