/* Appraisal: reference-value checks (attest/'s `reference.*`) grouped into
 * EAR trustworthiness claims, and the status they give. Values follow
 * Trustee's defaults: with nothing appraised, executables 33, hardware 97,
 * configuration 36 (contraindicated). */
#include <string.h>

#include "kbs.h"

enum { NONE, OK, BAD };

static int category(const char *name) {
  static const char *const exe[] = {"reference.measurement", "reference.mrtd", "reference.rtmr0",
                                    "reference.rtmr1", "reference.rtmr2", "reference.rtmr3", NULL};
  static const char *const hw[] = {"reference.min_tcb", "reference.product", "reference.products",
                                   "reference.min_tee_tcb_svn", "tcb_status", "qe_tcb_status", NULL};
  for (int i = 0; exe[i]; i++)
    if (!strcmp(name, exe[i]))
      return 0;
  for (int i = 0; hw[i]; i++)
    if (!strcmp(name, hw[i]))
      return 1;
  return 2; /* debug, vmpl, host_data, mrconfigid, mrowner…: configuration */
}

static void fold(const cf_checks *c, int st[3]) {
  for (size_t i = 0; c && i < c->n; i++) {
    const char *n = c->items[i].name;
    if (!strcmp(n, "reference.snp") || !strcmp(n, "reference.tdx"))
      continue; /* no section for this TEE: nothing appraised */
    int k = category(n);
    if (!c->items[i].pass)
      st[k] = BAD;
    else if (st[k] == NONE)
      st[k] = OK;
  }
}

void kbs_ear_unappraised(kbs_ear *ear) {
  memset(ear, 0, sizeof(*ear));
  ear->executables = 33;
  ear->hardware = 97;
  ear->configuration = 36;
  ear->status = "contraindicated";
}

void kbs_appraise(const cf_checks *ref, const cf_checks *hw_extra, kbs_ear *ear) {
  int st[3] = {NONE, NONE, NONE};
  fold(ref, st);
  fold(hw_extra, st);
  kbs_ear_unappraised(ear);
  ear->instance_identity = 2; /* the evidence's signature chains to the vendor */
  ear->executables = st[0] == OK ? 2 : st[0] == BAD ? 99 : 33;
  ear->hardware = st[1] == OK ? 2 : st[1] == BAD ? 97 : 97;
  ear->configuration = st[2] == OK ? 2 : st[2] == BAD ? 99 : 36;
  int worst = 0;
  const int v[] = {ear->instance_identity, ear->executables, ear->hardware, ear->configuration};
  for (int i = 0; i < 4; i++)
    if (v[i] > worst)
      worst = v[i];
  ear->status = worst >= 96 ? "contraindicated" : worst >= 32 ? "warning" : "affirming";
}
