"""The lab as a drawing: data centers as groups, routers, switches, hosts, links.

``drawing(plan, links)`` is pure: it reads the address plan
(``topologies/addressing.py``) and, when a net is running, its links with
their interface names (``net_links(net)``), and returns plain data with
coordinates that the page turns into SVG::

    {"width": W, "height": H,
     "groups": [{"name": "dc1", "x", "y", "w", "h", "subnet"}],
     "nodes":  [{"name": "mx1", "kind": "host", "role": "mx", "dc": "dc1",
                 "ip": "10.0.1.10", "x", "y"}],
     "links":  [{"id": "mx1|s1", "a": "mx1", "b": "s1", "kind": "lan",
                 "intfs": ["mx1-eth0", "s1-eth3"], "ax", "ay", "bx", "by", "bend"}]}

Groups run left to right (the sender site, then dc1, dc2, ...), each with
its router on top, its switch below and its hosts in a row at the bottom;
router-to-router links bend upwards when they skip a group.
"""
SLOT = 128          # horizontal room of one host
PAD = 20            # inside a group box, and around the drawing
GAP = 56            # between group boxes
BEND = 90           # how far a router link rises per group it skips (over the group names)
ROUTER_Y = 85       # offsets inside a group box (the group's name is above the router)
SWITCH_Y = 185
HOST_Y = 285
BOX_H = 375
ROLE_ORDER = {"client": 0, "dns": 1, "relay": 2, "mx": 3}


def link_id(a, b):
    """One name for a link, whichever end is given first: ``mx1|s1``."""
    return "|".join(sorted((a, b)))


def net_links(net):
    """[(node, intf, node, intf)] of a running Mininet net (a copy: the
    provisioner may add links while we read)."""
    return [(l.intf1.node.name, l.intf1.name, l.intf2.node.name, l.intf2.name)
            for l in list(net.links)]


def plan_links(plan):
    """The links a topology built from ``plan`` has, without interface names."""
    out = [(plan.site_router, None, plan.site_switch, None)]
    out += [(dc.router, None, dc.switch, None) for dc in plan.dcs]
    out += [(l.a, None, l.b, None) for l in plan.router_links]
    out += [(h.name, None, plan.switch_of(h.name), None) for h in plan.hosts.values()]
    return out


def _groups(plan):
    """[(group name, router, switch, [HostInfo])] left to right."""
    groups = [("site", plan.site_router, plan.site_switch, "10.0.0.0/24")]
    groups += [(dc.name, dc.router, dc.switch, str(dc.subnet)) for dc in plan.dcs]
    out = []
    for name, router, switch, subnet in groups:
        hosts = sorted((h for h in plan.hosts.values() if h.dc == name),
                       key=lambda h: (ROLE_ORDER.get(h.role, 9), _natural(h.name)))
        out.append((name, router, switch, subnet, hosts))
    return out


def _natural(name):
    head = name.rstrip("0123456789")
    tail = name[len(head):]
    return (head, int(tail) if tail else -1)


def drawing(plan, links=None):
    links = plan_links(plan) if links is None else links
    groups, nodes, where = [], [], {}
    laid_out = _groups(plan)
    group_of = {router: i for i, (_, router, _, _, _) in enumerate(laid_out)}
    skips = [abs(group_of[l.a] - group_of[l.b]) - 1 for l in plan.router_links
             if l.a in group_of and l.b in group_of]
    top = PAD + BEND * max(skips + [0])      # room above the boxes for bent links
    x = PAD
    for index, (name, router, switch, subnet, hosts) in enumerate(laid_out):
        w = max(len(hosts), 1) * SLOT + 2 * PAD
        cx = x + w / 2
        groups.append({"name": name, "x": x, "y": top, "w": w, "h": BOX_H, "subnet": subnet,
                       "index": index})
        gateway = subnet.rsplit(".", 1)[0] + ".1"
        nodes.append({"name": router, "kind": "router", "role": "router", "dc": name,
                      "ip": gateway, "x": cx, "y": top + ROUTER_Y, "group": index})
        nodes.append({"name": switch, "kind": "switch", "role": "switch", "dc": name,
                      "ip": "", "x": cx, "y": top + SWITCH_Y, "group": index})
        first = cx - (len(hosts) - 1) * SLOT / 2
        for i, h in enumerate(hosts):
            nodes.append({"name": h.name, "kind": "host", "role": h.role, "dc": name,
                          "ip": h.ip, "x": first + i * SLOT, "y": top + HOST_Y, "group": index})
        x += w + GAP
    for n in nodes:
        where[n["name"]] = n
    kinds = {link_id(l.a, l.b): l.kind for l in plan.router_links}
    drawn, seen = [], set()
    for a, ia, b, ib in links:
        lid = link_id(a, b)
        if a not in where or b not in where or lid in seen:
            continue
        seen.add(lid)
        na, nb = where[a], where[b]
        span = abs(na["group"] - nb["group"])
        drawn.append({"id": lid, "a": a, "b": b, "kind": kinds.get(lid, "lan"),
                      "intfs": [i for i in (ia, ib) if i],
                      "ax": na["x"], "ay": na["y"], "bx": nb["x"], "by": nb["y"],
                      "bend": -BEND * (span - 1) if span > 1 else 0})
    return {"width": x - GAP + PAD, "height": top + BOX_H + PAD, "groups": groups,
            "nodes": nodes, "links": drawn}


def intf_index(drawing_):
    """{interface name: link id} of a drawing."""
    return {intf: link["id"] for link in drawing_["links"] for intf in link["intfs"]}
