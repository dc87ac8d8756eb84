"""The address plan of a maillab topology: who is where, with which address.

One object answers every question about the lab's layout, so the topology,
the zone file, the services and the provisioner read it from one place:

- site 0 is the sender site (``client1``...), 10.0.0.0/24 behind router ``r0``;
- data center k (``dck``) is 10.0.k.0/24 on switch ``sk`` behind router ``rk``;
  inside it .1 is the router, .2 the DNS server, .3 the relay, .10 upwards
  the messaging servers (``mx``), the ones that exist at start and the ones
  the provisioner creates later (the reserved range);
- routers are joined by point-to-point /30 links in 10.255.0.0/16: the
  sender site's access link to dc1, and one WAN link from dc1 to every
  other data center;
- names: hosts live under ``lab.example.org.``, mail is for ``example.org``.

MAC addresses are derived from IP addresses (02:00 + the four octets), so a
host re-created with the same IP gets the same MAC as its predecessor.
"""
import ipaddress
from dataclasses import dataclass, field

MAIL_DOMAIN = "example.org"
HOST_SUFFIX = "lab." + MAIL_DOMAIN      # mx1.lab.example.org
MX_FIRST = 10                           # first host number of messaging servers in a DC
MX_LAST = 99                            # last one: the reserved range ends here
SMTP_PORT = 25
DNS_PORT = 53
ROUTER_PROBE_PORT = 7   # nothing listens there: a router that is up answers with an RST


def mac_for(ip):
    """A locally administered MAC that encodes the IPv4 address."""
    octets = ipaddress.IPv4Address(ip.split("/")[0]).packed
    return "02:00:" + ":".join("%02x" % b for b in octets)


@dataclass
class HostInfo:
    name: str
    role: str           # client, dns, relay, mx, router
    dc: str             # "site" for the sender site, "dc1", ...
    ip: str             # without prefix length
    prefixlen: int = 24
    gateway: str = ""

    @property
    def cidr(self):
        return "%s/%d" % (self.ip, self.prefixlen)

    @property
    def mac(self):
        return mac_for(self.ip)

    @property
    def fqdn(self):
        return "%s.%s" % (self.name, HOST_SUFFIX)


@dataclass
class DataCenter:
    name: str           # dc1
    index: int          # 1
    switch: str         # s1
    router: str         # r1

    @property
    def subnet(self):
        return ipaddress.IPv4Network("10.0.%d.0/24" % self.index)

    def address(self, hostnum):
        return str(self.subnet.network_address + hostnum)

    @property
    def gateway(self):
        return self.address(1)


@dataclass
class RouterLink:
    """A point-to-point link between two routers, /30 addressed."""
    a: str
    b: str
    a_ip: str
    b_ip: str
    kind: str           # access (sender site to dc1) or wan (dc1 to dcN)


@dataclass
class AddressPlan:
    dcs: list
    hosts: dict = field(default_factory=dict)        # name -> HostInfo (not routers)
    router_links: list = field(default_factory=list)
    site_switch: str = "s0"
    site_router: str = "r0"
    primary_mx: str = ""      # the messaging server the zone's best MX names (mx1)
    # the messaging servers the zone lists at the primary preference ([]: primary_mx)
    mail_exchangers: list = field(default_factory=list)

    # --- lookups -------------------------------------------------------
    def dc(self, name):
        for dc in self.dcs:
            if dc.name == name:
                return dc
        raise KeyError("no data center %r (have %s)" % (name, ", ".join(d.name for d in self.dcs)))

    def host(self, name):
        return self.hosts[name]

    def by_role(self, role, dc=None):
        return [h for h in self.hosts.values() if h.role == role and (dc is None or h.dc == dc)]

    @property
    def dns(self):
        return self.by_role("dns")[0]

    @property
    def relay(self):
        return self.by_role("relay")[0]

    @property
    def clients(self):
        return self.by_role("client")

    def switch_of(self, name):
        h = self.hosts[name]
        return self.site_switch if h.dc == "site" else self.dc(h.dc).switch

    def subnets(self):
        """Every routed subnet and the router that owns it."""
        nets = {ipaddress.IPv4Network("10.0.0.0/24"): self.site_router}
        for dc in self.dcs:
            nets[dc.subnet] = dc.router
        return nets

    def sites(self):
        """The data centers as the relay's recovery policy sees them
        (servers/relay/recovery.py ``Sites``): each one's subnet, its router's
        address to probe, and the servers in it (not the relay, not clients)."""
        ports = {"dns": DNS_PORT, "mx": SMTP_PORT}
        return {"dcs": [{"name": dc.name, "subnet": str(dc.subnet),
                         "router": "%s:%d" % (dc.gateway, ROUTER_PROBE_PORT),
                         "hosts": {h.name: "%s:%d" % (h.ip, ports[h.role])
                                   for h in self.hosts.values()
                                   if h.dc == dc.name and h.role in ports}}
                        for dc in self.dcs]}

    # --- growth --------------------------------------------------------
    def add_host(self, name, role, dc, hostnum):
        if name in self.hosts:
            raise ValueError("host %s exists already" % name)
        if dc == "site":
            ip = "10.0.0.%d" % hostnum
            gw = "10.0.0.1"
        else:
            d = self.dc(dc)
            ip, gw = d.address(hostnum), d.gateway
        if any(h.ip == ip for h in self.hosts.values()):
            raise ValueError("address %s is taken" % ip)
        info = HostInfo(name=name, role=role, dc=dc, ip=ip, gateway=gw)
        self.hosts[name] = info
        return info

    def next_mx_name(self):
        numbers = [int(h.name[2:]) for h in self.by_role("mx") if h.name[2:].isdigit()]
        return "mx%d" % (max(numbers, default=0) + 1)

    def next_mx_hostnum(self, dc):
        d = self.dc(dc)
        used = {h.ip for h in self.hosts.values()}
        for num in range(MX_FIRST, MX_LAST + 1):
            if d.address(num) not in used:
                return num
        raise ValueError("%s has no free messaging server address left" % dc)

    def plan_new_mx(self, dc):
        """Reserve a name and address for a messaging server created in ``dc``."""
        return self.add_host(self.next_mx_name(), "mx", dc, self.next_mx_hostnum(dc))

    # --- routing -------------------------------------------------------
    def router_interfaces(self, router):
        """[(ip/prefix, peer-or-switch)] for ``router``, LAN interface first."""
        if router == self.site_router:
            intfs = [("10.0.0.1/24", self.site_switch)]
        else:
            dc = next(d for d in self.dcs if d.router == router)
            intfs = [("%s/24" % dc.gateway, dc.switch)]
        for link in self.router_links:
            if link.a == router:
                intfs.append((link.a_ip + "/30", link.b))
            elif link.b == router:
                intfs.append((link.b_ip + "/30", link.a))
        return intfs

    def routes(self, router):
        """Static routes of ``router``: [(subnet, next-hop ip)] for subnets it is not on.

        The router graph is a tree (site -- dc1 -- dcN), so the next hop to a
        subnet is the neighbour on the path to that subnet's router."""
        neighbours = {}
        for link in self.router_links:
            neighbours.setdefault(link.a, []).append((link.b, link.b_ip))
            neighbours.setdefault(link.b, []).append((link.a, link.a_ip))
        targets = [(str(subnet), owner) for subnet, owner in self.subnets().items()
                   if owner != router]
        # the router links themselves, so that routers answer from any address
        targets += [(str(ipaddress.IPv4Network(link.a_ip + "/30", strict=False)), link.a)
                    for link in self.router_links if router not in (link.a, link.b)]
        return [(subnet, self._first_hop(router, owner, neighbours))
                for subnet, owner in targets]

    def router_of(self, dc):
        """The router of data center ``dc`` (``site``: the sender site's)."""
        return self.site_router if dc == "site" else self.dc(dc).router

    def links_between(self, dc_a, dc_b):
        """The router links on the path between two data centers (or ``site``),
        as (router, router) pairs: cutting them separates the two."""
        a, b = self.router_of(dc_a), self.router_of(dc_b)
        parent = {a: None}
        frontier = [a]
        while frontier and b not in parent:
            nxt = []
            for node in frontier:
                for link in self.router_links:
                    for x, y in ((link.a, link.b), (link.b, link.a)):
                        if x == node and y not in parent:
                            parent[y] = (node, link)
                            nxt.append(y)
            frontier = nxt
        path = []
        node = b
        while parent.get(node):
            prev, link = parent[node]
            path.append((link.a, link.b))
            node = prev
        return list(reversed(path))

    @staticmethod
    def _first_hop(src, dst, neighbours):
        frontier = [(n, ip) for n, ip in neighbours.get(src, [])]
        seen = {src}
        while frontier:
            nxt = []
            for node, first_ip in frontier:
                if node == dst:
                    return first_ip
                if node in seen:
                    continue
                seen.add(node)
                nxt.extend((n, first_ip) for n, _ in neighbours.get(node, []))
            frontier = nxt
        raise ValueError("no path from %s to %s" % (src, dst))


def build_plan(dcs=1, mx_per_dc=(1,), clients=2):
    """The plan for ``dcs`` data centers; ``mx_per_dc[k]`` servers in dc k+1.

    DNS and relay live in dc1 (claim 17: the relay shares the first DC with
    mx1). Messaging servers are numbered across DCs: mx1.. in dc1, then dc2's.
    """
    plan = AddressPlan(dcs=[DataCenter("dc%d" % k, k, "s%d" % k, "r%d" % k)
                            for k in range(1, dcs + 1)])
    for c in range(1, clients + 1):
        plan.add_host("client%d" % c, "client", "site", 9 + c)
    plan.add_host("dns1", "dns", "dc1", 2)
    plan.add_host("relay1", "relay", "dc1", 3)
    n = 0
    for k, count in enumerate(mx_per_dc, start=1):
        for i in range(count):
            n += 1
            plan.add_host("mx%d" % n, "mx", "dc%d" % k, MX_FIRST + i)
            plan.primary_mx = plan.primary_mx or "mx%d" % n
    links = [("r0", "r1", "access")] + [("r1", "r%d" % k, "wan") for k in range(2, dcs + 1)]
    for i, (a, b, kind) in enumerate(links):
        base = ipaddress.IPv4Address("10.255.0.0") + 4 * i
        plan.router_links.append(RouterLink(a, b, str(base + 1), str(base + 2), kind))
    return plan
