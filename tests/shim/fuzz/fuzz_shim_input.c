/* libFuzzer: everything the shim decodes from outside before its daemon
 * runs: start's stdin (runtime options / BootstrapParams), the JSON config,
 * and a bundle's config.json annotations (pod grouping). First byte picks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "config.h"
#include "startopts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t which = data[0] % 3;
  data++;
  size--;
  cf_error err = {0};
  if (which == 0) {
    char *path = NULL, *body = NULL, *ttrpc = NULL;
    shim_parse_start_input(data, size, "t1", "default", &path, &body, &ttrpc, &err);
    free(path);
    free(body);
    free(ttrpc);
    return 0;
  }
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  if (which == 1) {
    shim_config c = {0};
    shim_config_defaults(&c, &err);
    shim_config_parse(&c, "fuzz", text, &err);
    shim_config_free(&c);
  } else {
    char group[160];
    shim_group_id(text, "t1", group, sizeof(group), &err);
  }
  free(text);
  return 0;
}
