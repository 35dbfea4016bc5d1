/* The kernel's guest-attestation ABIs (kbs-protocol.md A1, A3), declared
 * here with their sizes checked, so the build needs no particular kernel
 * headers. */
#ifndef COFFER_TEE_UAPI_H
#define COFFER_TEE_UAPI_H

#include <stddef.h>
#include <stdint.h>

/* /dev/sev-guest */
typedef struct tee_snp_report_req {
  uint8_t user_data[64];
  uint32_t vmpl;
  uint8_t rsvd[28];
} tee_snp_report_req;

typedef struct tee_snp_ext_report_req {
  tee_snp_report_req data;
  uint64_t certs_address;
  uint32_t certs_len;
} tee_snp_ext_report_req;

typedef struct tee_snp_guest_request_ioctl {
  uint8_t msg_version;
  uint64_t req_data;
  uint64_t resp_data;
  uint64_t exitinfo2; /* low half firmware error, high half VMM error */
} tee_snp_guest_request_ioctl;

#define TEE_SNP_RESP_SIZE 4000
#define TEE_SNP_RESP_REPORT 0x20
#define TEE_SNP_GET_REPORT 0xC0205300UL
#define TEE_SNP_GET_EXT_REPORT 0xC0205302UL
#define TEE_SNP_VMM_ERR_INVALID_LEN 1u
#define TEE_SNP_VMM_ERR_BUSY 2u

_Static_assert(sizeof(tee_snp_report_req) == 96, "snp_report_req");
_Static_assert(sizeof(tee_snp_ext_report_req) == 112, "snp_ext_report_req");
_Static_assert(offsetof(tee_snp_ext_report_req, certs_len) == 104, "certs_len");
_Static_assert(sizeof(tee_snp_guest_request_ioctl) == 32, "snp_guest_request_ioctl");
_Static_assert(offsetof(tee_snp_guest_request_ioctl, exitinfo2) == 24, "exitinfo2");

/* /dev/tdx_guest */
typedef struct tee_tdx_report_req {
  uint8_t reportdata[64];
  uint8_t tdreport[1024];
} tee_tdx_report_req;
#define TEE_TDX_CMD_GET_REPORT0 0xC4405401UL
_Static_assert(sizeof(tee_tdx_report_req) == 1088, "tdx_report_req");

#endif
