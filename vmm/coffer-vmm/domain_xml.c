/* Domain XML per profile:
 *   plain:   microvm (or q35), direct kernel boot of a PVH vmlinux, ACPI on
 *            (the Debian cloud kernel lacks VIRTIO_MMIO_CMDLINE_DEVICES, so
 *            microvm must describe its virtio-mmio devices in ACPI), agent
 *            channel on virtio-serial, virtiofs with memfd shared memory.
 *            microvm + virtiofs needs modern virtio-mmio, which libvirt 9.0
 *            cannot express: a <qemu:commandline> -global does it.
 *   sev-snp: q35, KVM, OVMF (AMDSEV build) as a stateless ROM, kernel hashes
 *            measured, hostData = init-data SHA-256; locked memory, no
 *            balloon, no shared filesystem, virtio through the IOMMU
 *            platform (bounce buffers in shared memory).
 *   tdx:     q35, KVM, TDVF, split IRQ chip, mrConfigId = init-data SHA-384,
 *            quote generation service socket; same restrictions.
 * Every device's end is `destroy`: a pod VM never reboots, and a transient
 * domain that stops disappears, which is how its end is observed. */
#include "domain_xml.h"

#include <errno.h>
#include <stdint.h>
#include <libxml/xmlwriter.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/cleanup.h"

typedef struct xw {
  xmlTextWriterPtr w;
  int rc; /* first negative libxml2 return, sticky */
} xw;

static void chk(xw *x, int r) {
  if (r < 0 && x->rc >= 0)
    x->rc = r;
}
static void start(xw *x, const char *name) { chk(x, xmlTextWriterStartElement(x->w, BAD_CAST name)); }
static void end(xw *x) { chk(x, xmlTextWriterEndElement(x->w)); }
static void attr(xw *x, const char *k, const char *v) {
  chk(x, xmlTextWriterWriteAttribute(x->w, BAD_CAST k, BAD_CAST v));
}
static void text(xw *x, const char *v) { chk(x, xmlTextWriterWriteString(x->w, BAD_CAST v)); }
/* <name>value</name> */
static void elem(xw *x, const char *name, const char *v) {
  start(x, name);
  text(x, v);
  end(x);
}
static void elemf(xw *x, const char *name, unsigned long long v) {
  chk(x, xmlTextWriterWriteFormatElement(x->w, BAD_CAST name, "%llu", v));
}
/* <name k=v/> */
static void empty1(xw *x, const char *name, const char *k, const char *v) {
  start(x, name);
  if (k)
    attr(x, k, v);
  end(x);
}

static bool microvm(const vm_spec *s) { return !strcmp(s->machine, "microvm"); }

static void mmio_address(xw *x, const vm_spec *s) {
  if (microvm(s))
    empty1(x, "address", "type", "virtio-mmio");
}

/* TEE guests can only DMA through shared (unencrypted) bounce buffers. */
static void iommu_driver(xw *x, const vm_spec *s) {
  if (vm_spec_is_tee(s))
    empty1(x, "driver", "iommu", "on");
}

static int hex_to_bytes(const char *hex, unsigned char *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char b[3] = {hex[2 * i], hex[2 * i + 1], 0};
    char *end;
    long v = strtol(b, &end, 16);
    if (*end)
      return -EINVAL;
    out[i] = (unsigned char)v;
  }
  return 0;
}

static void base64_elem(xw *x, const char *name, const char *hex, size_t nbytes) {
  unsigned char buf[64];
  if (hex_to_bytes(hex, buf, nbytes) < 0) {
    chk(x, -EINVAL);
    return;
  }
  start(x, name);
  chk(x, xmlTextWriterWriteBase64(x->w, (const char *)buf, 0, (int)nbytes));
  end(x);
}

static void write_os(xw *x, const vm_spec *s) {
  start(x, "os");
  start(x, "type");
  attr(x, "arch", "x86_64");
  attr(x, "machine", s->machine);
  text(x, "hvm");
  end(x);
  if (vm_spec_is_tee(s)) {
    /* SNP/TDX firmware is measured as a ROM; there is no varstore. */
    start(x, "loader");
    attr(x, "type", "rom");
    attr(x, "readonly", "yes");
    attr(x, "stateless", "yes");
    text(x, s->firmware);
    end(x);
  } else if (s->firmware[0]) {
    elem(x, "loader", s->firmware);
  }
  elem(x, "kernel", s->kernel);
  if (s->initrd[0])
    elem(x, "initrd", s->initrd);
  if (s->cmdline[0])
    elem(x, "cmdline", s->cmdline);
  end(x);
}

static void write_launch_security(xw *x, const vm_spec *s) {
  if (!strcmp(s->profile, "sev-snp")) {
    start(x, "launchSecurity");
    attr(x, "type", "sev-snp");
    attr(x, "kernelHashes", "yes");
    elemf(x, "cbitpos", s->snp_cbitpos);
    elemf(x, "reducedPhysBits", s->snp_reduced_phys_bits);
    elem(x, "policy", s->snp_policy);
    if (s->init_data_sha256[0])
      base64_elem(x, "hostData", s->init_data_sha256, 32);
    end(x);
  } else if (!strcmp(s->profile, "tdx")) {
    start(x, "launchSecurity");
    attr(x, "type", "tdx");
    elem(x, "policy", s->tdx_policy);
    if (s->init_data_sha384[0])
      base64_elem(x, "mrConfigId", s->init_data_sha384, 48);
    if (s->tdx_qgs_socket[0])
      empty1(x, "quoteGenerationService", "path", s->tdx_qgs_socket);
    end(x);
  }
}

/* A virtio-serial port whose host side QEMU binds as a unix socket. */
static void write_channel(xw *x, const char *path, const char *name) {
  start(x, "channel");
  attr(x, "type", "unix");
  start(x, "source");
  attr(x, "mode", "bind");
  attr(x, "path", path);
  end(x);
  start(x, "target");
  attr(x, "type", "virtio");
  attr(x, "name", name);
  end(x);
  end(x);
}

domain_xml_host domain_xml_host_probe(void) {
  return (domain_xml_host){.vhost_net = access("/dev/vhost-net", R_OK | W_OK) == 0};
}

static void write_devices(xw *x, const vm_spec *s, const domain_xml_host *host) {
  start(x, "devices");
  if (s->emulator[0])
    elem(x, "emulator", s->emulator);
  /* libvirt adds a USB controller by default; microvm has no bus for it. */
  start(x, "controller");
  attr(x, "type", "usb");
  attr(x, "model", "none");
  end(x);

  if (s->agent_socket[0] || s->relay_socket[0]) {
    start(x, "controller");
    attr(x, "type", "virtio-serial");
    attr(x, "index", "0");
    /* only the ports in use (port 0 is reserved) instead of QEMU's 31:
     * ~2.5 MB less guest RAM */
    attr(x, "ports", s->agent_socket[0] && s->relay_socket[0] ? "3" : "2");
    iommu_driver(x, s);
    mmio_address(x, s);
    end(x);
  }
  if (s->agent_socket[0])
    write_channel(x, s->agent_socket, "agent.0");
  if (s->relay_socket[0])
    write_channel(x, s->relay_socket, "relay.0");

  if (s->share_dir[0]) {
    start(x, "filesystem");
    attr(x, "type", "mount");
    attr(x, "accessmode", "passthrough");
    empty1(x, "driver", "type", "virtiofs");
    empty1(x, "binary", "path", s->virtiofsd);
    empty1(x, "source", "dir", s->share_dir);
    empty1(x, "target", "dir", "coffer");
    mmio_address(x, s);
    end(x);
  }

  for (unsigned i = 0; i < s->ndisks; i++) {
    const vm_disk *d = &s->disks[i];
    char dev[16];
    snprintf(dev, sizeof(dev), "vd%c", 'a' + i);
    start(x, "disk");
    attr(x, "type", "file");
    attr(x, "device", "disk");
    start(x, "driver");
    attr(x, "name", "qemu");
    attr(x, "type", "raw");
    if (vm_spec_is_tee(s))
      attr(x, "iommu", "on");
    end(x);
    empty1(x, "source", "file", d->path);
    start(x, "target");
    attr(x, "dev", dev);
    attr(x, "bus", "virtio");
    end(x);
    if (d->readonly)
      empty1(x, "readonly", NULL, NULL);
    elem(x, "serial", d->serial);
    mmio_address(x, s);
    end(x);
  }

  /* Pod NICs: taps coffer created (managed='no': libvirt neither creates
   * nor deletes them); vhost (the kernel moves the packets, no QEMU thread
   * per packet) where the host has /dev/vhost-net, else QEMU's backend. */
  for (unsigned i = 0; i < s->nnics; i++) {
    const vm_nic *n = &s->nics[i];
    start(x, "interface");
    attr(x, "type", "ethernet");
    empty1(x, "mac", "address", n->mac);
    start(x, "target");
    attr(x, "dev", n->tap);
    attr(x, "managed", "no");
    end(x);
    empty1(x, "model", "type", "virtio");
    start(x, "driver");
    attr(x, "name", host->vhost_net ? "vhost" : "qemu");
    attr(x, "queues", "1");
    if (vm_spec_is_tee(s))
      attr(x, "iommu", "on");
    end(x);
    if (n->mtu) {
      char mtu[16];
      snprintf(mtu, sizeof(mtu), "%u", n->mtu);
      empty1(x, "mtu", "size", mtu);
    }
    mmio_address(x, s);
    end(x);
  }

  /* The guest's serial console goes to a file the shim tails into its log. */
  start(x, "serial");
  attr(x, "type", "file");
  start(x, "source");
  attr(x, "path", s->console_log);
  attr(x, "append", "on");
  end(x);
  empty1(x, "target", "port", "0");
  end(x);

  if (s->vsock_cid >= 0) {
    start(x, "vsock");
    attr(x, "model", "virtio");
    start(x, "cid");
    if (s->vsock_cid == 0) {
      attr(x, "auto", "yes");
    } else {
      char cid[24];
      snprintf(cid, sizeof(cid), "%lld", (long long)s->vsock_cid);
      attr(x, "auto", "no");
      attr(x, "address", cid);
    }
    end(x);
    iommu_driver(x, s);
    mmio_address(x, s);
    end(x);
  }

  empty1(x, "memballoon", "model", "none");
  end(x);
}

/* KVM: the host's CPU. TCG: qemu64 raised to x86-64-v2 (what distro images
 * are built for) plus rdrand, which seeds the guest's random pool at boot.
 * Not "maximum": its newer features make the guest slower under TCG
 * (measurements in vmm/libvirt/README.md). */
static void write_cpu(xw *x, const vm_spec *s) {
  if (!strcmp(s->accel, "kvm")) {
    empty1(x, "cpu", "mode", "host-passthrough");
    return;
  }
  static const char *const v2[] = {"cx16", "lahf_lm", "popcnt", "sse4.1", "sse4.2", "ssse3", "rdrand"};
  start(x, "cpu");
  attr(x, "mode", "custom");
  attr(x, "match", "exact");
  attr(x, "check", "none");
  start(x, "model");
  attr(x, "fallback", "forbid");
  text(x, "qemu64");
  end(x);
  for (size_t i = 0; i < sizeof(v2) / sizeof(v2[0]); i++) {
    start(x, "feature");
    attr(x, "policy", "require");
    attr(x, "name", v2[i]);
    end(x);
  }
  end(x);
}

/* Length of the UTF-8 sequence at p if it encodes an XML 1.0 Char, else 0.
 * Strict on purpose: libxml2's own check lets through lead bytes past
 * U+10FFFF, which its parser then refuses, so libvirt would reject the XML. */
static size_t xml_char_len(const unsigned char *p) {
  if (p[0] < 0x80)
    return (p[0] >= 0x20 && p[0] != 0x7f) || p[0] == '\n' || p[0] == '\t' ? 1 : 0;
  size_t n;
  uint32_t c;
  if (p[0] >= 0xc2 && p[0] <= 0xdf)
    n = 2, c = p[0] & 0x1f;
  else if (p[0] >= 0xe0 && p[0] <= 0xef)
    n = 3, c = p[0] & 0x0f;
  else if (p[0] >= 0xf0 && p[0] <= 0xf4)
    n = 4, c = p[0] & 0x07;
  else
    return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (p[i] & 0x3f);
  }
  static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff) || c == 0xfffe || c == 0xffff)
    return 0;
  return n;
}

/* Strings must be UTF-8 made of XML characters, without control characters
 * other than \t and \n (those the writer escapes); anything else is refused,
 * not mangled. */
static int check_text(const char *what, const char *v, cf_error *err) {
  const unsigned char *p = (const unsigned char *)v;
  for (size_t off = 0; p[off];) {
    size_t n = xml_char_len(p + off);
    if (!n)
      return cf_err_status(err, CF_INVALID_ARGUMENT,
                           "%s has byte 0x%02x at offset %zu that is a control character or not "
                           "valid UTF-8",
                           what, p[off], off);
    off += n;
  }
  return 0;
}

static int check_all_text(const vm_spec *s, cf_error *err) {
  const struct { const char *n, *v; } f[] = {
      {"kernel", s->kernel}, {"initrd", s->initrd}, {"firmware", s->firmware},
      {"cmdline", s->cmdline}, {"state_dir", s->state_dir}, {"console_log", s->console_log},
      {"agent_socket", s->agent_socket}, {"share_dir", s->share_dir},
      {"virtiofsd", s->virtiofsd}, {"emulator", s->emulator},
      {"tdx_qgs_socket", s->tdx_qgs_socket}};
  for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
    if (check_text(f[i].n, f[i].v, err) < 0)
      return -EINVAL;
  for (unsigned i = 0; i < s->ndisks; i++)
    if (check_text("disk path", s->disks[i].path, err) < 0)
      return -EINVAL;
  return 0;
}

char *domain_xml_build(const vm_spec *s, const domain_xml_host *host, cf_error *err) {
  domain_xml_host probed;
  if (!host) {
    probed = domain_xml_host_probe();
    host = &probed;
  }
  char name[160];
  if (vm_spec_domain_name(s->pod_id, name, sizeof(name), err) < 0)
    return NULL;
  if (strcmp(s->accel, "kvm") && strcmp(s->accel, "tcg")) {
    cf_err_status(err, CF_INVALID_ARGUMENT, "accelerator \"%s\" not resolved (kvm|tcg)", s->accel);
    return NULL;
  }
  if (check_all_text(s, err) < 0)
    return NULL;
  xmlBufferPtr buf = xmlBufferCreate();
  if (!buf) {
    cf_err(err, ENOMEM, "domain XML");
    return NULL;
  }
  xw x = {.w = xmlNewTextWriterMemory(buf, 0), .rc = 0};
  if (!x.w) {
    xmlBufferFree(buf);
    cf_err(err, ENOMEM, "domain XML writer");
    return NULL;
  }
  chk(&x, xmlTextWriterSetIndent(x.w, 1));
  chk(&x, xmlTextWriterSetIndentString(x.w, BAD_CAST "  "));
  bool tee = vm_spec_is_tee(s);
  bool qemu_ns = microvm(s) && s->share_dir[0];

  start(&x, "domain");
  attr(&x, "type", !strcmp(s->accel, "kvm") ? "kvm" : "qemu");
  if (qemu_ns)
    chk(&x, xmlTextWriterWriteAttribute(x.w, BAD_CAST "xmlns:qemu",
                                        BAD_CAST "http://libvirt.org/schemas/domain/qemu/1.0"));
  elem(&x, "name", name);
  /* Tags the domain as coffer's and records what cleanup needs. */
  start(&x, "metadata");
  chk(&x, xmlTextWriterStartElementNS(x.w, BAD_CAST "coffer", BAD_CAST "pod", BAD_CAST COFFER_XML_NS));
  attr(&x, "id", s->pod_id);
  attr(&x, "profile", s->profile);
  attr(&x, "state_dir", s->state_dir);
  end(&x);
  end(&x);
  start(&x, "memory");
  attr(&x, "unit", "MiB");
  chk(&x, xmlTextWriterWriteFormatString(x.w, "%llu", (unsigned long long)s->memory_mib));
  end(&x);
  start(&x, "vcpu");
  attr(&x, "placement", "static");
  chk(&x, xmlTextWriterWriteFormatString(x.w, "%u", s->vcpus));
  end(&x);
  if (s->share_dir[0] || tee) {
    start(&x, "memoryBacking");
    if (s->share_dir[0]) { /* virtiofsd maps guest memory */
      empty1(&x, "source", "type", "memfd");
      empty1(&x, "access", "mode", "shared");
    }
    if (tee) /* fixed at launch: pinned, never ballooned or swapped */
      empty1(&x, "locked", NULL, NULL);
    end(&x);
  }
  write_os(&x, s);
  start(&x, "features");
  empty1(&x, "acpi", NULL, NULL);
  if (!strcmp(s->profile, "tdx"))
    empty1(&x, "ioapic", "driver", "qemu");
  if (!strcmp(s->accel, "tcg")) {
    /* QEMU's default 1 GiB translation cache costs ~40 MB RSS per VM; the
     * spec's size is the shim's choice (VM_TCG_CACHE_MIB in spec.h). */
    start(&x, "tcg");
    start(&x, "tb-cache");
    attr(&x, "unit", "MiB");
    chk(&x, xmlTextWriterWriteFormatString(x.w, "%u", s->tcg_cache_mib));
    end(&x);
    end(&x);
  }
  end(&x);
  write_cpu(&x, s);
  empty1(&x, "clock", "offset", "utc");
  elem(&x, "on_poweroff", "destroy");
  elem(&x, "on_reboot", "destroy");
  elem(&x, "on_crash", "destroy");
  write_devices(&x, s, host);
  write_launch_security(&x, s);
  if (qemu_ns) {
    chk(&x, xmlTextWriterStartElement(x.w, BAD_CAST "qemu:commandline"));
    empty1(&x, "qemu:arg", "value", "-global");
    empty1(&x, "qemu:arg", "value", "virtio-mmio.force-legacy=false");
    end(&x);
  }
  end(&x);
  chk(&x, xmlTextWriterEndDocument(x.w));
  xmlFreeTextWriter(x.w);
  if (x.rc < 0) {
    xmlBufferFree(buf);
    cf_err_status(err, CF_INTERNAL, "building domain XML for pod %s failed", s->pod_id);
    return NULL;
  }
  char *out = strdup((const char *)xmlBufferContent(buf));
  xmlBufferFree(buf);
  if (!out)
    cf_err(err, ENOMEM, "domain XML");
  return out;
}
