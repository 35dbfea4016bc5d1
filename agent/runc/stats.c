/* `runc events --stats` JSON (runc's types.Stats) → oci_stats. */

#include "runc.h"

#include <errno.h>
#include <stdio.h>
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

static const char *str(json_object *o, const char *k) {
  json_object *v = get(o, k);
  return v ? json_object_get_string(v) : "";
}

static size_t array_len(json_object *a) {
  return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

static size_t object_len(json_object *o) {
  return o && json_object_is_type(o, json_type_object) ? (size_t)json_object_object_length(o) : 0;
}

static oci_mem_entry mem_entry(json_object *o) {
  return (oci_mem_entry){.usage = u64(o, "usage"), .max = u64(o, "max"),
                         .limit = u64(o, "limit"), .failcnt = u64(o, "failcnt")};
}

static int blkio_list(json_object *arr, oci_blkio_entry **out, size_t *n) {
  size_t len = array_len(arr);
  if (!len)
    return 0;
  if (!(*out = calloc(len, sizeof(**out))))
    return -ENOMEM;
  for (size_t i = 0; i < len; i++) {
    json_object *o = json_object_array_get_idx(arr, i);
    oci_blkio_entry *e = &(*out)[i];
    e->major = u64(o, "major");
    e->minor = u64(o, "minor");
    snprintf(e->op, sizeof(e->op), "%s", str(o, "op"));
    e->value = u64(o, "value");
  }
  *n = len;
  return 0;
}

static int parse_cpu(json_object *cpu, oci_stats *st) {
  json_object *usage = get(cpu, "usage"), *thr = get(cpu, "throttling");
  st->cpu.total_ns = u64(usage, "total");
  st->cpu.user_ns = u64(usage, "user");
  st->cpu.kernel_ns = u64(usage, "kernel");
  st->cpu.throttling_periods = u64(thr, "periods");
  st->cpu.throttled_periods = u64(thr, "throttled_periods");
  st->cpu.throttled_time_ns = u64(thr, "throttled_time");
  json_object *per = get(usage, "percpu");
  size_t n = array_len(per);
  if (!n)
    return 0;
  if (!(st->cpu.percpu_ns = calloc(n, sizeof(uint64_t))))
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    st->cpu.percpu_ns[i] = json_object_get_uint64(json_object_array_get_idx(per, i));
  st->cpu.n_percpu = n;
  return 0;
}

static int parse_memory(json_object *mem, oci_stats *st) {
  st->memory.cache = u64(mem, "cache");
  st->memory.usage = mem_entry(get(mem, "usage"));
  st->memory.swap = mem_entry(get(mem, "swap"));
  st->memory.kernel = mem_entry(get(mem, "kernel"));
  st->memory.kernel_tcp = mem_entry(get(mem, "kernelTCP"));
  json_object *use_h = get(mem, "use_hierarchy");
  st->memory.use_hierarchy = use_h && json_object_get_boolean(use_h);
  json_object *raw = get(mem, "raw");
  size_t n = object_len(raw);
  if (!n)
    return 0;
  if (!(st->memory.stat = calloc(n, sizeof(*st->memory.stat))))
    return -ENOMEM;
  json_object_object_foreach(raw, k, v) {
    if (st->memory.n_stat == n)
      break;
    oci_stat_kv *e = &st->memory.stat[st->memory.n_stat];
    if (!(e->key = strdup(k)))
      return -ENOMEM;
    e->value = json_object_get_uint64(v);
    st->memory.n_stat++;
  }
  return 0;
}

static int parse_hugetlb(json_object *huge, oci_stats *st) {
  size_t n = object_len(huge);
  if (!n)
    return 0;
  if (!(st->hugetlb = calloc(n, sizeof(*st->hugetlb))))
    return -ENOMEM;
  json_object_object_foreach(huge, k, v) {
    if (st->n_hugetlb == n)
      break;
    oci_hugetlb_stats *h = &st->hugetlb[st->n_hugetlb++];
    snprintf(h->pagesize, sizeof(h->pagesize), "%s", k);
    h->usage = u64(v, "usage");
    h->max = u64(v, "max");
    h->failcnt = u64(v, "failcnt");
  }
  return 0;
}

static int parse_network(json_object *net, oci_stats *st) {
  size_t n = array_len(net);
  if (!n)
    return 0;
  if (!(st->network = calloc(n, sizeof(*st->network))))
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    json_object *o = json_object_array_get_idx(net, i);
    oci_net_stats *s = &st->network[i];
    snprintf(s->name, sizeof(s->name), "%s", str(o, "name"));
    s->rx_bytes = u64(o, "rx_bytes");
    s->rx_packets = u64(o, "rx_packets");
    s->rx_errors = u64(o, "rx_errors");
    s->rx_dropped = u64(o, "rx_dropped");
    s->tx_bytes = u64(o, "tx_bytes");
    s->tx_packets = u64(o, "tx_packets");
    s->tx_errors = u64(o, "tx_errors");
    s->tx_dropped = u64(o, "tx_dropped");
  }
  st->n_network = n;
  return 0;
}

int runc_stats_parse(const char *json, size_t len, oci_stats *out, cf_error *err) {
  *out = (oci_stats){0};
  json_tokener *tok = json_tokener_new();
  json_object *root = tok && json ? json_tokener_parse_ex(tok, json, (int)len) : NULL;
  if (tok)
    json_tokener_free(tok);
  json_object *data = get(root, "data");
  if (!data) {
    if (root)
      json_object_put(root);
    return cf_err_status(err, CF_INTERNAL, "runc events --stats gave no data");
  }
  json_object *blkio = get(data, "blkio");
  int e = parse_cpu(get(data, "cpu"), out);
  if (e == 0)
    e = parse_memory(get(data, "memory"), out);
  out->pids.current = u64(get(data, "pids"), "current");
  out->pids.limit = u64(get(data, "pids"), "limit");
  if (e == 0)
    e = blkio_list(get(blkio, "ioServiceBytesRecursive"), &out->blkio.service_bytes,
                   &out->blkio.n_service_bytes);
  if (e == 0)
    e = blkio_list(get(blkio, "ioServicedRecursive"), &out->blkio.serviced,
                   &out->blkio.n_serviced);
  if (e == 0)
    e = parse_hugetlb(get(data, "hugetlb"), out);
  if (e == 0)
    e = parse_network(get(data, "network_interfaces"), out);
  json_object_put(root);
  if (e == 0)
    return 0;
  oci_stats_free(out);
  return cf_err(err, -e, "runc stats");
}
