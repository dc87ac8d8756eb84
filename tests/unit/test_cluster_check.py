"""The pure parts of a lab spread over servers: server names, ssh command lines,
the probe of ``maillab cluster check`` and what its answers mean."""
import io
import os
import shlex
import subprocess

import pytest

from lab.cli.cluster import cmd_cluster
from lab.cli.maillab import build_parser
from lab.host import cluster_check
from lab.host.ssh import Access, LoginFailed, Server, parse_servers


def test_server_names_parse_with_user_and_port():
    assert Server.parse("lab2") == Server("lab2", "root", 22)
    assert Server.parse("ops@10.0.0.5:2222") == Server("10.0.0.5", "ops", 2222)
    assert str(Server.parse("127.0.0.2:2222")) == "127.0.0.2:2222"
    assert Server.parse("localhost").is_local
    for bad in ("", "lab2:0", "lab2:x", "@:22"):
        with pytest.raises(ValueError):
            Server.parse(bad)


def test_a_cluster_lists_each_server_once():
    assert parse_servers("localhost,127.0.0.2:2222") == [Server("localhost"),
                                                         Server("127.0.0.2", port=2222)]
    with pytest.raises(ValueError, match="twice"):
        parse_servers("lab2,lab2")


def test_ssh_never_prompts_and_quotes_the_remote_command():
    access = Access(key="/k", known_hosts="/kh")
    argv = access.ssh_argv(Server("h", port=2200), ["echo", "a b", "$HOME"])
    assert argv[0] == "ssh" and argv[-2] == "root@h"
    opts = argv[1:-2]
    assert ["-i", "/k"] == opts[0:2] and ["-p", "2200"] == opts[2:4]
    for option in ("BatchMode=yes", "IdentitiesOnly=yes", "StrictHostKeyChecking=yes",
                   "UserKnownHostsFile=/kh"):
        assert option in opts
    assert shlex.split(argv[-1]) == ["echo", "a b", "$HOME"]
    assert "StrictHostKeyChecking=accept-new" in Access(key="/k").options(Server("h"))


def _answers(script, installed=(), checkout=True, venv=True, root=True, tun=True):
    """What the probe prints on a server with these things (no server needed)."""
    out = []
    for line in script.splitlines():
        if line.startswith("for p in "):
            for p in shlex.split(line[len("for p in "):-len("; do")]):
                out.append("package %s %s" % (p, "yes" if p in installed else "no"))
    out += ["checkout %s" % "yes no".split()[not checkout],
            "venv %s" % "yes no".split()[not venv],
            "root %s" % "yes no".split()[not root], "tun %s" % "yes no".split()[not tun]]
    return "\n".join(out)


def test_a_ready_server_lacks_nothing():
    script = cluster_check.probe_script(checkout="/srv/maillab")
    found = cluster_check.parse_probe(_answers(script, cluster_check.NODE_PACKAGES))
    assert cluster_check.missing(found, checkout="/srv/maillab") == []


def test_what_a_server_lacks_is_said_one_thing_a_line():
    script = cluster_check.probe_script(checkout="/srv/maillab")
    installed = set(cluster_check.NODE_PACKAGES) - {"mininet", "openvswitch-switch"}
    found = cluster_check.parse_probe(_answers(script, installed, venv=False, tun=False))
    lacks = cluster_check.missing(found, checkout="/srv/maillab")
    assert lacks[0].startswith("Debian packages mininet, openvswitch-switch")
    assert "the virtualenv /srv/maillab/.venv" in lacks[1]
    assert "/dev/net/tun" in lacks[2]
    found = cluster_check.parse_probe(_answers(script, cluster_check.NODE_PACKAGES,
                                               checkout=False, root=False))
    lacks = cluster_check.missing(found, checkout="/srv/maillab")
    assert [w.split()[0] for w in lacks] == ["the", "root:"]


def test_a_probe_that_printed_nothing_lacks_everything():
    lacks = cluster_check.missing(cluster_check.parse_probe("garbage\n"))
    assert len(lacks) == 4


def test_the_probe_script_is_valid_shell():
    subprocess.run(["sh", "-n"], input=cluster_check.probe_script(), text=True, check=True)


class ScriptedAccess:
    """An Access whose servers answer from a table: (status, output) or LoginFailed."""

    def __init__(self, answers, refused=None):
        self.answers = answers
        self.refused = refused or {}    # {host: what ssh said when the tunnel failed}

    def run(self, server, argv, timeout=None):
        answer = self.answers[server.host]
        if isinstance(answer, Exception):
            raise answer
        return 0, answer

    def tunnel_error(self, server):
        return self.refused.get(server.host)


def test_cluster_check_reports_each_server_and_fails_if_one_is_not_ready():
    script = cluster_check.probe_script()
    access = ScriptedAccess({
        "good": _answers(script, cluster_check.NODE_PACKAGES),
        "nopkg": _answers(script, set(cluster_check.NODE_PACKAGES) - {"mininet"}),
        "nologin": LoginFailed("nologin", "root@nologin: Permission denied (publickey)."),
    })
    args = build_parser().parse_args(["cluster", "check", "good", "nopkg", "nologin"])
    out = io.StringIO()
    assert cmd_cluster(args, out=out, access=access) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == "good: ready"
    assert lines[1].startswith("nopkg: missing Debian package mininet ")
    assert lines[2] == "nologin: cannot log in: root@nologin: Permission denied (publickey)."
    out = io.StringIO()
    args = build_parser().parse_args(["cluster", "check", "good"])
    assert cmd_cluster(args, out=out, access=access) == 0


def test_the_check_asks_for_what_provision_sh_installs_on_a_cluster_node():
    from lab import ROOT
    with open("%s/lab/provision.sh" % ROOT) as f:
        text = f.read()
    block = text.split("node_packages=(", 1)[1].split(")", 1)[0]
    assert set(cluster_check.NODE_PACKAGES) <= set(block.split())


def test_a_server_whose_sshd_refuses_tunnels_is_not_ready():
    script = cluster_check.probe_script()
    access = ScriptedAccess({"lab2": _answers(script, cluster_check.NODE_PACKAGES)},
                            refused={"lab2": "Tunnel forwarding failed"})
    out = io.StringIO()
    args = build_parser().parse_args(["cluster", "check", "lab2"])
    assert cmd_cluster(args, out=out, access=access) == 1
    assert out.getvalue() == "lab2: missing an SSH Ethernet tunnel: Tunnel forwarding failed %s\n" \
        % cluster_check.TUNNEL_HINT
    assert "PermitTunnel yes" in cluster_check.TUNNEL_HINT


def _fake_ssh(tmp_path, monkeypatch, body):
    """``ssh`` on PATH as a shell script (the tunnel probe's real process, its answer
    made up)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text("#!/bin/sh\n" + body)
    (bin_dir / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))


def test_the_tunnel_probe_asks_for_an_ethernet_tunnel_that_fails_fast():
    argv = Access(key="/k").tunnel_argv(Server.parse("lab2"))
    assert argv[:2] == ["ssh", "-n"] and argv[-2:] == ["root@lab2", "echo @"]
    joined = " ".join(argv)
    assert "-o Tunnel=ethernet -o ExitOnForwardFailure=yes -w any:any" in joined
    assert "BatchMode=yes" in joined


def test_the_tunnel_probe_passes_when_the_tunnel_stays_up(tmp_path, monkeypatch):
    # up: "@" and ssh stays for the tunnel's channel, until the probe ends it
    _fake_ssh(tmp_path, monkeypatch, "echo @\nexec sleep 60\n")  # wait: killed by the probe
    assert Access(key="/k").tunnel_error(Server.parse("lab2"), grace=0.1) is None


@pytest.mark.parametrize("body", [
    "echo 'Tunnel forwarding failed' >&2; exit 255\n",
    "echo @; echo 'Tunnel forwarding failed' >&2; exit 255\n",   # the refusal after the command
])
def test_the_tunnel_probe_says_what_ssh_said_when_refused(tmp_path, monkeypatch, body):
    _fake_ssh(tmp_path, monkeypatch, body)
    assert Access(key="/k").tunnel_error(Server.parse("lab2"), grace=5) == \
        "Tunnel forwarding failed"
