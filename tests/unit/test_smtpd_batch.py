"""Group commit: submissions made while a batch is being written share the next one."""
from servers.smtpd.batch import GroupCommit
from tests.unit.thread_runner import ManualThread


def test_submissions_while_busy_go_in_one_next_batch():
    thread = ManualThread()
    batches = []

    def commit(items):
        batches.append(list(items))
        return [item * 10 for item in items]

    gc = GroupCommit(commit, run_in_thread=thread)
    results = []
    for i in range(4):
        gc.submit(i).addCallback(results.append)
    assert len(thread.calls) == 1          # only the first started
    thread.run_next()
    assert results == [0]
    assert len(thread.calls) == 1          # the three waiting ones, together
    thread.run_next()
    assert batches == [[0], [1, 2, 3]]
    assert results == [0, 10, 20, 30]
    assert not gc.busy


def test_an_item_can_fail_alone_and_a_crashed_batch_fails_all():
    thread = ManualThread()

    def commit(items):
        if "crash" in items:
            raise OSError("disk gone")
        return [ValueError(i) if i == "bad" else i for i in items]

    gc = GroupCommit(commit, run_in_thread=thread)
    outcomes = []
    for item in ["first", "good", "bad"]:
        gc.submit(item).addCallbacks(lambda r: outcomes.append(("ok", r)),
                                     lambda f: outcomes.append(("failed", f.type.__name__)))
    thread.run_next()
    thread.run_next()
    assert outcomes == [("ok", "first"), ("ok", "good"), ("failed", "ValueError")]
    gc.submit("crash").addErrback(lambda f: outcomes.append(("failed", f.type.__name__)))
    thread.run_next()
    assert outcomes[-1] == ("failed", "OSError")
    assert not gc.busy
