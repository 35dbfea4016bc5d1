/* Which containers the agent pulls itself: image_pull "guest" (config) or
 * io.coffer.image-pull=guest (pod) sends the CRI image name, never for the
 * pause container; a pod cannot ask for a host pull when the config says
 * guest; malformed annotations and a missing image name are errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "image_pull.h"

#include "check.h"

#define SPEC(ann) "{\"ociVersion\":\"1.0.2\",\"annotations\":{" ann "}}"
#define NAME "\"io.kubernetes.cri.image-name\":\"registry.local:5000/app/web:1.2\""
#define CTR "\"io.kubernetes.cri.container-type\":\"container\""
#define SANDBOX "\"io.kubernetes.cri.container-type\":\"sandbox\""

/* want: NULL = host pull, else the reference; err_needle: expected error */
static void expect(const char *mode, const char *spec, const char *want, const char *err_needle) {
  shim_config c = {0};
  cf_error err = {0};
  shim_config_defaults(&c, &err);
  free(c.image_pull);
  c.image_pull = strdup(mode);
  char *ref = NULL;
  int r = shim_image_pull_ref(&c, spec, strlen(spec), &ref, &err);
  if (err_needle) {
    if (r >= 0 || !strstr(err.msg, err_needle)) {
      fprintf(stderr, "%s %s: expected an error naming \"%s\", got r=%d \"%s\"\n", mode, spec,
              err_needle, r, err.msg);
      failures++;
    }
  } else if (r < 0 || (want ? !ref || strcmp(ref, want) : ref != NULL)) {
    fprintf(stderr, "%s %s: want %s, got r=%d ref=%s (%s)\n", mode, spec, want ? want : "(host)",
            r, ref ? ref : "(host)", err.msg);
    failures++;
  }
  free(ref);
  shim_config_free(&c);
}

int main(void) {
  const char *img = "registry.local:5000/app/web:1.2";
  expect("host", SPEC(NAME "," CTR), NULL, NULL);
  expect("guest", SPEC(NAME "," CTR), img, NULL);
  expect("guest", SPEC(NAME "," SANDBOX), NULL, NULL); /* the pause image stays the host's */
  expect("host", SPEC(NAME "," CTR ",\"io.coffer.image-pull\":\"guest\""), img, NULL);
  expect("host", SPEC(NAME "," CTR ",\"io.coffer.image-pull\":\"host\""), NULL, NULL);
  expect("guest", SPEC(NAME "," CTR ",\"io.coffer.image-pull\":\"host\""), NULL,
         "a pod cannot ask for less");
  expect("host", SPEC(NAME ",\"io.coffer.image-pull\":\"maybe\""), NULL, "is not \"guest\" or \"host\"");
  expect("host", SPEC(NAME ",\"io.coffer.image-pull\":7"), NULL, "io.coffer.image-pull: not a string");
  expect("guest", SPEC(CTR), NULL, "needs the image's name");
  expect("guest", SPEC("\"io.kubernetes.cri.image-name\":\"a b\""), NULL, "is not an image reference");
  expect("guest", "{}", NULL, "needs the image's name");
  /* an image the pod lists for its guest was only seeded on the host */
  expect("host", SPEC(NAME "," CTR ",\"io.coffer.guest-pull-images\":\"x.io/a:1, registry.local:5000/app/web:1.2\""),
         img, NULL);
  expect("host", SPEC(NAME "," CTR ",\"io.coffer.guest-pull-images\":\"x.io/a:1\""), NULL, NULL);
  expect("host", SPEC(NAME "," CTR ",\"io.coffer.guest-pull-images\":\"x;reboot\""), NULL,
         "is not an image reference");
  expect("host", SPEC(NAME "," CTR ",\"io.coffer.image-pull\":\"host\",\"io.coffer.guest-pull-images\":\"registry.local:5000/app/web:1.2\""),
         NULL, "yet the pod's io.coffer.guest-pull-images lists");
  expect("host", "not json", NULL, NULL); /* the bundle's own check reports it */
  /* the config key itself */
  shim_config c = {0};
  cf_error err = {0};
  shim_config_defaults(&c, &err);
  CHECK(!strcmp(c.image_pull, "host"));
  CHECK(shim_config_parse(&c, "t", "{\"image_pull\": \"guest\"}", &err) == 0 &&
        !strcmp(c.image_pull, "guest"));
  CHECK(shim_config_parse(&c, "t", "{\"image_pull\": \"sideways\"}", &err) < 0 &&
        strstr(err.msg, "\"image_pull\": \"sideways\" is not one of host | guest"));
  shim_config_free(&c);
  return failures ? 1 : 0;
}
