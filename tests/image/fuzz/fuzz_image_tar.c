/* fuzz_image_tar: arbitrary bytes as a layer's tar stream, read entry by
 * entry with every entry's data consumed, as unpack does; the reader must
 * end or refuse, never overrun, loop or hand out an entry without a path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "internal.h"

struct mem {
  const uint8_t *p;
  size_t n, off;
};

static ssize_t mem_read(void *ud, void *buf, size_t n, cf_error *err) {
  struct mem *m = ud;
  size_t c = m->n - m->off < n ? m->n - m->off : n;
  /* short reads, as a decompressor gives them */
  if (c > 700)
    c = 700;
  memcpy(buf, m->p + m->off, c);
  m->off += c;
  return (ssize_t)c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct mem m = {data, size, 0};
  struct tar_reader *t = tar_reader_new((struct tar_src){mem_read, &m}, 1u << 20);
  if (!t)
    abort();
  cf_error err = {0};
  struct tar_entry *e;
  int r, entries = 0;
  char buf[4096];
  while ((r = tar_next(t, &e, &err)) > 0) {
    if (!e->path || !e->path[0] || !e->link || !strchr("0123456", e->type) || e->size > (1u << 20))
      abort();
    ssize_t n;
    uint64_t got = 0;
    while ((n = tar_read(t, buf, sizeof(buf), &err)) > 0)
      got += (uint64_t)n;
    if (n < 0)
      break;
    if (got != e->size)
      abort();
    if (++entries > 100000)
      abort(); /* each entry consumes at least one block */
  }
  if (r < 0 && !err.msg[0])
    abort();
  tar_reader_free(t);
  return 0;
}

#include "fuzz_replay.h"
