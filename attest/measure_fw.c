/* Firmware-image helpers shared by the SNP and TDX measurements: reading
 * files whole, SHA-2, and the GUIDed table OVMF places at the end of its
 * image (the last entry's header ends 32 bytes before the end; each entry is
 * its data followed by u16 size, 16-byte GUID, size counting all three). */
#include "measure_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"

int mbuf_read(mbuf *b, const char *path, size_t max, cf_error *err) {
  b->data = NULL;
  b->len = 0;
  b->mapped = 0;
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "open %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return cf_err(err, errno, "stat %s", path);
  if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s is not a regular file", path);
  size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size : 0;
  if (cap > max)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: %zu bytes, more than the %zu allowed",
                         path, cap, max);
  if (cap > 0) {
    void *p = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
      return cf_err(err, errno, "map %s", path);
    b->data = p;
    b->len = b->mapped = cap;
    return 0;
  }
  b->data = malloc(cap ? cap : 1);
  if (!b->data)
    return cf_err(err, ENOMEM, "read %s", path);
  /* Read to EOF: character devices (/dev/null) report size 0. */
  for (;;) {
    if (b->len == cap) {
      if (cap >= max) {
        uint8_t probe;
        ssize_t n = read(fd, &probe, 1);
        if (n == 0)
          break;
        mbuf_free(b);
        return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: more than the %zu bytes allowed", path, max);
      }
      size_t ncap = cap ? cap * 2 : 4096;
      if (ncap > max)
        ncap = max;
      uint8_t *p = realloc(b->data, ncap);
      if (!p) {
        mbuf_free(b);
        return cf_err(err, ENOMEM, "read %s", path);
      }
      b->data = p;
      cap = ncap;
    }
    ssize_t n = read(fd, b->data + b->len, cap - b->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      mbuf_free(b);
      return cf_err(err, e, "read %s", path);
    }
    if (n == 0)
      break;
    b->len += (size_t)n;
  }
  return 0;
}

void mbuf_free(mbuf *b) {
  if (b->mapped)
    munmap(b->data, b->mapped);
  else
    free(b->data);
  b->mapped = 0;
  b->data = NULL;
  b->len = 0;
}

void sha384(const void *data, size_t len, uint8_t out[48]) {
  unsigned int n = 48;
  EVP_Digest(data, len, out, &n, EVP_sha384(), NULL);
}

void sha256(const void *data, size_t len, uint8_t out[32]) {
  unsigned int n = 32;
  EVP_Digest(data, len, out, &n, EVP_sha256(), NULL);
}

int hash_file(const char *path, bool use_sha384, uint8_t *out, uint64_t *len, cf_error *err) {
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return cf_err(err, errno, "open %s", path);
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (!c || EVP_DigestInit_ex(c, use_sha384 ? EVP_sha384() : EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(c);
    return cf_err(err, ENOMEM, "digest context");
  }
  enum { BUF = 1 << 20 };
  _cleanup_free_ uint8_t *buf = malloc(BUF);
  if (!buf) {
    EVP_MD_CTX_free(c);
    return cf_err(err, ENOMEM, "read %s", path);
  }
  uint64_t total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, BUF);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      EVP_MD_CTX_free(c);
      return cf_err(err, e, "read %s", path);
    }
    if (n == 0)
      break;
    EVP_DigestUpdate(c, buf, (size_t)n);
    total += (uint64_t)n;
  }
  unsigned int n = 0;
  EVP_DigestFinal_ex(c, out, &n);
  EVP_MD_CTX_free(c);
  if (len)
    *len = total;
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return c - 'A' + 10;
}

void guid_bytes(const char *text, uint8_t out[16]) {
  uint8_t raw[16];
  size_t n = 0;
  for (const char *p = text; *p && n < 16; p++) {
    if (*p == '-')
      continue;
    raw[n++] = (uint8_t)(hexval(p[0]) << 4 | hexval(p[1]));
    p++;
  }
  /* Data1 (u32), Data2, Data3 (u16) little-endian; Data4 as written. */
  static const int order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
  for (int i = 0; i < 16; i++)
    out[i] = raw[order[i]];
}

#define ENTRY_HDR 18 /* u16 size + GUID */

int fw_table_find(const mbuf *fw, const char *guid, fw_table_entry *e, cf_error *err) {
  uint8_t footer[16], want[16];
  guid_bytes(GUID_TABLE_FOOTER, footer);
  guid_bytes(guid, want);
  if (fw->len < 32 + ENTRY_HDR)
    return -ENOENT;
  size_t footer_hdr = fw->len - 32 - ENTRY_HDR;
  if (memcmp(fw->data + footer_hdr + 2, footer, 16) != 0)
    return -ENOENT;
  size_t total = le16(fw->data + footer_hdr);
  if (total < ENTRY_HDR || total - ENTRY_HDR > footer_hdr)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "firmware GUID table: footer size %zu does not fit the image", total);
  size_t start = footer_hdr - (total - ENTRY_HDR);
  size_t end = footer_hdr; /* entries occupy [start, end) */
  while (end - start >= ENTRY_HDR) {
    const uint8_t *hdr = fw->data + end - ENTRY_HDR;
    size_t size = le16(hdr);
    if (size < ENTRY_HDR || size > end - start)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "firmware GUID table: entry at offset %zu has size %zu (table has %zu bytes left)",
                           end - ENTRY_HDR, size, end - start);
    if (memcmp(hdr + 2, want, 16) == 0) {
      e->data = fw->data + end - size;
      e->len = size - ENTRY_HDR;
      return 0;
    }
    end -= size;
  }
  return -ENOENT;
}

int fw_table_u32(const mbuf *fw, const char *path, const char *guid, const char *what,
                 uint32_t *v, cf_error *err) {
  fw_table_entry e;
  int r = fw_table_find(fw, guid, &e, err);
  if (r == -ENOENT)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: no %s entry (GUID %s) in the firmware's GUID table",
                         path, what, guid);
  if (r < 0)
    return cf_error_prefix(err, "%s", path);
  if (e.len < 4)
    return cf_err_status(err, CF_INVALID_ARGUMENT, "%s: %s entry holds %zu bytes, 4 needed", path, what, e.len);
  *v = le32(e.data);
  return 0;
}
