"""What the benchmarks read of their servers from /proc: a process's tree and its memory."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.servers import process_tree, processes_rss_bytes, tree_rss_bytes

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def test_a_servers_tree_holds_its_forks_forks_and_their_memory():
    # A parent whose child holds 64 MiB: a server's master and a worker holding pages.
    holder = "data = bytearray(64 * 1024 * 1024)\nimport time\ntime.sleep(60)\n"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {holder!r}]);"
            " time.sleep(60)",
        ],
    )
    try:
        deadline = time.monotonic() + 10
        while len(process_tree(parent.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        tree = process_tree(parent.pid)
        assert tree[0] == parent.pid
        assert len(tree) == 2
        child = tree[1]
        while processes_rss_bytes([child]) < 64 * 1024 * 1024 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_rss_bytes([child]) >= 64 * 1024 * 1024
        # Until both have started sleeping, their memory still moves between two reads.
        previous = -1
        while previous != processes_rss_bytes(tree) and time.monotonic() < deadline:
            previous = processes_rss_bytes(tree)
            time.sleep(0.2)
        assert tree_rss_bytes(parent.pid) == processes_rss_bytes(process_tree(parent.pid))
        assert tree_rss_bytes(parent.pid) > processes_rss_bytes([child])
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)], check=False)
        parent.kill()
        parent.wait()
    # Gone processes count nothing and have no tree beyond themselves.
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_rss_bytes([parent.pid, child]) == 0
