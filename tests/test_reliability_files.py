"""Bad files handed to the engine and its tools (issue 20): snapshots and weights that are empty or of
the wrong kind, images whose header claims a huge size, ONNX metadata that is not JSON, a Data layer
declared LEVELDB.  Each gets one paragraph naming the file and what was expected, or (where BVLC Caffe
accepts it) one warning."""
import struct
import zlib

import cv2
import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe import cli
from fashioncaffe.errors import FashionCaffeError
from fashioncaffe.formats.lmdb_datum import DatumWriter, array_to_datum, make_key

NET = '''
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 4 } } }
layer { name: "lab" type: "Input" top: "label" input_param { shape { dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip" inner_product_param { num_output: 3
  weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
'''


@pytest.fixture(autouse=True)
def _cpu():
    caffe.set_mode_cpu()


@pytest.fixture
def trained(tmp_path):
    """A solver file and the snapshot pair (binary and HDF5) of a 2-iteration training."""
    (tmp_path / "net.prototxt").write_text(NET)
    (tmp_path / "solver.prototxt").write_text(f'net: "{tmp_path}/net.prototxt" base_lr: 0.1 lr_policy: "fixed" '
                                              f'max_iter: 2 snapshot_prefix: "{tmp_path}/s" random_seed: 1\n')
    assert cli.main(["train", "--solver", str(tmp_path / "solver.prototxt")]) == 0
    h5 = tmp_path / "h5"
    h5.mkdir()
    (h5 / "solver.prototxt").write_text(f'net: "{tmp_path}/net.prototxt" base_lr: 0.1 lr_policy: "fixed" '
                                        f'max_iter: 2 snapshot_prefix: "{h5}/s" snapshot_format: HDF5 random_seed: 1\n')
    assert cli.main(["train", "--solver", str(h5 / "solver.prototxt")]) == 0
    return tmp_path


def _train_rc(tmp_path, capsys, *flags):
    rc = cli.main(["train", "--solver", str(tmp_path / "solver.prototxt"), *flags])
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("make,words", [
    (lambda d: (d / "empty.solverstate").write_bytes(b"") or d / "empty.solverstate", ["is empty (0 bytes)"]),
    (lambda d: d / "s_iter_2.caffemodel", ["is a Caffe model (.caffemodel", "not a solver state", "--weights"]),
    (lambda d: d / "h5" / "s_iter_2.caffemodel.h5", ["is a Caffe model in HDF5", "not a solver", "--weights"]),
    (lambda d: (d / "e.solverstate.h5").write_bytes(b"") or d / "e.solverstate.h5", ["is empty (0 bytes)"]),
], ids=["empty", "caffemodel", "caffemodel_h5", "empty_h5"])
def test_wrong_snapshot_file_says_what_it_is(trained, capsys, make, words):
    capsys.readouterr()
    path = make(trained)
    rc, err = _train_rc(trained, capsys, "--snapshot", str(path))
    assert rc == 2, err
    line = err.strip().splitlines()[-1]
    assert str(path) in line and "history" not in line
    for w in words:
        assert w in line, (w, line)


@pytest.mark.parametrize("name", ["empty.caffemodel", "empty.caffemodel.h5"])
def test_empty_weights_file_fails_instead_of_running_on_fillers(trained, capsys, name):
    path = trained / name
    path.write_bytes(b"")
    capsys.readouterr()
    rc, err = _train_rc(trained, capsys, "--weights", str(path))
    assert rc == 2 and f"{path}: is empty (0 bytes)" in err
    with pytest.raises(FashionCaffeError, match="is empty"):
        caffe.Net(str(trained / "net.prototxt"), str(path), caffe.TEST)


def test_solverstate_given_as_weights_says_what_it_is(trained, capsys):
    state = trained / "s_iter_2.solverstate"
    capsys.readouterr()
    rc, err = _train_rc(trained, capsys, "--weights", str(state))
    assert rc == 2 and f"{state}: is a solver state (.solverstate of iteration 2), not a Caffe model" in err
    assert f"{trained}/s_iter_2.caffemodel" in err and "--snapshot" in err


def test_weights_matching_no_layer_warn_once(trained, capsys, tmp_path):
    other = tmp_path / "other.prototxt"
    other.write_text(NET.replace('name: "ip"', 'name: "fc"'))
    capsys.readouterr()
    net = caffe.Net(str(other), str(trained / "s_iter_2.caffemodel"), caffe.TEST)   # BVLC accepts it
    err = capsys.readouterr().err
    assert "no weights were copied" in err and "named like a layer of this net" in err
    assert net.params["fc"][0].data.any()


# ------------------------------------------------------------------------------------------------
# images whose header claims a huge size
def _huge_png(path):
    ok, buf = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))
    b = bytearray(buf.tobytes())
    b[16:24] = struct.pack(">II", 100000, 90000)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))
    path.write_bytes(bytes(b))
    return bytes(b)


def _huge_jpg(path):
    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    b = bytearray(buf.tobytes())
    i = b.find(b"\xff\xc0")
    b[i + 5:i + 9] = struct.pack(">HH", 60000, 50000)
    path.write_bytes(bytes(b))
    return bytes(b)


WORDS = ["header claims a size", "over OpenCV's decoding limits", "OPENCV_IO_MAX_IMAGE_PIXELS", "1073741824"]


@pytest.mark.parametrize("maker,size", [(_huge_png, "100000 x 90000"), (_huge_jpg, "50000 x 60000")],
                         ids=["png", "jpeg"])
def test_huge_image_header_is_explained(tmp_path, maker, size):
    img = tmp_path / "big.img"
    data = maker(img)
    with pytest.raises(FashionCaffeError) as e:
        caffe.io.load_image(str(img))
    assert str(img) in str(e.value) and size in str(e.value)
    for w in WORDS:
        assert w in str(e.value)

    (tmp_path / "list.txt").write_text("big.img 0\n")
    (tmp_path / "net.prototxt").write_text(f'layer {{ name: "img" type: "ImageData" top: "data" top: "label" '
                                           f'image_data_param {{ source: "{tmp_path}/list.txt" root_folder: '
                                           f'"{tmp_path}/" batch_size: 1 }} }}\n')
    with pytest.raises(FashionCaffeError) as e:
        caffe.Net(str(tmp_path / "net.prototxt"), caffe.TRAIN)
    assert str(img) in str(e.value) and "cv2.error" not in str(e.value) and WORDS[0] in str(e.value)

    db = tmp_path / "db"
    with DatumWriter(str(db)) as w:
        d = caffe.proto.caffe_pb2.Datum(data=data, encoded=True, label=0)
        w.put(make_key(0, "big.img"), d)
    (tmp_path / "data.prototxt").write_text(f'layer {{ name: "d" type: "Data" top: "data" data_param {{ source: '
                                            f'"{db}" batch_size: 1 backend: LMDB }} }}\n')
    with pytest.raises(FashionCaffeError) as e:
        caffe.Net(str(tmp_path / "data.prototxt"), caffe.TRAIN)
    assert str(db) in str(e.value) and "'00000000_big.img'" in str(e.value) and size in str(e.value)


def test_huge_image_in_convert_imageset_is_one_clear_failure(tmp_path, capsys):
    _huge_png(tmp_path / "big.png")
    (tmp_path / "list.txt").write_text("big.png 0\n")
    rc = cli.main(["convert_imageset", f"{tmp_path}/", str(tmp_path / "list.txt"), str(tmp_path / "db")])
    err = capsys.readouterr().err
    assert rc == 2 and "none of the 1 images" in err
    assert "big.png" in err and WORDS[0] in err and not (tmp_path / "db").exists()


# ------------------------------------------------------------------------------------------------
# ONNX metadata
def _onnx_with_metadata(path, text):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    helper.set_model_props(m, {"fashioncaffe": text})
    onnx.save(m, str(path))
    return m


@pytest.mark.parametrize("text,words", [
    ('{"preprocess": {"input": "x", ', ["is not valid JSON", "Export it again"]),
    ('[1, 2]', ["not an object", "a list"]),
    ('{"net": "n"}', ["lacks 'preprocess', 'outputs'"]),
], ids=["truncated", "list", "missing_keys"])
def test_onnx_metadata_that_is_not_ours_is_named(tmp_path, capsys, text, words):
    from fashioncaffe.infer import Predictor

    path = tmp_path / "m.onnx"
    _onnx_with_metadata(path, text)
    with pytest.raises(FashionCaffeError) as e:
        Predictor(str(path))
    assert f"--onnx {path}" in str(e.value)
    for w in words:
        assert w in str(e.value)
    (tmp_path / "a.png").write_bytes(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    assert cli.main(["infer", "--onnx", str(path), str(tmp_path / "a.png")]) == 2
    assert words[0] in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# Data layer backends
def _lmdb(path):
    with DatumWriter(str(path)) as w:
        for i in range(2):
            w.put(make_key(i, f"i{i}"), array_to_datum(np.zeros((1, 4, 4), np.uint8), 0))


@pytest.mark.parametrize("backend", ["backend: LEVELDB", ""], ids=["explicit", "default"])
def test_leveldb_backend_on_an_lmdb_warns_and_reads_it(tmp_path, capsys, backend):
    _lmdb(tmp_path / "db")
    (tmp_path / "n.prototxt").write_text(f'layer {{ name: "d" type: "Data" top: "data" data_param {{ source: '
                                         f'"{tmp_path}/db" batch_size: 2 {backend} }} }}\n')
    net = caffe.Net(str(tmp_path / "n.prototxt"), caffe.TRAIN)
    err = capsys.readouterr().err
    assert "Layer 'd' (Data)" in err and f"{tmp_path}/db is an LMDB" in err and "write backend: LMDB" in err
    assert net.forward()["data"].shape == (2, 1, 4, 4)


def test_leveldb_database_is_refused(tmp_path):
    db = tmp_path / "ldb"
    db.mkdir()
    for n in ("CURRENT", "LOCK", "MANIFEST-000001", "000003.log"):
        (db / n).write_bytes(b"x")
    (tmp_path / "n.prototxt").write_text(f'layer {{ name: "d" type: "Data" top: "data" data_param {{ source: '
                                         f'"{db}" batch_size: 2 backend: LEVELDB }} }}\n')
    with pytest.raises(FashionCaffeError, match="is not an LMDB, and LevelDB is not supported"):
        caffe.Net(str(tmp_path / "n.prototxt"), caffe.TRAIN)
