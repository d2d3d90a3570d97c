"""One driver per study: a live driver's lock refuses a second one; a dead one's does not."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import optuna
import pytest

from layerlr.study.lock import StudyLocked, claim, release


def held_by(study, pid, beat_age=0.0, host=None):
    study.set_user_attr("driver", {"owner": "other", "beat": time.time() - beat_age,
                                   "host": host or socket.gethostname(), "pid": pid})


def test_a_live_driver_on_this_host_holds_the_study():
    study = optuna.create_study()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        held_by(study, live.pid, beat_age=3600)  # an old beat, but the process lives
        with pytest.raises(StudyLocked, match=f"pid {live.pid}"):
            claim(study, "me")
    finally:
        live.kill()
        live.wait()
    claim(study, "me")  # its process is gone: the lock is stale at once
    assert study.user_attrs["driver"]["owner"] == "me"
    release(study, "me")
    assert study.user_attrs["driver"] is None


def test_a_driver_on_another_host_holds_until_its_heartbeat_is_stale():
    study = optuna.create_study()
    held_by(study, 1, beat_age=5, host="elsewhere")
    with pytest.raises(StudyLocked):
        claim(study, "me")
    held_by(study, 1, beat_age=3600, host="elsewhere")
    claim(study, "me")
