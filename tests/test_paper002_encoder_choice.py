"""Paper 002's encoder follows the caffemodel a user gives: BVLC's ResNet-50 release (its layer names)
selects the ResNet-50 encoder at full scale; any other file, or no file, keeps the scale's EfficientNet."""
from fashioncaffe.proto import caffe_pb2
from tools.paper002 import data, pretrain
from tools.repro.layout import Experiment


def _caffemodel(path, names):
    net = caffe_pb2.NetParameter(name="weights")
    for n in names:
        net.layer.add(name=n, type="Convolution")
    path.write_bytes(net.SerializeToString())
    return str(path)


def test_resnet50_caffemodel_selects_the_resnet50_encoder(tmp_path):
    resnet = _caffemodel(tmp_path / "ResNet-50-model.caffemodel", ["conv1", *data.RESNET50_LAYERS, "fc1000"])
    exp = Experiment("002", "full", weights=resnet)
    assert data.encoder_name(exp) == "full_resnet50"
    assert data.encoder_cfg(exp) is pretrain.ENCODERS["full_resnet50"]
    assert pretrain.feature_dim(data.encoder_cfg(exp)) == 2048


def test_other_weights_or_none_keep_the_scales_encoder(tmp_path):
    effnet = _caffemodel(tmp_path / "b5.caffemodel", ["stem_conv", "block1a_dwconv", "top_conv"])
    assert data.encoder_name(Experiment("002", "full", weights=effnet)) == "full"
    assert data.encoder_name(Experiment("002", "full")) == "full"
    # no ResNet-50 encoder at the narrow scales: their EfficientNet stays whatever the file
    resnet = _caffemodel(tmp_path / "r.caffemodel", list(data.RESNET50_LAYERS))
    assert data.encoder_name(Experiment("002", "tiny", weights=resnet)) == "tiny"
