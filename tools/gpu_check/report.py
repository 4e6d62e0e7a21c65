"""The GPU check's readable summary (markdown) from its JSON report."""
from __future__ import annotations

MARK = {"ok": "ok", "failed": "FAILED", "skipped": "skipped", "error": "ERROR", "timeout": "TIMEOUT", None: "?"}


def fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int) and abs(v) >= 10000:
        return f"{v:,}"
    if isinstance(v, float):
        if v == 0:
            return "0"
        a = abs(v)
        if a >= 1e5 or a < 1e-3:
            return f"{v:.3g}"
        if a >= 100:
            return f"{v:,.0f}"
        return f"{v:.3g}" if a < 1 else f"{v:.2f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x) for x in v)
    return str(v).replace("|", "\\|").replace("\n", " ")


def table(rows) -> list[str]:
    if not rows:
        return []
    cols = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    out = ["| " + " | ".join(fmt(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return out


def _env_line(env) -> str:
    r = env.get("results", {})
    parts = [r.get("gpu") or "no GPU", f"torch {r.get('torch', '?')}", f"CUDA {r.get('cuda') or '–'}",
             f"{r.get('cpus', '?')} CPUs", f"Python {r.get('python', '?')}"]
    if r.get("commit"):
        parts.append(f"commit {r['commit']}")
    return ", ".join(parts)


def markdown(report: dict) -> str:
    secs = report.get("sections", {})
    title = "GPU check" if report.get("mode") == "gpu" else "GPU check — DRY mode (CPU, tiny sizes; no CUDA)"
    lines = [f"# {title}", "",
             f"{report.get('started', '')} · `{report.get('command', '')}` · {fmt(report.get('seconds'))} s of a "
             f"{fmt(report.get('budget_s'))} s budget", ""]
    if "env" in secs:
        lines += [f"Machine: {_env_line(secs['env'])}", ""]
    lines += ["| section | status | seconds | cap | summary |", "|---|---|---|---|---|"]
    for name, s in secs.items():
        checks = s.get("checks", [])
        goals = s.get("goals", [])
        summary = []
        if checks:
            summary.append(f"{sum(c['passed'] for c in checks)}/{len(checks)} checks passed")
        if goals:
            summary.append(f"{sum(1 for g in goals if g.get('met'))}/{len(goals)} goals met")
        if s.get("skipped"):
            summary.append(f"{len(s['skipped'])} part(s) skipped")
        if s.get("reason"):
            summary.append(s["reason"])
        lines.append(f"| {name} | {MARK.get(s.get('status'), s.get('status'))} | {fmt(s.get('seconds'))} | "
                     f"{fmt(s.get('cap_s'))} | {fmt('; '.join(summary))} |")
    for name, s in secs.items():
        lines += ["", f"## {name}: {s.get('title', '')} — {MARK.get(s.get('status'), s.get('status'))}"]
        if s.get("reason"):
            lines += ["", f"*{s['reason']}*"]
        if s.get("checks"):
            lines += [""] + [f"- {'PASS' if c['passed'] else 'FAIL'}: {c['what']}"
                             + (f" — {c['detail']}" if c.get("detail") else "") for c in s["checks"]]
        if s.get("goals"):
            lines += [""] + table([{"goal": g["what"], "target": g["goal"], "measured": g["measured"],
                                    "met": g["met"]} for g in s["goals"]])
        for tname, rows in s.get("tables", {}).items():
            lines += ["", f"**{tname}**", ""] + table(rows)
        scalars = {k: v for k, v in s.get("results", {}).items() if not isinstance(v, (dict, list))}
        if scalars:
            lines += [""] + [f"- {k}: {fmt(v)}" for k, v in scalars.items()]
        if s.get("skipped"):
            lines += [""] + [f"- skipped: {x['part']} — {x['reason']}" for x in s["skipped"]]
        if s.get("notes"):
            lines += [""] + [f"- note: {n}" for n in s["notes"]]
        if s.get("traceback"):
            lines += ["", "```", s["traceback"].strip()[-1500:], "```"]
    return "\n".join(lines) + "\n"
