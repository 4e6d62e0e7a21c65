"""Nets and helpers shared by the pycaffe tests (test_pycaffe_semantics.py, test_pycaffe_api.py)."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import caffe

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NET = """name: 'testnet' force_backward: true
layer { type: 'DummyData' name: 'data' top: 'data' top: 'label'
  dummy_data_param { num: 5 channels: 2 height: 3 width: 4 num: 5 channels: 1 height: 1 width: 1
    data_filler { type: 'gaussian' std: 1 } data_filler { type: 'constant' } } }
layer { type: 'Convolution' name: 'conv' bottom: 'data' top: 'conv'
  convolution_param { num_output: 3 kernel_size: 2 pad: 1 weight_filler { type: 'gaussian' std: 1 }
    bias_filler { type: 'constant' value: 2 } } }
layer { type: 'InnerProduct' name: 'ip' bottom: 'conv' top: 'ip'
  inner_product_param { num_output: 4 weight_filler { type: 'gaussian' std: 1 } } }
layer { type: 'SoftmaxWithLoss' name: 'loss' bottom: 'ip' bottom: 'label' top: 'loss' }
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture
def net(tmp_path):
    n = caffe.Net(write(tmp_path, "net.prototxt", NET), caffe.TRAIN)
    n.blobs["label"].data[...] = np.arange(5).reshape(5, 1, 1, 1) % 4
    return n


def run_python(code, cwd, env_extra=None):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)


