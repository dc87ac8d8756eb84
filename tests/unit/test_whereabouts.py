"""Where maillab says a report is on the student's machine (lab/report/whereabouts.py)."""
from lab.report.whereabouts import read_hints, where_to_open

VM = {"guest_reports": "/maillab/reports", "host_reports": "/Users/ana/maillab/reports",
      "copy_out": 'vagrant ssh lab -c "sudo tar -C /maillab -cf - reports" > reports.tar'}
REPORT = "/maillab/reports/relay-failover-20261206-051200/report.html"


def mounted(*paths):
    return lambda p: p in paths


def test_nothing_more_on_a_plain_debian_machine(tmp_path):
    assert read_hints(str(tmp_path / "absent")) == {}
    assert where_to_open(REPORT, hints={}) == []


def test_the_hints_file_is_key_value_lines(tmp_path):
    f = tmp_path / "where"
    f.write_text("# written by the Vagrantfile\nguest_reports=/maillab/reports\n"
                 "copy_out=a = b\n\nnonsense\n")
    assert read_hints(str(f)) == {"guest_reports": "/maillab/reports", "copy_out": "a = b"}


def test_a_shared_folder_gives_the_path_on_the_host():
    assert where_to_open(REPORT, VM, is_mount=mounted("/maillab/reports")) == [
        "On your machine: /Users/ana/maillab/reports/relay-failover-20261206-051200/report.html"]


def test_a_windows_host_gets_its_own_separators():
    hints = dict(VM, host_reports="C:\\Users\\ana\\maillab\\reports")
    assert where_to_open(REPORT, hints, is_mount=mounted("/maillab/reports")) == [
        "On your machine: C:\\Users\\ana\\maillab\\reports\\relay-failover-20261206-051200"
        "\\report.html"]


def test_a_container_names_the_folder_it_cannot_see():
    hints = {"guest_reports": "/maillab/reports", "host_label": "the folder mounted with -v"}
    assert where_to_open(REPORT, hints, is_mount=mounted("/maillab/reports")) == [
        "On your machine: relay-failover-20261206-051200/report.html, in the folder "
        "mounted with -v"]


def test_without_a_share_it_gives_the_command_that_copies_them_out():
    lines = where_to_open(REPORT, VM, is_mount=mounted())
    assert lines == ["/maillab/reports is not shared with your machine (nothing is mounted "
                     "there).",
                     "To copy the reports out, run on your machine: " + VM["copy_out"]]


def test_a_report_elsewhere_is_said_to_be_outside_the_share():
    lines = where_to_open("/tmp/r/report.html", VM, is_mount=mounted("/maillab/reports"))
    assert lines == ["/tmp/r/report.html is not in /maillab/reports, the folder shared with "
                     "your machine: copy it there to open it on your machine."]
