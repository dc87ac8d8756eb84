import random

from servers.common.mx_lookup import order_mx


class Reverse:
    def shuffle(self, items):
        items.reverse()


def test_preference_order():
    assert order_mx([(20, "relay.lab."), (10, "MX1.lab")]) == ["mx1.lab.", "relay.lab."]


def test_equal_preferences_shuffled_with_injected_rng():
    records = [(10, "a.lab"), (10, "b.lab"), (10, "c.lab"), (5, "z.lab")]
    assert order_mx(records, rng=Reverse()) == ["z.lab.", "c.lab.", "b.lab.", "a.lab."]
    seen = {tuple(order_mx(records, rng=random.Random(s))) for s in range(30)}
    assert len(seen) > 1 and all(o[0] == "z.lab." for o in seen)


def test_self_and_worse_pruned():
    records = [(10, "mx1.lab"), (20, "relay.lab."), (20, "other.lab"), (30, "far.lab")]
    assert order_mx(records, self_name="RELAY.lab") == ["mx1.lab."]


def test_self_best_leaves_nothing():
    assert order_mx([(10, "relay.lab"), (20, "mx2.lab")], self_name="relay.lab.") == []


def test_self_not_listed_keeps_all():
    assert order_mx([(10, "mx1.lab"), (20, "mx2.lab")], self_name="relay.lab") == [
        "mx1.lab.", "mx2.lab."]
