/* The agent's network RPC handlers (agent/net.c) against the real kernel, in
 * a private network namespace of this test (root): a veth pair stands in for
 * the guest's virtio NIC. Good input configures it (seen with `ip`); bad
 * input (a MAC no NIC has, loopback / multicast addresses, a route or
 * neighbour through a missing device, a bad name) is refused with an error
 * naming the value, and changes nothing. */
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

int main(void) {
  if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
    printf("SKIP: needs root and a private network namespace (%s)\n", strerror(errno));
    return 77;
  }
  if (system("ip link add vguest address " MAC " type veth peer name vhost >/dev/null 2>&1") != 0) {
    printf("SKIP: cannot create a veth pair (iproute2, CONFIG_VETH)\n");
    return 77;
  }
  CHECK(system("ip link set vhost up") == 0, "ip link set vhost up");
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
