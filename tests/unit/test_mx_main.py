"""The mx command line."""
import pytest

from servers.mx.__main__ import main
from servers.mx.service import build_parser


def test_help_and_required_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "--maildir" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--maildir", "x"])          # no --domain


def test_options_as_in_the_contract():
    args = build_parser().parse_args(["--domain", "a.org", "--domain", "b.org", "--maildir", "M",
                                      "--listen", "10.0.1.10", "--port", "0",
                                      "--events", "E", "-v"])
    assert args.domain == ["a.org", "b.org"] and args.port == 0 and args.verbose == 1
