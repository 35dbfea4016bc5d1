/* The agent's network RPC handlers (agent/net.c) against the real kernel, in
 * a private network namespace of this test (root): a veth pair stands in for
 * the guest's virtio NIC. Good input configures it (seen with `ip`); bad
 * input (a MAC no NIC has, loopback / multicast addresses, a route or
 * neighbour through a missing device, a bad name) is refused with an error
 * naming the value, and changes nothing.
 *
 *   test_agent_net            the RPCs' behaviour
 *   test_agent_net hostile    a TEE's adversary: requests a hostile host could
 *                             send (the loopback device reached by its MAC or
 *                             name, group MACs, prefixes strtoul would take,
 *                             host bits, lists of 100000 entries, a bad entry
 *                             after good ones) are refused with an error that
 *                             names the value, and the guest's links,
 *                             addresses, routes and neighbours are unchanged. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

static int failures;
#define CHECK(c, ...)                                \
  do {                                               \
    if (!(c)) {                                      \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                  \
      fprintf(stderr, "\n");                         \
      failures++;                                    \
    }                                                \
  } while (0)

static int sh_has(const char *cmd, const char *needle) {
  FILE *p = popen(cmd, "r");
  char buf[8192];
  size_t n = p ? fread(buf, 1, sizeof(buf) - 1, p) : 0;
  buf[n] = 0;
  if (p)
    pclose(p);
  return strstr(buf, needle) != NULL;
}

#define MAC "02:c0:ff:ee:00:01"

static int iface(const char *mac, const char *name, unsigned mtu, const char *ip, unsigned prefix,
                 cf_error *err) {
  Coffer__Agent__V1__IPAddress a = COFFER__AGENT__V1__IPADDRESS__INIT, *ap = &a;
  a.address = (char *)ip;
  a.prefix_len = prefix;
  Coffer__Agent__V1__UpdateInterfaceRequest r = COFFER__AGENT__V1__UPDATE_INTERFACE_REQUEST__INIT;
  r.hw_addr = (char *)mac;
  r.name = (char *)name;
  r.mtu = mtu;
  r.addresses = &ap;
  r.n_addresses = 1;
  memset(err, 0, sizeof(*err));
  return agent_net_update_interface(&r, 100, err);
}

static int route(const char *dest, const char *gw, const char *dev, unsigned scope, cf_error *err) {
  Coffer__Agent__V1__Route rt = COFFER__AGENT__V1__ROUTE__INIT, *p = &rt;
  rt.dest = (char *)dest;
  rt.gateway = (char *)gw;
  rt.device = (char *)dev;
  rt.scope = scope;
  Coffer__Agent__V1__UpdateRoutesRequest r = COFFER__AGENT__V1__UPDATE_ROUTES_REQUEST__INIT;
  r.routes = &p;
  r.n_routes = 1;
  memset(err, 0, sizeof(*err));
  return agent_net_update_routes(&r, err);
}

static int neigh(const char *ip, const char *mac, const char *dev, cf_error *err) {
  Coffer__Agent__V1__Neighbor n = COFFER__AGENT__V1__NEIGHBOR__INIT, *p = &n;
  n.ip = (char *)ip;
  n.hw_addr = (char *)mac;
  n.device = (char *)dev;
  Coffer__Agent__V1__AddNeighborsRequest r = COFFER__AGENT__V1__ADD_NEIGHBORS_REQUEST__INIT;
  r.neighbors = &p;
  r.n_neighbors = 1;
  memset(err, 0, sizeof(*err));
  return agent_net_add_neighbors(&r, err);
}

static char *sh_out(const char *cmd) {
  FILE *p = popen(cmd, "r");
  static char buf[16384];
  size_t n = p ? fread(buf, 1, sizeof(buf) - 1, p) : 0;
  buf[n] = 0;
  if (p)
    pclose(p);
  return strdup(buf);
}

/* the guest's whole network state, to compare before / after */
#define NET_STATE "ip -o link show; ip -o addr show; ip route show table all; ip neigh show"

static int hostile(void) {
  cf_error err;
  /* the NIC, configured as the shim would; then every hostile request */
  CHECK(iface(MAC, "eth0", 1450, "10.9.0.2", 24, &err) == 0, "configure: %s", err.msg);
  CHECK(route("", "10.9.0.1", "eth0", 0, &err) == 0, "default route: %s", err.msg);
  char *before = sh_out(NET_STATE);

  /* the loopback device: by its all-zero MAC, by name, as a route or
   * neighbour device (the agent's channel is vsock, no netdev: lo is the
   * only guest device besides the NIC) */
  CHECK(iface("00:00:00:00:00:00", "eth1", 1500, "10.9.1.2", 24, &err) < 0 &&
            err.status == CF_INVALID_ARGUMENT && strstr(err.msg, "00:00:00:00:00:00"),
        "lo's MAC: %s", err.msg);
  CHECK(iface("ff:ff:ff:ff:ff:ff", "eth1", 1500, "10.9.1.2", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "broadcast MAC: %s", err.msg);
  CHECK(iface("01:00:5e:00:00:01", "eth1", 1500, "10.9.1.2", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "multicast MAC: %s", err.msg);
  CHECK(iface(MAC, "lo", 1500, "10.9.1.2", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "rename the NIC to lo: %s", err.msg);
  CHECK(route("10.30.0.0/16", "", "lo", 253, &err) < 0 && err.status == CF_INVALID_ARGUMENT &&
            strstr(err.msg, "lo") && strstr(err.msg, "not a NIC"),
        "route through lo: %s", err.msg);
  CHECK(route("", "10.9.0.1", "lo", 0, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "default route through lo: %s", err.msg);
  CHECK(neigh("10.9.0.8", "02:00:00:00:00:08", "lo", &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "neighbour on lo: %s", err.msg);
  CHECK(neigh("10.9.0.8", "ff:ff:ff:ff:ff:ff", "eth0", &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "broadcast neighbour MAC: %s", err.msg);
  /* names: too long, control characters, ones the kernel must never see */
  CHECK(iface(MAC, "eth0-name-far-too-long", 1450, "10.9.0.2", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "16+ character name: %s", err.msg);
  CHECK(iface(MAC, "eth\n0", 1450, "10.9.0.2", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "name with a newline: %s", err.msg);
  CHECK(iface(MAC, "", 1450, "10.9.0.2", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT, "empty name: %s",
        err.msg);
  CHECK(route("", "10.9.0.1", "eth0-name-far-too-long-and-longer", 0, &err) < 0 && err.status == CF_NOT_FOUND,
        "route via a too long device name: %s", err.msg);
  /* prefixes: what strtoul would take, host bits, v6 loopback */
  const char *bad_dest[] = {"10.30.0.0/-1",  "10.30.0.0/ 8",  "10.30.0.0/+8",   "10.30.0.0/",
                            "10.30.0.0",     "10.30.0.0/8x",  "10.30.0.0/0008", "10.30.0.0/4294967304",
                            "10.30.0.5/24",  "::1/128",       "/24",            "10.30.0.0/24/24",
                            "127.0.0.0/8",   "10.30.0.0/33",  "fd00::/129"};
  for (size_t i = 0; i < sizeof(bad_dest) / sizeof(bad_dest[0]); i++)
    CHECK(route(bad_dest[i], "", "eth0", 253, &err) < 0 && err.status == CF_INVALID_ARGUMENT &&
              strstr(err.msg, bad_dest[i]),
          "route to %s: %d %s", bad_dest[i], err.status, err.msg);
  CHECK(route("", "10.9.0.1", "eth0", 256, &err) < 0 && err.status == CF_INVALID_ARGUMENT, "scope 256: %s",
        err.msg);
  CHECK(route("fd00::/64", "10.9.0.1", "eth0", 0, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "v6 destination via a v4 gateway: %s", err.msg);

  /* huge lists: refused by their size, before any work */
  enum { HUGE = 100000 };
  Coffer__Agent__V1__Route rt = COFFER__AGENT__V1__ROUTE__INIT;
  rt.dest = "10.40.0.0/16";
  rt.gateway = "";
  rt.device = "eth0";
  rt.source = "";
  rt.scope = 253;
  Coffer__Agent__V1__Route **rts = calloc(HUGE, sizeof(*rts));
  for (int i = 0; i < HUGE; i++)
    rts[i] = &rt;
  Coffer__Agent__V1__UpdateRoutesRequest rr = COFFER__AGENT__V1__UPDATE_ROUTES_REQUEST__INIT;
  rr.routes = rts;
  rr.n_routes = HUGE;
  memset(&err, 0, sizeof(err));
  CHECK(agent_net_update_routes(&rr, &err) < 0 && err.status == CF_INVALID_ARGUMENT && strstr(err.msg, "100000"),
        "100000 routes: %s", err.msg);
  Coffer__Agent__V1__Neighbor nb = COFFER__AGENT__V1__NEIGHBOR__INIT;
  nb.ip = "10.9.0.9";
  nb.hw_addr = "02:00:00:00:00:09";
  nb.device = "eth0";
  Coffer__Agent__V1__Neighbor **nbs = calloc(HUGE, sizeof(*nbs));
  for (int i = 0; i < HUGE; i++)
    nbs[i] = &nb;
  Coffer__Agent__V1__AddNeighborsRequest nr = COFFER__AGENT__V1__ADD_NEIGHBORS_REQUEST__INIT;
  nr.neighbors = nbs;
  nr.n_neighbors = HUGE;
  memset(&err, 0, sizeof(err));
  CHECK(agent_net_add_neighbors(&nr, &err) < 0 && err.status == CF_INVALID_ARGUMENT && strstr(err.msg, "100000"),
        "100000 neighbours: %s", err.msg);
  Coffer__Agent__V1__IPAddress ad = COFFER__AGENT__V1__IPADDRESS__INIT;
  ad.address = "10.9.0.3";
  ad.prefix_len = 24;
  Coffer__Agent__V1__IPAddress **ads = calloc(HUGE, sizeof(*ads));
  for (int i = 0; i < HUGE; i++)
    ads[i] = &ad;
  Coffer__Agent__V1__UpdateInterfaceRequest ir = COFFER__AGENT__V1__UPDATE_INTERFACE_REQUEST__INIT;
  ir.hw_addr = MAC;
  ir.name = "eth0";
  ir.addresses = ads;
  ir.n_addresses = HUGE;
  memset(&err, 0, sizeof(err));
  CHECK(agent_net_update_interface(&ir, 100, &err) < 0 && err.status == CF_INVALID_ARGUMENT &&
            strstr(err.msg, "100000"),
        "100000 addresses: %s", err.msg);

  /* a bad entry after good ones: the good ones are not applied either */
  Coffer__Agent__V1__Route good = COFFER__AGENT__V1__ROUTE__INIT, badr = COFFER__AGENT__V1__ROUTE__INIT;
  good.dest = "10.50.0.0/16";
  good.gateway = "";
  good.device = "eth0";
  good.source = "";
  good.scope = 253;
  badr = good;
  badr.dest = "10.51.0.0/16";
  badr.device = "lo";
  Coffer__Agent__V1__Route *mix[] = {&good, &badr};
  rr.routes = mix;
  rr.n_routes = 2;
  memset(&err, 0, sizeof(err));
  CHECK(agent_net_update_routes(&rr, &err) < 0 && err.status == CF_INVALID_ARGUMENT, "good then bad route: %s",
        err.msg);
  Coffer__Agent__V1__Neighbor goodn = nb, badn = nb;
  badn.device = "lo";
  Coffer__Agent__V1__Neighbor *mixn[] = {&goodn, &badn};
  nr.neighbors = mixn;
  nr.n_neighbors = 2;
  memset(&err, 0, sizeof(err));
  CHECK(agent_net_add_neighbors(&nr, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "good then bad neighbour: %s", err.msg);

  char *after = sh_out(NET_STATE);
  CHECK(!strcmp(before, after), "a refused request changed the guest's network:\n--- before\n%s--- after\n%s",
        before, after);
  CHECK(sh_has("ip -o link show lo", "LOOPBACK"), "lo is still lo");
  free(before);
  free(after);
  free(rts);
  free(nbs);
  free(ads);
  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("PASS\n");
  return 0;
}

int main(int argc, char **argv) {
  if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
    printf("SKIP: needs root and a private network namespace (%s)\n", strerror(errno));
    return 77;
  }
  if (system("ip link add vguest address " MAC " type veth peer name vhost >/dev/null 2>&1") != 0) {
    printf("SKIP: cannot create a veth pair (iproute2, CONFIG_VETH)\n");
    return 77;
  }
  CHECK(system("ip link set vhost up") == 0, "ip link set vhost up");
  CHECK(system("ip link set lo up") == 0, "ip link set lo up");
  if (argc > 1 && !strcmp(argv[1], "hostile"))
    return hostile();
  cf_error err;

  /* bad input first: nothing may change */
  CHECK(iface("02:00:00:00:00:99", "eth0", 1450, "10.9.0.2", 24, &err) < 0 &&
            err.status == CF_NOT_FOUND && strstr(err.msg, "02:00:00:00:00:99"),
        "unknown MAC: %s", err.msg);
  CHECK(iface("not-a-mac", "eth0", 1450, "10.9.0.2", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "malformed MAC: %s", err.msg);
  CHECK(iface(MAC, "eth0", 1450, "127.0.0.5", 8, &err) < 0 && err.status == CF_INVALID_ARGUMENT &&
            strstr(err.msg, "127.0.0.5"),
        "loopback address: %s", err.msg);
  CHECK(iface(MAC, "eth0", 1450, "::1", 128, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "v6 loopback: %s", err.msg);
  CHECK(iface(MAC, "eth0", 1450, "224.0.0.1", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "multicast: %s", err.msg);
  CHECK(iface(MAC, "eth0", 1450, "10.9.0.2", 33, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "prefix 33: %s", err.msg);
  CHECK(iface(MAC, "lo", 1450, "10.9.0.2", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "rename to lo: %s", err.msg);
  CHECK(iface(MAC, "a/b", 1450, "10.9.0.2", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "name with /: %s", err.msg);
  CHECK(iface(MAC, "eth0", 20, "10.9.0.2", 24, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "mtu 20: %s", err.msg);
  CHECK(sh_has("ip -o link show vguest", "vguest"), "a refused request renamed the NIC");
  CHECK(!sh_has("ip -o addr show", "10.9.0.2"), "a refused request added an address");

  /* good input */
  CHECK(iface(MAC, "eth0", 1450, "10.9.0.2", 24, &err) == 0, "configure: %s", err.msg);
  CHECK(sh_has("ip -o link show eth0", "mtu 1450"), "eth0 with mtu 1450");
  CHECK(sh_has("ip -o link show eth0", "state UP") || sh_has("ip -o link show eth0", ",UP"), "eth0 up");
  CHECK(sh_has("ip -o addr show dev eth0", "inet 10.9.0.2/24"), "address on eth0");
  /* again: idempotent (the shim may retry) */
  CHECK(iface(MAC, "eth0", 1450, "10.9.0.2", 24, &err) == 0, "configure twice: %s", err.msg);

  CHECK(route("", "10.9.0.1", "nosuchdev", 0, &err) < 0 && err.status == CF_NOT_FOUND &&
            strstr(err.msg, "nosuchdev"),
        "route via a missing device: %s", err.msg);
  CHECK(route("", "127.0.0.1", "eth0", 0, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "route via loopback gateway: %s", err.msg);
  CHECK(route("10.8.0.0/40", "", "eth0", 253, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "bad prefix: %s", err.msg);
  CHECK(route("", "", "eth0", 0, &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "no family: %s", err.msg);
  CHECK(route("10.20.0.0/16", "", "eth0", 253, &err) == 0, "link-scope route: %s", err.msg);
  CHECK(route("", "10.9.0.1", "eth0", 0, &err) == 0, "default route: %s", err.msg);
  CHECK(sh_has("ip route show", "default via 10.9.0.1 dev eth0"), "default route present");
  CHECK(sh_has("ip route show", "10.20.0.0/16 dev eth0"), "link route present");

  CHECK(neigh("10.9.0.7", "02:00:00:00:00:07", "nosuchdev", &err) < 0 && err.status == CF_NOT_FOUND,
        "neighbour on a missing device: %s", err.msg);
  CHECK(neigh("127.0.0.1", "02:00:00:00:00:07", "eth0", &err) < 0 && err.status == CF_INVALID_ARGUMENT,
        "loopback neighbour: %s", err.msg);
  CHECK(neigh("10.9.0.7", "02:00:00:00:00:07", "eth0", &err) == 0, "neighbour: %s", err.msg);
  CHECK(sh_has("ip neigh show dev eth0", "10.9.0.7 lladdr 02:00:00:00:00:07 PERMANENT"),
        "permanent neighbour present");

  if (failures) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("PASS\n");
  return 0;
}
