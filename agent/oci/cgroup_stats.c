/* liboci: a cgroup v2's usage read into oci_stats (the shape of
 * `runc events --stats`). */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "cgroup_file.h"

static void stats_cpu(const oci_cgroup *cg, oci_stats *st) {
  _cleanup_free_ char *buf = NULL;
  if (cg_slurp(cg, "cpu.stat", &buf) < 0)
    return;
  uint64_t v;
  if (cg_keyed_u64(buf, "usage_usec", &v))
    st->cpu.total_ns = v * 1000;
  if (cg_keyed_u64(buf, "user_usec", &v))
    st->cpu.user_ns = v * 1000;
  if (cg_keyed_u64(buf, "system_usec", &v))
    st->cpu.kernel_ns = v * 1000;
  cg_keyed_u64(buf, "nr_periods", &st->cpu.throttling_periods);
  cg_keyed_u64(buf, "nr_throttled", &st->cpu.throttled_periods);
  if (cg_keyed_u64(buf, "throttled_usec", &v))
    st->cpu.throttled_time_ns = v * 1000;
}

static size_t count_lines(const char *buf) {
  size_t lines = 1; /* the last one may lack its '\n' */
  for (const char *p = buf; *p; p++)
    lines += *p == '\n';
  return lines;
}

static int stats_memory(const oci_cgroup *cg, oci_stats *st) {
  cg_read_u64(cg, "memory.current", &st->memory.usage.usage);
  cg_read_u64(cg, "memory.max", &st->memory.usage.limit);
  cg_read_u64(cg, "memory.peak", &st->memory.usage.max);
  cg_read_u64(cg, "memory.swap.current", &st->memory.swap.usage);
  cg_read_u64(cg, "memory.swap.max", &st->memory.swap.limit);
  _cleanup_free_ char *events = NULL;
  if (cg_slurp(cg, "memory.events", &events) == 0)
    cg_keyed_u64(events, "max", &st->memory.usage.failcnt);
  _cleanup_free_ char *buf = NULL;
  if (cg_slurp(cg, "memory.stat", &buf) < 0)
    return 0;
  size_t lines = count_lines(buf);
  if (!(st->memory.stat = calloc(lines, sizeof(*st->memory.stat))))
    return -ENOMEM;
  for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l && st->memory.n_stat < lines;
       l = strtok_r(NULL, "\n", &save)) {
    char *sp = strchr(l, ' ');
    uint64_t v;
    if (!sp || !cg_parse_u64(sp + 1, &v))
      continue;
    oci_stat_kv *e = &st->memory.stat[st->memory.n_stat];
    if (!(e->key = strndup(l, (size_t)(sp - l))))
      return -ENOMEM;
    e->value = v;
    st->memory.n_stat++;
    if (strcmp(e->key, "file") == 0) /* the page cache, v1's "cache" */
      st->memory.cache = v;
  }
  return 0;
}

static void blkio_add(oci_blkio_entry *arr, size_t *n, unsigned maj, unsigned min,
                      const char *op, uint64_t value) {
  oci_blkio_entry *e = &arr[(*n)++];
  e->major = maj;
  e->minor = min;
  e->value = value;
  snprintf(e->op, sizeof(e->op), "%s", op);
}

/* io.stat lines: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" */
static int stats_io(const oci_cgroup *cg, oci_stats *st) {
  _cleanup_free_ char *buf = NULL;
  if (cg_slurp(cg, "io.stat", &buf) < 0)
    return 0;
  size_t lines = count_lines(buf);
  if (!(st->blkio.service_bytes = calloc(2 * lines, sizeof(oci_blkio_entry))) ||
      !(st->blkio.serviced = calloc(2 * lines, sizeof(oci_blkio_entry))))
    return -ENOMEM;
  for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    unsigned maj, min;
    int used;
    if (sscanf(l, "%u:%u%n", &maj, &min, &used) != 2)
      continue;
    uint64_t rbytes = 0, wbytes = 0, rios = 0, wios = 0;
    for (char *s2 = NULL, *kv = strtok_r(l + used, " ", &s2); kv; kv = strtok_r(NULL, " ", &s2)) {
      char *eq = strchr(kv, '=');
      uint64_t v;
      if (!eq || !cg_parse_u64(eq + 1, &v))
        continue;
      *eq = '\0';
      if (strcmp(kv, "rbytes") == 0)
        rbytes = v;
      else if (strcmp(kv, "wbytes") == 0)
        wbytes = v;
      else if (strcmp(kv, "rios") == 0)
        rios = v;
      else if (strcmp(kv, "wios") == 0)
        wios = v;
    }
    blkio_add(st->blkio.service_bytes, &st->blkio.n_service_bytes, maj, min, "Read", rbytes);
    blkio_add(st->blkio.service_bytes, &st->blkio.n_service_bytes, maj, min, "Write", wbytes);
    blkio_add(st->blkio.serviced, &st->blkio.n_serviced, maj, min, "Read", rios);
    blkio_add(st->blkio.serviced, &st->blkio.n_serviced, maj, min, "Write", wios);
  }
  return 0;
}

/* one entry per hugetlb.<size>.current (not the .rsvd. ones) */
static int stats_hugetlb(const oci_cgroup *cg, oci_stats *st) {
  int dfd = cg_open_dir(cg);
  _cleanup_closedir_ DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) {
    if (dfd >= 0)
      close(dfd);
    return 0;
  }
  struct dirent *de;
  size_t cap = 0;
  while ((de = readdir(d))) {
    const char *name = de->d_name;
    size_t len = strlen(name);
    if (strncmp(name, "hugetlb.", 8) != 0 || len < 8 + 9 ||
        strcmp(name + len - 8, ".current") != 0)
      continue;
    char size[32], file[96];
    snprintf(size, sizeof(size), "%.*s", (int)(len - 16), name + 8);
    if (strchr(size, '.')) /* hugetlb.2MB.rsvd.current */
      continue;
    if (st->n_hugetlb == cap) {
      size_t ncap = cap ? cap * 2 : 4;
      oci_hugetlb_stats *n = realloc(st->hugetlb, ncap * sizeof(*n));
      if (!n)
        return -ENOMEM;
      st->hugetlb = n;
      cap = ncap;
    }
    oci_hugetlb_stats *h = &st->hugetlb[st->n_hugetlb++];
    *h = (oci_hugetlb_stats){0};
    snprintf(h->pagesize, sizeof(h->pagesize), "%s", size);
    cg_read_u64(cg, name, &h->usage);
    snprintf(file, sizeof(file), "hugetlb.%s.max", size);
    cg_read_u64(cg, file, &h->max);
    snprintf(file, sizeof(file), "hugetlb.%s.events", size);
    _cleanup_free_ char *events = NULL;
    if (cg_slurp(cg, file, &events) == 0)
      cg_keyed_u64(events, "max", &h->failcnt);
  }
  return 0;
}

int oci_cgroup_stats(const oci_cgroup *cg, oci_stats *out, cf_error *err) {
  *out = (oci_stats){0};
  /* every v2 cgroup has cgroup.procs: without it the cgroup is gone */
  _cleanup_close_ int procs = cg_openat(cg, "cgroup.procs", O_RDONLY);
  if (procs < 0)
    return cf_err(err, errno, "stats of cgroup %s%s", cg->root, cg->path);
  stats_cpu(cg, out);
  int e = stats_memory(cg, out);
  cg_read_u64(cg, "pids.current", &out->pids.current);
  if (cg_read_u64(cg, "pids.max", &out->pids.limit) && out->pids.limit == UINT64_MAX)
    out->pids.limit = 0; /* 0 = unlimited */
  if (e == 0)
    e = stats_io(cg, out);
  if (e == 0)
    e = stats_hugetlb(cg, out);
  if (e == 0)
    return 0;
  oci_stats_free(out);
  return cf_err(err, -e, "stats of cgroup %s%s", cg->root, cg->path);
}

void oci_stats_free(oci_stats *s) {
  free(s->cpu.percpu_ns);
  for (size_t i = 0; i < s->memory.n_stat; i++)
    free(s->memory.stat[i].key);
  free(s->memory.stat);
  free(s->blkio.service_bytes);
  free(s->blkio.serviced);
  free(s->hugetlb);
  free(s->network);
  *s = (oci_stats){0};
}
