"""NetSpec building blocks shared by paper 004's net generator (netgen.py) and its AMNet heads
(amnet.py): the layer factory, parameter specs, fillers, fully connected layers, classifiers."""
from __future__ import annotations

SHARED = [dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)]


def L_P():
    import fashioncaffe as caffe  # noqa: F401  (also makes `import caffe` work)
    from fashioncaffe import layers as L, params as P
    return L, P


def wf(cfg, std=0.01):
    return dict(type="gaussian", std=std) if cfg["filler"] == "gaussian" else dict(type="msra")


def fc(n, name, bottom, num, cfg, relu=True, dropout=False, std=0.005, bias=0.1, filler=None):
    L, _ = L_P()
    n[name] = L.InnerProduct(bottom, num_output=num, weight_filler=filler or wf(cfg, std),
                             bias_filler=dict(type="constant", value=bias if relu else 0.0), param=SHARED)
    if relu:
        n["relu_" + name] = L.ReLU(n[name], in_place=True)
    if dropout:
        n["drop_" + name] = L.Dropout(n[name], dropout_ratio=0.5, in_place=True)
    return n[name]


CLASSIFIER_FILLER = dict(type="gaussian", std=0.01)  # small initial logits at every scale (as AlexNet's fc8)


def classifier(n, g, feat, spec, cfg):
    return fc(n, f"fc8_{g}", feat, spec.sizes[g], cfg, relu=False, filler=CLASSIFIER_FILLER)
