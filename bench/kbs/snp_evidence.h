#ifndef COFFER_BENCH_SNP_EVIDENCE_H
#define COFFER_BENCH_SNP_EVIDENCE_H
#include <stddef.h>
#include <stdint.h>
/* {"attestation_report": <serde form of the 1184-byte report r>,
 * "cert_chain": [{"cert_type": "VCEK", "data": [DER bytes]}]} (malloc()ed). */
char *bench_snp_evidence(const uint8_t *r, const uint8_t *vcek, size_t vlen);
#endif
