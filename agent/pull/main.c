/* coffer-image-pull: the guest pull as a process of its own. The agent runs
 * it for a container whose rootfs is pulled in the guest (Rootfs PULL): it
 * fetches the image from its registry, checks its digest against the ones
 * the policy allows before any layer is fetched, decrypts encrypted layers
 * with the private keys it is given (released by the broker to the attested
 * guest) and unpacks them into DEST. A separate process keeps the registry
 * client, the tar reader and libcurl's dependencies out of PID 1, which
 * stays a static binary.
 *
 *   coffer-image-pull [--ca FILE] [--insecure-http] [--allow-digest D]...
 *                     [--key [URI=]FILE]... [--keys-fd N] [--max-bytes N]
 *                     [--time-limit-ms N] REF DEST
 *
 * Every key is tried as a private key against a layer's JWE recipients; a key
 * given with the broker resource it came from (kbs:///repo/type/tag=FILE) is
 * also the key-encryption key of CoCo's attestation-agent keyprovider packets
 * that name that resource. --keys-fd names a descriptor the keys arrive on
 * (the agent's way: it fetches them while the pull runs); it is read only at
 * the first encrypted layer, so a plain image needs none.
 *
 * Prints the result as one JSON object on stdout; on failure the reason on
 * stderr (one line, naming the registry, digest or entry) and exit 1; bad
 * usage exits 2. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/file.h"
#include "coffer/ocicrypt.h"
#include "image.h"

#define MAX_KEYS CF_OCICRYPT_KEYS_MAX
#define MAX_ALLOWED 64

struct keys {
  struct cf_ocicrypt_blob blob[MAX_KEYS];
  char *data[MAX_KEYS];
  const char *uri[MAX_KEYS]; /* the broker resource, or NULL */
  size_t n;
  struct cf_ocicrypt_blob priv[MAX_KEYS]; /* those that are private keys (PEM, JWK) */
  size_t n_priv;
  bool uri_owned[MAX_KEYS]; /* uri came from --keys-fd (malloc'd) */
  int fd; /* --keys-fd: read at the first encrypted layer, then -1 */
};

/* A private key for JWE recipients (PEM or a JWK), or else raw bytes: a
 * keyprovider's key-encryption key. A raw key is random and may well begin
 * with '{' (one in 256), so a JWK is only what parses as a JSON object with
 * a "kty". */
static bool looks_private(const char *d, size_t len) {
  size_t i = 0;
  while (i < len && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t'))
    i++;
  if (len - i > 10 && !memcmp(d + i, "-----BEGIN", 10))
    return true;
  if (i == len || d[i] != '{' || len > INT32_MAX || memchr(d, 0, len))
    return false;
  json_tokener *tok = json_tokener_new();
  if (!tok)
    return false;
  json_object *o = json_tokener_parse_ex(tok, d, (int)len);
  bool jwk = o && json_tokener_get_error(tok) == json_tokener_success &&
             json_object_is_type(o, json_type_object) &&
             json_object_is_type(json_object_object_get(o, "kty"), json_type_string);
  json_object_put(o);
  json_tokener_free(tok);
  return jwk;
}

/* The keyprovider's key-encryption key: one of the keys, by its resource. */
static int key_by_uri(void *ctx, const char *kid, uint8_t **out, size_t *len, cf_error *err) {
  const struct keys *k = ctx;
  for (size_t i = 0; i < k->n; i++) {
    if (!k->uri[i] || strcmp(k->uri[i], kid))
      continue;
    if (!(*out = malloc(k->blob[i].len ? k->blob[i].len : 1)))
      return cf_err(err, ENOMEM, "key %s", kid);
    memcpy(*out, k->blob[i].data, k->blob[i].len);
    *len = k->blob[i].len;
    return 0;
  }
  return cf_err_status(err, CF_PERMISSION_DENIED,
                       "the layer's key is wrapped for %s, which is not one of the keys released "
                       "to this guest (init-data coffer.toml [image] decryption_keys)",
                       kid);
}

/* One key (data malloc'd, taken) with its broker resource uri (or NULL). */
static int add_key(struct keys *k, const char *uri, char *data, size_t len, cf_error *err) {
  if (k->n == MAX_KEYS) {
    free(data);
    return cf_err_status(err, CF_INVALID_ARGUMENT, "more than %d keys", MAX_KEYS);
  }
  k->uri[k->n] = uri;
  k->data[k->n] = data;
  k->blob[k->n] = (struct cf_ocicrypt_blob){(const uint8_t *)data, len};
  if (looks_private(data, len))
    k->priv[k->n_priv++] = k->blob[k->n];
  else if (!uri)
    return cf_err_status(err, CF_INVALID_ARGUMENT,
                         "a key is neither a private key (PEM, JWK) nor named by its resource "
                         "(kbs:///...=FILE)");
  k->n++;
  return 0;
}

static int read_exact(int fd, void *p, size_t n) {
  for (size_t off = 0; off < n;) {
    ssize_t r = read(fd, (char *)p + off, n - off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    off += (size_t)r;
  }
  return 0;
}

/* --keys-fd: "key URILEN LEN\n" URI DATA, ..., or "error LEN\n" MESSAGE (the
 * agent could not get a key: the broker's reason), until EOF. */
static int load_keys_fd(struct keys *k, cf_error *err) {
  int fd = k->fd;
  k->fd = -1;
  for (;;) {
    char head[64];
    size_t hl = 0;
    while (hl < sizeof(head) - 1 && read_exact(fd, head + hl, 1) == 0 && head[hl] != '\n')
      hl++;
    if (hl == 0) {
      close(fd);
      return 0; /* EOF: every key is there */
    }
    head[hl] = 0;
    size_t ul = 0, len = 0;
    if (sscanf(head, "error %zu", &len) == 1 && len < 4096) {
      char msg[4096];
      int r = read_exact(fd, msg, len);
      close(fd);
      msg[r ? 0 : len] = 0;
      return cf_err_status(err, CF_PERMISSION_DENIED, "%s", r ? "no decryption key" : msg);
    }
    if (sscanf(head, "key %zu %zu", &ul, &len) != 2 || ul > 512 || len > CF_OCICRYPT_KEY_MAX) {
      close(fd);
      return cf_err_status(err, CF_INVALID_ARGUMENT, "keys from the agent: bad record \"%.40s\"", head);
    }
    char *uri = calloc(1, ul + 1), *data = malloc(len ? len : 1);
    if (!uri || !data || read_exact(fd, uri, ul) < 0 || read_exact(fd, data, len) < 0) {
      free(uri), free(data);
      close(fd);
      return cf_err_status(err, CF_DATA_LOSS, "keys from the agent: truncated");
    }
    bool named = !strncmp(uri, "kbs:///", 7);
    if (!named)
      free(uri), uri = NULL;
    k->uri_owned[k->n] = named;
    if (add_key(k, uri, data, len, err) < 0) {
      k->uri_owned[k->n] = false;
      free(uri);
      close(fd);
      return -EINVAL;
    }
  }
}

/* The layer hook: an encrypted layer is decrypted into a staging memfd that
 * the unpacker reads only after the HMAC over the whole blob verified. */
static int decrypt_layer(void *ud, const struct cf_image_layer *l, int blob_fd, int *out_fd,
                         char **out_media_type, cf_error *err) {
  struct keys *k = ud;
  const char *plain = NULL;
  *out_fd = -1;
  if (!cf_ocicrypt_is_encrypted(l->media_type, &plain))
    return 0;
  if (k->fd >= 0 && load_keys_fd(k, err) < 0)
    return -EPERM;
  if (!k->n)
    return cf_err_status(err, CF_PERMISSION_DENIED,
                         "encrypted (%s) and no decryption key was released to this guest "
                         "(init-data coffer.toml [image] decryption_keys)",
                         l->media_type);
  struct cf_ocicrypt_annotation ann[64];
  size_t n = 0;
  for (size_t i = 0; l->annotations && l->annotations[i] && n < 64; i += 2, n++)
    ann[n] = (struct cf_ocicrypt_annotation){l->annotations[i], l->annotations[i + 1]};
  struct cf_ocicrypt_keys keys = {.privkeys = k->priv, .n_privkeys = k->n_priv,
                                  .get_resource = key_by_uri, .ctx = k};
  _cleanup_ocicrypt_ cf_ocicrypt_layer *layer = NULL;
  if (cf_ocicrypt_open(l->digest, l->media_type, ann, n, &keys, NULL, &layer, err) < 0)
    return -EPERM;
  static uint8_t buf[1 << 16];
  for (;;) {
    ssize_t r = read(blob_fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return cf_err(err, errno, "layer %s: reading the blob", l->digest);
    if (r == 0)
      break;
    if (cf_ocicrypt_update(layer, buf, (size_t)r, err) < 0)
      return -EIO;
  }
  uint64_t size = 0;
  if (cf_ocicrypt_final(layer, out_fd, &size, err) < 0)
    return -EPERM;
  if (!(*out_media_type = strdup(plain))) {
    close(*out_fd);
    *out_fd = -1;
    return cf_err(err, ENOMEM, "layer %s", l->digest);
  }
  return 0;
}

static int64_t boot_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_BOOTTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Milliseconds from this process's fork to now (exec and dynamic loading,
 * for the logs; -1 when /proc says nothing). */
static int64_t since_fork_ms(void) {
  char buf[1024];
  FILE *f = fopen("/proc/self/stat", "re");
  size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may hold anything */
  unsigned long long start = 0;
  /* field 22, starttime in clock ticks; p is at field 2's end */
  if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                         "%*d %*d %llu", &start) != 1)
    return -1;
  long hz = sysconf(_SC_CLK_TCK);
  return hz > 0 ? boot_ms() - (int64_t)(start * 1000 / (unsigned long long)hz) : -1;
}

static json_object *strv_json(char **v) {
  if (!v)
    return NULL;
  json_object *a = json_object_new_array();
  for (size_t i = 0; a && v[i]; i++)
    json_object_array_add(a, json_object_new_string(v[i]));
  return a;
}

static void add_str(json_object *o, const char *k, const char *v) {
  if (v)
    json_object_object_add(o, k, json_object_new_string(v));
}

static void print_result(const struct cf_image_result *res, int64_t start_ms, int64_t t0) {
  json_object *o = json_object_new_object();
  add_str(o, "manifest_digest", res->manifest_digest);
  add_str(o, "platform_manifest_digest", res->platform_manifest_digest);
  add_str(o, "config_digest", res->config_digest);
  json_object *layers = json_object_new_array();
  for (size_t i = 0; i < res->n_layers; i++) {
    const struct cf_image_layer_info *li = &res->layers[i];
    json_object *l = json_object_new_object(), *ann = json_object_new_object();
    add_str(l, "digest", li->digest);
    add_str(l, "media_type", li->media_type);
    add_str(l, "unpacked_media_type", li->unpacked_media_type);
    add_str(l, "diff_id", li->diff_id);
    json_object_object_add(l, "size", json_object_new_int64((int64_t)li->size));
    json_object_object_add(l, "fetch_ms", json_object_new_int64(li->fetch_ms));
    json_object_object_add(l, "hook_ms", json_object_new_int64(li->hook_ms));
    json_object_object_add(l, "unpack_ms", json_object_new_int64(li->unpack_ms));
    for (size_t k = 0; li->annotations && li->annotations[k]; k += 2)
      add_str(ann, li->annotations[k], li->annotations[k + 1]);
    json_object_object_add(l, "annotations", ann);
    json_object_array_add(layers, l);
  }
  json_object_object_add(o, "layers", layers);
  json_object_object_add(o, "env", strv_json(res->env));
  json_object_object_add(o, "entrypoint", strv_json(res->entrypoint));
  json_object_object_add(o, "cmd", strv_json(res->cmd));
  add_str(o, "working_dir", res->working_dir);
  add_str(o, "user", res->user);
  json_object_object_add(o, "bytes_fetched", json_object_new_int64((int64_t)res->bytes_fetched));
  json_object_object_add(o, "bytes_unpacked", json_object_new_int64((int64_t)res->bytes_unpacked));
  /* where the time went: exec and loading, the manifest, the config, the
   * connections, the whole pull (each layer's are in its object) */
  json_object *t = json_object_new_object();
  json_object_object_add(t, "start", json_object_new_int64(start_ms));
  json_object_object_add(t, "manifest", json_object_new_int64(res->manifest_ms));
  json_object_object_add(t, "config", json_object_new_int64(res->config_ms));
  json_object_object_add(t, "connect", json_object_new_int64(res->connect_ms));
  json_object_object_add(t, "connects", json_object_new_int64(res->connects));
  json_object_object_add(t, "pull", json_object_new_int64(boot_ms() - t0));
  json_object_object_add(o, "timings_ms", t);
  puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
  json_object_put(o);
}

static int usage(void) {
  fprintf(stderr, "usage: coffer-image-pull [--ca FILE] [--insecure-http] [--allow-digest D]... "
                  "[--key [URI=]FILE]... [--keys-fd N] [--max-bytes N] [--time-limit-ms N] REF DEST\n");
  return 2;
}

static bool parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || *s == '-')
    return false;
  *out = v;
  return true;
}

int main(int argc, char **argv) {
  int64_t t0 = boot_ms(), start_ms = since_fork_ms();
  static const struct option opts[] = {
      {"ca", required_argument, NULL, 'c'},       {"insecure-http", no_argument, NULL, 'i'},
      {"allow-digest", required_argument, NULL, 'a'}, {"key", required_argument, NULL, 'k'},
      {"max-bytes", required_argument, NULL, 'm'}, {"time-limit-ms", required_argument, NULL, 't'},
      {"keys-fd", required_argument, NULL, 'f'},
      {NULL, 0, NULL, 0}};
  struct cf_image_pull_opts o = {0};
  struct keys keys = {.fd = -1};
  const char *allowed[MAX_ALLOWED + 1] = {0};
  size_t n_allowed = 0;
  uint64_t v;
  cf_error err = {0};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'c':
      o.ca_file = optarg;
      break;
    case 'i':
      o.insecure_http = true;
      break;
    case 'a':
      if (n_allowed == MAX_ALLOWED) {
        fprintf(stderr, "coffer-image-pull: more than %d --allow-digest\n", MAX_ALLOWED);
        return 2;
      }
      allowed[n_allowed++] = optarg;
      break;
    case 'k': {
      size_t len = 0;
      if (keys.n == MAX_KEYS) {
        fprintf(stderr, "coffer-image-pull: more than %d --key\n", MAX_KEYS);
        return 2;
      }
      char *path = optarg, *eq = strncmp(optarg, "kbs:///", 7) ? NULL : strchr(optarg, '=');
      if (eq) {
        *eq = 0;
        keys.uri[keys.n] = optarg;
        path = eq + 1;
      }
      if (cf_read_file(path, CF_OCICRYPT_KEY_MAX, &keys.data[keys.n], &len, &err) < 0) {
        fprintf(stderr, "coffer-image-pull: decryption key: %s\n", err.msg);
        return 1;
      }
      keys.blob[keys.n] = (struct cf_ocicrypt_blob){(const uint8_t *)keys.data[keys.n], len};
      if (looks_private(keys.data[keys.n], len))
        keys.priv[keys.n_priv++] = keys.blob[keys.n];
      else if (!keys.uri[keys.n]) {
        fprintf(stderr, "coffer-image-pull: key %s is neither a private key (PEM, JWK) nor "
                        "named by its resource (kbs:///...=FILE)\n", path);
        return 2;
      }
      keys.n++;
      break;
    }
    case 'f':
      if (!parse_u64(optarg, &v) || v < 3 || v > 1024)
        return usage();
      keys.fd = (int)v;
      break;
    case 'm':
      if (!parse_u64(optarg, &v))
        return usage();
      o.max_total_bytes = o.max_unpacked_bytes = v;
      break;
    case 't':
      if (!parse_u64(optarg, &v) || v > 3600000)
        return usage();
      o.time_limit_ms = (unsigned)v;
      break;
    default:
      return usage();
    }
  }
  if (argc - optind != 2)
    return usage();
  o.allowed_digests = n_allowed ? allowed : NULL;
  o.keep_owners = geteuid() == 0;
  o.layer_hook = decrypt_layer;
  o.hook_ud = &keys;
  struct cf_image_result res;
  int r = cf_image_pull(&o, argv[optind], argv[optind + 1], &res, &err);
  for (size_t i = 0; i < keys.n; i++) {
    explicit_bzero(keys.data[i], keys.blob[i].len);
    free(keys.data[i]);
    if (keys.uri_owned[i])
      free((char *)keys.uri[i]);
  }
  if (keys.fd >= 0)
    close(keys.fd);
  if (r < 0) {
    fprintf(stderr, "%s\n", err.msg);
    cf_image_result_free(&res);
    return 1;
  }
  print_result(&res, start_ms, t0);
  cf_image_result_free(&res);
  return 0;
}
