import struct

from lab.report import series as history
from lab.report import plots
from tests.unit.run_fixtures import loaded_run


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_both_plots_of_2000_messages_have_a_readable_fixed_size(tmp_path):
    ev = loaded_run(n=2000)
    agg = plots.aggregate_png(str(tmp_path / "a.png"), "load", history.aggregate(ev))
    per_message = plots.timeline_png(str(tmp_path / "t.png"), ev.scenario, ev)
    assert png_size(agg) == (1200, 900)
    width, height = png_size(per_message)
    assert width == 1200 and 600 <= height <= plots.MAX_HEIGHT_PX


def test_labels_are_staggered_so_that_none_overlaps():
    # 100 px per second, 6.2 px per character: "created mx3 in dc2" is about 112 px wide
    labels = [(4.3, "relay asks for a new server"), (4.67, "DNS updated"),
              (4.69, "created mx3 in dc2"), (9.0, "cut r1-r2 1"), (9.1, "cut r1-r2 2"),
              (9.2, "cut r1-r2 3"), (9.3, "cut r1-r2 4"), (9.4, "cut r1-r2 5")]
    assert [row for row, _ in plots.stagger(labels, 100)] == [0, 1, 2, 0, 1, 2, 3, None]


def test_a_label_near_the_right_edge_ends_at_its_moment():
    assert plots.stagger([(1.0, "fault"), (9.5, "created mx3 in dc2")], 100, 1000) == \
        [(0, "left"), (0, "right")]
