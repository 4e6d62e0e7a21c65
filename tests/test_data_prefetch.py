"""The prefetch ring: worker batches bit-identical to in-process ones, slots reused across
wrap-around, resume_at, sharding, error reporting, release with a pending event, clean shutdown."""
import os
import subprocess
import sys
import textwrap
import time

import cv2
import numpy as np
import pytest

from fashioncaffe.data_pipeline.prefetch import BatchMaker, Prefetcher
from fashioncaffe.data_pipeline.sources import LMDBSource, ReadPlan
from fashioncaffe.data_pipeline.transform import TransformSpec
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.formats.lmdb_datum import DatumWriter, encoded_datum, make_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_db(path, n=11, hw=(20, 18), bad=None):
    rng = np.random.default_rng(3)
    with DatumWriter(path) as w:
        for i in range(n):
            img = rng.integers(0, 256, hw + (3,), dtype=np.uint8)
            ok, buf = cv2.imencode(".jpg" if i % 2 else ".png", img)
            w.put(make_key(i, f"im{i}"), encoded_datum(b"junk" if i == bad else buf.tobytes(), i))
    return str(path)


def maker(db, batch=4, rank=0, world=1, crop=15, phase=0, seed=7):
    spec = TransformSpec(crop_size=crop, mirror=True, phase=phase)
    src = LMDBSource(db)
    plan = ReadPlan(len(src), batch, rank, world, seed=seed)
    return BatchMaker(src, plan, spec, seed, 11, rank, "test")


def collect(m, workers, n, start=0, slots=None):
    pf = Prefetcher(m, workers, prefetch=2, start=start, slots=slots)
    out = []
    try:
        for _ in range(n):
            b, data, off, fl, lab = pf.next()
            out.append((b, data.numpy().copy(), off.numpy().copy(), fl.numpy().copy(), lab.numpy().copy()))
            pf.release()
    finally:
        pf.close()
    return out


def assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x[0] == y[0]
        for u, v in zip(x[1:], y[1:]):
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_workers_bit_identical_and_ring_wraps(tmp_path, workers):
    db = make_db(tmp_path / "db")
    m = maker(db)
    ref = [m[b] for b in range(12)]  # fresh arrays, no ring
    ref = [(b, d.numpy(), o.numpy(), f.numpy(), l.numpy()) for b, d, o, f, l in ref]
    got = collect(m, workers, 12, slots=3)  # 12 batches through 3 slots; 48 reads wrap the 11-record DB
    assert_same(got, ref)
    assert_same(collect(m, 0, 12), ref)
    labels = np.concatenate([g[4] for g in got]).astype(int)
    assert labels.tolist() == [i % 11 for i in range(48)]


def test_slots_are_reused_not_reallocated(tmp_path):
    db = make_db(tmp_path / "db")
    pf = Prefetcher(maker(db), 2, prefetch=2, slots=3)
    try:
        base = pf._ring_t.data_ptr()
        ptrs = set()
        for _ in range(10):
            b, data, *_ = pf.next()
            ptrs.add(data.data_ptr())
            pf.release()
        assert ptrs <= {base + s * pf.slot_bytes for s in range(3)}
        assert len(ptrs) == 3
    finally:
        pf.close()


def test_resume_at_and_shards(tmp_path):
    db = make_db(tmp_path / "db")
    full = collect(maker(db), 2, 9)
    assert_same(collect(maker(db), 2, 4, start=5), full[5:])
    assert_same(collect(maker(db), 0, 4, start=5), full[5:])
    for rank in range(2):
        m = maker(db, rank=rank, world=2)
        got = collect(m, 2, 3)
        assert np.concatenate([g[4] for g in got]).astype(int).tolist() == [(rank + 2 * i) % 11 for i in range(12)]
        assert_same(got, collect(m, 0, 3))


def test_release_waits_for_event(tmp_path):
    """A slot released with an unfinished event is not reused until the event completes."""
    class Ev:
        def __init__(self):
            self.done = False
            self.synced = False

        def query(self):
            return self.done

        def synchronize(self):
            self.synced = self.done = True

    db = make_db(tmp_path / "db")
    m = maker(db)
    pf = Prefetcher(m, 1, prefetch=2, slots=2)
    try:
        events = []
        for b in range(6):
            got = pf.next()
            assert got[0] == b
            np.testing.assert_array_equal(got[1].numpy(), m[b][1].numpy())
            events.append(Ev())
            pf.release(events[-1])
        assert any(e.synced for e in events)  # the ring ran dry and had to wait for a copy
    finally:
        pf.close()


def test_oversized_batch_spills(tmp_path):
    """Uncropped images larger than the first one cannot fit a slot: their pixels come through the pipe."""
    with DatumWriter(tmp_path / "db") as w:
        for i, hw in enumerate([(6, 6), (6, 6), (9, 9), (9, 9)]):
            ok, buf = cv2.imencode(".png", np.full(hw + (3,), i, np.uint8))
            w.put(make_key(i, f"im{i}"), encoded_datum(buf.tobytes(), i))
    m = maker(str(tmp_path / "db"), batch=2, crop=0)
    got = collect(m, 1, 4)
    assert [g[1].shape for g in got] == [(2, 3, 6, 6), (2, 3, 9, 9)] * 2
    assert got[1][1][0, 0, 0, 0] == 2


@pytest.mark.parametrize("workers", [0, 2])
def test_error_names_entry(tmp_path, workers):
    db = make_db(tmp_path / "db", bad=5)
    pf = Prefetcher(maker(db), workers, prefetch=2)
    try:
        pf.next()
        pf.release()
        with pytest.raises(FashionCaffeError, match="im5"):
            pf.next()
    finally:
        pf.close()


def _alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" not in f.read().lower()
    except OSError:
        return False


def _wait_gone(pids, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def test_exit_and_parent_death_stop_workers(tmp_path):
    db = make_db(tmp_path / "db")
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {ROOT!r})
        from fashioncaffe.data_pipeline.prefetch import BatchMaker, Prefetcher
        from fashioncaffe.data_pipeline.sources import LMDBSource, ReadPlan
        from fashioncaffe.data_pipeline.transform import TransformSpec
        src = LMDBSource({db!r})
        m = BatchMaker(src, ReadPlan(len(src), 4), TransformSpec(crop_size=15, mirror=True), 1, 0, 0, "t")
        pf = Prefetcher(m, 2, prefetch=4)
        pf.next()                      # the batch stays held, the others are being made
        print(" ".join(str(p.pid) for p in pf.workers), flush=True)
        if sys.argv[1] == "kill":
            os.kill(os.getpid(), 9)    # no atexit, no finalizers: the workers must notice alone
    """)
    for mode in ("exit", "kill"):
        t = time.time()
        res = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, timeout=60)
        assert time.time() - t < 30
        pids = [int(p) for p in res.stdout.split()]
        assert len(pids) == 2, res.stderr
        assert not _wait_gone(pids), f"workers outlived a parent that ended by {mode}"


def test_ring_fits_the_free_shared_memory(tmp_path, monkeypatch, capsys):
    """Too little /dev/shm for the ring: fewer slots, or no workers, with a warning naming the fix —
    never a SIGBUS in a worker.  The batches stay bit-identical either way."""
    from fashioncaffe.data_pipeline import prefetch

    db = make_db(tmp_path / "db")
    m = maker(db)
    ref = collect(m, 0, 6)
    slot = m.batch_nbytes()
    monkeypatch.setattr(prefetch, "shared_memory_free_bytes", lambda: int(3.5 * slot / 0.8))
    pf = Prefetcher(m, 2, prefetch=2)
    try:
        assert pf.nslots == 3 and pf.num_workers == 2
    finally:
        pf.close()
    assert_same(collect(m, 2, 6), ref)
    monkeypatch.setattr(prefetch, "shared_memory_free_bytes", lambda: slot)
    pf = Prefetcher(m, 2, prefetch=2)
    try:
        assert pf.num_workers == 0 and pf.workers == []
    finally:
        pf.close()
    assert_same(collect(m, 2, 6), ref)
    err = capsys.readouterr().err
    assert "using 3 slots instead of 5" in err and "no workers" in err and "--shm-size" in err
    monkeypatch.setattr(prefetch, "shared_memory_free_bytes", lambda: None)  # no /dev/shm to ask: as asked
    pf = Prefetcher(m, 2, prefetch=2)
    try:
        assert pf.nslots == 5 and pf.num_workers == 2
    finally:
        pf.close()
