#!/usr/bin/env python3
"""Parse a Caffe (or fashioncaffe) training log into train and test CSV tables.

    python tools/parse_log.py LOGFILE OUTPUT_DIR [--delimiter ,] [--verbose]

Writes ``OUTPUT_DIR/<log name>.train`` and ``.test`` (OUTPUT_DIR is created when missing) with the columns of Caffe's
``tools/extra/parse_log.py``: NumIters, Seconds (since the "Solving" line), LearningRate, then one
column per net output (``Train net output #k: name = v`` / ``Test net output #k: name = v``).
Rows follow Caffe's script: the iteration is the last "Iteration N" seen, the learning rate the last
"lr = x" seen, a row is complete once it has as many columns as the first row, and the first row's
rate is copied from the second.  (Unlike Caffe's script, a last incomplete row is kept.)
"""
from __future__ import annotations

import argparse
import csv
import datetime
import os
import re
import sys

_ITER = re.compile(r"Iteration (\d+)")
_TRAIN = re.compile(r"Train net output #(\d+): (\S+) = ([.\deE+-]+|nan|inf|-inf)")
_TEST = re.compile(r"Test net output #(\d+): (\S+) = ([.\deE+-]+|nan|inf|-inf)")
_LR = re.compile(r"lr = ([-+]?[0-9]*\.?[0-9]+([eE]?[-+]?[0-9]+)?)")
_SOLVER_LOSS = re.compile(r"Iteration (\d+)(?: \([^)]*\))?, loss = ([.\deE+-]+|nan|inf|-inf)")
_NET_NAME = re.compile(r"\] Solving (\S+)")


def line_time(line: str, year: int) -> datetime.datetime:
    """The glog time stamp of a line (``I1122 07:13:00.123456 ...``); ValueError when absent."""
    parts = line.strip().split()
    if len(parts) < 2 or len(parts[0]) < 5:
        raise ValueError(line)
    month, day = int(parts[0][1:3]), int(parts[0][3:5])
    stamp = parts[1]
    hms, _, frac = stamp.partition(".")
    h, m, s = (int(x) for x in hms.split(":"))
    return datetime.datetime(year, month, day, h, m, s, int(frac or 0))


class _Table:
    def __init__(self, regex):
        self.regex = regex
        self.rows = []
        self.row = None

    def feed(self, line, iteration, seconds, lr):
        match = self.regex.search(line)
        if match:
            if self.row is None or self.row["NumIters"] != iteration:
                if self.row is not None:
                    self.rows.append(self.row)
                self.row = {"NumIters": iteration, "Seconds": seconds, "LearningRate": lr}
            self.row[match.group(2)] = float(match.group(3))
        if self.row is not None and self.rows and len(self.row) == len(self.rows[0]):
            self.rows.append(self.row)
            self.row = None

    def finish(self):
        if self.row is not None:
            self.rows.append(self.row)
            self.row = None
        if len(self.rows) > 1:
            self.rows[0]["LearningRate"] = self.rows[1]["LearningRate"]
        return self.rows


def parse_log(path):
    """Return ``(train_rows, test_rows)``: lists of dicts as Caffe's parse_log.py builds them."""
    year = datetime.datetime.fromtimestamp(os.path.getmtime(path)).year
    train, test = _Table(_TRAIN), _Table(_TEST)
    iteration = -1
    lr = float("nan")
    start = last = None
    with open(path, errors="replace") as f:
        lines = f.readlines()
    for line in lines:
        if "Solving" in line:
            try:
                start = line_time(line, year)
                break
            except ValueError:
                pass
    for line in lines:
        m = _ITER.search(line)
        if m:
            iteration = float(m.group(1))
        if iteration == -1:
            continue
        try:
            t = line_time(line, year)
        except ValueError:
            continue
        if last is not None and t.month < last.month:   # the log crossed a new year
            year += 1
            t = line_time(line, year)
        last = t
        if start is None:
            start = t
        seconds = (t - start).total_seconds()
        m = _LR.search(line)
        if m:
            lr = float(m.group(1))
        train.feed(line, iteration, seconds, lr)
        test.feed(line, iteration, seconds, lr)
    return train.finish(), test.finish()


def parse_solver_loss(path):
    """``(name, [(iteration, loss)])``: the net's name from the "Solving NAME" line and the solver's own
    "Iteration N, loss = X" lines (the loss smoothed over ``average_loss`` iterations), which include
    the line Caffe prints after the last iteration, where no "Train net output" lines follow."""
    name, points = None, []
    with open(path, errors="replace") as f:
        for line in f:
            m = _SOLVER_LOSS.search(line)
            if m:
                it = int(m.group(1))
                if points and points[-1][0] == it:  # a resumed run repeats its first iteration
                    points[-1] = (it, float(m.group(2)))
                else:
                    points.append((it, float(m.group(2))))
            elif name is None:
                m = _NET_NAME.search(line)
                if m:
                    name = m.group(1)
    return name, points


def write_csv(path, rows, delimiter=",", verbose=False):
    if not rows:
        print(f"Not writing {path}: no rows", file=sys.stderr)
        return
    fields = list(rows[0].keys())
    for r in rows[1:]:
        fields += [k for k in r if k not in fields]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    if verbose:
        print(f"Wrote {path}")


def save_csv_files(log_path, out_dir, train, test, delimiter=",", verbose=False):
    base = os.path.basename(log_path)
    os.makedirs(out_dir, exist_ok=True)
    write_csv(os.path.join(out_dir, base + ".train"), train, delimiter, verbose)
    write_csv(os.path.join(out_dir, base + ".test"), test, delimiter, verbose)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Parse a Caffe training log into CSV tables.")
    ap.add_argument("logfile_path", help="a Caffe or fashioncaffe training log")
    ap.add_argument("output_dir", help="folder for <log name>.train and .test (created when missing)")
    ap.add_argument("--verbose", action="store_true", help="say which files were written")
    ap.add_argument("--delimiter", default=",", help="column separator of the CSV files (default ,)")
    a = ap.parse_args(argv)
    if not os.path.isfile(a.logfile_path):
        ap.error(f"{a.logfile_path}: no such log file")
    train, test = parse_log(a.logfile_path)
    save_csv_files(a.logfile_path, a.output_dir, train, test, a.delimiter, a.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
