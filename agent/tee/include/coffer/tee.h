/* The guest's TEE: which one it runs in (decided from its own hardware),
 * the init-data binding the hardware reports, and evidence for the broker.
 *
 * Everything the kernel or the CPU answers goes through cf_tee_env, so tests
 * run the same code against a fake tree and recorded replies (there is no
 * TEE hardware on a build machine). Requests to the TEE are serialised
 * process-wide: a failed SNP guest request wipes the guest's VMPCK until
 * reboot, so inputs are validated before anything is issued. */
#ifndef COFFER_TEE_H
#define COFFER_TEE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "coffer/error.h"

typedef enum cf_tee_kind { CF_TEE_NONE, CF_TEE_SNP, CF_TEE_TDX, CF_TEE_SAMPLE } cf_tee_kind;

/* What the CPU and the kernel answer. Every member may be NULL: the real
 * instruction or system call is used then. Tests fill them to replay
 * recorded replies or to emulate configfs (whose mkdir creates the
 * attribute files, which a plain directory cannot do). */
struct cf_tee_ioctl_ops {
  void *ctx;
  /* CPUID leaf/subleaf: regs = {eax, ebx, ecx, edx}. */
  void (*cpuid)(void *ctx, uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);
  /* ioctl(2) on a device the library opened (/dev/sev-guest, /dev/tdx_guest):
   * returns 0 or -1 with errno set, as ioctl(2). */
  int (*ioctl)(void *ctx, int fd, unsigned long request, void *arg);
  /* mkdir(2)/rmdir(2) of a configfs-tsm report instance (full path). */
  int (*mkdir)(void *ctx, const char *path, mode_t mode);
  int (*rmdir)(void *ctx, const char *path);
  /* A connected stream to the TDX quote generation service (vsock CID 2,
   * port from /etc/tdx-attest.conf, default 4050): an fd or -errno. */
  int (*qgs_connect)(void *ctx, unsigned port);
};

typedef struct cf_tee_env {
  const char *root;                     /* NULL/"" = the real /sys, /dev; tests: a fake tree */
  const struct cf_tee_ioctl_ops *ioctl; /* NULL = real ioctl(2); tests: recorded replies */
  const char *sample_binding_hex;       /* plain profile only: the init-data binding the sample
                                         * attester reports; NULL = sample not enabled */
} cf_tee_env;

/* Which TEE this guest runs in, from CPUID (TDX leaf 0x21, SEV leaf
 * 0x8000001F), the configfs-tsm provider and /dev/sev-guest, /dev/tdx_guest;
 * never from the kernel command line or anything else the host controls.
 * CF_TEE_SAMPLE only when there is no TEE hardware and
 * env->sample_binding_hex is set; CF_TEE_NONE otherwise. Signals of both
 * SNP and TDX are an error. */
int cf_tee_detect(const cf_tee_env *env, cf_tee_kind *out, cf_error *err);

/* The broker's tee names: "snp", "tdx", "sample", "none". */
const char *cf_tee_kind_name(cf_tee_kind k);

/* The init-data binding the hardware reports: SNP HOST_DATA (32 B, from a
 * report with zero report_data), TDX MRCONFIGID (48 B, TDREPORT offset
 * 576), sample: env->sample_binding_hex decoded (at most 64 B). */
int cf_tee_init_data_binding(const cf_tee_env *env, cf_tee_kind k, uint8_t out[64], size_t *len,
                             cf_error *err);

/* Fresh evidence bound to report_data: the broker's primary_evidence JSON
 * (kbs-protocol.md B4), malloc'd, for the caller to free(). The report the
 * hardware returns is checked to carry exactly this report_data. */
int cf_tee_evidence(const cf_tee_env *env, cf_tee_kind k, const uint8_t report_data[64],
                    char **evidence_json, cf_error *err);

#endif
