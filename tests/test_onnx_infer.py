"""`fashioncaffe export --from-train-val --labels meta.json` then `fashioncaffe infer`: the model is
self-describing (preprocessing + label names/groups), predictions equal the engine's on Caffe's TEST
transform of the same image, and bad inputs give clear errors without stopping the batch."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import fashioncaffe as caffe
from fashioncaffe.errors import FashionCaffeError

TRAIN_VAL = """
name: "tiny_fashion"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
        transform_param { crop_size: 24 mirror: true mean_value: 104 mean_value: 117 mean_value: 123 scale: 0.0078125 }
        data_param { source: "train/images_lmdb" batch_size: 8 backend: LMDB } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
        transform_param { crop_size: 24 mean_value: 104 mean_value: 117 mean_value: 123 scale: 0.0078125 }
        data_param { source: "val/images_lmdb" batch_size: 8 backend: LMDB } }
layer { name: "attr_data" type: "Data" top: "attr" data_param { source: "val/attributes_lmdb" batch_size: 8 backend: LMDB } }
layer { name: "lm_data" type: "Data" top: "lm_label" data_param { source: "val/landmarks_lmdb" batch_size: 8 backend: LMDB } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc_cat" type: "InnerProduct" bottom: "pool1" top: "fc_cat" inner_product_param { num_output: 5 } }
layer { name: "fc_attr" type: "InnerProduct" bottom: "pool1" top: "fc_attr" inner_product_param { num_output: 6 } }
layer { name: "fc_landmark" type: "InnerProduct" bottom: "pool1" top: "fc_landmark" inner_product_param { num_output: 16 } }
layer { name: "loss_cat" type: "SoftmaxWithLoss" bottom: "fc_cat" bottom: "label" top: "loss_cat" }
layer { name: "acc" type: "Accuracy" bottom: "fc_cat" bottom: "label" top: "acc" include { phase: TEST } }
layer { name: "loss_attr" type: "SigmoidCrossEntropyLoss" bottom: "fc_attr" bottom: "attr" top: "loss_attr" }
layer { name: "loss_lm" type: "EuclideanLoss" bottom: "fc_landmark" bottom: "lm_label" top: "loss_lm" }
"""

META = {
    "dataset": "synthetic test", "label": {"name": "category", "base": 0, "names": ["tee", "coat", "dress", "skirt", "jeans"]},
    "images": {"resize": 32, "channel_order": "BGR", "layout": "CHW"},
    "companions": {
        "attributes": {"K": 6, "names": ["red", "blue", "striped", "dotted", "long", "short"],
                       "types": ["color", "color", "pattern", "pattern", "length", "length"]},
        "landmarks": {"K": 24, "slots": ["left collar", "right collar", "left sleeve", "right sleeve",
                                         "left waistline", "right waistline", "left hem", "right hem"]},
    },
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from fashioncaffe.onnx.api import build_net
    from fashioncaffe.onnx.testing import fill_random

    d = tmp_path_factory.mktemp("infer")
    tv = d / "train_val.prototxt"
    tv.write_text(TRAIN_VAL)
    (d / "meta.json").write_text(json.dumps(META))
    net, _, _, _ = build_net(str(tv), from_train_val=True)
    fill_random(net, 4)
    weights = d / "w.caffemodel"
    net.save(str(weights))
    out = d / "model.onnx"
    from fashioncaffe.cli import main

    rc = main(["export", "--model", str(tv), "--weights", str(weights), "-o", str(out), "--from-train-val",
               "--labels", str(d / "meta.json")])
    assert rc == 0
    rng = np.random.RandomState(0)
    imgs = d / "imgs"
    imgs.mkdir()
    for i, (h, w) in enumerate([(40, 50), (32, 32), (61, 37)]):
        cv2.imwrite(str(imgs / f"img{i}.png"), rng.randint(0, 256, size=(h, w, 3)).astype(np.uint8))
    (imgs / "broken.jpg").write_bytes(b"not an image at all")
    return {"dir": d, "onnx": str(out), "net": net, "imgs": imgs}


def _engine_predict(net, path):
    from fashioncaffe.data_pipeline.transform import TransformSpec, reference_transform

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    img = cv2.resize(img, (32, 32), interpolation=cv2.INTER_LINEAR)
    spec = TransformSpec(crop_size=24, mean_values=[104, 117, 123], scale=0.0078125, phase=1)
    x = reference_transform(img.transpose(2, 0, 1), spec, 4, 4, False)
    net.blobs["data"].reshape(1, 3, 24, 24)
    net.reshape()
    return {k: np.array(v[0]) for k, v in net.forward(data=x[None]).items()}


def test_metadata_is_self_describing(exported):
    from fashioncaffe.infer import Predictor

    p = Predictor(exported["onnx"], "cpu")
    assert p.provider == "CPUExecutionProvider"
    pre = p.pre
    assert (pre["input_layout"], pre["channel_order"], pre["crop_size"], pre["resize"]) == ("CHW", "BGR", 24, [32, 32])
    assert pre["mean_values"] == [104, 117, 123] and pre["scale"] == 0.0078125
    outs = {o["name"]: o for o in p.outputs}
    assert set(outs) == {"prob", "fc_attr_prob", "fc_landmark"}
    assert outs["prob"]["kind"] == "category" and outs["prob"]["labels"][1] == "coat"
    assert outs["fc_attr_prob"]["kind"] == "attributes" and outs["fc_attr_prob"]["activation"] == "sigmoid"
    assert [g["name"] for g in outs["fc_attr_prob"]["groups"]] == ["color", "pattern", "length"]
    assert outs["fc_landmark"]["kind"] == "landmarks" and outs["fc_landmark"]["landmark_layout"] == "xy"


def test_predictions_equal_the_engine_and_bad_inputs_do_not_stop_the_batch(exported):
    from fashioncaffe.infer import Predictor, format_result

    p = Predictor(exported["onnx"], "auto")
    imgs = exported["imgs"]
    items = [str(imgs / "img0.png"), str(imgs / "missing.png"), str(imgs / "broken.jpg"), str(imgs / "img1.png"),
             str(imgs / "img2.png")]
    res = p.predict(items, top_k=3, batch_size=4)
    assert [r["ok"] for r in res] == [True, False, False, True, True]
    assert "no such file" in res[1]["error"] and "cannot be decoded" in res[2]["error"]
    for r in (res[0], res[3], res[4]):
        want = _engine_predict(exported["net"], r["image"])
        cat = r["outputs"]["prob"]["top"]
        assert cat[0]["index"] == int(np.argmax(want["prob"]))
        assert abs(cat[0]["score"] - float(want["prob"].max())) <= 1e-4 * max(1.0, float(want["prob"].max()))
        pts = r["outputs"]["fc_landmark"]["points"]
        np.testing.assert_allclose([[q["x"], q["y"]] for q in pts], want["fc_landmark"].reshape(8, 2), rtol=1e-4,
                                   atol=1e-4 * float(np.abs(want["fc_landmark"]).max()))
        groups = r["outputs"]["fc_attr_prob"]["groups"]
        assert [len(g["top"]) for g in groups] == [2, 2, 2]
        text = format_result(r)
        assert "prob (category)" in text and "color:" in text and "left collar" in text
    assert "ERROR" in format_result(res[1])


def test_cli_json_and_exit_status(exported, capsys):
    from fashioncaffe.cli import main

    rc = main(["infer", "--onnx", exported["onnx"], str(exported["imgs"]), "--json", "--top-k", "2",
               "--provider", "cpu"])
    cap = capsys.readouterr()
    doc = json.loads(cap.out)
    assert rc == 1  # broken.jpg failed, the rest were predicted
    assert doc["provider"] == "CPUExecutionProvider"
    assert sum(r["ok"] for r in doc["results"]) == 3 and len(doc["results"]) == 4
    assert "CPUExecutionProvider" in cap.err
    rc = main(["infer", "--onnx", exported["onnx"], str(exported["imgs"] / "img0.png")])
    assert rc == 0 and "prob (category):" in capsys.readouterr().out


def test_wrong_models_are_refused_clearly(exported, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from fashioncaffe.infer import Predictor

    bad = tmp_path / "bad.onnx"
    bad.write_text("hello")
    with pytest.raises(FashionCaffeError, match="cannot load it as an ONNX model"):
        Predictor(str(bad))
    with pytest.raises(FashionCaffeError, match="does not exist"):
        Predictor(str(tmp_path / "nope.onnx"))
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])])
    plain = tmp_path / "plain.onnx"
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(plain))
    with pytest.raises(FashionCaffeError, match="no 'fashioncaffe' metadata"):
        Predictor(str(plain))
    with pytest.raises(FashionCaffeError, match="--provider cuda"):
        from fashioncaffe.infer import available_providers

        if "CUDAExecutionProvider" in available_providers():
            raise FashionCaffeError("--provider cuda (present here)")
        Predictor(exported["onnx"], "cuda")


def test_export_cli_errors(tmp_path, capsys):
    from fashioncaffe.cli import main

    p = tmp_path / "n.prototxt"
    p.write_text('name: "n" layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }\n'
                 'layer { name: "odd" type: "Pooling" bottom: "data" top: "odd" top: "mask" '
                 'pooling_param { pool: MAX kernel_size: 1 } }\n')
    rc = main(["export", "--model", str(p), "-o", str(tmp_path / "x.onnx")])
    err = capsys.readouterr().err
    assert rc == 2 and "odd" in err
    rc = main(["export", "--model", str(tmp_path / "missing.prototxt"), "-o", str(tmp_path / "x.onnx")])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
