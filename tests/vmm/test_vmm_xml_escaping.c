/* Hostile ids and paths: the XML writer escapes them (they round-trip as
 * data, never become markup), and what cannot be expressed is refused. */
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain_xml.h"
#include "spec.h"

#include "expect.h"

static void set(char **f, const char *v) {
  free(*f);
  *f = strdup(v);
}

static void base(vm_spec *s) {
  vm_spec_init(s);
  set(&s->pod_id, "pod1");
  set(&s->profile, "plain");
  set(&s->machine, "microvm");
  set(&s->accel, "tcg");
  set(&s->kernel, "/k");
  set(&s->state_dir, "/s");
  set(&s->console_log, "/s/console.log");
  set(&s->agent_socket, "/s/agent.sock");
  set(&s->share_dir, "/s/share");
  set(&s->virtiofsd, "/usr/lib/qemu/virtiofsd");
}

static char *xpath_str(xmlDocPtr doc, const char *expr) {
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
  char *r = o && o->stringval ? strdup((char *)o->stringval) : NULL;
  xmlXPathFreeObject(o);
  xmlXPathFreeContext(ctx);
  return r;
}

static double xpath_num(xmlDocPtr doc, const char *expr) {
  xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
  xmlXPathObjectPtr o = xmlXPathEvalExpression(BAD_CAST expr, ctx);
  double r = o ? o->floatval : -1;
  xmlXPathFreeObject(o);
  xmlXPathFreeContext(ctx);
  return r;
}

int main(void) {
  const char *hostile =
      "/tmp/a\"b'c<d>e&f\n</source><qemu:commandline><qemu:arg value='-evil'/>]]>&amp;";
  const char *hostile_cmdline = "console=ttyS0 </cmdline><kernel>/evil</kernel> & \"x\"";
  vm_spec s;
  base(&s);
  set(&s.kernel, hostile);
  set(&s.share_dir, hostile);
  set(&s.console_log, hostile);
  set(&s.cmdline, hostile_cmdline);
  cf_error err = {0};
  char *xml = domain_xml_build(&s, NULL, &err);
  EXPECT(xml, "build failed: %s", err.msg);
  if (xml) {
    EXPECT(!strstr(xml, "-evil'/>"), "hostile markup appears unescaped:\n%s", xml);
    EXPECT(strstr(xml, "&lt;") && strstr(xml, "&amp;") && strstr(xml, "&#10;"),
           "expected escapes (&lt; &amp; &#10;) missing:\n%s", xml);
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "d.xml", NULL, XML_PARSE_NONET);
    EXPECT(doc, "generated XML does not parse:\n%s", xml);
    if (doc) {
      char *k = xpath_str(doc, "string(/domain/os/kernel)");
      char *src = xpath_str(doc, "string(/domain/devices/filesystem/source/@dir)");
      char *con = xpath_str(doc, "string(/domain/devices/serial/source/@path)");
      char *cl = xpath_str(doc, "string(/domain/os/cmdline)");
      EXPECT(k && !strcmp(k, hostile), "kernel path did not round-trip: %s", k);
      EXPECT(src && !strcmp(src, hostile), "share dir did not round-trip: %s", src);
      EXPECT(con && !strcmp(con, hostile), "console path did not round-trip: %s", con);
      EXPECT(cl && !strcmp(cl, hostile_cmdline), "cmdline did not round-trip: %s", cl);
      /* structure unchanged: one kernel, one qemu:arg pair, no injected elements */
      EXPECT(xpath_num(doc, "count(/domain/os/kernel)") == 1, "kernel count");
      EXPECT(xpath_num(doc, "count(//*[local-name()='arg'])") == 2, "qemu:arg count");
      EXPECT(xpath_num(doc, "count(/domain/devices/*)") == 6, "device count %g",
             xpath_num(doc, "count(/domain/devices/*)"));
      free(k);
      free(src);
      free(con);
      free(cl);
      xmlFreeDoc(doc);
    }
    free(xml);
  }
  vm_spec_free(&s);

  /* ids: only containerd's charset is accepted, so names cannot carry markup */
  const char *bad_ids[] = {"a'b", "a<b", "a&b", "a\nb", "../x", "a/b", "", ".hidden", "a b"};
  for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
    base(&s);
    set(&s.pod_id, bad_ids[i]);
    cf_error e = {0};
    EXPECT(vm_spec_validate(&s, &e) < 0 && e.status == CF_INVALID_ARGUMENT, "pod id \"%s\" accepted", bad_ids[i]);
    char *x = domain_xml_build(&s, NULL, &e);
    EXPECT(!x, "XML built for pod id \"%s\"", bad_ids[i]);
    free(x);
    vm_spec_free(&s);
  }
  /* control characters and invalid UTF-8 are refused, not passed on */
  const char *bad_paths[] = {"/a\x01b", "/a\x1b[31m", "/a\xff\xfe", "/a\x7f",
                             "/a\xf6\x8a\x9a\x8c" /* past U+10FFFF (found by fuzz_vmm_spec) */,
                             "/a\xed\xa0\x80" /* surrogate */, "/a\xef\xbf\xbe" /* U+FFFE */,
                             "/a\xc0\xaf" /* overlong '/' */, "/a\xe2\x82" /* truncated */};
  for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
    base(&s);
    set(&s.kernel, bad_paths[i]);
    cf_error e = {0};
    char *x = domain_xml_build(&s, NULL, &e);
    EXPECT(!x && e.status == CF_INVALID_ARGUMENT && strstr(e.msg, "kernel"),
           "path %zu accepted (%s)", i, e.msg);
    free(x);
    vm_spec_free(&s);
  }
  /* any XML character is passed on: non-ASCII paths are legitimate */
  base(&s);
  set(&s.kernel, "/k\xc3\xbc/\xe6\x97\xa5/\xf0\x9f\x98\x80/\xf4\x8f\xbf\xbd");
  char *ok = domain_xml_build(&s, NULL, &err);
  EXPECT(ok && strstr(ok, "/k\xc3\xbc/\xe6\x97\xa5/\xf0\x9f\x98\x80/\xf4\x8f\xbf\xbd"),
         "non-ASCII kernel path refused or altered: %s", err.msg);
  free(ok);
  vm_spec_free(&s);
  /* disk serials are ids too */
  base(&s);
  s.disks[0].path = strdup("/d.img");
  s.disks[0].serial = strdup("x'><evil/>");
  s.ndisks = 1;
  EXPECT(vm_spec_validate(&s, &err) < 0, "hostile disk serial accepted");
  vm_spec_free(&s);
  if (!failed)
    printf("PASS XML escaping\n");
  return failed;
}
