/* fuzz_ocicrypt: the encrypted-layer annotations as a hostile registry or
 * host could write them (JWE key wrapping, pubopts, the attestation-agent
 * keyprovider packet) and the layer bytes after them. The first byte picks:
 *   0 pubopts (base64 JSON)        1 wrapped private options (JSON)
 *   2 a whole layer: "JWE\nPUBOPTS\nKEYPROVIDER\n" then the ciphertext, opened
 *     with the fixed keys below and a broker that returns a fixed KEK.
 * The seeds (corpus/fuzz_ocicrypt, made by tests/agent/ocicrypt/
 * make_fuzz_seeds.sh) are layers skopeo encrypted to these keys, and a
 * keyprovider layer made with python3-cryptography, so mutations reach the
 * HMAC check and the options parsers behind a valid key unwrap.
 *
 * Built as a libFuzzer target with COFFER_FUZZ; otherwise (FUZZ_REPLAY_MAIN)
 * a test that replays the seed corpus plus deterministic mutations of it. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coffer/ocicrypt.h"
#include "ocicrypt_int.h"

/* Test-only keys: they protect nothing but these seeds. */
static const char ec_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgbq4u4Ii21v+txcTv\n"
    "n7WqXeRkakihUdbWbbphW/yNL8yhRANCAATx4mwcE9zuM85ZobYJW0ex8FfmCLmJ\n"
    "1lchV9lFHmXFCX1l10p4YiNVsyfd7Z3WuF9BsEewI8IOBt+OxvaLnxsF\n"
    "-----END PRIVATE KEY-----\n";
static const char rsa_key[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC4WHMJQiKZV0Nq\n"
    "o1LHzfzaKhtor9cGUpzrlQLKPUyxifWGDmm0KndcC/ftbhvmJ14sAM70zEf/nwC1\n"
    "2N3CVOsPZk+S23AH5bEVvKNV+av+HjLLHWjFQ+8quGdhxlgz1NKI5eH1beuqfXtU\n"
    "4zWIMJDeQ7Gs2c/L8aP5jUHOmA5QHyP4R/j5kCvqN7qzKgSLi91sJcxxkpEBQzau\n"
    "7iXnvh4xhyWFq6PybpFowNQW93lEK+6fABZ8qMCN3V8AiP+tfYd5HdRRg4AxRLeE\n"
    "rIYW7Iwxi9s5cdswUdQJQqOLqjLq30vPhsZZ57Nm4BBXgkhTK5789nzRMFcSjxo1\n"
    "Tatgk0jPAgMBAAECggEANSbLhE/dSfkvJwAQTivGS+D4JicNCHWpaQN92nHyOv5c\n"
    "HFrrf1b/MzsAMSUeRi3zqRxSj6KW380ol0YAKpfxbm9BYkaC9sPzWyEYtyFVxd9P\n"
    "JeFE5BvCSb8Bj99wbwFd8rrVe75FxNKJTOB1/t6B5pP+Fqh2kYcKkFl6L+cHuXHD\n"
    "gveHRENcjByPUWDLq5uzac6RpBrZp+L/Sy3UYALMaiYEobLQmfGgyBQLhqqbHzv2\n"
    "VVgnt6SiTae1kZR8w1SPfRFqshplpm7DxooT2Yr9nOp4WkuhPbGUExUjFqIGDKU5\n"
    "nTdLzPgthtZS3ceXXdU6hv6ErYFCeisPLonoe/SEgQKBgQDpl0sP8TYUMOv0eAUT\n"
    "Ldhe9ZhIGL5W5wthZtOJ0kC42FnxBKHuYMsKp/LrNOLo2QO3TWy6jgf3mkoITfzB\n"
    "juYXuuYQlRaRa5EQRbASkuUOD50Z2aTmL5qDGIsiRiPfAnYoZ03IhTMGze4IIu+k\n"
    "2LPVXwcskfyut9w/pJWKp65g1QKBgQDKB79tUQqHXXsXVEmdvkdXXuYE2kkYCH0Z\n"
    "zeMfsJjBu1afsssIas678ilV/OBMp4nm4YdCksTZnIRWklSObv5cpUcMvQG+2xoL\n"
    "iV2jXzHhvM94Qnu7AAcP2PbvAyAPNhOl3en3fKUkQ+vUxr9wdwu5oKFWJ0bzM0fc\n"
    "mlm9XT41EwKBgQCVXhQ2joSJJrtK6RA9slwgZKVKvN/BjB4/21O7VoHicR4aO18c\n"
    "ojJTjw+LjZbnVBXHObAkHrxDfRqH8u6ECs9hLzb8NYln1cO+BwHO7rWfZyaLKBwE\n"
    "wT3pRGF7uiQn71gFAAHCDkKRwE7MTyK0Y4mjEA/zVSqhwpoI7EJfllewPQKBgQDJ\n"
    "MeIPia+EkzHsT8JoV4BQoG9N0d0NFBcRxZo0ivf1pw1jSPktTsDHJyjHO2hcrlSF\n"
    "G4BKakOju12HoX6Xwi2KMgaJxwif+y764jfgZQMWHaQ3zW3PEv31aEqySFh7DY2P\n"
    "l2pTT0xey01mvu8Tn1qL6E4DsGXV+PHN3eEU1nEHBQKBgAmSJJNJmRkYIUFhxyRr\n"
    "Wgcw7bRDoaYZIB2G6GoVTjkcMBpe16N75UQw5FE13HaoqQ42cm9v1NYsz4lYvg0X\n"
    "SeURiIsaEMoAR9WGGGWj4N5eQEM4QBtysC87tGvoPo9P9S8IToSzSYuNBhvGcIwp\n"
    "yWHYgu49nKPptAUhW3iVmDCN\n"
    "-----END PRIVATE KEY-----\n";

static unsigned decrypted; /* layers whose HMAC verified */

static int get_resource(void *ctx, const char *kid, uint8_t **out, size_t *len, cf_error *err) {
  (void)ctx;
  if (strcmp(kid, "kbs:///default/image-kek/fuzz"))
    return cf_err_status(err, CF_NOT_FOUND, "no resource %s", kid);
  *out = malloc(32);
  for (int i = 0; i < 32; i++)
    (*out)[i] = (uint8_t)(i + 1);
  *len = 32;
  return 0;
}

/* Splits off the next '\n'-terminated field into a NUL-terminated copy. */
static char *field(const uint8_t **p, size_t *n) {
  const uint8_t *nl = memchr(*p, '\n', *n);
  if (!nl)
    return NULL;
  size_t l = (size_t)(nl - *p);
  char *s = malloc(l + 1);
  memcpy(s, *p, l);
  s[l] = 0;
  *p += l + 1;
  *n -= l + 1;
  return s;
}

static void layer(const uint8_t *p, size_t n) {
  char *jwe = field(&p, &n), *pub = jwe ? field(&p, &n) : NULL, *aa = pub ? field(&p, &n) : NULL;
  if (aa) {
    struct cf_ocicrypt_annotation a[3];
    size_t na = 0;
    if (*jwe)
      a[na++] = (struct cf_ocicrypt_annotation){OC_ANN_JWE, jwe};
    if (*pub)
      a[na++] = (struct cf_ocicrypt_annotation){OC_ANN_PUBOPTS, pub};
    if (*aa)
      a[na++] = (struct cf_ocicrypt_annotation){OC_ANN_AA, aa};
    struct cf_ocicrypt_blob keys[2] = {{(const uint8_t *)ec_key, sizeof(ec_key) - 1},
                                       {(const uint8_t *)rsa_key, sizeof(rsa_key) - 1}};
    struct cf_ocicrypt_keys k = {.privkeys = keys, .n_privkeys = 2, .get_resource = get_resource};
    cf_ocicrypt_layer *l = NULL;
    cf_error err = {0};
    if (!cf_ocicrypt_open("sha256:fuzz", "application/vnd.oci.image.layer.v1.tar+encrypted", a,
                          na, &k, NULL, &l, &err)) {
      int fd = -1;
      uint64_t size = 0;
      if (!cf_ocicrypt_update(l, p, n, &err) && !cf_ocicrypt_final(l, &fd, &size, &err)) {
        if (size != n)
          abort(); /* plaintext is as long as the ciphertext */
        close(fd);
        decrypted++;
      } else if (fd != -1) {
        abort(); /* a refused layer hands out nothing */
      }
      cf_ocicrypt_free(l);
    } else if (!err.msg[0] || !strstr(err.msg, "sha256:fuzz")) {
      abort(); /* every refusal names the layer */
    }
  }
  free(jwe);
  free(pub);
  free(aa);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > (1 << 20))
    return 0;
  cf_error err = {0};
  char *s = malloc(size);
  memcpy(s, data + 1, size - 1);
  s[size - 1] = 0;
  switch (data[0] % 3) {
  case 0: {
    struct oc_pubopts p;
    oc_parse_pubopts(s, &p, &err);
    break;
  }
  case 1: {
    struct oc_privopts p;
    oc_parse_privopts(data + 1, size - 1, &p, &err);
    break;
  }
  default:
    layer(data + 1, size - 1);
  }
  free(s);
  return 0;
}

#ifdef FUZZ_REPLAY_MAIN
/* The seed layers themselves must decrypt, or the mutations never got past
 * the key unwrap. */
static int seed_layers_decrypted(void) {
  if (decrypted < 4) {
    fprintf(stderr, "only %u layers decrypted (the 4 seed layers must)\n", decrypted);
    return 1;
  }
  printf("%u layers decrypted\n", decrypted);
  return 0;
}
#endif
#define FUZZ_REPLAY_MUTATIONS 200
#define FUZZ_REPLAY_WHAT "the encrypted-layer parsers"
#define FUZZ_REPLAY_CHECK() seed_layers_decrypted()
#include "fuzz_replay.h"
