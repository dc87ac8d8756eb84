"""Every worksheet opens with its primer: the concept, the hosts, a picture of the
lab and a sequence diagram of what will happen, generated from the exercise's own
data and kept up to date."""
import os
import xml.etree.ElementTree as ET

import pytest

from lab.scenarios.model import Fault
from lab.workbook import catalog
from lab.workbook import primer

EXERCISES = catalog.load_all()
SVG = "{http://www.w3.org/2000/svg}"


def _texts(root):
    return " ".join(t.strip() for t in root.itertext() if t.strip())


def exercise_hosts(e):
    """The hosts an exercise is about: its sender, the MX hosts, the relay and
    every host its faults act on."""
    s = e.scenario
    hosts = {s.traffic.clients[0], "relay1", "dns1"} | set(s.dns.mx)
    for f in s.faults:
        hosts |= set(primer.fault_targets(f)[0])
    return hosts


@pytest.mark.parametrize("e", EXERCISES, ids=lambda e: e.name)
def test_each_worksheet_opens_with_its_primer(e):
    with open(e.readme, encoding="utf-8") as f:
        text = f.read()
    assert text.count(primer.BEGIN) == 1 and text.count(primer.END) == 1, e.name
    block = text.split(primer.BEGIN)[1].split(primer.END)[0]
    # it opens the worksheet: after the concept and the learning goal, before the run
    assert text.index(primer.BEGIN) < text.index("## Run it") if "## Run it" in text else True
    assert text.index("**Concept: %s**" % e.concept) < text.index(primer.BEGIN)
    assert "## " not in text.split(primer.BEGIN)[0].split("\n", 1)[1]   # no section before it
    assert "**The concept: %s.**" % (e.concept or e.title) in block
    assert "(%s)" % primer.TOPOLOGY_SVG in block and "(%s)" % primer.SEQUENCE_SVG in block
    for host in exercise_hosts(e):
        assert "`%s`" % host in block or host in block.split("```text")[1], (e.name, host)
    for f in e.scenario.faults:
        assert primer.fault_line(f) in block
    assert len(block.splitlines()) < 60, "a primer is one page"


@pytest.mark.parametrize("e", EXERCISES, ids=lambda e: e.name)
def test_the_primer_pictures_are_svg_and_show_the_exercises_hosts(e):
    hosts = exercise_hosts(e)
    topo = ET.parse(os.path.join(e.directory, primer.TOPOLOGY_SVG)).getroot()
    assert topo.tag == SVG + "svg" and topo.find(SVG + "title") is not None
    assert topo.find(SVG + "style") is not None        # styled on its own, outside the report
    drawn = {g.get("data-node"): g.get("class") for g in topo.iter(SVG + "g")
             if g.get("data-node")}
    assert hosts <= set(drawn), (e.name, hosts - set(drawn))
    for f in e.scenario.faults:                         # the fault targets are marked
        targets, links = primer.fault_targets(f)
        for h in targets:
            assert drawn[h] != "node role-%s" % h.rstrip("0123456789"), (e.name, h)
        for link in links:
            marked = [g.get("class") for g in topo.iter(SVG + "g") if g.get("data-link") == link]
            assert marked and marked[0] != "link", (e.name, link)
        assert f.name in _texts(topo)
    seq = ET.parse(os.path.join(e.directory, primer.SEQUENCE_SVG)).getroot()
    assert seq.tag == SVG + "svg" and seq.find(SVG + "title") is not None
    lanes = [g.get("data-host") for g in seq.iter(SVG + "g") if g.get("data-host")]
    assert lanes == primer.participants(e)
    assert (hosts - {h for f in e.scenario.faults for h in primer.fault_targets(f)[0]}) \
        <= set(lanes), e.name
    steps = [(g.get("class"), g.get("data-from"), g.get("data-to")) for g in seq.iter(SVG + "g")
             if g.get("class") in ("msg", "fail")]
    assert steps[0] == ("msg", e.scenario.traffic.clients[0], "dns1")    # the MX lookup first
    text = _texts(seq)
    for f in e.scenario.faults:
        assert "FAULT: " + primer.fault_line(f) in text


def test_the_primers_are_up_to_date_with_the_exercises():
    """Generated, never edited by hand: ``python -m lab.workbook.primer`` after an edit."""
    assert primer.stale(EXERCISES) == []


def test_the_sequence_follows_the_scenario():
    def steps(n):
        return [(k, a, b) for k, a, b, _ in primer.sequence(catalog.load(n))]
    assert steps(1) == [("msg", "client1", "dns1"), ("msg", "dns1", "client1"),
                        ("msg", "client1", "mx1"), ("msg", "mx1", "client1")]
    reset = steps(9)
    assert ("fail", "mx1", "client1") in reset and ("msg", "client1", "relay1") in reset
    assert ("fail", "relay1", "mx1") not in reset       # mx1 answers the relay at once
    outage = steps(3)
    assert ("fail", "client1", "mx1") in outage and ("fail", "relay1", "mx1") in outage
    assert outage[-2:] == [("msg", "relay1", "mx1"), ("msg", "mx1", "relay1")]
    remote = steps(7)
    assert ("msg", "relay1", "provisioner") in remote
    assert remote[-2:] == [("msg", "relay1", "new mx (dc2)"), ("msg", "new mx (dc2)", "relay1")]
    in_place = steps(6)
    assert in_place[-2:] == [("msg", "relay1", "mx1"), ("msg", "mx1", "relay1")]
    health = [t for _, _, _, t in primer.sequence(catalog.load(5))]
    assert any("health check of mx1 fails" in t for t in health)


def test_fault_targets_are_read_from_the_fault_arguments():
    assert primer.fault_targets(Fault("blackhole", ["mx1"])) == (["mx1"], [])
    assert primer.fault_targets(Fault("reset", ["mx1:25", "--after-bytes", "2"])) == (["mx1"], [])
    assert primer.fault_targets(Fault("kill", ["relay@relay1", "--signal", "KILL"])) == (
        ["relay1"], [])
    assert primer.fault_targets(Fault("cut", ["mx1", "s1"])) == ([], ["mx1|s1"])
    assert primer.fault_targets(Fault("loss", ["mx1:s1", "--rate", "0.5"])) == ([], ["mx1|s1"])
    assert primer.fault_targets(Fault("partition", ["r1:r2", "--label", "a|b"])) == (
        [], ["r1|r2"])


def test_a_worksheet_without_a_primer_gets_one_before_its_first_section():
    text = "# Exercise 99\n\n**Concept: x**\n\n## Run it\n\nrun\n"
    block = primer.BEGIN + "\nP\n" + primer.END
    once = primer.with_primer(text, block)
    assert once.index(primer.BEGIN) < once.index("## Run it")
    assert primer.with_primer(once, block) == once
    assert primer.with_primer(once, block.replace("P", "Q")).count(primer.BEGIN) == 1
