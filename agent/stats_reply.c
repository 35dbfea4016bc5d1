/* oci_stats → StatsContainerResponse, built on the stack and in a few
 * arrays that live only until the reply is packed. */

#include "stats_reply.h"

#include <stdlib.h>

#include "agent.pb-c.h"
#include "coffer/cleanup.h"

typedef Coffer__Agent__V1__BlkioEntry BlkioEntry;

static void mem_entry(Coffer__Agent__V1__MemoryEntry *e, const oci_mem_entry *m) {
  coffer__agent__v1__memory_entry__init(e);
  e->usage = m->usage;
  e->max = m->max;
  e->limit = m->limit;
  e->failcnt = m->failcnt;
}

/* entries and the pointer array protobuf-c wants, in one allocation */
static BlkioEntry **blkio_list(const oci_blkio_entry *in, size_t n) {
  if (!n)
    return NULL;
  BlkioEntry **p = calloc(n, sizeof(*p) + sizeof(BlkioEntry));
  if (!p)
    return NULL;
  BlkioEntry *e = (BlkioEntry *)(p + n);
  for (size_t i = 0; i < n; i++) {
    coffer__agent__v1__blkio_entry__init(&e[i]);
    e[i].major = in[i].major;
    e[i].minor = in[i].minor;
    e[i].op = (char *)in[i].op;
    e[i].value = in[i].value;
    p[i] = &e[i];
  }
  return p;
}

void agent_stats_reply(ttrpc_call *call, const oci_stats *s, uint32_t cgroup_version,
                       uint64_t oom_kills) {
  Coffer__Agent__V1__StatsContainerResponse r = COFFER__AGENT__V1__STATS_CONTAINER_RESPONSE__INIT;
  Coffer__Agent__V1__CpuStats cpu = COFFER__AGENT__V1__CPU_STATS__INIT;
  Coffer__Agent__V1__MemoryStats mem = COFFER__AGENT__V1__MEMORY_STATS__INIT;
  Coffer__Agent__V1__MemoryEntry usage, swap, kernel, kernel_tcp;
  Coffer__Agent__V1__PidsStats pids = COFFER__AGENT__V1__PIDS_STATS__INIT;
  Coffer__Agent__V1__BlkioStats blkio = COFFER__AGENT__V1__BLKIO_STATS__INIT;
  r.cgroup_version = cgroup_version;
  r.oom_kills = oom_kills;

  cpu.usage_total_ns = s->cpu.total_ns;
  cpu.usage_user_ns = s->cpu.user_ns;
  cpu.usage_kernel_ns = s->cpu.kernel_ns;
  cpu.percpu_usage_ns = s->cpu.percpu_ns;
  cpu.n_percpu_usage_ns = s->cpu.n_percpu;
  cpu.throttling_periods = s->cpu.throttling_periods;
  cpu.throttled_periods = s->cpu.throttled_periods;
  cpu.throttled_time_ns = s->cpu.throttled_time_ns;
  r.cpu = &cpu;

  mem_entry(&usage, &s->memory.usage);
  mem_entry(&swap, &s->memory.swap);
  mem_entry(&kernel, &s->memory.kernel);
  mem_entry(&kernel_tcp, &s->memory.kernel_tcp);
  mem.cache = s->memory.cache;
  mem.usage = &usage;
  mem.swap = &swap;
  mem.kernel = &kernel;
  mem.kernel_tcp = &kernel_tcp;
  mem.use_hierarchy = s->memory.use_hierarchy;
  size_t nkv = s->memory.n_stat;
  _cleanup_free_ Coffer__Agent__V1__MemoryStats__StatsEntry *kv = nkv ? calloc(nkv, sizeof(*kv)) : NULL;
  _cleanup_free_ Coffer__Agent__V1__MemoryStats__StatsEntry **kvp = nkv ? calloc(nkv, sizeof(*kvp)) : NULL;
  for (size_t i = 0; kv && kvp && i < nkv; i++) {
    coffer__agent__v1__memory_stats__stats_entry__init(&kv[i]);
    kv[i].key = s->memory.stat[i].key;
    kv[i].value = s->memory.stat[i].value;
    kvp[i] = &kv[i];
  }
  mem.stats = kvp;
  mem.n_stats = kv && kvp ? nkv : 0;
  r.memory = &mem;

  pids.current = s->pids.current;
  pids.limit = s->pids.limit;
  r.pids = &pids;

  _cleanup_free_ BlkioEntry **sb = blkio_list(s->blkio.service_bytes, s->blkio.n_service_bytes);
  _cleanup_free_ BlkioEntry **sv = blkio_list(s->blkio.serviced, s->blkio.n_serviced);
  blkio.io_service_bytes_recursive = sb;
  blkio.n_io_service_bytes_recursive = sb ? s->blkio.n_service_bytes : 0;
  blkio.io_serviced_recursive = sv;
  blkio.n_io_serviced_recursive = sv ? s->blkio.n_serviced : 0;
  r.blkio = &blkio;

  size_t nh = s->n_hugetlb, nn = s->n_network;
  _cleanup_free_ Coffer__Agent__V1__HugetlbStats *h = nh ? calloc(nh, sizeof(*h)) : NULL;
  _cleanup_free_ Coffer__Agent__V1__HugetlbStats **hp = nh ? calloc(nh, sizeof(*hp)) : NULL;
  for (size_t i = 0; h && hp && i < nh; i++) {
    coffer__agent__v1__hugetlb_stats__init(&h[i]);
    h[i].pagesize = (char *)s->hugetlb[i].pagesize;
    h[i].usage = s->hugetlb[i].usage;
    h[i].max = s->hugetlb[i].max;
    h[i].failcnt = s->hugetlb[i].failcnt;
    hp[i] = &h[i];
  }
  r.hugetlb = hp;
  r.n_hugetlb = h && hp ? nh : 0;
  _cleanup_free_ Coffer__Agent__V1__NetworkStats *n = nn ? calloc(nn, sizeof(*n)) : NULL;
  _cleanup_free_ Coffer__Agent__V1__NetworkStats **np = nn ? calloc(nn, sizeof(*np)) : NULL;
  for (size_t i = 0; n && np && i < nn; i++) {
    const oci_net_stats *o = &s->network[i];
    coffer__agent__v1__network_stats__init(&n[i]);
    n[i].name = (char *)o->name;
    n[i].rx_bytes = o->rx_bytes;
    n[i].rx_packets = o->rx_packets;
    n[i].rx_errors = o->rx_errors;
    n[i].rx_dropped = o->rx_dropped;
    n[i].tx_bytes = o->tx_bytes;
    n[i].tx_packets = o->tx_packets;
    n[i].tx_errors = o->tx_errors;
    n[i].tx_dropped = o->tx_dropped;
    np[i] = &n[i];
  }
  r.network = np;
  r.n_network = n && np ? nn : 0;
  ttrpc_call_reply(call, &r.base);
}
