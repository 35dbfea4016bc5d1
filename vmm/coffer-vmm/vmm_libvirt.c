#include "vmm_libvirt.h"

#include <errno.h>
#include <json-c/json.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/log.h"
#include "coffer/cleanup.h"
#include "domain_xml.h"

/* libvirt prints every error to stderr by default; we report ours once. */
static void quiet(void *ud, virErrorPtr e) { (void)ud; (void)e; }

static void conn_closep(virConnectPtr *c) { if (*c) virConnectClose(*c); }
static void dom_freep(virDomainPtr *d) { if (*d) virDomainFree(*d); }
#define _cleanup_conn_ _cleanup_(conn_closep)
#define _cleanup_dom_ _cleanup_(dom_freep)

static const char *lv_msg(void) {
  const char *m = virGetLastErrorMessage();
  return m ? m : "unknown libvirt error";
}

static virConnectPtr open_conn(const char *uri, cf_error *err) {
  virSetErrorFunc(NULL, quiet);
  virConnectPtr c = virConnectOpen(uri);
  if (!c)
    cf_err_status(err, CF_UNAVAILABLE, "connect to libvirt at %s: %s (is libvirtd running?)", uri,
                  lv_msg());
  return c;
}

/* QEMU's pid: libvirt has no public call for it; the privileged QEMU driver
 * keeps it in <run dir>/qemu/<name>.pid. Fall back to scanning /proc for the
 * `-name guest=<name>,` argument QEMU is started with. */
static pid_t qemu_pid(const char *name) {
  char path[512];
  snprintf(path, sizeof(path), "/run/libvirt/qemu/%s.pid", name);
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  long pid = 0;
  if (f && fscanf(f, "%ld", &pid) == 1 && pid > 0)
    return (pid_t)pid;
  char needle[300];
  snprintf(needle, sizeof(needle), "guest=%s,", name);
  _cleanup_closedir_ DIR *d = opendir("/proc");
  struct dirent *e;
  while (d && (e = readdir(d))) {
    char *end;
    long p = strtol(e->d_name, &end, 10);
    if (*end || p <= 0)
      continue;
    char cl[64];
    snprintf(cl, sizeof(cl), "/proc/%ld/cmdline", p);
    _cleanup_fclose_ FILE *c = fopen(cl, "re");
    char buf[4096];
    size_t n = c ? fread(buf, 1, sizeof(buf) - 1, c) : 0;
    for (size_t i = 0; i < n; i++)
      if (!buf[i])
        buf[i] = ' ';
    buf[n] = 0;
    if (strstr(buf, needle) && strstr(buf, "qemu-system"))
      return (pid_t)p;
  }
  return 0;
}

/* The CID libvirt assigned (<vsock><cid address=…/>) from the live XML. */
static long long live_vsock_cid(virDomainPtr dom) {
  _cleanup_free_ char *xml = virDomainGetXMLDesc(dom, 0);
  if (!xml)
    return -1;
  xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "live.xml", NULL, XML_PARSE_NONET);
  if (!doc)
    return -1;
  long long cid = -1;
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  xmlXPathObjectPtr o = ctx ? xmlXPathEvalExpression(BAD_CAST "string(/domain/devices/vsock/cid/@address)", ctx) : NULL;
  if (o && o->type == XPATH_STRING && o->stringval && o->stringval[0])
    cid = strtoll((const char *)o->stringval, NULL, 10);
  xmlXPathFreeObject(o);
  xmlXPathFreeContext(ctx);
  xmlFreeDoc(doc);
  return cid;
}

/* libvirt's per-domain QEMU log (privileged driver). */
static void qemu_log_path(const char *name, char *out, size_t cap) {
  snprintf(out, cap, "/var/log/libvirt/qemu/%s.log", name);
}

/* The last non-empty line of the domain's QEMU log: why QEMU refused. */
static void qemu_log_tail(const char *name, char *out, size_t cap) {
  char path[512], line[1024];
  out[0] = 0;
  qemu_log_path(name, path, sizeof(path));
  _cleanup_fclose_ FILE *f = fopen(path, "re");
  while (f && fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\n")] = 0;
    if (line[0] && line[0] != '-' && strncmp(line, "LC_ALL", 6) != 0 && !strstr(line, ": shutting down,") &&
        !strstr(line, "is tainted"))
      snprintf(out, cap, "%s", line);
  }
}

int vmm_create(const char *uri, const char *name, const char *xml, vmm_created *out, cf_error *err) {
  _cleanup_conn_ virConnectPtr c = open_conn(uri, err);
  if (!c)
    return -ENOTCONN;
  _cleanup_dom_ virDomainPtr old = virDomainLookupByName(c, name);
  if (old)
    return cf_err_status(err, CF_ALREADY_EXISTS,
                         "domain %s already exists (a previous VM of this pod; `coffer-vmm destroy --name %s`)",
                         name, name);
  _cleanup_dom_ virDomainPtr dom = virDomainCreateXML(c, xml, VIR_DOMAIN_NONE);
  if (!dom) {
    char msg[600];
    snprintf(msg, sizeof(msg), "%s", lv_msg());
    char tail[300];
    qemu_log_tail(name, tail, sizeof(tail));
    return cf_err_status(err, CF_INTERNAL, "create domain %s: %s%s%s", name, msg,
                         tail[0] ? "; QEMU log: " : "", tail);
  }
  out->pid = qemu_pid(name);
  out->vsock_cid = live_vsock_cid(dom);
  if (out->pid <= 0) {
    virDomainDestroy(dom);
    return cf_err_status(err, CF_INTERNAL, "domain %s started but its QEMU pid is unknown; destroyed it",
                         name);
  }
  return 0;
}

/* The domain is gone: its QEMU log would otherwise pile up, one per pod. */
static void remove_qemu_log(const char *name) {
  char path[512];
  qemu_log_path(name, path, sizeof(path));
  unlink(path);
}

static void pod_metadata(virDomainPtr dom, char **pod, char **state_dir);

int vmm_destroy(const char *uri, const char *name, const char *owner_dir, int *existed,
                cf_error *err) {
  *existed = 0;
  _cleanup_conn_ virConnectPtr c = open_conn(uri, err);
  if (!c)
    return -ENOTCONN;
  _cleanup_dom_ virDomainPtr dom = virDomainLookupByName(c, name);
  if (!dom) {
    remove_qemu_log(name);
    return 0;
  }
  if (owner_dir) {
    /* Pod ids are unique per containerd namespace only: a same-named domain
     * started from another state dir is another pod's VM, never ours to kill.
     * (No readable metadata: a domain on its way out; destroying it is fine.) */
    _cleanup_free_ char *pod = NULL, *sd = NULL;
    pod_metadata(dom, &pod, &sd);
    if (sd && strcmp(sd, owner_dir) != 0) {
      cf_warn("domain %s belongs to state dir %s, not %s: left alone", name, sd, owner_dir);
      return 0;
    }
  }
  *existed = 1;
  if (virDomainDestroy(dom) < 0) {
    virErrorPtr e = virGetLastError();
    /* Gone meanwhile (it powered off or QEMU died): that is success. */
    if (!e || (e->code != VIR_ERR_NO_DOMAIN && e->code != VIR_ERR_OPERATION_INVALID))
      return cf_err_status(err, CF_INTERNAL, "destroy domain %s: %s", name, lv_msg());
  }
  remove_qemu_log(name);
  return 0;
}

/* Reads coffer's <metadata> element: pod id and state dir. */
static void pod_metadata(virDomainPtr dom, char **pod, char **state_dir) {
  *pod = *state_dir = NULL;
  _cleanup_free_ char *md = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, COFFER_XML_NS, 0);
  if (!md)
    return;
  xmlDocPtr doc = xmlReadMemory(md, (int)strlen(md), "md.xml", NULL, XML_PARSE_NONET);
  xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
  if (root) {
    xmlChar *id = xmlGetProp(root, BAD_CAST "id"), *sd = xmlGetProp(root, BAD_CAST "state_dir");
    *pod = id ? strdup((char *)id) : NULL;
    *state_dir = sd ? strdup((char *)sd) : NULL;
    xmlFree(id);
    xmlFree(sd);
  }
  xmlFreeDoc(doc);
}

static const char *state_name(int st) {
  switch (st) {
  case VIR_DOMAIN_RUNNING: return "running";
  case VIR_DOMAIN_PAUSED: return "paused";
  case VIR_DOMAIN_SHUTDOWN: return "shutting-down";
  case VIR_DOMAIN_SHUTOFF: return "shut-off";
  case VIR_DOMAIN_CRASHED: return "crashed";
  default: return "other";
  }
}

int vmm_list(const char *uri, FILE *out, int json, cf_error *err) {
  _cleanup_conn_ virConnectPtr c = open_conn(uri, err);
  if (!c)
    return -ENOTCONN;
  virDomainPtr *doms = NULL;
  int n = virConnectListAllDomains(c, &doms, 0);
  if (n < 0)
    return cf_err_status(err, CF_INTERNAL, "list domains: %s", lv_msg());
  json_object *arr = json ? json_object_new_array() : NULL;
  if (!json)
    fprintf(out, "%-40s %-8s %-8s %-40s %s\n", "NAME", "STATE", "PID", "POD", "STATE_DIR");
  for (int i = 0; i < n; i++) {
    const char *name = virDomainGetName(doms[i]);
    if (name && strncmp(name, "coffer-", 7) == 0) {
      char *pod, *sd;
      pod_metadata(doms[i], &pod, &sd);
      int st = 0, reason = 0;
      virDomainGetState(doms[i], &st, &reason, 0);
      pid_t pid = qemu_pid(name);
      if (json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(name));
        json_object_object_add(o, "state", json_object_new_string(state_name(st)));
        json_object_object_add(o, "pid", json_object_new_int64(pid));
        json_object_object_add(o, "pod_id", json_object_new_string(pod ? pod : ""));
        json_object_object_add(o, "state_dir", json_object_new_string(sd ? sd : ""));
        json_object_array_add(arr, o);
      } else {
        fprintf(out, "%-40s %-8s %-8d %-40s %s\n", name, state_name(st), (int)pid,
                pod ? pod : "-", sd ? sd : "-");
      }
      free(pod);
      free(sd);
    }
    virDomainFree(doms[i]);
  }
  free(doms);
  if (json) {
    fprintf(out, "%s\n", json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(arr);
  }
  return 0;
}
