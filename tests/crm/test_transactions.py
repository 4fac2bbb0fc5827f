"""A deadlock's victim runs again; any other database error does not."""

import psycopg.errors
import pytest
from django.db import OperationalError

from crm.models import Workspace
from crm.transactions import atomic_retrying, is_deadlock


def _deadlock() -> OperationalError:
    try:
        raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected()
    except OperationalError as exc:
        return exc


def test_a_deadlocks_victim_runs_again_and_keeps_only_its_last_attempt(db):
    attempts = []

    def write():
        attempts.append(1)
        Workspace.objects.create(slug=f"w{len(attempts)}", name="W")
        if len(attempts) == 1:
            raise _deadlock()
        return len(attempts)

    assert atomic_retrying(write) == 2
    # The first attempt's write was rolled back with it.
    assert list(Workspace.objects.values_list("slug", flat=True)) == ["w2"]


def test_other_errors_and_a_last_deadlock_are_raised(db):
    assert is_deadlock(_deadlock())
    assert not is_deadlock(OperationalError("connection refused"))

    def refused():
        raise OperationalError("connection refused")

    with pytest.raises(OperationalError):
        atomic_retrying(refused)

    calls = []

    def always():
        calls.append(1)
        raise _deadlock()

    with pytest.raises(OperationalError):
        atomic_retrying(always, attempts=3)
    assert len(calls) == 3
