/* The agent's cgroup counters as containerd's cgroups Metrics (v1 or v2,
 * as the guest's cgroup version says), so `ctr task metrics` and the CRI
 * stats read them. */
#include "metrics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.pb-c.h"
#include "containerd/cgroups/v1/metrics.pb-c.h"
#include "containerd/cgroups/v2/metrics.pb-c.h"
#include "shim.h"

/* memory.stat keys whose Metrics field is named differently. */
static const char *const v1_renames[][2] = {
    {"pgpgin", "pg_pg_in"},         {"pgpgout", "pg_pg_out"},
    {"pgfault", "pg_fault"},        {"pgmajfault", "pg_maj_fault"},
    {"total_pgpgin", "total_pg_pg_in"}, {"total_pgpgout", "total_pg_pg_out"},
    {"total_pgfault", "total_pg_fault"}, {"total_pgmajfault", "total_pg_maj_fault"},
};

/* Set the uint64 field called name (if the message has one). */
static void set_u64(ProtobufCMessage *m, const char *name, uint64_t v) {
  const ProtobufCFieldDescriptor *f =
      protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
  if (f && f->type == PROTOBUF_C_TYPE_UINT64 && f->label != PROTOBUF_C_LABEL_REPEATED)
    *(uint64_t *)((char *)m + f->offset) = v;
}

static void copy_stat_map(ProtobufCMessage *m, const Coffer__Agent__V1__MemoryStats *mem,
                          bool v1) {
  for (size_t i = 0; i < mem->n_stats; i++) {
    const char *key = mem->stats[i]->key;
    if (!key)
      continue;
    if (v1)
      for (size_t r = 0; r < sizeof(v1_renames) / sizeof(v1_renames[0]); r++)
        if (strcmp(key, v1_renames[r][0]) == 0)
          key = v1_renames[r][1];
    set_u64(m, key, mem->stats[i]->value);
  }
}

static void v1_entry(Io__Containerd__Cgroups__V1__MemoryEntry *e,
                     const Coffer__Agent__V1__MemoryEntry *a) {
  io__containerd__cgroups__v1__memory_entry__init(e);
  if (!a)
    return;
  e->usage = a->usage;
  e->max = a->max;
  e->limit = a->limit;
  e->failcnt = a->failcnt;
}

static void v1_blkio(Io__Containerd__Cgroups__V1__BlkIOEntry ***out, size_t *n,
                     Coffer__Agent__V1__BlkioEntry **in, size_t count,
                     Io__Containerd__Cgroups__V1__BlkIOEntry *store,
                     Io__Containerd__Cgroups__V1__BlkIOEntry **ptrs) {
  for (size_t i = 0; i < count; i++) {
    io__containerd__cgroups__v1__blk_ioentry__init(&store[i]);
    store[i].op = in[i]->op;
    store[i].major = in[i]->major;
    store[i].minor = in[i]->minor;
    store[i].value = in[i]->value;
    ptrs[i] = &store[i];
  }
  *out = ptrs;
  *n = count;
}

static const char *pack_v1(const Coffer__Agent__V1__StatsContainerResponse *st, uint8_t **out,
                           size_t *len, cf_error *err) {
  Io__Containerd__Cgroups__V1__Metrics m = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
  Io__Containerd__Cgroups__V1__PidsStat pids = IO__CONTAINERD__CGROUPS__V1__PIDS_STAT__INIT;
  Io__Containerd__Cgroups__V1__CPUStat cpu = IO__CONTAINERD__CGROUPS__V1__CPUSTAT__INIT;
  Io__Containerd__Cgroups__V1__CPUUsage usage = IO__CONTAINERD__CGROUPS__V1__CPUUSAGE__INIT;
  Io__Containerd__Cgroups__V1__Throttle thr = IO__CONTAINERD__CGROUPS__V1__THROTTLE__INIT;
  Io__Containerd__Cgroups__V1__MemoryStat mem = IO__CONTAINERD__CGROUPS__V1__MEMORY_STAT__INIT;
  Io__Containerd__Cgroups__V1__MemoryEntry mu, ms, mk, mt;
  Io__Containerd__Cgroups__V1__MemoryOomControl oom =
      IO__CONTAINERD__CGROUPS__V1__MEMORY_OOM_CONTROL__INIT;
  Io__Containerd__Cgroups__V1__BlkIOStat blk = IO__CONTAINERD__CGROUPS__V1__BLK_IOSTAT__INIT;
  Io__Containerd__Cgroups__V1__BlkIOEntry *blk_store = NULL, **blk_ptrs = NULL;
  Io__Containerd__Cgroups__V1__HugetlbStat *h_store = NULL, **h_ptrs = NULL;
  Io__Containerd__Cgroups__V1__NetworkStat *n_store = NULL, **n_ptrs = NULL;
  const char *url = NULL;

  /* ctr dereferences memory.usage and cpu.usage: always present */
  v1_entry(&mu, NULL);
  v1_entry(&ms, NULL);
  v1_entry(&mk, NULL);
  v1_entry(&mt, NULL);
  mem.usage = &mu;
  mem.swap = &ms;
  mem.kernel = &mk;
  mem.kernel_tcp = &mt;
  m.memory = &mem;
  cpu.usage = &usage;
  cpu.throttling = &thr;
  m.cpu = &cpu;
  m.pids = &pids;
  if (st->pids) {
    pids.current = st->pids->current;
    pids.limit = st->pids->limit;
  }
  if (st->cpu) {
    usage.total = st->cpu->usage_total_ns;
    usage.user = st->cpu->usage_user_ns;
    usage.kernel = st->cpu->usage_kernel_ns;
    usage.per_cpu = st->cpu->percpu_usage_ns;
    usage.n_per_cpu = st->cpu->n_percpu_usage_ns;
    thr.periods = st->cpu->throttling_periods;
    thr.throttled_periods = st->cpu->throttled_periods;
    thr.throttled_time = st->cpu->throttled_time_ns;
  }
  if (st->memory) {
    copy_stat_map(&mem.base, st->memory, true);
    if (st->memory->cache)
      mem.cache = st->memory->cache;
    v1_entry(&mu, st->memory->usage);
    v1_entry(&ms, st->memory->swap);
    v1_entry(&mk, st->memory->kernel);
    v1_entry(&mt, st->memory->kernel_tcp);
  }
  if (st->oom_kills) {
    oom.oom_kill = st->oom_kills;
    m.memory_oom_control = &oom;
  }
  size_t nblk = st->blkio ? st->blkio->n_io_service_bytes_recursive +
                                st->blkio->n_io_serviced_recursive
                          : 0;
  if (nblk) {
    blk_store = calloc(nblk, sizeof(*blk_store));
    blk_ptrs = calloc(nblk, sizeof(*blk_ptrs));
    if (!blk_store || !blk_ptrs)
      goto oom;
    size_t a = st->blkio->n_io_service_bytes_recursive;
    v1_blkio(&blk.io_service_bytes_recursive, &blk.n_io_service_bytes_recursive,
             st->blkio->io_service_bytes_recursive, a, blk_store, blk_ptrs);
    v1_blkio(&blk.io_serviced_recursive, &blk.n_io_serviced_recursive,
             st->blkio->io_serviced_recursive, st->blkio->n_io_serviced_recursive,
             blk_store + a, blk_ptrs + a);
    m.blkio = &blk;
  }
  if (st->n_hugetlb) {
    h_store = calloc(st->n_hugetlb, sizeof(*h_store));
    h_ptrs = calloc(st->n_hugetlb, sizeof(*h_ptrs));
    if (!h_store || !h_ptrs)
      goto oom;
    for (size_t i = 0; i < st->n_hugetlb; i++) {
      io__containerd__cgroups__v1__hugetlb_stat__init(&h_store[i]);
      h_store[i].pagesize = st->hugetlb[i]->pagesize;
      h_store[i].usage = st->hugetlb[i]->usage;
      h_store[i].max = st->hugetlb[i]->max;
      h_store[i].failcnt = st->hugetlb[i]->failcnt;
      h_ptrs[i] = &h_store[i];
    }
    m.hugetlb = h_ptrs;
    m.n_hugetlb = st->n_hugetlb;
  }
  if (st->n_network) {
    n_store = calloc(st->n_network, sizeof(*n_store));
    n_ptrs = calloc(st->n_network, sizeof(*n_ptrs));
    if (!n_store || !n_ptrs)
      goto oom;
    for (size_t i = 0; i < st->n_network; i++) {
      const Coffer__Agent__V1__NetworkStats *a = st->network[i];
      io__containerd__cgroups__v1__network_stat__init(&n_store[i]);
      n_store[i].name = a->name;
      n_store[i].rx_bytes = a->rx_bytes;
      n_store[i].rx_packets = a->rx_packets;
      n_store[i].rx_errors = a->rx_errors;
      n_store[i].rx_dropped = a->rx_dropped;
      n_store[i].tx_bytes = a->tx_bytes;
      n_store[i].tx_packets = a->tx_packets;
      n_store[i].tx_errors = a->tx_errors;
      n_store[i].tx_dropped = a->tx_dropped;
      n_ptrs[i] = &n_store[i];
    }
    m.network = n_ptrs;
    m.n_network = st->n_network;
  }
  *len = io__containerd__cgroups__v1__metrics__get_packed_size(&m);
  *out = malloc(*len ? *len : 1);
  if (!*out)
    goto oom;
  io__containerd__cgroups__v1__metrics__pack(&m, *out);
  url = "io.containerd.cgroups.v1.Metrics";
  goto done;
oom:
  cf_err(err, ENOMEM, "metrics");
done:
  free(blk_store);
  free(blk_ptrs);
  free(h_store);
  free(h_ptrs);
  free(n_store);
  free(n_ptrs);
  return url;
}

static const char *pack_v2(const Coffer__Agent__V1__StatsContainerResponse *st, uint8_t **out,
                           size_t *len, cf_error *err) {
  Io__Containerd__Cgroups__V2__Metrics m = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
  Io__Containerd__Cgroups__V2__PidsStat pids = IO__CONTAINERD__CGROUPS__V2__PIDS_STAT__INIT;
  Io__Containerd__Cgroups__V2__CPUStat cpu = IO__CONTAINERD__CGROUPS__V2__CPUSTAT__INIT;
  Io__Containerd__Cgroups__V2__MemoryStat mem = IO__CONTAINERD__CGROUPS__V2__MEMORY_STAT__INIT;
  Io__Containerd__Cgroups__V2__MemoryEvents ev = IO__CONTAINERD__CGROUPS__V2__MEMORY_EVENTS__INIT;
  m.pids = &pids;
  m.cpu = &cpu;
  m.memory = &mem;
  if (st->pids) {
    pids.current = st->pids->current;
    pids.limit = st->pids->limit;
  }
  if (st->cpu) {
    cpu.usage_usec = st->cpu->usage_total_ns / 1000;
    cpu.user_usec = st->cpu->usage_user_ns / 1000;
    cpu.system_usec = st->cpu->usage_kernel_ns / 1000;
    cpu.nr_periods = st->cpu->throttling_periods;
    cpu.nr_throttled = st->cpu->throttled_periods;
    cpu.throttled_usec = st->cpu->throttled_time_ns / 1000;
  }
  if (st->memory) {
    copy_stat_map(&mem.base, st->memory, false);
    if (st->memory->usage) {
      mem.usage = st->memory->usage->usage;
      mem.usage_limit = st->memory->usage->limit;
    }
    if (st->memory->swap) {
      mem.swap_usage = st->memory->swap->usage;
      mem.swap_limit = st->memory->swap->limit;
    }
  }
  if (st->oom_kills) {
    ev.oom_kill = st->oom_kills;
    m.memory_events = &ev;
  }
  *len = io__containerd__cgroups__v2__metrics__get_packed_size(&m);
  *out = malloc(*len ? *len : 1);
  if (!*out) {
    cf_err(err, ENOMEM, "metrics");
    return NULL;
  }
  io__containerd__cgroups__v2__metrics__pack(&m, *out);
  return "io.containerd.cgroups.v2.Metrics";
}

const char *shim_metrics_pack(const Coffer__Agent__V1__StatsContainerResponse *st, uint8_t **out,
                         size_t *len, cf_error *err) {
  if (st->cgroup_version == 2)
    return pack_v2(st, out, len, err);
  return pack_v1(st, out, len, err);
}
