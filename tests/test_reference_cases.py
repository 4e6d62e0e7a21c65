"""The recorded BVLC Caffe cases as a whole: every case is replayed by some test, the in-repository copy
is the CEO's recording unchanged, and `make reference` replays them all from a clone."""
import filecmp
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from layer_testing import REF, SHARED_REF, reference_case_problems  # noqa: E402


def _recorded(kind):
    d = os.path.join(REF, kind)
    assert os.path.isdir(d), f"{d} is missing: the recorded BVLC cases must be in the repository"
    return sorted(c for c in os.listdir(d) if os.path.isdir(os.path.join(d, c)) and c != "__pycache__")


def test_every_recorded_layer_case_is_replayed_by_a_test():
    import test_layers_common
    import test_layers_loss
    import test_layers_neuron
    import test_layers_normalization
    import test_layers_vision

    replayed = set(test_layers_common.CASES) | set(test_layers_loss.CASES) | set(test_layers_neuron.CASES) \
        | set(test_layers_normalization.NORM_CASES) | set(test_layers_vision.VISION_CASES) | {"v1_format_net"}
    recorded = set(_recorded("layers"))
    assert len(recorded) >= 45
    assert recorded - replayed == set(), "recorded cases no test replays"
    assert replayed - recorded == set(), "tests name cases that are not recorded"


def test_v1_format_case_numbers_replay():
    """The legacy V1-syntax net is upgraded on load (tests/test_proto_io.py checks the upgrade) and its
    forward and backward give the recorded numbers."""
    assert reference_case_problems("v1_format_net") == []


def test_solver_cases_are_present():
    assert len(_recorded("solvers")) >= 7


def _tree(root):
    out = []
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        out += [os.path.relpath(os.path.join(d, f), root) for f in files if not f.endswith(".pyc")]
    return sorted(out)


@pytest.mark.skipif(not os.path.isdir(SHARED_REF), reason="../shared/caffe_reference (the original recording) "
                    "is not beside this checkout; the in-repository copy is used alone")
def test_in_repository_copy_equals_the_shared_recording():
    mine, theirs = _tree(REF), _tree(SHARED_REF)
    assert mine == theirs
    _, mismatch, errors = filecmp.cmpfiles(REF, SHARED_REF, mine, shallow=False)
    assert mismatch == [] and errors == []
