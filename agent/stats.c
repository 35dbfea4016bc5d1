/* `runc events --stats` JSON (runc's types.Stats) → StatsContainerResponse. */
#include "agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

static json_object *get(json_object *o, const char *k) {
  json_object *v;
  return o && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static uint64_t u64(json_object *o, const char *k) {
  json_object *v = get(o, k);
  if (!v)
    return 0;
  if (json_object_is_type(v, json_type_int))
    return json_object_get_uint64(v);
  if (json_object_is_type(v, json_type_double)) {
    double d = json_object_get_double(v);
    return d > 0 ? (uint64_t)d : 0;
  }
  return 0;
}

static Coffer__Agent__V1__MemoryEntry *mem_entry(json_object *o) {
  Coffer__Agent__V1__MemoryEntry *e = malloc(sizeof(*e));
  if (!e)
    return NULL;
  coffer__agent__v1__memory_entry__init(e);
  e->usage = u64(o, "usage");
  e->max = u64(o, "max");
  e->limit = u64(o, "limit");
  e->failcnt = u64(o, "failcnt");
  return e;
}

static void blkio_list(json_object *arr, Coffer__Agent__V1__BlkioEntry ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!arr || !json_object_is_type(arr, json_type_array))
    return;
  size_t len = json_object_array_length(arr);
  if (!len || !(*out = calloc(len, sizeof(**out))))
    return;
  for (size_t i = 0; i < len; i++) {
    json_object *o = json_object_array_get_idx(arr, i);
    Coffer__Agent__V1__BlkioEntry *e = malloc(sizeof(*e));
    if (!e)
      break;
    coffer__agent__v1__blkio_entry__init(e);
    e->major = u64(o, "major");
    e->minor = u64(o, "minor");
    json_object *op = get(o, "op");
    e->op = strdup(op ? json_object_get_string(op) : "");
    e->value = u64(o, "value");
    (*out)[(*n)++] = e;
  }
}

int stats_parse(const char *json, size_t len, Coffer__Agent__V1__StatsContainerResponse **out,
                cf_error *err) {
  json_tokener *tok = json_tokener_new();
  json_object *root = tok ? json_tokener_parse_ex(tok, json, (int)len) : NULL;
  if (tok)
    json_tokener_free(tok);
  json_object *data = get(root, "data");
  if (!data) {
    if (root)
      json_object_put(root);
    return cf_err_status(err, CF_INTERNAL, "runc events --stats gave no data");
  }
  Coffer__Agent__V1__StatsContainerResponse *r = calloc(1, sizeof(*r));
  if (!r) {
    json_object_put(root);
    return cf_err(err, ENOMEM, "stats");
  }
  coffer__agent__v1__stats_container_response__init(r);

  json_object *cpu = get(data, "cpu"), *usage = get(cpu, "usage"), *thr = get(cpu, "throttling");
  if ((r->cpu = malloc(sizeof(*r->cpu)))) {
    coffer__agent__v1__cpu_stats__init(r->cpu);
    r->cpu->usage_total_ns = u64(usage, "total");
    r->cpu->usage_user_ns = u64(usage, "user");
    r->cpu->usage_kernel_ns = u64(usage, "kernel");
    json_object *per = get(usage, "percpu");
    if (per && json_object_is_type(per, json_type_array) && json_object_array_length(per)) {
      size_t n = json_object_array_length(per);
      if ((r->cpu->percpu_usage_ns = calloc(n, sizeof(uint64_t)))) {
        for (size_t i = 0; i < n; i++)
          r->cpu->percpu_usage_ns[i] = json_object_get_uint64(json_object_array_get_idx(per, i));
        r->cpu->n_percpu_usage_ns = n;
      }
    }
    r->cpu->throttling_periods = u64(thr, "periods");
    r->cpu->throttled_periods = u64(thr, "throttled_periods");
    r->cpu->throttled_time_ns = u64(thr, "throttled_time");
  }

  json_object *mem = get(data, "memory");
  if ((r->memory = malloc(sizeof(*r->memory)))) {
    coffer__agent__v1__memory_stats__init(r->memory);
    r->memory->cache = u64(mem, "cache");
    r->memory->usage = mem_entry(get(mem, "usage"));
    r->memory->swap = mem_entry(get(mem, "swap"));
    r->memory->kernel = mem_entry(get(mem, "kernel"));
    r->memory->kernel_tcp = mem_entry(get(mem, "kernelTCP"));
    json_object *use_h = get(mem, "use_hierarchy");
    r->memory->use_hierarchy = use_h && json_object_get_boolean(use_h);
    json_object *raw = get(mem, "raw");
    if (raw && json_object_is_type(raw, json_type_object)) {
      size_t n = (size_t)json_object_object_length(raw), i = 0;
      r->memory->stats = n ? calloc(n, sizeof(*r->memory->stats)) : NULL;
      json_object_object_foreach(raw, k, v) {
        if (!r->memory->stats || i >= n)
          break;
        Coffer__Agent__V1__MemoryStats__StatsEntry *e = malloc(sizeof(*e));
        if (!e)
          break;
        coffer__agent__v1__memory_stats__stats_entry__init(e);
        e->key = strdup(k);
        e->value = json_object_get_uint64(v);
        r->memory->stats[i++] = e;
      }
      r->memory->n_stats = i;
    }
  }

  json_object *pids = get(data, "pids");
  if ((r->pids = malloc(sizeof(*r->pids)))) {
    coffer__agent__v1__pids_stats__init(r->pids);
    r->pids->current = u64(pids, "current");
    r->pids->limit = u64(pids, "limit");
  }

  json_object *blkio = get(data, "blkio");
  if ((r->blkio = malloc(sizeof(*r->blkio)))) {
    coffer__agent__v1__blkio_stats__init(r->blkio);
    blkio_list(get(blkio, "ioServiceBytesRecursive"), &r->blkio->io_service_bytes_recursive,
               &r->blkio->n_io_service_bytes_recursive);
    blkio_list(get(blkio, "ioServicedRecursive"), &r->blkio->io_serviced_recursive,
               &r->blkio->n_io_serviced_recursive);
  }

  json_object *huge = get(data, "hugetlb");
  if (huge && json_object_is_type(huge, json_type_object) && json_object_object_length(huge)) {
    size_t n = (size_t)json_object_object_length(huge), i = 0;
    if ((r->hugetlb = calloc(n, sizeof(*r->hugetlb)))) {
      json_object_object_foreach(huge, k, v) {
        Coffer__Agent__V1__HugetlbStats *h = i < n ? malloc(sizeof(*h)) : NULL;
        if (!h)
          break;
        coffer__agent__v1__hugetlb_stats__init(h);
        h->pagesize = strdup(k);
        h->usage = u64(v, "usage");
        h->max = u64(v, "max");
        h->failcnt = u64(v, "failcnt");
        r->hugetlb[i++] = h;
      }
      r->n_hugetlb = i;
    }
  }

  json_object *net = get(data, "network_interfaces");
  if (net && json_object_is_type(net, json_type_array) && json_object_array_length(net)) {
    size_t n = json_object_array_length(net);
    if ((r->network = calloc(n, sizeof(*r->network)))) {
      for (size_t i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(net, i);
        Coffer__Agent__V1__NetworkStats *s = malloc(sizeof(*s));
        if (!s)
          break;
        coffer__agent__v1__network_stats__init(s);
        json_object *name = get(o, "name");
        s->name = strdup(name ? json_object_get_string(name) : "");
        s->rx_bytes = u64(o, "rx_bytes");
        s->rx_packets = u64(o, "rx_packets");
        s->rx_errors = u64(o, "rx_errors");
        s->rx_dropped = u64(o, "rx_dropped");
        s->tx_bytes = u64(o, "tx_bytes");
        s->tx_packets = u64(o, "tx_packets");
        s->tx_errors = u64(o, "tx_errors");
        s->tx_dropped = u64(o, "tx_dropped");
        r->network[r->n_network++] = s;
      }
    }
  }
  json_object_put(root);
  *out = r;
  return 0;
}

static void free_blkio(Coffer__Agent__V1__BlkioEntry **e, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(e[i]->op);
    free(e[i]);
  }
  free(e);
}

void stats_free(Coffer__Agent__V1__StatsContainerResponse *r) {
  if (!r)
    return;
  if (r->cpu)
    free(r->cpu->percpu_usage_ns);
  free(r->cpu);
  if (r->memory) {
    free(r->memory->usage);
    free(r->memory->swap);
    free(r->memory->kernel);
    free(r->memory->kernel_tcp);
    for (size_t i = 0; i < r->memory->n_stats; i++) {
      free(r->memory->stats[i]->key);
      free(r->memory->stats[i]);
    }
    free(r->memory->stats);
  }
  free(r->memory);
  free(r->pids);
  if (r->blkio) {
    free_blkio(r->blkio->io_service_bytes_recursive, r->blkio->n_io_service_bytes_recursive);
    free_blkio(r->blkio->io_serviced_recursive, r->blkio->n_io_serviced_recursive);
  }
  free(r->blkio);
  for (size_t i = 0; i < r->n_hugetlb; i++) {
    free(r->hugetlb[i]->pagesize);
    free(r->hugetlb[i]);
  }
  free(r->hugetlb);
  for (size_t i = 0; i < r->n_network; i++) {
    free(r->network[i]->name);
    free(r->network[i]);
  }
  free(r->network);
  free(r);
}
