"""SIGINT / SIGHUP during ``solve()`` (Caffe's SignalHandler): each signal asks for an action.

SIGINT → the solver's ``sigint_effect`` (default "stop": leave the loop, then
``snapshot_after_train`` writes a snapshot, as Caffe's tool), SIGHUP → ``sighup_effect`` (default
"snapshot": write a snapshot and go on).  A second SIGINT while the first is pending raises
KeyboardInterrupt.  Handlers are installed only in the main thread.
"""
from __future__ import annotations

import signal
import threading

ACTIONS = ("stop", "snapshot", "none")


class SignalHandler:
    """Collects the signals a solver receives; ``solver.sigint_effect`` / ``sighup_effect`` are
    read when a signal arrives."""

    def __init__(self, solver):
        self.solver = solver
        self.pending = []          # (signal number, effect)
        self._old = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        self._old = {}

        def handler(signum, frame):
            effect = self.solver.sigint_effect if signum == signal.SIGINT else self.solver.sighup_effect
            if signum == signal.SIGINT and any(s == signal.SIGINT for s, _ in self.pending):
                raise KeyboardInterrupt
            self.pending.append((signum, effect))

        for sig in (signal.SIGINT, getattr(signal, "SIGHUP", None)):
            if sig is None:
                continue
            try:
                self._old[sig] = signal.signal(sig, handler)
            except (ValueError, OSError):
                pass

    def remove(self) -> None:
        for sig, h in (self._old or {}).items():
            try:
                signal.signal(sig, h)
            except (ValueError, OSError):
                pass
        self._old = None
        self.pending.clear()

    def requested_action(self, peek: bool = False):
        """"stop", "snapshot" or None: the oldest pending request (consumed unless ``peek``)."""
        if not self.pending:
            return None
        if peek:
            return self.pending[0][1]
        _sig, effect = self.pending.pop(0)
        return effect if effect in ("stop", "snapshot") else None
