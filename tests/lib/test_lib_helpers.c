/* lib's small shared helpers: the one id rule every program applies to
 * names from outside, the ".." component check, mkdir -p, the atomic file
 * writer. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coffer/clock.h"
#include "coffer/file.h"
#include "coffer/id.h"
#include "coffer/path.h"
#include "test_util.h"

static void ids_follow_the_strict_rule(void) {
  const char *good[] = {"a", "abc-1.2_x", "0", "Z.-_", "e3b0c44298fc1c149afbf4c8996fb924"};
  const char *bad[] = {"", ".", "..", "-a", "_a", ".a", "a/b", "a b", "a\nb", "a:b", "ä", "a\\b"};
  for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
    CHECK(cf_id_valid(good[i]));
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
    CHECK(!cf_id_valid(bad[i]));
  CHECK(!cf_id_valid(NULL));
  char id[CF_ID_MAX + 2];
  memset(id, 'a', sizeof(id));
  id[CF_ID_MAX] = '\0';
  CHECK(cf_id_valid(id)); /* exactly the limit */
  id[CF_ID_MAX] = 'a';
  id[CF_ID_MAX + 1] = '\0';
  CHECK(!cf_id_valid(id));
}

static void dotdot_is_a_component_not_a_substring(void) {
  const char *climbs[] = {"..", "../a", "a/..", "a/../b", "/..", "/a/../../b", "a/../"};
  const char *stays[] = {"", "a..b", "...", "a/...", "..a", "a..", "/a/b..c/d", "."};
  for (size_t i = 0; i < sizeof(climbs) / sizeof(*climbs); i++)
    CHECK(cf_path_has_dotdot(climbs[i]));
  for (size_t i = 0; i < sizeof(stays) / sizeof(*stays); i++)
    CHECK(!cf_path_has_dotdot(stays[i]));
}

static void mkdir_p_makes_parents_and_the_leaf_with_their_modes(void) {
  char base[] = "/tmp/coffer-test-mkdirp-XXXXXX";
  CHECK(mkdtemp(base));
  mode_t old = umask(0);
  char leaf[256];
  snprintf(leaf, sizeof(leaf), "%s/a/b/c", base);
  CHECK(cf_mkdir_p(leaf, 0711, 0700) == 0);
  CHECK(cf_mkdir_p(leaf, 0711, 0700) == 0); /* existing: fine */
  struct stat st;
  CHECK(stat(leaf, &st) == 0 && (st.st_mode & 07777) == 0700);
  char mid[256];
  snprintf(mid, sizeof(mid), "%s/a/b", base);
  CHECK(stat(mid, &st) == 0 && (st.st_mode & 07777) == 0711);
  umask(old);
  /* a file in the way: the errno of the failing mkdir */
  char file[256], under[300];
  snprintf(file, sizeof(file), "%s/f", base);
  FILE *f = fopen(file, "w");
  CHECK(f && fclose(f) == 0);
  snprintf(under, sizeof(under), "%s/x", file);
  CHECK(cf_mkdir_p(under, 0755, 0755) == -ENOTDIR);
  CHECK(cf_mkdir_p("", 0755, 0755) == -ENOENT);
  char *huge = malloc(5000);
  memset(huge, 'a', 4999);
  huge[0] = '/';
  huge[4999] = '\0';
  CHECK(cf_mkdir_p(huge, 0755, 0755) == -ENAMETOOLONG);
  free(huge);
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
  CHECK(system(cmd) == 0);
}

static void clock_is_monotonic(void) {
  uint64_t a = cf_now_us(), b = cf_now_ms();
  CHECK(a > 0 && b > 0 && cf_now_us() >= a && b <= cf_now_ms());
}

static int entries_in(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  if (d)
    closedir(d);
  return n;
}

static void atomic_write_replaces_with_its_mode_and_leaves_nothing_behind(void) {
  char base[] = "/tmp/coffer-test-atomic-XXXXXX";
  CHECK(mkdtemp(base));
  char path[256], link[256];
  snprintf(path, sizeof(path), "%s/state.json", base);
  cf_error err = {0};
  mode_t old = umask(077); /* the mode given wins over the umask */
  CHECK_OK(cf_write_file_atomic(path, "first", 5, 0644, 0, &err), &err);
  CHECK_OK(cf_write_file_atomic(path, "second!", 7, 0644, CF_WRITE_SYNC, &err), &err);
  umask(old);
  char *got = NULL;
  size_t len = 0;
  CHECK_OK(cf_read_file(path, 64, &got, &len, &err), &err);
  CHECK(len == 7 && !memcmp(got, "second!", 7));
  free(got);
  struct stat st;
  CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
  CHECK(entries_in(base) == 1); /* no temporary left */
  /* an empty file is a valid content */
  CHECK_OK(cf_write_file_atomic(path, "", 0, 0600, 0, &err), &err);
  CHECK(stat(path, &st) == 0 && st.st_size == 0 && (st.st_mode & 07777) == 0600);
  /* a symlink planted at the temporary's name is not followed: the write
   * fails naming the path, the target is untouched, the old content stays */
  char victim[256];
  snprintf(victim, sizeof(victim), "%s/victim", base);
  FILE *f = fopen(victim, "w");
  CHECK(f && fputs("keep", f) >= 0 && fclose(f) == 0);
  snprintf(link, sizeof(link), "%s/.state.json.tmp.%d", base, (int)getpid());
  CHECK(symlink(victim, link) == 0);
  CHECK(cf_write_file_atomic(path, "evil", 4, 0600, 0, &err) == -ELOOP);
  CHECK(strstr(err.msg, "state.json") != NULL);
  CHECK_OK(cf_read_file(victim, 64, &got, &len, &err), &err);
  CHECK(len == 4 && !memcmp(got, "keep", 4));
  free(got);
  CHECK(stat(path, &st) == 0 && st.st_size == 0);
  unlink(link);
  /* a directory that does not exist: an error naming it, nothing created */
  char missing[300];
  snprintf(missing, sizeof(missing), "%s/no/such/file", base);
  CHECK(cf_write_file_atomic(missing, "x", 1, 0600, 0, &err) == -ENOENT);
  CHECK(strstr(err.msg, "no/such") != NULL);
  CHECK(entries_in(base) == 2); /* state.json and victim */
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
  CHECK(system(cmd) == 0);
}

int main(void) {
  ids_follow_the_strict_rule();
  dotdot_is_a_component_not_a_substring();
  mkdir_p_makes_parents_and_the_leaf_with_their_modes();
  clock_is_monotonic();
  atomic_write_replaces_with_its_mode_and_leaves_nothing_behind();
  printf("ok\n");
  return 0;
}
