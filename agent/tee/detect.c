/* Which TEE the guest runs in, decided from what the guest's own hardware
 * and kernel say. The host controls the kernel command line, firmware
 * tables and most CPUID leaves of a plain VM, so none of those count; the
 * signals used cannot be hidden from a real TEE guest:
 *   TDX: CPUID leaf 0x21 is answered by the TDX module, not the host.
 *   SNP: CPUID 0x8000001F comes from the firmware-validated CPUID table,
 *        and the guest kernel creates /dev/sev-guest and the sev_guest TSM
 *        provider only after it found SNP active in its own MSR.
 * A host can make a plain VM look like a TEE: attestation then fails
 * (fail closed). It cannot make a TEE look plain, which is what matters:
 * the sample attester is only chosen when no signal at all is present. */
#include <errno.h>
#include <string.h>

#include "tee_internal.h"

#define CPUID_TDX_LEAF 0x21
#define CPUID_SEV_LEAF 0x8000001Fu
#define CPUID_SEV_SNP (1u << 4)
#define CPUID_HYPERVISOR (1u << 31) /* leaf 1 ECX */

static bool cpuid_tdx(const cf_tee_env *env) {
  uint32_t r[4];
  tee_cpuid(env, CPUID_TDX_LEAF, 0, r);
  /* "IntelTDX    " in EBX, EDX, ECX */
  char sig[12];
  memcpy(sig, &r[1], 4);
  memcpy(sig + 4, &r[3], 4);
  memcpy(sig + 8, &r[2], 4);
  return !memcmp(sig, "IntelTDX    ", 12);
}

/* SNP is reported on an SNP-capable host too: count it only in a VM. */
static bool cpuid_snp(const cf_tee_env *env) {
  uint32_t r[4];
  tee_cpuid(env, 1, 0, r);
  if (!(r[2] & CPUID_HYPERVISOR))
    return false;
  tee_cpuid(env, 0x80000000u, 0, r);
  if (r[0] < CPUID_SEV_LEAF)
    return false;
  tee_cpuid(env, CPUID_SEV_LEAF, 0, r);
  return r[0] & CPUID_SEV_SNP;
}

static int dev_present(const cf_tee_env *env, const char *dev, bool *out, cf_error *err) {
  char p[4096];
  int r = tee_path(env, dev, p, sizeof(p), err);
  if (!r)
    *out = tee_exists(p);
  return r;
}

int cf_tee_detect(const cf_tee_env *env, cf_tee_kind *out, cf_error *err) {
  *out = CF_TEE_NONE;
  bool sev_dev = false, tdx_dev = false;
  int r = dev_present(env, TEE_SEV_DEV, &sev_dev, err);
  if (!r)
    r = dev_present(env, TEE_TDX_DEV, &tdx_dev, err);
  if (r)
    return r;
  char provider[64];
  tee_lock();
  r = tee_tsm_provider(env, provider, sizeof(provider), err);
  tee_unlock();
  if (r)
    return cf_error_prefix(err, "TEE detection");
  if (provider[0] && strcmp(provider, "sev_guest") && strcmp(provider, "tdx_guest"))
    return cf_err(err, EPROTO, "TEE detection: unknown configfs-tsm provider \"%s\"", provider);
  bool tdx = cpuid_tdx(env) || tdx_dev || !strcmp(provider, "tdx_guest");
  bool snp = cpuid_snp(env) || sev_dev || !strcmp(provider, "sev_guest");
  if (tdx && snp)
    return cf_err(err, EPROTO,
                  "TEE detection: signals of both TDX and SNP (CPUID TDX %d, SNP %d; %s %d, %s %d; "
                  "configfs-tsm provider \"%s\")",
                  cpuid_tdx(env), cpuid_snp(env), TEE_TDX_DEV, tdx_dev, TEE_SEV_DEV, sev_dev,
                  provider);
  if (tdx)
    *out = CF_TEE_TDX;
  else if (snp)
    *out = CF_TEE_SNP;
  else if (env && env->sample_binding_hex)
    *out = CF_TEE_SAMPLE;
  return 0;
}

const char *cf_tee_kind_name(cf_tee_kind k) {
  switch (k) {
  case CF_TEE_SNP:
    return "snp";
  case CF_TEE_TDX:
    return "tdx";
  case CF_TEE_SAMPLE:
    return "sample";
  case CF_TEE_NONE:
    break;
  }
  return "none";
}
