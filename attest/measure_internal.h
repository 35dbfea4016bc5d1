/* Shared by the measure_*.c files: whole-file reads, little-endian access,
 * SHA helpers, and the GUID table at the end of an OVMF/TDVF image. */
#ifndef COFFER_MEASURE_INTERNAL_H
#define COFFER_MEASURE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coffer/error.h"
#include "coffer/measure.h"

typedef struct mbuf {
  uint8_t *data;
  size_t len;
  size_t mapped; /* bytes mmap'd (private, writable copy-on-write), 0: malloc'd */
} mbuf;

/* A whole file (at most max bytes): regular files are mapped privately, so
 * reading costs no copy and writing a few bytes (a setup header) copies one
 * page; other files (/dev/null) are read. */
int mbuf_read(mbuf *b, const char *path, size_t max, cf_error *err);
void mbuf_free(mbuf *b);
static inline void mbuf_freep(mbuf *b) { mbuf_free(b); }

static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }
static inline uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static inline void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

void sha384(const void *data, size_t len, uint8_t out[48]);
void sha256(const void *data, size_t len, uint8_t out[32]);
/* Streams a file through a digest (SHA-256 or SHA-384) without keeping it. */
int hash_file(const char *path, bool sha384_not_256, uint8_t *out, uint64_t *len, cf_error *err);

/* A GUID in its on-disk (mixed-endian) byte order from "xxxxxxxx-xxxx-...". */
void guid_bytes(const char *text, uint8_t out[16]);

/* One entry of the firmware's GUIDed footer table: the bytes before its
 * 18-byte header (u16 size, GUID). */
typedef struct fw_table_entry {
  const uint8_t *data;
  size_t len;
} fw_table_entry;

/* Finds the entry with that GUID. 0 found, -ENOENT absent, other negative:
 * the table is malformed (message in err). A missing table is -ENOENT. */
int fw_table_find(const mbuf *fw, const char *guid, fw_table_entry *e, cf_error *err);
/* The u32 at the start of an entry, or an error naming what. */
int fw_table_u32(const mbuf *fw, const char *path, const char *guid, const char *what,
                 uint32_t *v, cf_error *err);

#define GUID_TABLE_FOOTER "96b582de-1fb2-45f7-baea-a366c55a082d"

#endif
