"""Lab benchmark: cold start of 3 hosts from the cached tarball, and host reset.

Run as root with no arguments: `python bench/lab.py`. Builds the tarball if it is missing.
The bench works in its own cache/run dirs (the tarball and key are hard-linked in), so removing
its base dir for a cold start never pulls the rootfs from under hosts other people are running.
Hosts bench1..3 = 10.77.0.201-203; everything is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provisioners import lab as L

HOSTS = [f"bench{i}={L.lab_ip(200 + i)}" for i in (1, 2, 3)]
COLD_RUNS = 3
RESET_RUNS = 7


def bench_paths() -> L.LabPaths:
    shared = L.lab_paths()
    L.build(shared)  # no-op when the tarball is cached
    paths = L.LabPaths(shared.cache.parent / "lab-bench", shared.run.parent / "govhost-lab-bench")
    paths.cache.mkdir(parents=True, exist_ok=True)
    for src in (L.tarball_path(shared), shared.key, Path(f"{shared.key}.pub")):
        dst = paths.cache / src.name
        if not dst.exists():
            os.link(src, dst)
    return paths


def cold_start(paths: L.LabPaths) -> float:
    names = [s.split("=")[0] for s in HOSTS]
    L.hosts_down(names, paths, forget=True)
    L.remove_base(paths)
    started = time.monotonic()
    L.hosts_up(HOSTS, paths, fresh=True, log=lambda *_: None)  # unpack + start + ssh answers
    return time.monotonic() - started


def reset_time(paths: L.LabPaths) -> float:
    started = time.monotonic()
    L.host_reset("bench1", paths)  # down (no wait) + fresh up + port 22 answers
    return time.monotonic() - started


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("bench/lab.py needs root")
    had_net = L.net_ready()
    L.net_up()
    paths = bench_paths()
    try:
        colds = [cold_start(paths) for _ in range(COLD_RUNS)]
        resets = [reset_time(paths) for _ in range(RESET_RUNS)]
    finally:
        L.hosts_down([s.split("=")[0] for s in HOSTS], paths, forget=True)
        L.close_control_sockets(None, paths)
        shutil.rmtree(paths.cache, ignore_errors=True)
        shutil.rmtree(paths.run, ignore_errors=True)
        if not had_net:
            L.net_down()
    print("cold starts (s):", " ".join(f"{c:.2f}" for c in colds))
    print("resets (s):", " ".join(f"{r:.3f}" for r in resets))
    print(f"figure: lab_cold_start_s = {statistics.median(colds):.2f} s")
    print(f"figure: lab_reset_s = {statistics.median(resets):.3f} s")


if __name__ == "__main__":
    main()
