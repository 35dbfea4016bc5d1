/* libFuzzer target: a firmware image's GUID table, SEV metadata and TDVF
 * metadata, through both measurements. The input becomes the tail of an
 * image padded in front to whole pages (the metadata lives at the end). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coffer/measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1 << 16))
    return 0;
  int fd = memfd_create("fw", MFD_CLOEXEC);
  if (fd < 0)
    return 0;
  size_t pad = (4096 - size % 4096) % 4096;
  static const uint8_t ff[4096] = {0};
  if (write(fd, ff, pad) != (ssize_t)pad || write(fd, data, size) != (ssize_t)size) {
    close(fd);
    return 0;
  }
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  cf_error err = {0};
  uint8_t d[CF_MEASURE_LEN];
  cf_snp_input in = {.ovmf = path, .vcpus = 2, .vcpu_sig = 0xa00f11, .guest_features = 1,
                     .kernel = "/dev/null", .append = "x"};
  cf_snp_launch_digest(&in, d, &err);
  cf_tdx_input t = {.firmware = path};
  cf_tdx_measurements m;
  cf_tdx_measure(&t, &m, &err);
  close(fd);
  return 0;
}
