/* The tests' driver of libcoffer_image:
 *   image_tool pull [options] REF DEST    prints the result, one "key value" a line
 *   image_tool unpack FILE MEDIA_TYPE DEST [DIFF_ID]   (env: MAX_UNPACKED, KEEP_OWNERS)
 * options: --insecure, --pin DIGEST, --credentials USER:PW, --ca FILE,
 *          --max-manifest N, --max-blob N, --max-total N, --max-unpacked N,
 *          --ca-pem FILE (its text as ca_pem), --time-limit-ms N, --tmp-dir DIR, --hook-flip (the hook test:
 *          a "…+encrypted" layer (bytes +128 each) is restored by the hook)
 * On failure: the error on stderr, exit 1. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "image.h"

static void print_strv(const char *k, char **v) {
  if (!v) {
    printf("%s (none)\n", k);
    return;
  }
  for (size_t i = 0; v[i]; i++)
    printf("%s %s\n", k, v[i]);
}

/* a stand-in decryption: each byte +128 by the test, restored here */
static int hook_flip(void *ud, const struct cf_image_layer *l, int fd, int *out_fd,
                      char **out_mt, cf_error *err) {
  *out_fd = -1;
  printf("hook %zu %s %s %llu", l->index, l->media_type, l->digest, (unsigned long long)l->size);
  for (size_t i = 0; l->annotations && l->annotations[i]; i += 2)
    printf(" %s=%s", l->annotations[i], l->annotations[i + 1]);
  printf("\n");
  const char *suffix = "+encrypted";
  size_t n = strlen(l->media_type);
  if (n < 10 || strcmp(l->media_type + n - 10, suffix))
    return 0;
  int m = memfd_create("plain", MFD_CLOEXEC);
  unsigned char buf[65536];
  ssize_t r;
  while ((r = read(fd, buf, sizeof(buf))) > 0) {
    for (ssize_t i = 0; i < r; i++)
      buf[i] = (unsigned char)(buf[i] + 128);
    if (write(m, buf, (size_t)r) != r)
      return cf_err(err, 5, "hook write");
  }
  lseek(m, 0, SEEK_SET);
  *out_fd = m;
  *out_mt = strndup(l->media_type, n - 10);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 5 && !strcmp(argv[1], "unpack")) {
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC), root = open(argv[4], O_RDONLY | O_DIRECTORY);
    if (fd < 0 || root < 0) {
      perror("open");
      return 2;
    }
    cf_error err = {0};
    char *diff = NULL;
    uint64_t written = 0;
    struct cf_unpack_limits lim = {.max_bytes = getenv("MAX_UNPACKED") ? strtoull(getenv("MAX_UNPACKED"), NULL, 0) : 0,
                                   .written = &written,
                                   .keep_owners = getenv("KEEP_OWNERS") != NULL};
    if (cf_image_unpack_layer(root, fd, argv[3], "test-layer", argc > 5 ? argv[5] : NULL, &lim,
                              &diff, &err) < 0) {
      fprintf(stderr, "error: %s\n", err.msg);
      return 1;
    }
    printf("diff_id %s\nwritten %llu\n", diff, (unsigned long long)written);
    free(diff);
    return 0;
  }
  if (argc < 4 || strcmp(argv[1], "pull")) {
    fprintf(stderr, "usage: image_tool pull [options] REF DEST | unpack FILE MEDIA_TYPE DEST\n");
    return 2;
  }
  struct cf_image_pull_opts o = {0};
  int i = 2;
  for (; i < argc - 2; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc - 2 ? argv[i + 1] : NULL;
    if (!strcmp(a, "--insecure"))
      o.insecure_http = true;
    else if (!strcmp(a, "--hook-flip"))
      o.layer_hook = hook_flip;
    else if (!v)
      break;
    else if (!strcmp(a, "--pin"))
      o.pinned_digest = v, i++;
    else if (!strcmp(a, "--credentials"))
      o.credentials = v, i++;
    else if (!strcmp(a, "--ca"))
      o.ca_file = v, i++;
    else if (!strcmp(a, "--ca-pem")) {
      FILE *f = fopen(v, "r");
      static char pem[65536];
      size_t n = f ? fread(pem, 1, sizeof(pem) - 1, f) : 0;
      if (f)
        fclose(f);
      pem[n] = '\0';
      o.ca_pem = pem, i++;
    } else if (!strcmp(a, "--tmp-dir"))
      o.tmp_dir = v, i++;
    else if (!strcmp(a, "--max-manifest"))
      o.max_manifest_bytes = strtoull(v, NULL, 0), i++;
    else if (!strcmp(a, "--max-blob"))
      o.max_blob_bytes = strtoull(v, NULL, 0), i++;
    else if (!strcmp(a, "--max-total"))
      o.max_total_bytes = strtoull(v, NULL, 0), i++;
    else if (!strcmp(a, "--max-unpacked"))
      o.max_unpacked_bytes = strtoull(v, NULL, 0), i++;
    else if (!strcmp(a, "--time-limit-ms"))
      o.time_limit_ms = (unsigned)strtoul(v, NULL, 0), i++;
    else
      break;
  }
  if (i != argc - 2) {
    fprintf(stderr, "image_tool: bad option %s\n", argv[i]);
    return 2;
  }
  struct cf_image_result res;
  cf_error err = {0};
  int r = cf_image_pull(&o, argv[argc - 2], argv[argc - 1], &res, &err);
  if (r < 0) {
    fprintf(stderr, "error: %s\n", err.msg);
    cf_image_result_free(&res);
    return 1;
  }
  printf("manifest %s\nplatform_manifest %s\nconfig %s\n", res.manifest_digest,
         res.platform_manifest_digest, res.config_digest);
  print_strv("env", res.env);
  print_strv("entrypoint", res.entrypoint);
  print_strv("cmd", res.cmd);
  printf("workdir %s\nuser %s\n", res.working_dir ? res.working_dir : "(none)",
         res.user ? res.user : "(none)");
  for (size_t l = 0; l < res.n_layers; l++) {
    struct cf_image_layer_info *li = &res.layers[l];
    printf("layer %s %s %llu unpacked-as %s diff_id %s", li->digest, li->media_type,
           (unsigned long long)li->size, li->unpacked_media_type, li->diff_id);
    for (size_t k = 0; li->annotations && li->annotations[k]; k += 2)
      printf(" %s=%s", li->annotations[k], li->annotations[k + 1]);
    printf("\n");
  }
  printf("fetched %llu\nunpacked %llu\n", (unsigned long long)res.bytes_fetched,
         (unsigned long long)res.bytes_unpacked);
  cf_image_result_free(&res);
  return 0;
}
