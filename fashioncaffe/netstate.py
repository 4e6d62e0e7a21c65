"""Choosing a net's layers for a NetState (phase, level, stages), with Caffe's include/exclude rules.

A layer with no rules is always kept.  A layer with ``include`` rules is kept when the state meets
at least one of them; a layer with ``exclude`` rules is dropped when the state meets at least one.
A rule is met when every condition it sets holds: same phase, level within [min_level, max_level],
all of its ``stage`` present in the state and none of its ``not_stage``.
"""

from __future__ import annotations

from .errors import fail
from .proto import caffe_pb2

__all__ = ["filter_net", "state_meets_rule", "make_state"]


def make_state(phase=caffe_pb2.TEST, level: int = 0, stages=()) -> caffe_pb2.NetState:
    """Build a NetState; ``phase`` is caffe_pb2.TRAIN/TEST (or the strings "TRAIN"/"TEST")."""
    if isinstance(phase, str):
        phase = caffe_pb2.Phase.Value(phase.upper())
    state = caffe_pb2.NetState(phase=phase, level=level)
    state.stage.extend(stages)
    return state


def state_meets_rule(state: caffe_pb2.NetState, rule: caffe_pb2.NetStateRule) -> bool:
    """True when ``state`` satisfies every condition set in ``rule``."""
    if rule.HasField("phase") and rule.phase != state.phase:
        return False
    if rule.HasField("min_level") and state.level < rule.min_level:
        return False
    if rule.HasField("max_level") and state.level > rule.max_level:
        return False
    stages = set(state.stage)
    if any(s not in stages for s in rule.stage):
        return False
    if any(s in stages for s in rule.not_stage):
        return False
    return True


def _keeps(state, layer) -> bool:
    if layer.include and layer.exclude:
        raise fail(f"layer '{layer.name}' (type '{layer.type}') has both include and exclude rules; "
                   "Caffe allows only one kind per layer.")
    if layer.include:
        return any(state_meets_rule(state, r) for r in layer.include)
    return not any(state_meets_rule(state, r) for r in layer.exclude)


def filter_net(net_param: caffe_pb2.NetParameter, state: caffe_pb2.NetState | None = None) -> caffe_pb2.NetParameter:
    """Return a copy of the V2 ``net_param`` holding only the layers ``state`` selects.

    ``state`` defaults to the net's own ``state`` field.  The copy's ``state`` is set to the state
    used, so the result records what it was filtered for.
    """
    if state is None:
        state = net_param.state
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net_param)
    out.ClearField("layer")
    out.layer.extend(l for l in net_param.layer if _keeps(state, l))
    out.state.CopyFrom(state)
    return out
