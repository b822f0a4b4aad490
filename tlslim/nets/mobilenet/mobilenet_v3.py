"""MobileNet v3 (Howard et al. 2019, arXiv:1905.02244) with research/slim's API
(`nets/mobilenet/mobilenet_v3.py`) and the variable scopes of its released checkpoints.

    with slim.arg_scope(mobilenet_v3.training_scope(is_training=False)):
        logits, end_points = mobilenet_v3.large(images)            # 1001 classes, inference mode

The architectures are conv_defs for the generic builder (tlslim.nets.mobilenet.mobilenet):
`V3_LARGE` and `V3_SMALL` (the paper's Tables 1 and 2), their 'minimalistic' variants (no
squeeze-excite, no hard-swish, 3x3 kernels only) and `V3_EDGETPU`. A net is a 3x3/2 conv
('Conv'), inverted residual blocks ('expanded_conv', 'expanded_conv_1', ...; some with
squeeze-excite after the depthwise conv, 'squeeze_excite/Conv' and '/Conv_1' with biases), a 1x1
conv ('Conv_1'), an average pool over the final map ('AvgPool2D', `reduce_to_1x1`) and a 1x1
conv without batch norm ('Conv_2', with biases), then slim's generic head (global pool,
dropout, 'Logits/Conv2d_1c_1x1'; 1001 classes, class 0 = background). Batch norm (center and
scale) is tlslim.layers.batch_norm, where slim used slim.batch_norm.

The registry entries at the end of this module match the float releases
v3-large_224_1.0_float and v3-small_224_1.0_float (research/slim nets/mobilenet/README.md), whose
tarballs hold the moving-average weights as the V2 checkpoint 'ema/model-<step>' (and the raw
ones as 'pristine/model.ckpt-<step>'). Small inputs: `reduce_to_1x1` pools a square map whole
(a 32x32 image leaves a 1x1 map) and the global pool after it covers any map, so every square
size from 32 up builds with the release's variables, as in slim.
"""
import copy
import functools

import numpy as np

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.mobilenet import conv_blocks as ops
from tlslim.nets.mobilenet import mobilenet as lib
from tlslim.nets.registry import NetInfo, register

__all__ = ["training_scope", "mobilenet", "V3_LARGE", "V3_SMALL", "large", "small", "V3_LARGE_DETECTION",
           "V3_SMALL_DETECTION"]

op = lib.op
expand_input = ops.expand_input_by_factor

# Squeeze-excite as MobileNet v3 uses it: a quarter of the channels, ReLU inside and a hard
# sigmoid gate (slim's constant 0.16667, not 1/6, so the numbers stay slim's).
squeeze_excite = functools.partial(ops.squeeze_excite, squeeze_factor=4, inner_activation_fn=tf.nn.relu,
                                   gating_fn=lambda x: tf.nn.relu6(x + 3) * 0.16667)


def _se4(expansion_tensor, input_tensor):
    """squeeze_excite as an expanded_conv's expansion_transform (gates the depthwise output)."""
    return squeeze_excite(expansion_tensor)


def hard_swish(x):
    """x * relu6(x + 3) / 6, in name scope 'hard_swish'."""
    with tf.name_scope("hard_swish"):
        return x * tf.nn.relu6(x + np.float32(3)) * np.float32(1. / 6.)


def reduce_to_1x1(input_tensor, default_size=7, **kwargs):
    """slim.avg_pool2d over the whole of a square map (statically known), else `default_size`
    square windows; kwargs (stride, padding, ...) go to slim.avg_pool2d."""
    h, w = input_tensor.shape.as_list()[1:3]
    kernel = [h, h] if h is not None and w == h else [default_size, default_size]
    return slim.avg_pool2d(input_tensor, kernel_size=kernel, **kwargs)


def mbv3_op(ef, n, k, s=1, act=tf.nn.relu, se=None, **kwargs):
    """One MobileNet v3 block for a spec: expanded_conv with expansion factor `ef`, `n` outputs,
    a `k`x`k` depthwise conv of stride `s`, inner activation `act` and expansion_transform `se`;
    kwargs go to expanded_conv."""
    return op(ops.expanded_conv, expansion_size=expand_input(ef), kernel_size=(k, k), stride=s, num_outputs=n,
              inner_activation_fn=act, expansion_transform=se, **kwargs)


def mbv3_fused(ef, n, k, s=1, **kwargs):
    """A 'fused' block (EdgeTPU): the expansion is a full `k`x`k` conv of stride `s` and there is
    no depthwise conv; kwargs go to mbv3_op."""
    expansion_fn = functools.partial(slim.conv2d, kernel_size=k, stride=s)
    return mbv3_op(ef, n, k=1, s=s, depthwise_location=None, expansion_fn=expansion_fn, **kwargs)


mbv3_op_se = functools.partial(mbv3_op, se=_se4)

# Part of the architecture, as V2's defaults: which layers normalize (and with what), ReLU by default.
DEFAULTS = {
    (ops.expanded_conv,): dict(normalizer_fn=batch_norm, residual=True),
    (slim.conv2d, slim.fully_connected, slim.separable_conv2d): {
        "normalizer_fn": batch_norm, "activation_fn": tf.nn.relu},
    (batch_norm,): {"center": True, "scale": True},
}

DEFAULTS_GROUP_NORM = {
    (ops.expanded_conv,): dict(normalizer_fn=slim.group_norm, residual=True),
    (slim.conv2d, slim.fully_connected, slim.separable_conv2d): {
        "normalizer_fn": slim.group_norm, "activation_fn": tf.nn.relu},
    (slim.group_norm,): {"groups": 8},
}

_RELU, _HS = tf.nn.relu, hard_swish


def _spec(stem, blocks, head):
    """A spec: the stem conv, blocks given as (ef, n, k, s, act, squeeze-excite?), the head ops."""
    return [stem] + [(mbv3_op_se if se else mbv3_op)(ef=ef, n=n, k=k, s=s, act=act)
                     for ef, n, k, s, act, se in blocks] + head


def _head(depth, classifier_depth, act=None):
    """Conv_1 (1x1, batch norm), the 1x1 pool, Conv_2 (1x1, no batch norm: it has biases);
    `act` overrides the defaults' ReLU."""
    extra = {} if act is None else {"activation_fn": act}
    return [op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=depth, **extra),
            op(reduce_to_1x1, default_size=7, stride=1, padding="VALID"),
            op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=classifier_depth, normalizer_fn=None, **extra)]


V3_LARGE = dict(defaults=dict(DEFAULTS), spec=_spec(
    op(slim.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3), activation_fn=hard_swish),
    [(1, 16, 3, 1, _RELU, False), (4, 24, 3, 2, _RELU, False), (3, 24, 3, 1, _RELU, False),
     (3, 40, 5, 2, _RELU, True), (3, 40, 5, 1, _RELU, True), (3, 40, 5, 1, _RELU, True),
     (6, 80, 3, 2, _HS, False), (2.5, 80, 3, 1, _HS, False), (184 / 80., 80, 3, 1, _HS, False),
     (184 / 80., 80, 3, 1, _HS, False), (6, 112, 3, 1, _HS, True), (6, 112, 3, 1, _HS, True),
     (6, 160, 5, 2, _HS, True), (6, 160, 5, 1, _HS, True), (6, 160, 5, 1, _HS, True)],
    _head(960, 1280, hard_swish)))

V3_LARGE_MINIMALISTIC = dict(defaults=dict(DEFAULTS), spec=_spec(
    op(slim.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3)),
    [(ef, n, 3, s, _RELU, False) for ef, n, s in (
        (1, 16, 1), (4, 24, 2), (3, 24, 1), (3, 40, 2), (3, 40, 1), (3, 40, 1), (6, 80, 2), (2.5, 80, 1),
        (184 / 80., 80, 1), (184 / 80., 80, 1), (6, 112, 1), (6, 112, 1), (6, 160, 2), (6, 160, 1), (6, 160, 1))],
    _head(960, 1280)))

V3_SMALL = dict(defaults=dict(DEFAULTS), spec=_spec(
    op(slim.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3), activation_fn=hard_swish),
    [(1, 16, 3, 2, _RELU, True), (72. / 16, 24, 3, 2, _RELU, False), (88. / 24, 24, 3, 1, _RELU, False),
     (4, 40, 5, 2, _HS, True), (6, 40, 5, 1, _HS, True), (6, 40, 5, 1, _HS, True),
     (3, 48, 5, 1, _HS, True), (3, 48, 5, 1, _HS, True),
     (6, 96, 5, 2, _HS, True), (6, 96, 5, 1, _HS, True), (6, 96, 5, 1, _HS, True)],
    _head(576, 1024, hard_swish)))

V3_SMALL_MINIMALISTIC = dict(defaults=dict(DEFAULTS), spec=_spec(
    op(slim.conv2d, stride=2, num_outputs=16, kernel_size=(3, 3)),
    [(ef, n, 3, s, _RELU, False) for ef, n, s in (
        (1, 16, 2), (72. / 16, 24, 2), (88. / 24, 24, 1), (4, 40, 2), (6, 40, 1), (6, 40, 1), (3, 48, 1),
        (3, 48, 1), (6, 96, 2), (6, 96, 1), (6, 96, 1))],
    _head(576, 1024)))

# EdgeTPU-friendly: fused (full-conv) expansions instead of depthwise convs in the early blocks.
V3_EDGETPU = dict(defaults=dict(DEFAULTS), spec=(
    [op(slim.conv2d, stride=2, num_outputs=32, kernel_size=(3, 3))]
    + [mbv3_fused(k=3, s=s, ef=ef, n=n) for s, ef, n in (
        (1, 1, 16), (2, 8, 32), (1, 4, 32), (1, 4, 32), (1, 4, 32), (2, 8, 48), (1, 4, 48), (1, 4, 48), (1, 4, 48))]
    + [mbv3_op(k=k, s=s, ef=ef, n=n, **extra) for k, s, ef, n, extra in (
        (3, 2, 8, 96, {}), (3, 1, 4, 96, {}), (3, 1, 4, 96, {}), (3, 1, 4, 96, {}), (3, 1, 8, 96, {"residual": False}),
        (3, 1, 4, 96, {}), (3, 1, 4, 96, {}), (3, 1, 4, 96, {}), (5, 2, 8, 160, {}), (5, 1, 4, 160, {}),
        (5, 1, 4, 160, {}), (5, 1, 4, 160, {}), (3, 1, 8, 192, {}))]
    + [op(slim.conv2d, stride=1, num_outputs=1280, kernel_size=(1, 1))]))


@slim.add_arg_scope
def mobilenet(input_tensor,
              num_classes=1001,
              depth_multiplier=1.0,
              scope="MobilenetV3",
              conv_defs=None,
              finegrain_classification_mode=False,
              use_groupnorm=False,
              **kwargs):
    """MobileNet v3 -> (logits, end_points). Inference mode is created by default; pass
    is_training=True or build under `training_scope()` to train.

    conv_defs: the architecture (default V3_LARGE; V3_SMALL, the minimalistic ones, V3_EDGETPU or
    any other). depth_multiplier: scales every layer's depth. finegrain_classification_mode: the
    last layer keeps its full width whatever the multiplier (ignored when final_endpoint stops
    earlier). use_groupnorm: group norm (`groups`, default 8) instead of batch norm. kwargs go
    to the generic `mobilenet` (prediction_fn, reuse, base_only, is_training, final_endpoint,
    use_reduce_mean_for_pooling, ...). ValueError for 'multiplier'.
    """
    if conv_defs is None:
        conv_defs = V3_LARGE
    if "multiplier" in kwargs:
        raise ValueError("mobilenetv2 doesn't support generic multiplier parameter use \"depth_multiplier\" instead.")
    if use_groupnorm:
        conv_defs = copy.deepcopy(conv_defs)
        conv_defs["defaults"] = dict(DEFAULTS_GROUP_NORM)
        conv_defs["defaults"][(slim.group_norm,)] = {"groups": kwargs.pop("groups", 8)}
    if finegrain_classification_mode:
        conv_defs = copy.deepcopy(conv_defs)
        # The last layer's depth is left alone (no multiplier applied).
        conv_defs["spec"][-1] = conv_defs["spec"][-1]._replace(multiplier_func=lambda params, multiplier: params)
    with slim.arg_scope((lib.depth_multiplier,)):
        return lib.mobilenet(input_tensor, num_classes=num_classes, conv_defs=conv_defs, scope=scope,
                             multiplier=depth_multiplier, **kwargs)


mobilenet.default_image_size = 224
training_scope = lib.training_scope


@slim.add_arg_scope
def mobilenet_base(input_tensor, depth_multiplier=1.0, **kwargs):
    """The body only (no pool, no logits) -> (net, end_points); kwargs as for `mobilenet`."""
    return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


def wrapped_partial(func, new_defaults=None, **kwargs):
    """functools.partial(func, **kwargs) keeping func's name and docstring; `new_defaults` are
    defaults the caller may override (e.g. a scope name)."""
    new_defaults = dict(new_defaults or {})

    def func_wrapper(*f_args, **f_kwargs):
        return func(*f_args, **dict(new_defaults, **f_kwargs))
    functools.update_wrapper(func_wrapper, func)
    partial_func = functools.partial(func_wrapper, **kwargs)
    functools.update_wrapper(partial_func, func)
    return partial_func


large = wrapped_partial(mobilenet, conv_defs=V3_LARGE)
small = wrapped_partial(mobilenet, conv_defs=V3_SMALL)
edge_tpu = wrapped_partial(mobilenet, new_defaults={"scope": "MobilenetEdgeTPU"}, conv_defs=V3_EDGETPU)
edge_tpu_075 = wrapped_partial(mobilenet, new_defaults={"scope": "MobilenetEdgeTPU"}, conv_defs=V3_EDGETPU,
                               depth_multiplier=0.75, finegrain_classification_mode=True)
# Without squeeze-excite, hard-swish or 5x5 kernels: friendlier to most hardware.
large_minimalistic = wrapped_partial(mobilenet, conv_defs=V3_LARGE_MINIMALISTIC)
small_minimalistic = wrapped_partial(mobilenet, conv_defs=V3_SMALL_MINIMALISTIC)


def _reduce_consecutive_layers(conv_defs, start_id, end_id, multiplier=0.5):
    """A copy of conv_defs with the num_outputs of spec[start_id..end_id] (inclusive) times
    `multiplier`, rounded (the detection variants)."""
    defs = copy.deepcopy(conv_defs)
    for d in defs["spec"][start_id:end_id + 1]:
        d.params.update({"num_outputs": int(np.round(d.params["num_outputs"] * multiplier))})
    return defs


V3_LARGE_DETECTION = _reduce_consecutive_layers(V3_LARGE, 13, 16)
V3_SMALL_DETECTION = _reduce_consecutive_layers(V3_SMALL, 9, 12)


# ---- registry entries (tlslim's additions; the functions above are slim's API) ----

def _layer_scopes(n_blocks):
    """Variable scopes from input to head: the stem, the blocks, Conv_1 and Conv_2 (the pool
    between them has no variables)."""
    return ("Conv", "expanded_conv") + tuple(f"expanded_conv_{i}" for i in range(1, n_blocks)) + ("Conv_1", "Conv_2")


# Net name -> (builder, blocks in its spec, release name, the checkpoint prefix in the tarball: the
# exponential-moving-average weights, 'ema/model-<step>').
_RELEASES = {"mobilenet_v3_large": (large, 15, "v3-large_224_1.0_float", "ema/model-540000"),
             "mobilenet_v3_small": (small, 11, "v3-small_224_1.0_float", "ema/model-388500")}
RELEASE_URL = "https://storage.googleapis.com/mobilenet_v3/checkpoints/"

for _name, (_builder, _n_blocks, _release, _ckpt) in _RELEASES.items():
    register(NetInfo(
        name=_name,
        builder=_builder,
        arg_scope=training_scope,
        scope="MobilenetV3",
        head_scope="MobilenetV3/Logits",
        blocks=tuple(f"MobilenetV3/{s}" for s in _layer_scopes(_n_blocks)) + ("MobilenetV3/Logits",),
        default_image_size=224,
        min_image_size=32,
        num_classes=1001,
        preprocessing="inception",
        checkpoint_tarball=f"{_release}.tgz",
        checkpoint_file=_ckpt,
        release_path=f"{RELEASE_URL}{_release}.tgz",
        manifest=f"{_name}.json",
        prelogits_op="Logits/Conv2d_1c_1x1/Conv2D",
    ))
