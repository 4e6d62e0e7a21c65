"""The GPU check (tools/gpu_check) in its dry mode: the machinery in the fast suite (sections in capped
processes, JSON + markdown, the budget, CUDA parts reported skipped), the whole dry mode as a slow test."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import time

import pytest

from tools.gpu_check import SECTIONS, cli
from tools.gpu_check.report import markdown

HAS_FAISS = importlib.util.find_spec("faiss") is not None


def _report(out):
    return json.loads((out / "gpu_check.json").read_text())


def test_dry_env_and_knn_write_json_and_summary(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["--dry", "--sections", "knn", "--out", str(out), "--work", str(tmp_path / "w")]) == 0
    rep = _report(out)
    assert rep["mode"] == "dry" and list(rep["sections"]) == ["env", "knn"]
    env, knn = rep["sections"]["env"], rep["sections"]["knn"]
    assert env["status"] == "ok" and env["results"]["torch"]
    assert any(s["reason"].startswith("no CUDA") for s in env["skipped"])
    assert knn["status"] == "ok"
    assert any("GPU" in s["part"] and s["reason"].startswith("no CUDA") for s in knn["skipped"])
    (row,) = knn["tables"]["exact k-NN + mAP@50 (tools/paper000/metrics.map_at_r)"]
    assert row["device"] == "cpu" and 0.0 <= row["mAP@50"] <= 1.0 and row["seconds"] > 0
    if HAS_FAISS:
        assert knn["checks"] and all(c["passed"] for c in knn["checks"])
    else:
        assert any("faiss" in s["part"] for s in knn["skipped"])
    md = (out / "gpu_check.md").read_text()
    assert "DRY mode" in md and "| knn | ok |" in md and "no CUDA" in md
    assert (out / "gpu_check.log").exists()


def test_a_command_past_its_cap_is_stopped_with_everything_it_started(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time; "
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
              f"open({str(pid_file)!r}, 'w').write(str(p.pid)); print('[x started', flush=True); time.sleep(60)")
    with open(tmp_path / "log", "w") as log:
        t0 = time.time()
        rc, timed_out = cli.run_capped([sys.executable, "-c", script], 2, log, "[x ")
    assert timed_out and rc is not None and rc < 0 and time.time() - t0 < 15
    assert "[x started" in (tmp_path / "log").read_text()
    grandchild = int(pid_file.read_text())
    for _ in range(50):                       # killed with the group (reaped by init, so poll)
        if not os.path.exists(f"/proc/{grandchild}") or "Z" in _state(grandchild):
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the section's own child process survived the cap")


def _state(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_a_capped_section_is_reported_as_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "MIN_S", 1)
    monkeypatch.setitem(cli.CAP_S, "knn", (1, 1))
    monkeypatch.setitem(cli.CAP_S, "env", (60, 60))
    out = tmp_path / "out"
    assert cli.main(["--dry", "--sections", "knn", "--out", str(out)]) == 1
    knn = _report(out)["sections"]["knn"]
    assert knn["status"] == "timeout" and "cap" in knn["reason"]
    assert "| knn | TIMEOUT |" in (out / "gpu_check.md").read_text()


def test_a_spent_budget_leaves_sections_not_run_but_reported(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["--dry", "--sections", "knn", "--budget-s", "1", "--out", str(out)]) == 0
    rep = _report(out)
    for name in ("env", "knn"):
        assert rep["sections"][name]["status"] == "skipped"
        assert "budget is spent" in rep["sections"][name]["reason"]


def test_gpu_mode_needs_cuda(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the GPU mode would run for minutes")
    assert cli.main(["--out", str(tmp_path)]) == 2
    assert "--dry" in capsys.readouterr().err


def test_unknown_section_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit):
        cli.main(["--dry", "--sections", "warp", "--out", str(tmp_path)])


def test_every_section_has_a_cap_for_both_modes():
    assert set(cli.CAP_S) == set(SECTIONS)
    assert all(len(c) == 2 and min(c) >= cli.MIN_S for c in cli.CAP_S.values())
    gpu_caps = sum(c[0] for c in cli.CAP_S.values())
    assert cli.BUDGET_S["gpu"] < 8 * 60 <= gpu_caps + 60   # the budget, not the caps' sum, keeps it under 8 min


def test_markdown_summary():
    rep = {"mode": "gpu", "started": "t", "command": "python -m tools.gpu_check", "seconds": 12.0, "budget_s": 470,
           "sections": {"knn": {"title": "k-NN", "status": "failed", "seconds": 3.0, "cap_s": 80,
                                "checks": [{"what": "same neighbours", "passed": False, "detail": "97% in common"}],
                                "goals": [{"what": "mAP@50", "goal": "under 60 s", "measured": "71.2 s", "met": False}],
                                "tables": {"t": [{"a|b": 1.23456, "n": 392000}]}, "results": {"x": 0.5},
                                "skipped": [{"part": "faiss on the GPU", "reason": "no GPU support"}],
                                "notes": ["synthetic"]}}}
    md = markdown(rep)
    assert "| knn | FAILED | 3.00 | 80 | 0/1 checks passed; 0/1 goals met; 1 part(s) skipped |" in md
    assert "- FAIL: same neighbours — 97% in common" in md
    assert "| a\\|b | n |" in md and "| 1.23 | 392,000 |" in md
    assert "- skipped: faiss on the GPU — no GPU support" in md and "- note: synthetic" in md


@pytest.mark.slow
def test_whole_dry_mode(tmp_path):
    """Every section on the CPU: none errors, fails or times out; CUDA parts are reported skipped."""
    out = tmp_path / "out"
    rc = cli.main(["--dry", "--out", str(out)])
    rep = _report(out)
    bad = {n: (s["status"], s.get("reason"), [c for c in s.get("checks", []) if not c["passed"]])
           for n, s in rep["sections"].items() if s["status"] not in ("ok", "skipped")}
    assert rc == 0 and not bad, bad
    assert list(rep["sections"]) == SECTIONS
    skipped_parts = [s["reason"] for sec in rep["sections"].values() for s in sec.get("skipped", [])]
    assert sum(r.startswith("no CUDA") for r in skipped_parts) >= 6
