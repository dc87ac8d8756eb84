"""A lab spread over servers, on one machine: the "second server" is a private
sshd on 127.0.0.2 (tests/cluster_sshd.py), logged in to with a key made for
the run. What this proves and what not: docs/lab.md, "A lab over several
servers"."""
import io
import os
import stat

import pytest

from lab.cli.cluster import cmd_cluster
from lab.cli.maillab import build_parser
from lab.host.ssh import Access, generate_key
from tests.cluster_sshd import PrivateSSHD

pytestmark = [pytest.mark.lab, pytest.mark.needs_cmd("ssh", "ssh-keygen", "/usr/sbin/sshd")]


def _fake_dpkg_query(bin_dir, hidden):
    """A dpkg-query that says ``hidden`` is not installed and asks the real one
    about every other package: a server lacking one package, made in test code."""
    os.makedirs(bin_dir)
    path = os.path.join(bin_dir, "dpkg-query")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nfor a; do [ "$a" = %s ] && { echo "dpkg-query: no packages '
                'found matching $a" >&2; exit 1; }; done\nexec /usr/bin/dpkg-query "$@"\n'
                % hidden)
    os.chmod(path, stat.S_IRWXU)


def _check(server, access):
    out = io.StringIO()
    args = build_parser().parse_args(["cluster", "check", str(server)])
    return cmd_cluster(args, out=out, access=access), out.getvalue().splitlines()


def test_cluster_check_names_the_one_package_a_server_lacks(tmp_path):
    _fake_dpkg_query(str(tmp_path / "bin"), "openvswitch-switch")
    with PrivateSSHD(tmp_path / "sshd", extra_config='SetEnv PATH=%s:/usr/sbin:/usr/bin:'
                     '/sbin:/bin\n' % (tmp_path / "bin")) as sshd:
        status, lines = _check(sshd.server, sshd.access)
    assert lines == ["%s: missing Debian package openvswitch-switch "
                     "(lab/provision.sh --cluster-node installs it)" % sshd.server]
    assert status == 1


def test_cluster_check_says_ready_and_a_failing_login_says_why(tmp_path):
    stranger = str(tmp_path / "stranger_ed25519")
    generate_key(stranger)          # a key the server never authorized
    with PrivateSSHD(tmp_path / "sshd") as sshd:
        assert _check(sshd.server, sshd.access) == (0, ["%s: ready" % sshd.server])
        status, lines = _check(sshd.server, Access(key=stranger,
                                                   known_hosts=sshd.known_hosts))
    assert lines == ["%s: cannot log in: root@127.0.0.2: Permission denied (publickey)."
                     % sshd.server]
    assert status == 1
