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
PROGRAMS = r"(?:make|\.venv/bin/[^\s`]+|python3?|fashioncaffe|torchrun)"

SANDBOX, REPO = ("sandbox", 300), ("repo", 300)
SLOW_REPO = ("repo-slow", 900)  # run by `make test-all` (marked slow)
COMMANDS = {
    # -- Two commands
    "make demo": ("skip", "trains for minutes; tests/test_demo.py runs the same chain (tools/demo.py) at scale ci"),
    "make test": ("skip", "the test suite itself"),
    "make install": ("skip", "creates the environment every other command uses (done once, by any target)"),
    'make install TORCH_SPEC="torch==X --index-url <wheel index>"': ("skip", "installs torch from a wheel index"),
    "make help": REPO,
    # -- the papers
    '.venv/bin/python -m tools.paperNNN data|nets|train|evaluate|report|all --scale ci|tiny|small|full --data '
    'synthetic|<dataset folder> --seeds "1 2 3" --gpu 0|0,1 --variants a,b --tables t1,t2 --force --weights '
    '<caffemodel>': ("skip", "a synopsis (NNN: a paper's number; | separates choices); tests/test_papers.py runs "
                             "`all --scale ci` of every paper through the same entry point"),
    "make paperNNN": ("skip", "a template; every paper at SCALE=ci: tests/test_papers.py"),
    "make paperNNN-<table>": ("skip", "a template; every paper's tables at SCALE=ci: tests/test_papers.py"),
    "make paperNNN-data | paperNNN-train | paperNNN-evaluate | paperNNN-nets | paperNNN-check":
        ("skip", "a template (| separates the targets); tests/test_papers.py and each paper's netgen test"),
    "make paperNNN-check": ("skip", "a template; the committed nets equal the generators': tests/test_paper*_netgen.py"),
    # -- the engine's command line
    ".venv/bin/fashioncaffe train --solver solver.prototxt [--weights W.caffemodel | --snapshot S.solverstate] "
    "[--gpu 0|0,1|all] [--snapshot_prefix P]": SANDBOX,
    ".venv/bin/fashioncaffe test --model train_val.prototxt --weights W.caffemodel --iterations 50": SANDBOX,
    ".venv/bin/fashioncaffe time --model deploy.prototxt --iterations 10": SANDBOX,
    ".venv/bin/fashioncaffe device_query": SANDBOX,
    ".venv/bin/fashioncaffe pycaffe my_pycaffe_script.py args…": SANDBOX,
    ".venv/bin/fashioncaffe --help": SANDBOX,
    ".venv/bin/fashioncaffe extract_features W.caffemodel net.prototxt fc7 fc7_lmdb 10 lmdb": SANDBOX,
    ".venv/bin/fashioncaffe upgrade_net_proto_text old.prototxt new.prototxt": SANDBOX,
    ".venv/bin/fashioncaffe draw_net net.prototxt net.png [--rankdir TB] [--phase TRAIN]": SANDBOX,
    ".venv/bin/python -m tools.bvlc_upstream --caffe-root …": ("skip", "a BVLC Caffe checkout (…: its path); "
                                                                "`make test-all` runs it when BVLC_CAFFE_ROOT is set"),
    "python -m …": ("skip", "prose (any `python -m` module of the checkout)"),
    ".venv/bin/python tools/parse_log.py train.log out_dir/": SANDBOX,
    ".venv/bin/python tools/plot_training.py train.log curve.png": SANDBOX,
    "fashioncaffe train": ("skip", "prose naming the command (its full form is in the block above)"),
    "torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint HOST0:29500 --rdzv-id run1 -m "
    "fashioncaffe train --solver solver.prototxt --gpu all": ("skip", "two machines with four GPUs each; "
                                                             "tests/test_multinode.py runs torchrun as two loopback "
                                                             "nodes"),
    ".venv/bin/python -m tools.local_nodes --nnodes 2 -- -m fashioncaffe train --solver S":
        ("skip", "S is any solver; tests/test_multinode.py runs exactly this"),
    # -- ONNX
    ".venv/bin/fashioncaffe export --from-train-val --model train_val.prototxt --weights W.caffemodel -o model.onnx "
    "[--labels meta.json]": SANDBOX,
    ".venv/bin/fashioncaffe export --model deploy.prototxt --train-val train_val.prototxt --weights W.caffemodel -o "
    "model.onnx [--labels meta.json]": SANDBOX,
    ".venv/bin/fashioncaffe infer --onnx model.onnx image.jpg images_dir/ [--truth labels.txt] [--draw drawn/] "
    "[--csv | --json]": SANDBOX,
    # -- faithful to Caffe
    "make reference": SLOW_REPO,
    # -- data
    "make paper001-table2 DATA=/data/DeepFashion SCALE=full GPU=0,1": ("skip", "the DeepFashion dataset and GPUs"),
    "python -m tools.paper002.export": ("skip", "an ONNX of a trained paper 002 run; tests/test_paper002_ci.py "
                                                "exports the ci run's and runs infer on it"),
    "make search-demo": ("skip", "a server that runs until stopped (and trains the tiny model first); "
                                 "tests/test_search_app_api.py and test_search_app_browser.py serve the same app"),
    ".venv/bin/python -m tools.benchmark_search_app": ("skip", "a benchmark (a scripted session over HTTP); "
                                                               "latencies printed, never asserted"),
    "make data DATA=<path>": ("skip", "<path>: a dataset folder"),
    "make data": ("skip", "every converter on a generated wardrobe: minutes; tests/test_convert_wardrobe.py runs the "
                          "converters on a small wardrobe"),
    "make wardrobe": ("skip", "draws about 2,000 images; tests/test_wardrobe.py generates a small one"),
    ".venv/bin/python -m data_prep.deepfashion_category --root DIR --out DIR [--resize 256] [--bbox-crop]":
        ("skip", "DIR: a DeepFashion folder; tests/test_convert_wardrobe.py runs it on the wardrobe's"),
    # -- benchmarks and the GPU check
    ".venv/bin/python tools/benchmark.py --net all": ("skip", "a benchmark (minutes); ratios, never asserted"),
    ".venv/bin/python tools/benchmark.py --net resnet50 --device cuda --modes fp32,bf16,bf16+cl,bf16+compile":
        ("skip", "a CUDA GPU"),
    ".venv/bin/python tools/benchmark_data.py": ("skip", "a benchmark (minutes); ratios, never asserted"),
    ".venv/bin/python tools/benchmark_onnx.py": ("skip", "a benchmark (minutes); ratios, never asserted"),
    "make gpu-check": ("skip", "a CUDA GPU"),
    "make gpu-check DRY=1": ("skip", "every part at tiny sizes: minutes; tests/test_gpu_check.py runs the dry mode"),
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


RUN = [pytest.param(c, where.split("-")[0], arg, id=c[:70], marks=[pytest.mark.slow] if where.endswith("-slow") else [])
       for c, (where, arg) in COMMANDS.items() if where != "skip"]


@pytest.mark.parametrize("command,where,timeout", RUN)
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
