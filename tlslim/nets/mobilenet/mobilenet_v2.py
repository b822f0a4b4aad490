"""MobileNet v2 (Sandler et al. 2018, arXiv:1801.04381) with research/slim's API
(`nets/mobilenet/mobilenet_v2.py`) and the variable scopes of its released checkpoints.

    with slim.arg_scope(mobilenet_v2.training_scope(is_training=False)):
        logits, end_points = mobilenet_v2.mobilenet(images)        # 1001 classes, inference mode

`V2_DEF` is the paper's Table 2 as a conv_defs dict for the generic builder
(tlslim.nets.mobilenet.mobilenet): a 3x3/2 conv to 32 ('Conv'), 17 inverted residual blocks
('expanded_conv', 'expanded_conv_1' .. '_16'; see conv_blocks.expanded_conv), a 1x1 conv to 1280
('Conv_1'), each conv followed by batch norm (center and scale; tlslim.layers.batch_norm, where
slim used slim.batch_norm) and ReLU6 except the blocks' linear projections. Depths are scaled by
`depth_multiplier` and made divisible by 8 (at least 8); with `finegrain_classification_mode`
and a multiplier below 1, 'Conv_1' stays 1280 wide. The head is slim's generic one: a global
average pool over the whole final map, dropout and 'Logits/Conv2d_1c_1x1', 1001 classes
(class 0 = background). End points: 'layer_1' .. 'layer_19', the blocks'
'layer_<i>/expansion_output', '/depthwise_output' and '/output', 'global_pool', 'Logits',
'Predictions'.

The releases (research/slim nets/mobilenet/README.md, trained with Inception preprocessing)
that the registry entries at the end of this module match: mobilenet_v2_1.0_224,
mobilenet_v2_1.4_224 (depth multiplier 1.4) and mobilenet_v2_0.35_224 (0.35, fine-grain mode:
'Conv_1' keeps 1280 channels). Small inputs need nothing special: the pool always covers the
whole final map, so a 32x32 image (a 1x1 final map) builds with the release's variables.
"""
import copy
import functools

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.mobilenet import conv_blocks as ops
from tlslim.nets.mobilenet import mobilenet as lib
from tlslim.nets.registry import NetInfo, register

__all__ = ["training_scope", "mobilenet_base", "mobilenet", "V2_DEF"]

op = lib.op
expand_input = ops.expand_input_by_factor

# The paper's Table 2 after the stem: (expansion t, output depth c, repeats n, first stride s).
_BOTTLENECKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))


def _blocks():
    """The spec's expanded_conv ops for _BOTTLENECKS, with slim's params: the first block keeps its
    input depth (expansion 1, no rounding) and names no stride; the others state theirs."""
    layers = [op(ops.expanded_conv, expansion_size=expand_input(1, divisible_by=1), num_outputs=16)]
    for _, depth, repeats, stride in _BOTTLENECKS[1:]:  # expansion 6: the defaults' expand_input(6)
        layers += [op(ops.expanded_conv, stride=stride if i == 0 else 1, num_outputs=depth) for i in range(repeats)]
    return layers


# The 'defaults' are part of the architecture (which layers normalize, scale, add residuals),
# which is why they live here and not in training_scope; their order is slim's (later wins).
V2_DEF = dict(
    defaults={
        (batch_norm,): {"center": True, "scale": True},
        (slim.conv2d, slim.fully_connected, slim.separable_conv2d): {
            "normalizer_fn": batch_norm, "activation_fn": tf.nn.relu6},
        (ops.expanded_conv,): {
            "expansion_size": expand_input(6), "split_expansion": 1, "normalizer_fn": batch_norm,
            "residual": True},
        (slim.conv2d, slim.separable_conv2d): {"padding": "SAME"},
    },
    spec=([op(slim.conv2d, stride=2, num_outputs=32, kernel_size=[3, 3])] + _blocks()
          + [op(slim.conv2d, stride=1, kernel_size=[1, 1], num_outputs=1280)]),
)

# V2_DEF with group normalization (slim.group_norm) instead of batch norm.
V2_DEF_GROUP_NORM = copy.deepcopy(V2_DEF)
V2_DEF_GROUP_NORM["defaults"] = {
    (slim.conv2d, slim.fully_connected, slim.separable_conv2d): {
        "normalizer_fn": slim.group_norm, "activation_fn": tf.nn.relu6},
    (ops.expanded_conv,): {
        "expansion_size": expand_input(6), "split_expansion": 1, "normalizer_fn": slim.group_norm,
        "residual": True},
    (slim.conv2d, slim.separable_conv2d): {"padding": "SAME"},
}


@slim.add_arg_scope
def mobilenet(input_tensor,
              num_classes=1001,
              depth_multiplier=1.0,
              scope="MobilenetV2",
              conv_defs=None,
              finegrain_classification_mode=False,
              min_depth=None,
              divisible_by=None,
              activation_fn=None,
              **kwargs):
    """MobileNet v2 -> (logits, end_points); inference mode unless is_training=True is passed or
    `training_scope()` is in force.

    depth_multiplier: scales every layer's depth. conv_defs: another architecture (default
    V2_DEF). finegrain_classification_mode: with depth_multiplier < 1, keep the last conv at its
    full width (ignored when final_endpoint stops earlier). min_depth / divisible_by: the
    depth rounding (default: the arg scope's, 8 and 8). activation_fn: instead of ReLU6.
    kwargs go to the generic `mobilenet` (prediction_fn, reuse, base_only, is_training,
    final_endpoint, output_stride, use_explicit_padding, ...). ValueError for 'multiplier'.
    """
    if conv_defs is None:
        conv_defs = V2_DEF
    if "multiplier" in kwargs:
        raise ValueError("mobilenetv2 doesn't support generic multiplier parameter use \"depth_multiplier\" instead.")
    if finegrain_classification_mode:
        conv_defs = copy.deepcopy(conv_defs)
        if depth_multiplier < 1:
            # Pre-divided, so that depth_multiplier's scaling brings it back to its full width.
            conv_defs["spec"][-1].params["num_outputs"] /= depth_multiplier
    if activation_fn:
        conv_defs = copy.deepcopy(conv_defs)
        conv_defs["defaults"][(slim.conv2d, slim.fully_connected, slim.separable_conv2d)]["activation_fn"] = \
            activation_fn
    # Only the settings given: the caller's arg scope on lib.depth_multiplier keeps the others.
    depth_args = {}
    if min_depth is not None:
        depth_args["min_depth"] = min_depth
    if divisible_by is not None:
        depth_args["divisible_by"] = divisible_by
    with slim.arg_scope((lib.depth_multiplier,), **depth_args):
        return lib.mobilenet(input_tensor, num_classes=num_classes, conv_defs=conv_defs, scope=scope,
                             multiplier=depth_multiplier, **kwargs)


mobilenet.default_image_size = 224


def wrapped_partial(func, *args, **kwargs):
    """functools.partial that keeps `func`'s name, docstring and attributes."""
    partial_func = functools.partial(func, *args, **kwargs)
    functools.update_wrapper(partial_func, func)
    return partial_func


# Below a multiplier of 1 slim's variants use fine-grain mode: the embedding stays 1280 wide.
mobilenet_v2_140 = wrapped_partial(mobilenet, depth_multiplier=1.4)
mobilenet_v2_050 = wrapped_partial(mobilenet, depth_multiplier=0.50, finegrain_classification_mode=True)
mobilenet_v2_035 = wrapped_partial(mobilenet, depth_multiplier=0.35, finegrain_classification_mode=True)


@slim.add_arg_scope
def mobilenet_base(input_tensor, depth_multiplier=1.0, **kwargs):
    """The body only (no pool, no logits) -> (net, end_points); kwargs as for `mobilenet`."""
    return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


@slim.add_arg_scope
def mobilenet_base_group_norm(input_tensor, depth_multiplier=1.0, **kwargs):
    """The body with group normalization (`groups`, default 8, per normalized layer)."""
    conv_defs = copy.deepcopy(V2_DEF_GROUP_NORM)
    conv_defs["defaults"][(slim.group_norm,)] = {"groups": kwargs.pop("groups", 8)}
    kwargs["conv_defs"] = conv_defs
    return mobilenet(input_tensor, depth_multiplier=depth_multiplier, base_only=True, **kwargs)


def training_scope(**kwargs):
    """The MobileNet arg scope (tlslim.nets.mobilenet.mobilenet.training_scope): is_training,
    weight_decay, stddev, dropout_keep_prob, bn_decay."""
    return lib.training_scope(**kwargs)


# ---- registry entries (tlslim's additions; the functions above are slim's API) ----

# Layer scopes from input to head: the strategies unfreeze and rate them one layer at a time.
_LAYER_SCOPES = ("Conv", "expanded_conv") + tuple(f"expanded_conv_{i}" for i in range(1, 17)) + ("Conv_1",)

# The release tarballs (research/slim nets/mobilenet/README.md) at 224x224, the registry's default
# size: net name -> (builder, release name). Each holds the V2 checkpoint '<release>.ckpt'.
_RELEASES = {"mobilenet_v2": (mobilenet, "mobilenet_v2_1.0_224"),
             "mobilenet_v2_140": (mobilenet_v2_140, "mobilenet_v2_1.4_224"),
             "mobilenet_v2_035": (mobilenet_v2_035, "mobilenet_v2_0.35_224")}
RELEASE_URL = "https://storage.googleapis.com/mobilenet_v2/checkpoints/"

for _name, (_builder, _release) in _RELEASES.items():
    register(NetInfo(
        name=_name,
        builder=_builder,
        arg_scope=training_scope,
        scope="MobilenetV2",
        head_scope="MobilenetV2/Logits",
        blocks=tuple(f"MobilenetV2/{s}" for s in _LAYER_SCOPES) + ("MobilenetV2/Logits",),
        default_image_size=224,
        min_image_size=32,
        num_classes=1001,
        preprocessing="inception",
        checkpoint_tarball=f"{_release}.tgz",
        checkpoint_file=f"{_release}.ckpt",
        release_path=f"{RELEASE_URL}{_release}.tgz",
        manifest=f"{_name}.json",
        prelogits_op="Logits/Conv2d_1c_1x1/Conv2D",
    ))
