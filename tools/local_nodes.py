"""Run a command as N torchrun "nodes" on this machine, over loopback only.

    python -m tools.local_nodes --nnodes 2 --nproc-per-node 1 -- -m fashioncaffe train --solver S.prototxt

Each node is its own ``torchrun`` (``python -m torch.distributed.run``) with ``--nnodes N``, the c10d
rendezvous at ``127.0.0.1:<free port>`` and ``--local-addr 127.0.0.1`` (so the workers' MASTER_ADDR is
the loopback address), with ``GLOO_SOCKET_IFNAME=lo`` (so gloo's connections stay on loopback too):
what N machines would each run, on one.  The tests and the GPU check use it to try multi-node
training without a second machine; on real machines run the same ``torchrun`` line on each, with the
rendezvous endpoint of one of them (README, "Several machines").
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import uuid

__all__ = ["free_port", "node_command", "run_nodes"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_command(args, nnodes, nproc_per_node, port, run_id, python=None) -> list[str]:
    """The torchrun line of one node; ``args`` follow torchrun's options (e.g. ``-m fashioncaffe train ...``)."""
    return [python or sys.executable, "-m", "torch.distributed.run", "--nnodes", str(nnodes),
            "--nproc-per-node", str(nproc_per_node), "--rdzv-backend", "c10d", "--rdzv-endpoint",
            f"127.0.0.1:{port}", "--rdzv-id", run_id, "--local-addr", "127.0.0.1", "--max-restarts", "0"] + list(args)


def run_nodes(args, nnodes=2, nproc_per_node=1, timeout=300, cwd=None, env=None):
    """Start the N nodes together and wait for all; returns [(exit code, output)] per node (exit code
    None for a node stopped at ``timeout``)."""
    port, run_id = free_port(), f"local-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ if env is None else env, GLOO_SOCKET_IFNAME="lo")
    procs = [subprocess.Popen(node_command(args, nnodes, nproc_per_node, port, run_id), cwd=cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(nnodes)]
    results = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=timeout)
            results.append((p.returncode, out))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            out, _ = p.communicate()
            results.append((None, out))
    return results


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = argv[argv.index("--") + 1:] if "--" in argv else []
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nnodes", type=int, default=2)
    ap.add_argument("--nproc-per-node", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=3600)
    a = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if not rest:
        ap.error("give the command after --, e.g. -- -m fashioncaffe train --solver S.prototxt")
    results = run_nodes(rest, a.nnodes, a.nproc_per_node, a.timeout)
    for i, (rc, out) in enumerate(results):
        print(f"===== node {i}: exit code {rc}\n{out}")
    return 0 if all(rc == 0 for rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
