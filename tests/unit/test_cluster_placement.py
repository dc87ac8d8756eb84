"""Where a lab over several servers puts things: a scenario's ``[cluster]`` table,
``--place NAME=SERVER``, and the errors that say what is wrong."""
import pytest

from lab.cli.cluster import cluster_of
from lab.cli.maillab import build_parser
from lab.host import cluster_net
from lab.host.ssh import Server
from lab.scenarios import model
from lab.testbed.mail_lab import make_topology

HERE, LAB2 = Server("localhost"), Server("lab2")
BASE = 'name = "x"\ntopology = "two_dc"\n'


def _parse(cluster):
    return model.parse(BASE + "[cluster]\n" + cluster)


def test_a_cluster_table_names_the_servers_and_where_places_and_hosts_go():
    s = _parse('servers = ["localhost", "lab2"]\nplace = {dc2 = "lab2", mx1 = "lab2"}\n')
    assert s.cluster.servers == ["localhost", "lab2"]
    assert s.cluster.place == {"dc2": "lab2", "mx1": "lab2"}
    assert model.parse(BASE).cluster == model.ClusterSettings()   # none: one machine


@pytest.mark.parametrize("table, key, says", [
    ('servers = ["localhost", "lab2"]\nplace = {dc2 = "lab3"}\n', "cluster.place.dc2",
     "unknown server lab3 (cluster.servers: localhost, lab2)"),
    ('servers = ["lab2", "lab2"]\n', "cluster.servers", "a server is listed twice"),
    ('servers = "lab2"\n', "cluster.servers", "must be a list of servers"),
    ('place = {dc2 = "lab2"}\n', "cluster.place", "needs cluster.servers"),
    ('servers = ["lab2"]\nplace = {dc2 = 2}\n', "cluster.place.dc2", "a server's name"),
    ('servers = ["lab2:x"]\n', "cluster.servers", "bad port"),
    ('hosts = ["lab2"]\n', "cluster.hosts", "unknown key (known: place, servers)"),
])
def test_a_wrong_cluster_table_says_what_is_wrong(table, key, says):
    with pytest.raises(model.ScenarioError) as e:
        _parse(table)
    assert e.value.key == key and says in e.value.reason, e.value.reason


def test_a_scenarios_place_that_its_topology_lacks_is_refused_when_the_lab_is_built():
    s = _parse('servers = ["localhost", "lab2"]\nplace = {dc9 = "lab2"}\n')
    with pytest.raises(ValueError, match=r"placement dc9: unknown place 'dc9' \(places: "
                       r"site, dc1, dc2; or a host: client1, "):
        cluster_of(_args(), s, make_topology(s.topology).plan)


def _args(*argv):
    return build_parser().parse_args(["run", "relay-failover"] + list(argv))


def test_place_options_come_on_top_of_the_scenarios_placement():
    s = _parse('servers = ["localhost", "lab2"]\nplace = {dc2 = "lab2"}\n')
    plan = make_topology("two_dc").plan
    cluster = cluster_of(_args("--place", "dc2=localhost", "--place", "mx1 = lab2"), s, plan)
    assert cluster.servers == [HERE, LAB2]
    assert cluster.placed(plan) == {"dc2": HERE, "mx1": LAB2}
    # the scenario's servers unless --cluster names others
    assert cluster_of(_args(), s).servers == [HERE, LAB2]
    assert cluster_of(_args("--cluster", "lab2,localhost"), s).servers == [LAB2, HERE]
    assert cluster_of(_args(), model.parse(BASE)) is None


@pytest.mark.parametrize("argv, says", [
    (["--place", "dc2=lab2"], "--place needs --cluster"),
    (["--cluster", "localhost,lab2", "--place", "dc2"], "expected NAME=SERVER"),
    (["--cluster", "localhost,lab2", "--place", "dc7=lab2"], "unknown place 'dc7'"),
    (["--cluster", "localhost,lab2", "--place", "dc2=lab9"], "unknown server lab9"),
    (["--cluster", "lab2"], "this machine is not among the servers; list it as localhost"),
    (["--cluster", "lab2,lab3"], "e.g. --cluster localhost,lab2"),
])
def test_a_wrong_place_option_says_what_is_wrong(argv, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        cluster_of(_args(*argv), None, make_topology("two_dc").plan)


def test_a_host_placed_on_its_own_moves_alone_and_the_start_line_says_so():
    topo = make_topology("two_dc")
    cluster = cluster_net.Cluster([HERE, LAB2], None, {"dc2": HERE, "mx2": LAB2})
    where = cluster.table(topo.plan)
    assert where["mx2"] == LAB2 and where["s2"] == where["r2"] == HERE
    assert where["mx1"] == where["s1"] == LAB2          # dc1: the default, the second server
    assert ("mx2", "s2") in cluster_net.tunnels(topo, where) or \
        ("s2", "mx2") in cluster_net.tunnels(topo, where)
    assert cluster.describe(topo.plan) == ("site on localhost, dc1 on lab2, dc2 on localhost, "
                                           "mx2 on lab2")


def test_maillab_run_refuses_a_wrong_placement_before_starting_anything(capsys):
    from lab.cli.run import _cmd_run
    assert _cmd_run(_args("--cluster", "localhost,lab2", "--place", "dc3=lab2"), None) == 2
    assert "unknown place 'dc3' (places: site, dc1;" in capsys.readouterr().err
