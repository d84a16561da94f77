"""Trials per hour of one study on a one-node cluster (1 CPU) versus two nodes (1 CPU each).

Starts a real Ray cluster on loopback (token authentication on; the second node has its
own temp dir), runs the same smoke study on it with one node, then with two, and prints
both rates and their ratio (target: at least 1.9x from the second node), with the
driver's phases: its start (imports, Ray, artifacts, plan), Tune's loop, its end (report).

    python benchmarks/cluster_scaling.py --seeds 3
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_node(temp_dir: Path) -> None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(temp_dir) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue


def run_study(env: dict, storage: Path, run_id: str, args: argparse.Namespace) -> tuple[float, int, dict[str, float]]:
    """(wall s, trials, {phase: s}) of one study, its driver's output stamped line by line:
    "start" (process start to Tune's first trial), "tune" (Tune's loop), "end" (report,
    manifest, exit)."""
    command = [sys.executable, str(ROOT / "sweeps" / "threshold.py"), "--budget", args.budget]
    command += ["--seeds", str(args.seeds), "--storage", str(storage), "--run-id", run_id, "--no-reuse"]
    started = time.perf_counter()
    stamps: dict[str, float] = {}
    lines: list[str] = []
    with subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        for line in p.stdout:
            lines.append(line)
            if line.startswith(("Starting study", "Resuming study")):
                stamps.setdefault("tune_start", time.perf_counter())
            elif "Total run time" in line:
                stamps.setdefault("tune_end", time.perf_counter())
    wall = time.perf_counter() - started
    if p.returncode != 0:
        raise SystemExit("".join(lines)[-6000:])
    trials = sum(1 for _ in (storage / "threshold" / run_id).glob("*/result.json"))
    tune_start, tune_end = stamps.get("tune_start", started), stamps.get("tune_end", started + wall)
    phases = {"start": tune_start - started, "tune": tune_end - tune_start, "end": started + wall - tune_end}
    return wall, trials, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", default="smoke", choices=["smoke", "quick"])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="ss-scaling-", dir="/tmp"))
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    port = free_port()
    env["RAY_ADDRESS"] = f"127.0.0.1:{port}"
    head, node2 = base / "head", base / "node2"
    ray = shutil.which("ray") or "ray"
    try:
        subprocess.run(
            [
                ray,
                "start",
                "--head",
                f"--port={port}",
                f"--temp-dir={head}",
                "--num-cpus=1",
                "--include-dashboard=false",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        one_wall, one_trials, one_phases = run_study(env, base / "results", "one-node", args)
        subprocess.run(
            [ray, "start", f"--address=127.0.0.1:{port}", f"--temp-dir={node2}", "--num-cpus=1"],
            env=env,
            check=True,
            capture_output=True,
        )
        time.sleep(5)
        two_wall, two_trials, two_phases = run_study(env, base / "results", "two-nodes", args)
    finally:
        kill_node(node2)
        kill_node(head)
        shutil.rmtree(base, ignore_errors=True)
    one_rate, two_rate = one_trials / one_wall * 3600, two_trials / two_wall * 3600
    print(f"study: sweeps/threshold.py --budget {args.budget} --seeds {args.seeds}")
    print(f"one node  (1 CPU):        {one_trials} trials in {one_wall:7.1f} s = {one_rate:7.1f} trials/hour")
    print(f"two nodes (1 CPU each):   {two_trials} trials in {two_wall:7.1f} s = {two_rate:7.1f} trials/hour")
    print(f"ratio two/one:            {two_rate / one_rate:5.2f}x  (target >= 1.9x)")
    for name, phases in (("one node", one_phases), ("two nodes", two_phases)):
        shown = "  ".join(f"{key} {value:6.1f} s" for key, value in phases.items())
        print(f"  {name:9s} driver phases: {shown}")
    tune_ratio = (two_trials / two_phases["tune"]) / (one_trials / one_phases["tune"])
    print(f"ratio two/one of Tune's loop alone (trials per hour once the study runs): {tune_ratio:5.2f}x")


if __name__ == "__main__":
    main()
