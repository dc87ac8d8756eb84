"""A lab comes up with every service ready and leaves nothing behind."""
import pytest

from lab.lab import Lab
from lab.services import ServiceFailed

pytestmark = pytest.mark.lab


def test_one_dc_up_and_down(clean_machine):
    with Lab("one_dc") as lab:
        assert lab.mx_records() == [(10, "mx1.lab.example.org."),
                                    (20, "relay1.lab.example.org.")]
        rundir = lab.rundir
    import os
    assert not os.path.exists(rundir)


def test_a_service_that_fails_to_start_is_reported_with_its_stderr(clean_machine):
    with pytest.raises(ServiceFailed) as failed:
        with Lab("one_dc", mx_args=["--no-such-option"]):
            pass
    assert "mx1/mx exited" in str(failed.value)
    assert "--no-such-option" in str(failed.value)
