"""Common, shape and in-memory data layers: formulas, Caffe's conventions (ties, legacy fields,
layouts), finite-difference gradients, and the BVLC Caffe reference cases for them."""
import numpy as np
import pytest
import torch

from fashioncaffe.errors import FashionCaffeError

from layer_testing import gradcheck_layer, make, reference_case_problems


def rand(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# Eltwise
def test_eltwise_sum_coeff_and_prod():
    a, b, c = rand(2, 3, seed=1), rand(2, 3, seed=2), rand(2, 3, seed=3)
    layer, tops = make('name: "s" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "y" '
                       'eltwise_param { operation: SUM coeff: 0.5 coeff: -2 coeff: 1 }', [a.shape] * 3)
    assert tops == [(2, 3)]
    assert torch.allclose(layer.forward([a, b, c])[0], 0.5 * a - 2 * b + c)
    assert gradcheck_layer(layer, [t.clone().requires_grad_() for t in (a, b, c)])
    layer, _ = make('name: "p" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "y" '
                    'eltwise_param { operation: PROD }', [a.shape] * 3)
    assert torch.allclose(layer.forward([a, b, c])[0], a * b * c)
    assert gradcheck_layer(layer, [t.clone().requires_grad_() for t in (a, b, c)])


def test_eltwise_max_gradient_without_ties():
    xs = [rand(3, 4, seed=s).requires_grad_() for s in range(3)]
    layer, _ = make('name: "m" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "y" '
                    'eltwise_param { operation: MAX }', [(3, 4)] * 3)
    assert torch.allclose(layer.forward(xs)[0], torch.max(torch.stack(xs), 0).values)
    assert gradcheck_layer(layer, xs)


def test_eltwise_max_ties_follow_caffe_cpu():
    # bottom 0 vs 1: `a > b ? a : b` (a tie goes to bottom 1); later bottoms need strictly greater
    a = torch.tensor([1.0, 1.0, 0.0, 2.0], requires_grad=True)
    b = torch.tensor([1.0, 0.0, 3.0, 2.0], requires_grad=True)
    c = torch.tensor([0.0, 1.0, 3.0, 2.0], requires_grad=True)
    layer, _ = make('name: "m" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c" top: "y" '
                    'eltwise_param { operation: MAX }', [(4,)] * 3)
    y = layer.forward([a, b, c])[0]
    assert torch.equal(y, torch.tensor([1.0, 1.0, 3.0, 2.0]))
    y.backward(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    assert torch.equal(a.grad, torch.tensor([0.0, 2.0, 0.0, 0.0]))
    assert torch.equal(b.grad, torch.tensor([1.0, 0.0, 3.0, 4.0]))
    assert torch.equal(c.grad, torch.tensor([0.0, 0.0, 0.0, 0.0]))


def test_eltwise_errors():
    with pytest.raises(FashionCaffeError, match="'p'.*coeff"):
        make('name: "p" type: "Eltwise" bottom: "a" bottom: "b" top: "y" eltwise_param { operation: PROD coeff: 1 coeff: 2 }',
             [(2,), (2,)])
    with pytest.raises(FashionCaffeError, match="'s'.*coeff"):
        make('name: "s" type: "Eltwise" bottom: "a" bottom: "b" top: "y" eltwise_param { coeff: 1 }', [(2,), (2,)])
    with pytest.raises(FashionCaffeError, match="'s'.*shape"):
        make('name: "s" type: "Eltwise" bottom: "a" bottom: "b" top: "y"', [(2, 3), (2, 2)])


def test_eltwise_refuses_bottoms_of_different_shapes_as_bvlc_does():
    """BVLC's EltwiseLayer::Reshape CHECKs every bottom against bottom 0's shape, even when the other
    bottom holds more elements (the old concat_slice_split recording added a (2, 3, 4, 4) slice to a
    (2, 5, 4, 4) one; it was re-recorded with equal shapes).  The error names the layer and both."""
    import fashioncaffe as caffe
    from fashioncaffe.proto import caffe_pb2
    from google.protobuf import text_format

    net_text = """
    layer { name: "a" type: "Input" top: "a" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }
    layer { name: "b" type: "Input" top: "b" input_param { shape { dim: 2 dim: 5 dim: 4 dim: 4 } } }
    layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "sum" }
    """
    param = text_format.Parse(net_text, caffe_pb2.NetParameter())
    with pytest.raises(FashionCaffeError) as err:
        caffe.Net(param, caffe.TEST)
    assert "'sum'" in str(err.value)
    assert "(2, 3, 4, 4)" in str(err.value) and "(2, 5, 4, 4)" in str(err.value)

    # equal shapes build; reshaping one input afterwards is refused the same way
    net_text = net_text.replace("dim: 5", "dim: 3")
    net = caffe.Net(text_format.Parse(net_text, caffe_pb2.NetParameter()), caffe.TEST)
    net.blobs["b"].reshape(2, 5, 4, 4)
    with pytest.raises(FashionCaffeError, match=r"'sum'.*\(2, 3, 4, 4\).*\(2, 5, 4, 4\)"):
        net.reshape()


# ---------------------------------------------------------------------------------------------
# Concat / Slice / Split / Silence
def test_concat_axes_and_legacy_dim():
    a, b = rand(2, 3, 4, seed=1), rand(2, 5, 4, seed=2)
    layer, tops = make('name: "c" type: "Concat" bottom: "a" bottom: "b" top: "y"', [a.shape, b.shape])
    assert tops == [(2, 8, 4)]
    assert torch.equal(layer.forward([a, b])[0], torch.cat([a, b], 1))
    assert gradcheck_layer(layer, [a.clone().requires_grad_(), b.clone().requires_grad_()])
    layer, tops = make('name: "c" type: "Concat" bottom: "a" bottom: "b" top: "y" concat_param { axis: -1 }',
                       [(2, 3, 4), (2, 3, 1)])
    assert tops == [(2, 3, 5)]
    layer, tops = make('name: "c" type: "Concat" bottom: "a" bottom: "b" top: "y" concat_param { concat_dim: 0 }',
                       [(2, 3), (4, 3)])
    assert tops == [(6, 3)]
    with pytest.raises(FashionCaffeError, match="'c'"):
        make('name: "c" type: "Concat" bottom: "a" bottom: "b" top: "y"', [(2, 3, 4), (2, 3, 5)])


def test_slice_points_equal_split_and_legacy_dim():
    x = rand(2, 8, 3)
    layer, tops = make('name: "s" type: "Slice" bottom: "x" top: "a" top: "b" top: "c" '
                       'slice_param { slice_point: 2 slice_point: 6 }', [x.shape])
    assert tops == [(2, 2, 3), (2, 4, 3), (2, 2, 3)]
    outs = layer.forward([x])
    assert torch.equal(torch.cat(outs, 1), x)
    assert gradcheck_layer(layer, [x.clone().requires_grad_()])
    layer, tops = make('name: "s" type: "Slice" bottom: "x" top: "a" top: "b"', [x.shape])
    assert tops == [(2, 4, 3), (2, 4, 3)]
    layer, tops = make('name: "s" type: "Slice" bottom: "x" top: "a" top: "b" slice_param { slice_dim: 0 }',
                       [x.shape])
    assert tops == [(1, 8, 3), (1, 8, 3)]
    with pytest.raises(FashionCaffeError, match="'s'.*slice_point"):
        make('name: "s" type: "Slice" bottom: "x" top: "a" top: "b" slice_param { slice_point: 9 }', [x.shape])
    with pytest.raises(FashionCaffeError, match="'s'"):
        make('name: "s" type: "Slice" bottom: "x" top: "a" top: "b" top: "c"', [x.shape])


def test_split_tops_have_their_own_gradients():
    x = rand(3).requires_grad_()
    layer, tops = make('name: "s" type: "Split" bottom: "x" top: "a" top: "b"', [x.shape])
    a, b = layer.forward([x])
    a.retain_grad()
    b.retain_grad()
    (2 * a + 3 * b).sum().backward()
    assert torch.all(a.grad == 2) and torch.all(b.grad == 3) and torch.all(x.grad == 5)


def test_silence_has_no_tops():
    layer, tops = make('name: "s" type: "Silence" bottom: "x" bottom: "y"', [(2,), (3,)])
    assert tops == [] and layer.forward([torch.ones(2), torch.ones(3)]) == []


# ---------------------------------------------------------------------------------------------
# Reduction / ArgMax / Softmax / Tile / Crop / Parameter
@pytest.mark.parametrize("op,fn", [
    ("SUM", lambda f: f.sum(-1)), ("ASUM", lambda f: f.abs().sum(-1)),
    ("SUMSQ", lambda f: (f * f).sum(-1)), ("MEAN", lambda f: f.mean(-1))])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_reduction(op, fn, axis):
    x = rand(3, 4, 5)
    layer, tops = make(f'name: "r" type: "Reduction" bottom: "x" top: "y" '
                       f'reduction_param {{ operation: {op} axis: {axis} coeff: 0.5 }}', [x.shape])
    ax = axis % 3
    assert tops == [x.shape[:ax]]
    want = 0.5 * fn(x.reshape(x.shape[:ax] + (-1,)))
    assert torch.allclose(layer.forward([x])[0], want)
    assert gradcheck_layer(layer, [x.clone().requires_grad_()])


def test_argmax_layouts_and_ties():
    x = torch.tensor([[3.0, 1.0, 3.0, 2.0], [0.0, 5.0, 4.0, 5.0]])
    layer, tops = make('name: "a" type: "ArgMax" bottom: "x" top: "y" argmax_param { top_k: 2 }', [x.shape])
    assert tops == [(2, 1, 2)]
    # equal values: the larger index first (Caffe's std::greater on (value, index) pairs)
    assert torch.equal(layer.forward([x])[0], torch.tensor([[[2.0, 0.0]], [[3.0, 1.0]]]))
    layer, tops = make('name: "a" type: "ArgMax" bottom: "x" top: "y" argmax_param { top_k: 3 out_max_val: true }',
                       [x.shape])
    assert tops == [(2, 2, 3)]
    assert torch.equal(layer.forward([x])[0],
                       torch.tensor([[[2.0, 0.0, 3.0], [3.0, 3.0, 2.0]], [[3.0, 1.0, 2.0], [5.0, 5.0, 4.0]]]))
    layer, tops = make('name: "a" type: "ArgMax" bottom: "x" top: "y" argmax_param { axis: 0 }', [x.shape])
    assert tops == [(1, 4)]
    assert torch.equal(layer.forward([x])[0], torch.tensor([[0.0, 1.0, 1.0, 1.0]]))
    layer, tops = make('name: "a" type: "ArgMax" bottom: "x" top: "y" argmax_param { axis: 1 out_max_val: true }',
                       [x.shape])
    assert torch.equal(layer.forward([x])[0], torch.tensor([[3.0], [5.0]]))
    layer, tops = make('name: "a" type: "ArgMax" bottom: "x" top: "y"', [(2, 3, 4, 5)])
    assert tops == [(2, 1, 1, 1)]
    with pytest.raises(FashionCaffeError, match="'a'.*top_k"):
        make('name: "a" type: "ArgMax" bottom: "x" top: "y" argmax_param { top_k: 9 }', [x.shape])


@pytest.mark.parametrize("axis", [1, 2, -3])
def test_softmax(axis):
    x = rand(2, 5, 3)
    layer, _ = make(f'name: "s" type: "Softmax" bottom: "x" top: "y" softmax_param {{ axis: {axis} }}', [x.shape])
    assert torch.allclose(layer.forward([x])[0], torch.softmax(x, axis))
    assert gradcheck_layer(layer, [x.clone().requires_grad_()])


def test_tile():
    x = rand(2, 3, 2)
    layer, tops = make('name: "t" type: "Tile" bottom: "x" top: "y" tile_param { axis: 1 tiles: 3 }', [x.shape])
    assert tops == [(2, 9, 2)]
    y = layer.forward([x])[0]
    for k in range(3):
        assert torch.equal(y[:, 3 * k:3 * k + 3], x)
    assert gradcheck_layer(layer, [x.clone().requires_grad_()])
    with pytest.raises(FashionCaffeError, match="'t'.*tiles"):
        make('name: "t" type: "Tile" bottom: "x" top: "y"', [x.shape])


def test_crop_offsets():
    x = rand(2, 3, 8, 8)
    layer, tops = make('name: "c" type: "Crop" bottom: "x" bottom: "r" top: "y" crop_param { axis: 2 offset: 1 offset: 2 }',
                       [x.shape, (2, 3, 5, 4)])
    assert tops == [(2, 3, 5, 4)]
    assert torch.equal(layer.forward([x, torch.zeros(2, 3, 5, 4)])[0], x[:, :, 1:6, 2:6])
    assert gradcheck_layer(layer, [x.clone().requires_grad_(), torch.zeros(2, 3, 5, 4, dtype=torch.float64)])
    layer, tops = make('name: "c" type: "Crop" bottom: "x" bottom: "r" top: "y" crop_param { axis: 1 offset: 1 }',
                       [x.shape, (2, 2, 4, 4)])
    assert torch.equal(layer.forward([x, torch.zeros(2, 2, 4, 4)])[0], x[:, 1:3, 1:5, 1:5])
    with pytest.raises(FashionCaffeError, match="'c'.*offset"):
        make('name: "c" type: "Crop" bottom: "x" bottom: "r" top: "y" crop_param { offset: 1 offset: 2 offset: 3 }',
             [x.shape, (2, 3, 5, 4)])
    with pytest.raises(FashionCaffeError, match="'c'"):
        make('name: "c" type: "Crop" bottom: "x" bottom: "r" top: "y" crop_param { offset: 4 }', [x.shape, (2, 3, 5, 4)])


def test_parameter_layer():
    layer, tops = make('name: "p" type: "Parameter" top: "w" parameter_param { shape { dim: 2 dim: 3 } }', [])
    assert tops == [(2, 3)] and layer.blobs[0].shape == (2, 3)
    y = layer.forward([])[0]
    (y * 2).sum().backward()
    assert torch.all(layer.blobs[0].grad == 2)


# ---------------------------------------------------------------------------------------------
# Flatten / Reshape
def test_flatten():
    x = rand(2, 3, 4, 5)
    for spec, want in [("", (2, 60)), ("flatten_param { axis: 2 }", (2, 3, 20)),
                       ("flatten_param { axis: 1 end_axis: 2 }", (2, 12, 5)),
                       ("flatten_param { axis: 0 end_axis: -2 }", (24, 5))]:
        layer, tops = make(f'name: "f" type: "Flatten" bottom: "x" top: "y" {spec}', [x.shape])
        assert tops == [want]
        assert torch.equal(layer.forward([x])[0], x.reshape(want))


def test_reshape():
    s = (2, 3, 4, 5)
    cases = [("shape { dim: 0 dim: -1 dim: 10 }", (2, 6, 10)),
             ("shape { dim: 2 dim: 2 } axis: 2 num_axes: 1", (2, 3, 2, 2, 5)),
             ("shape { dim: -1 } axis: 1", (2, 60)),
             ("shape { dim: 1 } axis: 0 num_axes: 0", (1, 2, 3, 4, 5)),
             ("shape { dim: 1 } axis: -1 num_axes: 0", (2, 3, 4, 5, 1)),
             ("shape { dim: 0 dim: -1 } axis: -3", (2, 3, 4, 5)),
             ("shape { dim: 0 dim: 0 dim: -1 } axis: -3", (2, 3, 4, 5, 1)),
             ("shape { dim: 6 dim: 4 } axis: 0 num_axes: 3", (6, 4, 5))]
    x = rand(*s)
    for spec, want in cases:
        layer, tops = make(f'name: "r" type: "Reshape" bottom: "x" top: "y" reshape_param {{ {spec} }}', [s])
        assert tops == [want], spec
        assert torch.equal(layer.forward([x])[0], x.reshape(want))
    for bad in ["shape { dim: -1 dim: -1 }", "shape { dim: 7 dim: -1 }", "shape { dim: 5 }",
                "shape { dim: 0 dim: 0 dim: 0 dim: 0 dim: 0 }"]:
        with pytest.raises(FashionCaffeError, match="'r'"):
            make(f'name: "r" type: "Reshape" bottom: "x" top: "y" reshape_param {{ {bad} }}', [s])


def test_reshape_follows_batch_size_change():
    layer, _ = make('name: "r" type: "Reshape" bottom: "x" top: "y" reshape_param { shape { dim: 0 dim: -1 } }',
                    [(2, 3, 4)])
    assert layer.forward([torch.zeros(5, 3, 4)])[0].shape == (5, 12)


# ---------------------------------------------------------------------------------------------
# DummyData / MemoryData
def test_dummy_data_constant_and_refill():
    layer, tops = make('name: "d" type: "DummyData" top: "a" top: "b" dummy_data_param { '
                       'shape { dim: 2 dim: 3 } shape { dim: 4 } '
                       'data_filler { type: "constant" value: 7 } data_filler { type: "gaussian" std: 1 } }', [])
    assert tops == [(2, 3), (4,)]
    a1, b1 = layer.forward([])
    a2, b2 = layer.forward([])
    assert torch.all(a1 == 7) and a1 is a2
    assert not torch.equal(b1, b2)
    layer, tops = make('name: "d" type: "DummyData" top: "a" dummy_data_param { num: 2 channels: 3 height: 4 width: 5 }',
                       [])
    assert tops == [(2, 3, 4, 5)] and torch.all(layer.forward([])[0] == 0)
    with pytest.raises(FashionCaffeError, match="'d'"):
        make('name: "d" type: "DummyData" top: "a" top: "b" dummy_data_param { shape { dim: 2 } shape { dim: 2 } '
             'shape { dim: 2 } }', [])


def test_memory_data_cycles_batches():
    layer, tops = make('name: "m" type: "MemoryData" top: "data" top: "label" '
                       'memory_data_param { batch_size: 2 channels: 1 height: 2 width: 2 }', [])
    assert tops == [(2, 1, 2, 2), (2,)]
    data = np.arange(6 * 4, dtype=np.float32).reshape(6, 1, 2, 2)
    labels = np.arange(6, dtype=np.float32)
    layer.set_input_arrays(data, labels)
    seen = [layer.forward([])[1].tolist() for _ in range(4)]
    assert seen == [[0, 1], [2, 3], [4, 5], [0, 1]]
    with pytest.raises(FashionCaffeError, match="'m'.*multiple"):
        layer.set_input_arrays(data[:5], labels[:5])
    with pytest.raises(FashionCaffeError, match="'m'.*float32"):
        layer.set_input_arrays(data.astype(np.float64), labels)


# ---------------------------------------------------------------------------------------------
# BVLC Caffe reference cases
CASES = ["eltwise_ops", "concat_slice_split", "reduction", "argmax_forward", "softmax_axes", "crop_tile",
         "flatten_reshape"]


@pytest.mark.parametrize("case", CASES)
def test_reference_case(case):
    problems = reference_case_problems(case)
    if problems is None:
        pytest.skip(f"reference case {case} not available")
    assert problems == []
