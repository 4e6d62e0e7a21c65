"""Data / ImageData / HDF5Data layers inside a Net: aligned companion labels, wrap-around,
determinism for a seed whatever the worker count, errors that name the entry, clean shutdown."""
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe.data_pipeline import set_num_workers
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.formats.lmdb_datum import DatumWriter, array_to_datum, encoded_datum, float_datum, make_key

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_dbs(tmp_path, n=10, encoded=True, size=(3, 12, 14)):
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n,) + size, dtype=np.uint8)
    with DatumWriter(tmp_path / "img") as w, DatumWriter(tmp_path / "lab") as wl:
        for i in range(n):
            key = make_key(i, f"dir/im{i}.png")
            if encoded:
                ok, buf = cv2.imencode(".png", imgs[i].transpose(1, 2, 0))
                w.put(key, encoded_datum(buf.tobytes(), i))
            else:
                w.put(key, array_to_datum(imgs[i], i))
            wl.put(key, float_datum([i, 10 * i, -i]))
    return imgs


def net_text(tmp_path, batch=4, transform="", phase="TRAIN"):
    p = tmp_path / f"net_{phase}.prototxt"
    p.write_text(f"""
name: "t"
layer {{ name: "data" type: "Data" top: "data" top: "label"
  data_param {{ source: "{tmp_path / 'img'}" batch_size: {batch} backend: LMDB }}
  transform_param {{ {transform} }} }}
layer {{ name: "targets" type: "Data" top: "targets"
  data_param {{ source: "{tmp_path / 'lab'}" batch_size: {batch} backend: LMDB }} }}
""")
    return str(p)


@pytest.fixture(autouse=True)
def _workers():
    yield
    set_num_workers(None)


@pytest.mark.parametrize("workers", [0, 2])
def test_aligned_and_wraps(tmp_path, workers):
    set_num_workers(workers)
    imgs = make_dbs(tmp_path, n=10)
    net = caffe.Net(net_text(tmp_path, 4), caffe.TEST)
    assert net.blobs["data"].shape == (4, 3, 12, 14)
    assert net.blobs["targets"].shape == (4, 3, 1, 1)
    seen = []
    for it in range(4):
        net.forward()
        lab = net.blobs["label"].data.copy()
        t = net.blobs["targets"].data[:, :, 0, 0]
        np.testing.assert_array_equal(t[:, 0], lab)
        np.testing.assert_array_equal(t[:, 1], 10 * lab)
        for j, l in enumerate(lab.astype(int)):
            np.testing.assert_array_equal(net.blobs["data"].data[j], imgs[l].astype(np.float32))
        seen += lab.astype(int).tolist()
    assert seen == [i % 10 for i in range(16)]  # sequential, wrapping at the end of the DB
    for layer in net.layers:
        getattr(layer, "close", lambda: None)()


def _run(tmp_path, workers, seed, iters=3):
    set_num_workers(workers)
    caffe.set_random_seed(seed)
    net = caffe.Net(net_text(tmp_path, 3, "crop_size: 8 mirror: true mean_value: 120 scale: 0.5"), caffe.TRAIN)
    outs = []
    for _ in range(iters):
        net.forward()
        outs.append(net.blobs["data"].data.copy())
    for layer in net.layers:
        getattr(layer, "close", lambda: None)()
    return np.stack(outs)


def test_deterministic_for_seed(tmp_path):
    make_dbs(tmp_path, n=7, encoded=False)
    a = _run(tmp_path, 0, 5)
    b = _run(tmp_path, 2, 5)
    c = _run(tmp_path, 1, 6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_undecodable_names_key(tmp_path):
    set_num_workers(0)
    make_dbs(tmp_path, n=4)
    with DatumWriter(tmp_path / "img", overwrite=True) as w:
        ok, buf = cv2.imencode(".png", np.zeros((12, 14, 3), np.uint8))
        w.put(make_key(0, "good.png"), encoded_datum(buf.tobytes()))
        w.put(make_key(1, "broken.jpg"), encoded_datum(b"garbage"))
    net = caffe.Net(net_text(tmp_path, 2), caffe.TEST)
    with pytest.raises(FashionCaffeError, match="00000001_broken.jpg"):
        net.forward()


def test_shape_mismatch_names_key(tmp_path):
    set_num_workers(0)
    make_dbs(tmp_path, n=4)
    with DatumWriter(tmp_path / "img", overwrite=True) as w:
        w.put(make_key(0, "a"), array_to_datum(np.zeros((3, 12, 14), np.uint8)))
        w.put(make_key(1, "odd"), array_to_datum(np.zeros((3, 10, 14), np.uint8)))
    net = caffe.Net(net_text(tmp_path, 2), caffe.TEST)
    with pytest.raises(FashionCaffeError, match="00000001_odd"):
        net.forward()


def test_missing_source(tmp_path):
    (tmp_path / "n.prototxt").write_text(f'layer {{ name: "d" type: "Data" top: "data" '
                                         f'data_param {{ source: "{tmp_path}/nope" batch_size: 2 backend: LMDB }} }}')
    with pytest.raises(FashionCaffeError, match="does not exist"):
        caffe.Net(str(tmp_path / "n.prototxt"), caffe.TEST)


def test_shard_round_robin(tmp_path):
    set_num_workers(0)
    make_dbs(tmp_path, n=10)
    got = []
    for rank in range(2):
        net = caffe.Net(net_text(tmp_path, 2), caffe.TRAIN)
        for layer in net.layers:
            layer.set_shard(rank, 2)
        net.forward()
        got.append(net.blobs["label"].data.astype(int).tolist())
        np.testing.assert_array_equal(net.blobs["targets"].data[:, 0, 0, 0], net.blobs["label"].data)
    assert got == [[0, 2], [1, 3]]


def test_image_data(tmp_path):
    set_num_workers(0)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(5):
        img = rng.integers(0, 256, (10 + i, 9, 3), dtype=np.uint8)
        cv2.imwrite(str(tmp_path / f"a {i}.png"), img)
        lines.append(f"a {i}.png {i}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "n.prototxt").write_text(f"""
layer {{ name: "d" type: "ImageData" top: "data" top: "label"
  image_data_param {{ source: "{tmp_path}/list.txt" root_folder: "{tmp_path}/" batch_size: 5
                      new_height: 8 new_width: 6 shuffle: true }} }}""")
    caffe.set_random_seed(1)
    net = caffe.Net(str(tmp_path / "n.prototxt"), caffe.TRAIN)
    assert net.blobs["data"].shape == (5, 3, 8, 6)
    net.forward()
    labels = net.blobs["label"].data.astype(int)
    assert sorted(labels.tolist()) == [0, 1, 2, 3, 4]
    for j, l in enumerate(labels):
        ref = cv2.resize(cv2.imread(str(tmp_path / f"a {l}.png")), (6, 8)).transpose(2, 0, 1)
        np.testing.assert_array_equal(net.blobs["data"].data[j], ref)


def test_hdf5_data(tmp_path):
    import h5py

    for k in range(2):
        with h5py.File(tmp_path / f"f{k}.h5", "w") as f:
            f["data"] = np.arange(6 * 2, dtype=np.float32).reshape(6, 2) + 100 * k
            f["label"] = np.arange(6, dtype=np.float32) + 100 * k
    (tmp_path / "list.txt").write_text(f"{tmp_path}/f0.h5\n{tmp_path}/f1.h5\n")
    (tmp_path / "n.prototxt").write_text(f'layer {{ name: "h" type: "HDF5Data" top: "data" top: "label" '
                                         f'hdf5_data_param {{ source: "{tmp_path}/list.txt" batch_size: 4 }} }}')
    net = caffe.Net(str(tmp_path / "n.prototxt"), caffe.TRAIN)
    assert net.blobs["data"].shape == (4, 2)
    got = []
    for _ in range(4):
        net.forward()
        got += net.blobs["label"].data.tolist()
        np.testing.assert_array_equal(net.blobs["data"].data[:, 0], 2 * net.blobs["label"].data - 100 *
                                      (net.blobs["label"].data >= 100))
    assert got == [0, 1, 2, 3, 4, 5, 100, 101, 102, 103, 104, 105, 0, 1, 2, 3]


def test_workers_shut_down_at_exit(tmp_path):
    """A script that leaves its net (and worker processes) alive must still exit promptly."""
    make_dbs(tmp_path, n=6)
    script = textwrap.dedent(f"""
        import fashioncaffe as caffe
        from fashioncaffe.data_pipeline import set_num_workers
        set_num_workers(2)
        net = caffe.Net({net_text(tmp_path, 2)!r}, caffe.TRAIN)
        net.forward(); net.forward()
        layer = net.layers[0]
        pids = [w.pid for w in layer.worker_processes]
        print(" ".join(map(str, pids)), flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=ROOT)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    pids = [int(p) for p in res.stdout.split()]
    assert len(pids) == 2
    import time

    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.exists(f"/proc/{p}") and
                                         "zombie" not in open(f"/proc/{p}/status").read().lower() for p in pids):
        time.sleep(0.1)
    for p in pids:
        alive = os.path.exists(f"/proc/{p}") and "zombie" not in open(f"/proc/{p}/status").read().lower()
        assert not alive, f"worker {p} outlived the interpreter"


def test_close_stops_workers(tmp_path):
    set_num_workers(2)
    make_dbs(tmp_path, n=6)
    net = caffe.Net(net_text(tmp_path, 2), caffe.TRAIN)
    net.forward()
    layer = net.layers[0]
    procs = layer.worker_processes
    assert len(procs) == 2
    layer.close()
    for p in procs:
        p.join(5)
        assert not p.is_alive()
