/* libFuzzer: arbitrary bytes as a VM spec → parse, validate, build the
 * domain XML; the XML must always parse back (never a crash, never broken
 * markup). */
#include <libxml/parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain_xml.h"
#include "spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = 0;
  vm_spec s;
  vm_spec_init(&s);
  cf_error err = {0};
  if (vm_spec_parse_json(&s, text, &err) == 0 && vm_spec_validate(&s, &err) == 0) {
    if (!strcmp(s.accel, "auto")) {
      free(s.accel);
      s.accel = strdup(vm_spec_is_tee(&s) ? "kvm" : "tcg");
    }
    char *xml = domain_xml_build(&s, NULL, &err);
    if (xml) {
      xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "f.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
      if (!doc)
        abort(); /* the writer produced XML that does not parse */
      xmlFreeDoc(doc);
      free(xml);
    }
  }
  vm_spec_free(&s);
  free(text);
  return 0;
}
