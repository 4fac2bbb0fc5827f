"""Where a live server's CPU goes: py-spy sampling its processes while they serve.

``py-spy record`` attaches to the server's master process and its workers
(``--subprocesses``) and samples the Python stacks that hold the GIL (``--gil``): a
thread waiting (for a connection, PostgreSQL's answer, Redis, a lock) has let it go, so
the shares are of the time spent running Python, C extensions included. The raw
output ("frame;frame;...;leaf count" per distinct stack) is summarised two ways: the
functions the samples were in (own time), and the project's functions with everything
they called (inclusive time).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The project's own code, by path from the repository's root.
PROJECT_PREFIXES = ("crm/", "contacts/", "conversations/", "integrations/", "config/")
SAMPLES_PER_SECOND = 500
# "function (path:line)" in py-spy's raw format.
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")


@dataclass
class Sampled:
    """A summary of one recording: its sample count and the two tables."""

    samples: int
    own: list[tuple[str, float]]
    inclusive: list[tuple[str, float]]

    def as_dict(self) -> dict:
        return {"samples": self.samples, "own": self.own, "inclusive": self.inclusive}


def py_spy() -> str:
    """The py-spy executable of this environment (a development dependency)."""
    return str(Path(sys.executable).with_name("py-spy"))


@contextmanager
def sampling(pid: int) -> Iterator[dict]:
    """Sample ``pid`` and its child processes for the duration of the block; the dict
    yielded holds the summary (``Sampled``) under ``"sampled"`` afterwards."""
    out = Path(tempfile.mkstemp(prefix="causerie-py-spy-", suffix=".txt")[1])
    recorder = subprocess.Popen(
        [
            py_spy(),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--gil",
            "--rate",
            str(SAMPLES_PER_SECOND),
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    found: dict = {}
    try:
        yield found
    finally:
        # SIGINT makes py-spy stop and write what it sampled.
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=30)
    found["sampled"] = summarize(out.read_text())
    out.unlink(missing_ok=True)


def _frame(text: str) -> tuple[str, str]:
    """(a readable name, its path relative to the repository) of a raw frame."""
    match = FRAME.match(text)
    if match is None:
        return text, ""
    path = match["path"]
    root = f"{ROOT}/"
    if path.startswith(root):
        path = path[len(root) :]
    elif "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    return f"{match['function']} ({path})", path


def summarize(raw: str, *, top: int = 15) -> Sampled:
    """Own and inclusive shares of the samples in py-spy's raw output."""
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_frame(text) for text in stack.split(";")]
        own[frames[-1][0]] += samples
        # A function counted once per sample however often it recurses.
        for name in {name for name, path in frames if path.startswith(PROJECT_PREFIXES)}:
            inclusive[name] += samples
    if not total:
        return Sampled(0, [], [])
    return Sampled(
        total,
        [(name, count / total) for name, count in own.most_common(top)],
        [(name, count / total) for name, count in inclusive.most_common(top)],
    )
