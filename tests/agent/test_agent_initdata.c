/* agent/initdata.c against a faked guest (tests/tee/fake.c: there is no TEE
 * hardware here, so CPUID, /dev/sev-guest and /dev/tdx_guest are replayed):
 * the agent recomputes the init-data digest, fits it to the field the TEE
 * bound at launch and refuses the pod on a mismatch or when a TEE guest got
 * no init-data (the host is the adversary); verified, the document and each
 * [data] entry are written 0400. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/cleanup.h"
#include "coffer/sha2.h"
#include "fake.h"
#include "initdata.h"

#define CHECK(c, ...)                                                                   \
  do {                                                                                  \
    if (!(c)) {                                                                         \
      fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);                             \
      fprintf(stderr, __VA_ARGS__);                                                     \
      fprintf(stderr, "\n");                                                            \
      exit(1);                                                                          \
    }                                                                                   \
  } while (0)

static const char DOC256[] = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n"
                             "\"policy.rego\" = '''\npackage agent_policy\n'''\n"
                             "\"aa.toml\" = '''\n[token_configs.kbs]\nurl = \"https://kbs\"\n'''\n";
static const char DOC512[] = "version = \"0.1.0\"\nalgorithm = \"sha512\"\n\n[data]\nx = \"y\"\n";

static char dir[64];

static int accept_doc(fake *f, bool guest, const char *doc, cf_initdata **id, cf_tee_kind *k,
                      cf_error *err) {
  cf_error_clear(err);
  char sub[128];
  snprintf(sub, sizeof(sub), "%s/initdata", dir);
  return agent_initdata_accept(&f->env, guest, (const uint8_t *)doc, doc ? strlen(doc) : 0, sub, id,
                               k, err);
}

static bool file_is(const char *name, const char *want) {
  char p[256], buf[4096];
  snprintf(p, sizeof(p), "%s/initdata/%s", dir, name);
  struct stat st;
  FILE *fp = fopen(p, "r");
  if (!fp || stat(p, &st) < 0 || (st.st_mode & 07777) != 0400) {
    if (fp)
      fclose(fp);
    return false;
  }
  size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
  fclose(fp);
  buf[n] = 0;
  return !strcmp(buf, want);
}

static bool nothing_written(void) {
  char p[128];
  snprintf(p, sizeof(p), "%s/initdata", dir);
  return access(p, F_OK) != 0;
}

static void reset_dir(void) {
  char cmd[160];
  snprintf(cmd, sizeof(cmd), "rm -rf %s/initdata", dir);
  CHECK(system(cmd) == 0, "rm");
}

static void tdx_binding_checked(void) {
  fake f;
  fake_init(&f);
  fake_file(&f, "/dev/tdx_guest", "", 0);
  uint8_t d[32];
  cf_sha256(DOC256, strlen(DOC256), d);
  memcpy(f.tdreport + 576, d, 32); /* MRCONFIGID = sha256 + 16 zero bytes */
  memset(f.tdreport + 576 + 32, 0, 16);
  cf_error err = {0};
  cf_initdata *id = NULL;
  cf_tee_kind k;
  reset_dir();
  CHECK(accept_doc(&f, true, DOC256, &id, &k, &err) == 0 && id && k == CF_TEE_TDX,
        "TDX: init-data matching MRCONFIGID accepted (%s)", err.msg);
  CHECK(file_is("initdata.toml", DOC256) && file_is("policy.rego", "package agent_policy\n") &&
            file_is("aa.toml", "[token_configs.kbs]\nurl = \"https://kbs\"\n"),
        "initdata.toml and each [data] entry written, mode 0400");
  CHECK(!strcmp(id->broker_url, "https://kbs"), "the broker from aa.toml");
  cf_initdata_free(id);

  /* a hostile host: other bytes than the ones bound at launch */
  reset_dir();
  const char *other = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n\"policy.rego\" = 'allow all'\n";
  CHECK(accept_doc(&f, true, other, &id, &k, &err) < 0 && !id && err.status == CF_PERMISSION_DENIED &&
            strstr(err.msg, "does not match the MRCONFIGID") && strstr(err.msg, "(tdx)"),
        "TDX: changed init-data refused (%s)", err.msg);
  char want_hex[97];
  cf_hex(f.tdreport + 576, 48, want_hex);
  CHECK(strstr(err.msg, want_hex), "the message names the bound MRCONFIGID %s: %s", want_hex, err.msg);
  CHECK(nothing_written(), "nothing written for a refused pod");
  /* the digest's zero padding is part of the comparison */
  f.tdreport[576 + 40] = 1;
  CHECK(accept_doc(&f, true, DOC256, &id, &k, &err) < 0, "MRCONFIGID padding not zero: refused");
  /* a TEE guest without init-data: fail closed */
  CHECK(accept_doc(&f, true, NULL, &id, &k, &err) < 0 && strstr(err.msg, "no init-data: a tdx guest"),
        "TDX without init-data refused (%s)", err.msg);
  /* malformed init-data in a TEE: refused before the binding is read */
  int calls = f.ioctl_calls;
  CHECK(accept_doc(&f, true, "version = \"0.1.0\"\nversion = 1\n", &id, &k, &err) < 0 &&
            strstr(err.msg, "duplicate key") && f.ioctl_calls == calls,
        "malformed init-data refused without a TEE request (%s)", err.msg);
  /* the device failing: fail closed, naming it */
  f.tdx_errno = EIO;
  CHECK(accept_doc(&f, true, DOC256, &id, &k, &err) < 0 && strstr(err.msg, "reading the MRCONFIGID"),
        "TDX report failing: refused (%s)", err.msg);
  fake_fini(&f);
}

static void snp_binding_checked(void) {
  fake f;
  fake_init(&f);
  fake_file(&f, "/dev/sev-guest", "", 0);
  static uint8_t rep[1184];
  rep[0] = 2; /* report version */
  uint8_t d[64];
  cf_sha512(DOC512, strlen(DOC512), d);
  memcpy(rep + 0xC0, d, 32); /* HOST_DATA = sha512 truncated to 32 bytes */
  f.snp_report = rep;
  cf_error err = {0};
  cf_initdata *id = NULL;
  cf_tee_kind k;
  reset_dir();
  CHECK(accept_doc(&f, true, DOC512, &id, &k, &err) == 0 && id && k == CF_TEE_SNP,
        "SNP: init-data matching HOST_DATA accepted (%s)", err.msg);
  CHECK(file_is("x", "y"), "the [data] entry written");
  cf_initdata_free(id);
  reset_dir();
  rep[0xC0 + 31] ^= 1;
  CHECK(accept_doc(&f, true, DOC512, &id, &k, &err) < 0 && strstr(err.msg, "does not match the HOST_DATA") &&
            strstr(err.msg, "sha512"),
        "SNP: one bit of HOST_DATA differing refused (%s)", err.msg);
  CHECK(nothing_written(), "nothing written");
  fake_fini(&f);
}

static void sample_and_plain(void) {
  fake f;
  fake_init(&f);
  uint8_t d[32];
  char hex[65];
  cf_sha256(DOC256, strlen(DOC256), d);
  cf_hex(d, 32, hex);
  cf_error err = {0};
  cf_initdata *id = NULL;
  cf_tee_kind k;
  /* plain, no sample: init-data optional and not verified */
  reset_dir();
  CHECK(accept_doc(&f, true, NULL, &id, &k, &err) == 0 && !id && k == CF_TEE_NONE,
        "plain without init-data: fine (%s)", err.msg);
  CHECK(accept_doc(&f, true, DOC256, &id, &k, &err) == 0 && id && k == CF_TEE_NONE,
        "plain with init-data: accepted, unverified (%s)", err.msg);
  cf_initdata_free(id);
  /* sample: the digest the shim put on the command line */
  f.env.sample_binding_hex = hex;
  reset_dir();
  CHECK(accept_doc(&f, true, DOC256, &id, &k, &err) == 0 && id && k == CF_TEE_SAMPLE,
        "sample binding matching: accepted (%s)", err.msg);
  cf_initdata_free(id);
  CHECK(accept_doc(&f, false, DOC256, &id, &k, &err) == 0 && id && k == CF_TEE_SAMPLE,
        "host-process agent, sample binding matching: accepted (%s)", err.msg);
  cf_initdata_free(id);
  reset_dir();
  CHECK(accept_doc(&f, true, DOC512, &id, &k, &err) < 0 && strstr(err.msg, "does not match the sample binding") &&
            strstr(err.msg, hex),
        "sample binding of another document: refused naming it (%s)", err.msg);
  CHECK(accept_doc(&f, false, NULL, &id, &k, &err) < 0 && strstr(err.msg, "no init-data"),
        "a sample binding but no init-data: refused (%s)", err.msg);
  /* TEE hardware beats the sample binding: a TDX guest checks MRCONFIGID */
  f.cpuid_tdx = true;
  fake_file(&f, "/dev/tdx_guest", "", 0);
  CHECK(accept_doc(&f, true, DOC256, &id, &k, &err) < 0 && strstr(err.msg, "MRCONFIGID"),
        "sample binding ignored in a TDX guest (%s)", err.msg);
  fake_fini(&f);
}

static void sample_hex_from_command_line(void) {
  char out[136];
  setenv("COFFER_AGENT_CMDLINE", "console=ttyS0 coffer.sample_init_data=ab12 quiet", 1);
  agent_initdata_sample_hex(false, out, sizeof(out));
  CHECK(!strcmp(out, "ab12"), "sample hex from the command line: '%s'", out);
  setenv("COFFER_AGENT_CMDLINE", "console=ttyS0", 1);
  agent_initdata_sample_hex(false, out, sizeof(out));
  CHECK(!out[0], "no sample hex");
  unsetenv("COFFER_AGENT_CMDLINE");
}

int main(void) {
  snprintf(dir, sizeof(dir), "/tmp/cf-initdata-XXXXXX");
  CHECK(mkdtemp(dir), "mkdtemp");
  tdx_binding_checked();
  snp_binding_checked();
  sample_and_plain();
  sample_hex_from_command_line();
  char cmd[160];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd) != 0)
    return 1;
  printf("ok: init-data verified against TDX, SNP and sample bindings; refusals fail closed\n");
  return 0;
}
