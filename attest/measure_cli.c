/* coffer-measure: a pod VM's expected launch measurements, offline.
 *
 *   coffer-measure snp --ovmf F --vcpus N (--vcpu-type T | --vcpu-sig V |
 *                  --vcpu-family F --vcpu-model M --vcpu-stepping S)
 *                  [--kernel K [--initrd I] [--append CMDLINE]]
 *                  [--guest-features 0x1] [--vmm-type QEMU|ec2|gce]
 *                  [--snp-ovmf-hash HEX] [--output-format hex|json]
 *   coffer-measure snp-ovmf-hash --ovmf F
 *   coffer-measure tdx --firmware F [--kernel K [--initrd I] [--append C]]
 *                  [--memory MIB] [--two-pass] [--stub-measures]
 *                  [--output-format hex|json]
 *   coffer-measure authenticode --kernel F [--sha256]
 *   coffer-measure reference [snp options] [--tdx-firmware F] [--memory MIB]
 *                  [--vcpu-type T[,T...]] [--output FILE]
 * Flag names for snp are sev-snp-measure's. Exit 0 ok, 1 failure (message
 * on stderr), 2 usage. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/measure.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static void usage(FILE *f) {
  fputs("usage:\n"
        "  coffer-measure snp --ovmf FILE --vcpus N (--vcpu-type TYPE | --vcpu-sig VALUE |\n"
        "                 --vcpu-family F --vcpu-model M --vcpu-stepping S)\n"
        "                 [--kernel FILE [--initrd FILE] [--append CMDLINE]]\n"
        "                 [--guest-features VALUE] [--vmm-type QEMU|ec2|gce]\n"
        "                 [--snp-ovmf-hash HEX] [--output-format hex|json]\n"
        "  coffer-measure snp-ovmf-hash --ovmf FILE\n"
        "  coffer-measure tdx --firmware FILE [--kernel FILE [--initrd FILE] [--append CMDLINE]]\n"
        "                 [--memory MIB] [--two-pass] [--stub-measures]\n"
        "                 [--output-format hex|json]\n"
        "  coffer-measure authenticode --kernel FILE [--sha256]\n"
        "  coffer-measure reference [--ovmf FILE --vcpus N --vcpu-type T[,T...] [--guest-features V]]\n"
        "                 [--tdx-firmware FILE [--memory MIB]] [--kernel FILE [--initrd FILE]\n"
        "                 [--append CMDLINE]] [--output FILE]\n"
        "Digests are SHA-384 (96 hex digits). Exit 0 ok, 1 failure, 2 usage.\n",
        f);
}

typedef struct opts {
  const char *ovmf, *kernel, *initrd, *append, *vcpu_type, *snp_ovmf_hash, *format, *output,
      *tdx_firmware;
  unsigned vcpus;
  bool have_sig, have_fms, two_pass, stub_initrd, sha256;
  uint32_t vcpu_sig;
  unsigned family, model, stepping;
  uint64_t features, memory_mib;
  enum cf_snp_vmm vmm;
} opts;

enum { O_OVMF = 1, O_VCPUS, O_TYPE, O_SIG, O_FAM, O_MODEL, O_STEP, O_KERNEL, O_INITRD, O_APPEND,
       O_FEAT, O_VMM, O_HASH, O_FORMAT, O_MEMORY, O_TWO_PASS, O_STUB, O_OUTPUT, O_TDXFW, O_SHA256, O_HELP };

static int num(const char *name, const char *s, unsigned long long max, unsigned long long *v) {
  char *end;
  errno = 0;
  unsigned long long n = strtoull(s, &end, 0);
  if (errno || end == s || *end || s[0] == '-' || n > max) {
    fprintf(stderr, "coffer-measure: --%s: \"%s\" is not a number up to %llu\n", name, s, max);
    return -1;
  }
  *v = n;
  return 0;
}

static int parse(int argc, char **argv, opts *o) {
  static const struct option lo[] = {
      {"ovmf", required_argument, NULL, O_OVMF},
      {"firmware", required_argument, NULL, O_OVMF},
      {"tdx-firmware", required_argument, NULL, O_TDXFW},
      {"vcpus", required_argument, NULL, O_VCPUS},
      {"vcpu-type", required_argument, NULL, O_TYPE},
      {"vcpu-sig", required_argument, NULL, O_SIG},
      {"vcpu-family", required_argument, NULL, O_FAM},
      {"vcpu-model", required_argument, NULL, O_MODEL},
      {"vcpu-stepping", required_argument, NULL, O_STEP},
      {"kernel", required_argument, NULL, O_KERNEL},
      {"initrd", required_argument, NULL, O_INITRD},
      {"append", required_argument, NULL, O_APPEND},
      {"guest-features", required_argument, NULL, O_FEAT},
      {"vmm-type", required_argument, NULL, O_VMM},
      {"snp-ovmf-hash", required_argument, NULL, O_HASH},
      {"output-format", required_argument, NULL, O_FORMAT},
      {"memory", required_argument, NULL, O_MEMORY},
      {"two-pass", no_argument, NULL, O_TWO_PASS},
      {"stub-measures", no_argument, NULL, O_STUB},
      {"output", required_argument, NULL, O_OUTPUT},
      {"sha256", no_argument, NULL, O_SHA256},
      {"help", no_argument, NULL, O_HELP},
      {0}};
  o->features = 0x1;
  o->format = "hex";
  o->memory_mib = 2048;
  int c;
  unsigned long long v;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    switch (c) {
    case O_OVMF: o->ovmf = optarg; break;
    case O_TDXFW: o->tdx_firmware = optarg; break;
    case O_VCPUS: if (num("vcpus", optarg, 512, &v) < 0) return -1; o->vcpus = (unsigned)v; break;
    case O_TYPE: o->vcpu_type = optarg; break;
    case O_SIG: if (num("vcpu-sig", optarg, UINT32_MAX, &v) < 0) return -1; o->vcpu_sig = (uint32_t)v; o->have_sig = true; break;
    case O_FAM: if (num("vcpu-family", optarg, 0x10e, &v) < 0) return -1; o->family = (unsigned)v; o->have_fms = true; break;
    case O_MODEL: if (num("vcpu-model", optarg, 0xff, &v) < 0) return -1; o->model = (unsigned)v; break;
    case O_STEP: if (num("vcpu-stepping", optarg, 0xf, &v) < 0) return -1; o->stepping = (unsigned)v; break;
    case O_KERNEL: o->kernel = optarg; break;
    case O_INITRD: o->initrd = optarg; break;
    case O_APPEND: o->append = optarg; break;
    case O_FEAT: if (num("guest-features", optarg, UINT64_MAX, &v) < 0) return -1; o->features = v; break;
    case O_VMM:
      if (!strcmp(optarg, "QEMU")) o->vmm = CF_SNP_VMM_QEMU;
      else if (!strcmp(optarg, "ec2")) o->vmm = CF_SNP_VMM_EC2;
      else if (!strcmp(optarg, "gce")) o->vmm = CF_SNP_VMM_GCE;
      else { fprintf(stderr, "coffer-measure: --vmm-type: \"%s\" unknown (QEMU, ec2, gce)\n", optarg); return -1; }
      break;
    case O_HASH: o->snp_ovmf_hash = optarg; break;
    case O_FORMAT:
      if (strcmp(optarg, "hex") && strcmp(optarg, "json")) {
        fprintf(stderr, "coffer-measure: --output-format: \"%s\" unknown (hex, json)\n", optarg);
        return -1;
      }
      o->format = optarg;
      break;
    case O_MEMORY: if (num("memory", optarg, 1ull << 22, &v) < 0) return -1; o->memory_mib = v; break;
    case O_TWO_PASS: o->two_pass = true; break;
    case O_STUB: o->stub_initrd = true; break;
    case O_OUTPUT: o->output = optarg; break;
    case O_SHA256: o->sha256 = true; break;
    case O_HELP: usage(stdout); exit(0);
    default:
      fprintf(stderr, "coffer-measure: unknown or incomplete option %s\n", argv[optind - 1]);
      return -1;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "coffer-measure: unexpected argument \"%s\"\n", argv[optind]);
    return -1;
  }
  if ((o->initrd || o->append) && !o->kernel) {
    fprintf(stderr, "coffer-measure: --initrd and --append need --kernel\n");
    return -1;
  }
  return 0;
}

static void hex(const uint8_t *d, size_t n, char *out) {
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", d[i]);
}

static int unhex(const char *s, uint8_t *out, size_t n) {
  if (strlen(s) != 2 * n)
    return -1;
  for (size_t i = 0; i < n; i++) {
    unsigned b;
    if (sscanf(s + 2 * i, "%2x", &b) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
        !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
      return -1;
    out[i] = (uint8_t)b;
  }
  return 0;
}

/* The vCPU signature from --vcpu-sig, --vcpu-family/model/stepping or --vcpu-type. */
static int vcpu_sig(const opts *o, const char *type, uint32_t *sig) {
  cf_error err = {0};
  if (o->have_fms) {
    *sig = cf_snp_cpu_sig(o->family, o->model, o->stepping);
    return 0;
  }
  if (o->have_sig) {
    *sig = o->vcpu_sig;
    return 0;
  }
  if (!type) {
    if (o->vmm != CF_SNP_VMM_QEMU) /* the cloud VMMs put a fixed value in rdx */
      return *sig = 0, 0;
    fprintf(stderr, "coffer-measure: snp needs --vcpu-type, --vcpu-sig or --vcpu-family/--vcpu-model/--vcpu-stepping\n");
    return -EXIT_USAGE;
  }
  if (cf_snp_vcpu_sig(type, sig, &err) < 0) {
    fprintf(stderr, "coffer-measure: %s\n", err.msg);
    return -EXIT_USAGE;
  }
  return 0;
}

static int snp_digest(const opts *o, const char *type, uint8_t out[CF_MEASURE_LEN]) {
  cf_error err = {0};
  uint8_t seed[CF_MEASURE_LEN];
  cf_snp_input in = {.ovmf = o->ovmf, .vcpus = o->vcpus, .guest_features = o->features,
                     .kernel = o->kernel, .initrd = o->initrd, .append = o->append, .vmm = o->vmm};
  int r = vcpu_sig(o, type, &in.vcpu_sig);
  if (r < 0)
    return -r;
  if (o->snp_ovmf_hash) {
    if (unhex(o->snp_ovmf_hash, seed, sizeof(seed)) < 0) {
      fprintf(stderr, "coffer-measure: --snp-ovmf-hash needs 96 hex digits\n");
      return EXIT_USAGE;
    }
    in.ovmf_hash = seed;
  }
  if (cf_snp_launch_digest(&in, out, &err) < 0) {
    fprintf(stderr, "coffer-measure: %s\n", err.msg);
    return EXIT_FAIL;
  }
  return 0;
}

static void add_str(json_object *o, const char *k, const char *v) {
  json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void add_hex(json_object *o, const char *k, const uint8_t *d) {
  char h[2 * CF_MEASURE_LEN + 1];
  hex(d, CF_MEASURE_LEN, h);
  add_str(o, k, h);
}

static void print_json(json_object *o) {
  puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
}

static int cmd_snp(const opts *o) {
  if (!o->ovmf || !o->vcpus) {
    fprintf(stderr, "coffer-measure: snp needs --ovmf and --vcpus\n");
    return EXIT_USAGE;
  }
  uint8_t d[CF_MEASURE_LEN];
  int r = snp_digest(o, o->vcpu_type, d);
  if (r)
    return r;
  if (!strcmp(o->format, "hex")) {
    char h[2 * CF_MEASURE_LEN + 1];
    hex(d, sizeof(d), h);
    puts(h);
    return 0;
  }
  static const char *vmm[] = {"QEMU", "ec2", "gce"};
  json_object *j = json_object_new_object();
  add_hex(j, "measurement", d);
  add_str(j, "ovmf", o->ovmf);
  json_object_object_add(j, "vcpus", json_object_new_int((int)o->vcpus));
  add_str(j, "vcpu_type", o->vcpu_type);
  char f[24];
  snprintf(f, sizeof(f), "0x%llx", (unsigned long long)o->features);
  add_str(j, "guest_features", f);
  add_str(j, "vmm_type", vmm[o->vmm]);
  add_str(j, "kernel", o->kernel);
  add_str(j, "initrd", o->initrd);
  add_str(j, "append", o->append);
  print_json(j);
  return 0;
}

static int cmd_ovmf_hash(const opts *o) {
  if (!o->ovmf) {
    fprintf(stderr, "coffer-measure: snp-ovmf-hash needs --ovmf\n");
    return EXIT_USAGE;
  }
  cf_error err = {0};
  uint8_t d[CF_MEASURE_LEN];
  if (cf_snp_ovmf_hash(o->ovmf, d, &err) < 0) {
    fprintf(stderr, "coffer-measure: %s\n", err.msg);
    return EXIT_FAIL;
  }
  char h[2 * CF_MEASURE_LEN + 1];
  hex(d, sizeof(d), h);
  puts(h);
  return 0;
}

static int tdx_measure(const opts *o, const char *fw, cf_tdx_measurements *m) {
  cf_error err = {0};
  cf_tdx_input in = {.firmware = fw, .kernel = o->kernel, .initrd = o->initrd, .append = o->append,
                     .memory_mib = o->memory_mib, .two_pass = o->two_pass,
                     .stub_measures = o->stub_initrd};
  if (cf_tdx_measure(&in, m, &err) < 0) {
    fprintf(stderr, "coffer-measure: %s\n", err.msg);
    return EXIT_FAIL;
  }
  return 0;
}

static int cmd_tdx(const opts *o) {
  if (!o->ovmf) {
    fprintf(stderr, "coffer-measure: tdx needs --firmware\n");
    return EXIT_USAGE;
  }
  cf_tdx_measurements m;
  int r = tdx_measure(o, o->ovmf, &m);
  if (r)
    return r;
  if (!strcmp(o->format, "hex")) {
    char h[2 * CF_MEASURE_LEN + 1];
    hex(m.mrtd, CF_MEASURE_LEN, h);
    printf("mrtd %s\n", h);
    if (m.has_rtmr) {
      hex(m.rtmr1, CF_MEASURE_LEN, h);
      printf("rtmr1 %s\n", h);
      hex(m.rtmr2, CF_MEASURE_LEN, h);
      printf("rtmr2 %s\n", h);
    }
    return 0;
  }
  json_object *j = json_object_new_object();
  add_hex(j, "mrtd", m.mrtd);
  if (m.has_rtmr) {
    add_hex(j, "rtmr1", m.rtmr1);
    add_hex(j, "rtmr2", m.rtmr2);
  }
  add_str(j, "firmware", o->ovmf);
  add_str(j, "kernel", o->kernel);
  add_str(j, "initrd", o->initrd);
  add_str(j, "append", o->append);
  json_object_object_add(j, "memory_mib", json_object_new_int64((int64_t)o->memory_mib));
  print_json(j);
  return 0;
}

static int cmd_authenticode(const opts *o) {
  if (!o->kernel) {
    fprintf(stderr, "coffer-measure: authenticode needs --kernel\n");
    return EXIT_USAGE;
  }
  cf_error err = {0};
  uint8_t d[CF_MEASURE_LEN];
  size_t n;
  if (cf_pe_authenticode(o->kernel, o->sha256, d, &n, &err) < 0) {
    fprintf(stderr, "coffer-measure: %s\n", err.msg);
    return EXIT_FAIL;
  }
  char h[2 * CF_MEASURE_LEN + 1];
  hex(d, n, h);
  puts(h);
  return 0;
}

/* The reference-values document coffer-attest --reference (and the key
 * broker) load: {"snp": {"measurement": [...]}, "tdx": {"mrtd": [...],
 * "rtmr1", "rtmr2"}}. One SNP measurement per vCPU type listed. */
static int cmd_reference(const opts *o) {
  if (!o->ovmf && !o->tdx_firmware) {
    fprintf(stderr, "coffer-measure: reference needs --ovmf and/or --tdx-firmware\n");
    return EXIT_USAGE;
  }
  json_object *doc = json_object_new_object();
  int rc = 0;
  if (o->ovmf) {
    if (!o->vcpus) {
      fprintf(stderr, "coffer-measure: reference with --ovmf needs --vcpus\n");
      json_object_put(doc);
      return EXIT_USAGE;
    }
    json_object *list = json_object_new_array();
    char *types = strdup(o->vcpu_type ? o->vcpu_type : "");
    char *save = NULL;
    bool any = false;
    for (char *t = strtok_r(types, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
      uint8_t d[CF_MEASURE_LEN];
      char h[2 * CF_MEASURE_LEN + 1];
      if ((rc = snp_digest(o, t, d)) == 0) {
        hex(d, sizeof(d), h);
        json_object_array_add(list, json_object_new_string(h));
        any = true;
      }
    }
    if (!any && !rc && (rc = EXIT_USAGE))
      fprintf(stderr, "coffer-measure: reference with --ovmf needs --vcpu-type\n");
    free(types);
    json_object *snp = json_object_new_object();
    json_object_object_add(snp, "measurement", list);
    json_object_object_add(doc, "snp", snp);
  }
  if (!rc && o->tdx_firmware) {
    cf_tdx_measurements m;
    if ((rc = tdx_measure(o, o->tdx_firmware, &m)) == 0) {
      json_object *tdx = json_object_new_object(), *l = json_object_new_array();
      char h[2 * CF_MEASURE_LEN + 1];
      hex(m.mrtd, CF_MEASURE_LEN, h);
      json_object_array_add(l, json_object_new_string(h));
      json_object_object_add(tdx, "mrtd", l);
      if (m.has_rtmr) {
        add_hex(tdx, "rtmr1", m.rtmr1);
        add_hex(tdx, "rtmr2", m.rtmr2);
      }
      json_object_object_add(doc, "tdx", tdx);
    }
  }
  if (rc) {
    json_object_put(doc);
    return rc;
  }
  const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
  if (o->output) {
    _cleanup_free_ char *line = NULL;
    cf_error err = {0};
    if (asprintf(&line, "%s\n", text) < 0 ||
        cf_write_file_atomic(o->output, line, strlen(line), 0644, 0, &err) < 0) {
      fprintf(stderr, "coffer-measure: %s\n", err.msg[0] ? err.msg : "out of memory");
      json_object_put(doc);
      return EXIT_FAIL;
    }
  } else {
    puts(text);
  }
  json_object_put(doc);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? EXIT_USAGE : 0;
  }
  const char *cmd = argv[1];
  opts o = {0};
  if (parse(argc - 1, argv + 1, &o) < 0) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (!strcmp(cmd, "snp"))
    return cmd_snp(&o);
  if (!strcmp(cmd, "snp-ovmf-hash"))
    return cmd_ovmf_hash(&o);
  if (!strcmp(cmd, "tdx"))
    return cmd_tdx(&o);
  if (!strcmp(cmd, "authenticode"))
    return cmd_authenticode(&o);
  if (!strcmp(cmd, "reference"))
    return cmd_reference(&o);
  fprintf(stderr, "coffer-measure: unknown command \"%s\"\n", cmd);
  usage(stderr);
  return EXIT_USAGE;
}
