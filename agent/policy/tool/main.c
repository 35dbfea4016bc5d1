/* coffer-policy: writes a pod's agent policy and init-data from its
 * Kubernetes YAML and its images in containerd, and explains verdicts.
 *
 *   coffer-policy generate POD.yaml -o DIR [options]
 *   coffer-policy explain POLICY.json REQUEST.json
 *
 * Exit: 0 done (explain: allowed), 1 explain: denied, 2 bad input or failure. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/policy.h"
#include "explain.h"
#include "generate.h"
#include "initdata_out.h"
#include "yaml_json.h"

#define MAX_LIST 64

static void usage(FILE *f) {
  fprintf(f,
          "usage: coffer-policy generate POD.yaml -o OUT_DIR [options]\n"
          "         --containerd-address SOCK   (default /run/containerd/containerd.sock)\n"
          "         --namespace NS              (default k8s.io)\n"
          "         --image-config DIR          read blobs from this content store directory\n"
          "                                     (.../io.containerd.content.v1.content/blobs/sha256)\n"
          "                                     instead of `ctr content get`\n"
          "         --content-store             the same from the containerd root's content store\n"
          "                                     (--containerd-root, default /var/lib/containerd)\n"
          "         --pause-image REF           (default registry.k8s.io/pause:3.6)\n"
          "         --containerd-root DIR --containerd-state DIR --kubelet-root DIR\n"
          "         --allow-logs                allow ReadStdout/ReadStderr (kubectl logs)\n"
          "         --root-hash IMAGE=HEX       pin a dm-verity root hash (repeatable)\n"
          "         --algorithm sha256|sha384|sha512 (default sha384)\n"
          "         --kbs-url URL [--kbs-cert PEM_FILE] --secret NAME=kbs:///R/T/TAG (repeatable)\n"
          "       coffer-policy explain POLICY.json REQUEST.json\n");
}

static int fail(cf_error *err) {
  fprintf(stderr, "coffer-policy: %s\n", err->msg);
  return 2;
}

static int generate(int argc, char **argv) {
  gen_opts o = {.images = {.address = "/run/containerd/containerd.sock", .namespace = "k8s.io"},
                .pause_image = "registry.k8s.io/pause:3.6",
                .containerd_root = "/var/lib/containerd",
                .containerd_state = "/run/containerd",
                .kubelet_root = "/var/lib/kubelet"};
  gen_root_hash hashes[MAX_LIST];
  const char *secrets[MAX_LIST];
  initdata_in id = {.alg = CF_INITDATA_SHA384, .secrets = secrets};
  const char *out = NULL, *cert_path = NULL;
  cf_error err = {0};
  enum { ADDR = 256, NS, IMGCFG, PAUSE, CROOT, CSTATE, KROOT, LOGS, RH, ALG, KBS, CERT, SECRET, STORE };
  bool store = false;
  static const struct option opts[] = {
      {"containerd-address", 1, 0, ADDR}, {"namespace", 1, 0, NS},      {"image-config", 1, 0, IMGCFG},
      {"pause-image", 1, 0, PAUSE},       {"containerd-root", 1, 0, CROOT}, {"containerd-state", 1, 0, CSTATE},
      {"kubelet-root", 1, 0, KROOT},      {"allow-logs", 0, 0, LOGS},   {"root-hash", 1, 0, RH},
      {"algorithm", 1, 0, ALG},           {"kbs-url", 1, 0, KBS},       {"kbs-cert", 1, 0, CERT},
      {"secret", 1, 0, SECRET},           {"output", 1, 0, 'o'},        {"content-store", 0, 0, STORE},
      {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case ADDR: o.images.address = optarg; break;
    case NS: o.images.namespace = optarg; break;
    case IMGCFG: o.images.content_dir = optarg; break;
    case STORE: store = true; break;
    case PAUSE: o.pause_image = optarg; break;
    case CROOT: o.containerd_root = optarg; break;
    case CSTATE: o.containerd_state = optarg; break;
    case KROOT: o.kubelet_root = optarg; break;
    case LOGS: o.allow_logs = true; break;
    case RH: {
      char *eq = strchr(optarg, '=');
      if (!eq || strlen(eq + 1) != 64 || strspn(eq + 1, "0123456789abcdef") != 64 || o.n_root_hashes == MAX_LIST) {
        fprintf(stderr, "coffer-policy: --root-hash %s: expected IMAGE=<64 lowercase hex>\n", optarg);
        return 2;
      }
      *eq = '\0';
      hashes[o.n_root_hashes++] = (gen_root_hash){optarg, eq + 1};
      break;
    }
    case ALG:
      if (!strcmp(optarg, "sha256")) id.alg = CF_INITDATA_SHA256;
      else if (!strcmp(optarg, "sha384")) id.alg = CF_INITDATA_SHA384;
      else if (!strcmp(optarg, "sha512")) id.alg = CF_INITDATA_SHA512;
      else {
        fprintf(stderr, "coffer-policy: --algorithm %s: sha256, sha384 or sha512\n", optarg);
        return 2;
      }
      break;
    case KBS: id.kbs_url = optarg; break;
    case CERT: cert_path = optarg; break;
    case SECRET:
      if (id.n_secrets == MAX_LIST) {
        fprintf(stderr, "coffer-policy: more than %d --secret\n", MAX_LIST);
        return 2;
      }
      secrets[id.n_secrets++] = optarg;
      break;
    default: usage(stderr); return 2;
    }
  }
  o.root_hashes = hashes;
  char blobs[4096];
  if (store && !o.images.content_dir) {
    snprintf(blobs, sizeof(blobs), "%s/io.containerd.content.v1.content/blobs/sha256", o.containerd_root);
    o.images.content_dir = blobs;
  }
  if (optind + 1 != argc || !out) {
    usage(stderr);
    return 2;
  }
  if (cert_path && !id.kbs_url) {
    fprintf(stderr, "coffer-policy: --kbs-cert needs --kbs-url\n");
    return 2;
  }
  _cleanup_free_ char *cert = NULL;
  if (cert_path) {
    size_t n;
    if (cf_read_file(cert_path, 1 << 20, &cert, &n, &err) < 0)
      return fail(&err);
    id.kbs_cert_pem = cert;
  }
  json_object *docs = yaml_to_json(argv[optind], &err);
  if (!docs)
    return fail(&err);
  json_object *meta = NULL;
  json_object *pod = gen_pod_spec(docs, &meta, &err);
  json_object *pol = pod ? gen_policy(pod, meta, &o, &err) : NULL;
  json_object_put(docs);
  if (!pol)
    return fail(&err);
  const char *txt = json_object_to_json_string_ext(pol, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
  /* the agent's parser must accept what we ship */
  cf_policy *check = cf_policy_parse(txt, strlen(txt), &err);
  if (!check) {
    json_object_put(pol);
    cf_error_prefix(&err, "the generated policy does not parse (a coffer-policy bug)");
    return fail(&err);
  }
  cf_policy_free(check);
  if (mkdir(out, 0755) < 0 && errno != EEXIST) {
    json_object_put(pol);
    cf_err(&err, errno, "mkdir %s", out);
    return fail(&err);
  }
  char p[4096];
  snprintf(p, sizeof(p), "%s/policy.json", out);
  _cleanup_fclose_ FILE *f = fopen(p, "we");
  if (!f || fprintf(f, "%s\n", txt) < 0 || fflush(f) != 0) {
    json_object_put(pol);
    cf_err(&err, errno ? errno : EIO, "write %s", p);
    return fail(&err);
  }
  id.policy_json = txt;
  int r = initdata_write(&id, out, &err);
  json_object_put(pol);
  if (r < 0)
    return fail(&err);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
    usage(stdout);
    return 0;
  }
  if (argc >= 2 && !strcmp(argv[1], "generate"))
    return generate(argc - 1, argv + 1);
  if (argc == 4 && !strcmp(argv[1], "explain")) {
    cf_error err = {0};
    int r = explain(argv[2], argv[3], &err);
    return r < 0 ? fail(&err) : r;
  }
  usage(stderr);
  return 2;
}
