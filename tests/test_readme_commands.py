"""Every shell command README.md shows is either run here, as written, or named with the reason it is not.

The commands are read from README's ```bash blocks and from inline `code` that starts with a program
(``make``, ``.venv/bin/...``, ``python``, ``fashioncaffe``, ``torchrun``).  ``COMMANDS`` classifies
each one:

* ``("repo", timeout)``: run in the repository root (make targets; ``make -o .venv/.installed`` so a
  test never reinstalls the environment);
* ``("sandbox", timeout)``: run in a folder holding every file the example names (``solver.prototxt``,
  ``W.caffemodel``, ``images_dir/``, ...; see ``tests/readme_sandbox.py``), with ``.venv`` and ``tools``
  linked to the checkout's;
* ``("skip", reason)``: too long for the test suite, or needs what a test machine has not (a GPU,
  a dataset, the network), with the test that covers it where there is one.

Optional parts written ``[...]`` are left out when a command is run; ``A | B`` inside them is the
README's notation for alternatives.  A README command missing from ``COMMANDS`` fails the test, and
so does an entry of ``COMMANDS`` that README no longer shows, so the two stay in step.
README's ```python blocks run too (in the sandbox, with ``image_batch`` defined).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import readme_sandbox  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
README = os.path.join(ROOT, "README.md")
PROGRAMS = r"(?:make|\.venv/bin/\S+|python3?|fashioncaffe|torchrun)"

MINUTES = "takes minutes"
COMMANDS = {
}


def _strip_comment(line):
    """A shell line without its trailing ``# comment`` (README puts explanations there)."""
    m = re.search(r"\s#\s", line)
    return line[:m.start()].rstrip() if m else line.rstrip()


def readme_commands(text=None):
    """The commands README shows, in order, each once (continuation lines joined)."""
    text = open(README, encoding="utf-8").read() if text is None else text
    out = []
    blocks = list(re.finditer(r"```bash\n(.*?)```", text, re.S))
    for b in blocks:
        joined = b.group(1).replace("\\\n", " ")
        for line in joined.splitlines():
            line = _strip_comment(line.strip())
            for part in (p.strip() for p in line.split(" ; ")):
                if part:
                    out.append(re.sub(r"\s+", " ", part))
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for m in re.finditer(rf"`({PROGRAMS} [^`]+)`", prose):
        out.append(re.sub(r"\s+", " ", m.group(1).strip()))
    seen, uniq = set(), []
    for c in out:
        if c not in seen:
            seen.add(c)
            uniq.append(c)
    return uniq


def runnable(command):
    """The command with its ``[optional parts]`` left out."""
    prev = None
    while prev != command:
        prev = command
        command = re.sub(r"\s*\[[^\[\]]*\]", "", command)
    return command.strip()


def test_every_readme_command_is_classified():
    shown = readme_commands()
    assert shown, "no commands found in README.md"
    unknown = [c for c in shown if c not in COMMANDS]
    stale = [c for c in COMMANDS if c not in shown]
    assert not unknown, "README commands this test does not know (run them here or say why not):\n" + \
        "\n".join(unknown)
    assert not stale, "COMMANDS entries README no longer shows:\n" + "\n".join(stale)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    return readme_sandbox.build(tmp_path_factory.mktemp("readme"), ROOT)


def _run(command, cwd, timeout):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # as a user's shell: nothing but what the command itself sets up
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


RUN = [(c, where, arg) for c, (where, arg) in COMMANDS.items() if where in ("repo", "sandbox")]


@pytest.mark.parametrize("command,where,timeout", RUN, ids=[c[:60] for c, _, _ in RUN])
def test_readme_command_runs_as_written(command, where, timeout, sandbox):
    cmd = runnable(command)
    if where == "repo" and cmd.startswith("make "):
        cmd = "make -o .venv/.installed " + cmd[len("make "):]
    r = _run(cmd, ROOT if where == "repo" else sandbox, timeout)
    assert r.returncode == 0, f"$ {cmd}\n(exit {r.returncode})\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr, r.stderr[-3000:]


def test_readme_python_blocks_run(sandbox):
    text = open(README, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    prelude = "import numpy as np\nimage_batch = np.zeros((1, 3, 28, 28), np.float32)\n"
    for block in blocks:
        r = subprocess.run([os.path.join(sandbox, ".venv", "bin", "python"), "-c", prelude + block], cwd=sandbox,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"{block}\n{r.stderr[-3000:]}"


def test_extraction_reads_blocks_continuations_and_inline_code():
    text = ("Run `make help` or `python_param` here.\n```bash\nmake demo     # the demo\n"
            "torchrun --nnodes 2 \\\n    -m x ; .venv/bin/python a.py\n```\n")
    assert readme_commands(text) == ["make demo", "torchrun --nnodes 2 -m x", ".venv/bin/python a.py", "make help"]
    assert runnable("fashioncaffe train --solver s [--weights W | --snapshot S] [--gpu 0|0,1]") == \
        "fashioncaffe train --solver s"
