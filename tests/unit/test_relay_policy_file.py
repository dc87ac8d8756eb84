"""A retry policy from a file (the build capstone): loaded, held to IRetryPolicy,
and refused with the reason when it is broken; a scenario hands it to the relay."""
import pytest

from lab.scenarios import model as scenarios
from lab.scenarios.run import relay_args
from lab.workbook import catalog
from servers.relay import policy_file
from servers.relay import service as relay_service

STARTER = catalog.load(14).scenario.relay.retry_policy

BROKEN = {
    "no make_policy": ("x = 1\n", "defines no make_policy"),
    "syntax": ("def make_policy(:\n", "SyntaxError"),
    "not the interface": ("def make_policy(a, b, c):\n    return object()\n",
                          "does not provide IRetryPolicy"),
    "negative delay": (open(STARTER).read().replace("return self.minimum", "return -1"),
                       "delay(1) is -1"),
    "raises": (open(STARTER).read().replace("return self.minimum", "return 1 / 0"),
               "ZeroDivisionError"),
}


def test_the_starter_policy_loads_and_waits_the_minimum():
    policy = policy_file.load(STARTER, 0.5, 2.0, 600.0)
    assert [policy.delay(n) for n in (1, 2, 5)] == [0.5, 0.5, 0.5]
    assert policy.expired(0.0, 600.0) and not policy.expired(0.0, 599.0)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_policy_is_refused_with_the_reason(case, tmp_path):
    text, reason = BROKEN[case]
    path = tmp_path / "policy.py"
    path.write_text(text)
    with pytest.raises(policy_file.PolicyFileError, match=reason.replace("(", r"\(")
                       .replace(")", r"\)")):
        policy_file.load(str(path), 0.5, 2.0, 600.0)


def test_the_relays_check_reads_the_policy(tmp_path):
    path = tmp_path / "policy.py"
    path.write_text(BROKEN["not the interface"][0])
    args = relay_service.build_parser().parse_args(
        ["--queue", str(tmp_path / "q"), "--next-hop", "127.0.0.1:25",
         "--retry-policy", str(path)])
    with pytest.raises(ValueError, match="does not provide IRetryPolicy"):
        relay_service.check_config(args)
    args.retry_policy = STARTER
    assert "retry policy %s" % STARTER in relay_service.check_config(args)


def test_a_scenario_names_the_policy_beside_it_and_the_relay_is_given_it(tmp_path):
    (tmp_path / "p.py").write_text("")
    s = scenarios.parse('name = "x"\ntopology = "one_dc"\n[relay]\nretry_policy = "p.py"\n',
                        str(tmp_path / "x.toml"))
    assert s.relay.retry_policy == str(tmp_path / "p.py")
    argv = relay_args(s)
    assert argv[argv.index("--retry-policy") + 1] == str(tmp_path / "p.py")
    assert "--retry-policy" not in relay_args(scenarios.load("relay-failover"))


def test_only_the_build_capstone_takes_a_policy(tmp_path, capsys):
    from lab.cli import maillab as maillab_cli
    assert maillab_cli.main(["exercise", "3", "--policy", STARTER,
                             "--report", str(tmp_path / "r")]) == 2
    assert "--policy is for the build capstone" in capsys.readouterr().err
