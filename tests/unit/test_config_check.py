"""Every server's --check: validates options and files, exits 0 or 2 with the
reason, listens on nothing and changes nothing on disk."""
import os

import pytest

from lab.testbed.zone import generate_key_file, write_zone
from servers.dns.__main__ import main as dns_main
from servers.mx.__main__ import main as mx_main
from servers.relay.__main__ import main as relay_main
from servers.sender.__main__ import main as sender_main
from topologies.addressing import build_plan


@pytest.fixture
def dns_files(tmp_path):
    return (write_zone(build_plan(), str(tmp_path / "zone.db")),
            generate_key_file(str(tmp_path / "tsig.key")))


def test_dns_check_passes_on_the_lab_zone_and_names_a_bad_line(tmp_path, dns_files, capsys):
    zone, key = dns_files
    assert dns_main(["--zone", zone, "--tsig-key", key, "--check"]) == 0
    assert "zone example.org." in capsys.readouterr().out
    bad = tmp_path / "bad.db"
    bad.write_text(open(zone).read() + "mx9.lab.example.org. 60 IN A 10.0.1.300\n")
    assert dns_main(["--zone", zone, "--zone", str(bad), "--check"]) == 2
    err = capsys.readouterr().err
    assert "servers.dns: configuration check failed: %s:" % bad in err and "10.0.1.300" in err
    (tmp_path / "bad.key").write_text("not a key\n")
    assert dns_main(["--zone", zone, "--tsig-key", str(tmp_path / "bad.key"), "--check"]) == 2


def test_mx_check_wants_a_writable_maildir_and_a_readable_recipients_file(tmp_path, capsys):
    assert mx_main(["--domain", "example.org", "--maildir", str(tmp_path / "md"), "--check"]) == 0
    assert not (tmp_path / "md").exists()              # checked, not created
    (tmp_path / "file").write_text("")
    assert mx_main(["--domain", "example.org", "--maildir", str(tmp_path / "file"),
                    "--check"]) == 2
    assert "Maildir root %s: not a directory" % (tmp_path / "file") in capsys.readouterr().err
    assert mx_main(["--domain", "example.org", "--maildir", str(tmp_path / "md"),
                    "--recipients", str(tmp_path / "missing"), "--check"]) == 2
    assert "recipients file" in capsys.readouterr().err


def test_relay_check_wants_a_usable_queue_and_the_provisioner_secret(tmp_path, capsys):
    base = ["--domain", "example.org", "--dns", "10.0.1.2:53", "--check"]
    assert relay_main(base + ["--queue", str(tmp_path / "q")]) == 0
    (tmp_path / "file").write_text("")
    assert relay_main(base + ["--queue", str(tmp_path / "file" / "q")]) == 2
    assert "queue directory" in capsys.readouterr().err
    assert relay_main(base + ["--queue", str(tmp_path / "q"), "--provisioner", "unix:/x",
                              "--provisioner-secret", str(tmp_path / "nosecret"),
                              "--provision-after", "1",
                              "--provision-action", "recreate:mx1"]) == 2
    assert "provisioner secret" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["file"]


def test_sender_check(tmp_path, capsys):
    argv = ["--dns", "10.0.1.2:53", "--to", "u@example.org", "--check"]
    assert sender_main(argv + ["--ledger", str(tmp_path / "ledger.jsonl")]) == 0
    assert sender_main(argv + ["--ledger", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
