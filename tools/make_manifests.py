"""Write tlslim/nets/manifests/*.json: the variable names and shapes of the PUBLISHED nets.

The manifests are reference data the tests compare tlslim's builders against, so they are
derived from the published definitions, never from tlslim.nets:
  - nets in tf_slim.nets are built at their default size with the release num_classes and
    their model variables are listed;
  - nets only in research/slim (cifarnet, lenet, mobilenet_v1, mobilenet_v2, mobilenet_v3, nasnet, pnasnet,
    inception_v4, inception_resnet_v2) are written by the layer rules of their research/slim source,
    spelled out below;
  - `extra` lists the other entries the release checkpoint file holds (global_step, ...).

One function per net family returns {net: manifest}; `main` writes them all.
Run from a clone: python tools/make_manifests.py [--out DIR]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tlslim.compat import graph_mode, slim, tf  # noqa: E402

MANIFEST_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "tlslim", "nets", "manifests")
TF_SLIM = f"tf_slim {getattr(slim, '__version__', '1.1.0')}"


def manifest(net, source, num_classes, variables, extra=None):
    return {"net": net, "source": source, "num_classes": num_classes,
            "variables": variables, "extra": extra or {}}


def published_variables(build, image_size, channels=3):
    """Build `build(images)` in a fresh graph; {name: shape} of its model variables in creation
    order. Checks that it made no other variables, as a release-checkpoint net must."""
    graph = tf.Graph()
    with graph.as_default():
        build(tf.placeholder(tf.float32, [1, image_size, image_size, channels]))
        model = slim.get_model_variables()
        if set(model) != set(tf.global_variables()):
            raise RuntimeError("the published net created variables that are not model variables")
        return {v.op.name: v.shape.as_list() for v in model}


def vgg_manifests():
    from tf_slim.nets import vgg
    releases = {"vgg_16": "vgg_16_2016_08_28.tar.gz", "vgg_19": "vgg_19_2016_08_28.tar.gz"}
    out = {}
    for net in ("vgg_a", "vgg_16", "vgg_19"):
        fn = getattr(vgg, net)

        def build(images, fn=fn):
            with slim.arg_scope(vgg.vgg_arg_scope()):
                fn(images, num_classes=1000, is_training=False)

        variables = published_variables(build, 224)
        source = (f"{TF_SLIM} tf_slim.nets.vgg.{net} built at 224x224x3, num_classes=1000, "
                  "vgg_arg_scope")
        extra = {}
        if net in releases:
            # The release checkpoints also hold the training step and the RGB means.
            extra = {"global_step": [], f"{net}/mean_rgb": [3]}
            source += f"; extra: the other entries of {net}.ckpt in {releases[net]}"
        out[net] = manifest(net, source, 1000, variables, extra)
    return out


def alexnet_manifests():
    from tf_slim.nets import alexnet

    def build(images):
        with slim.arg_scope(alexnet.alexnet_v2_arg_scope()):
            alexnet.alexnet_v2(images, num_classes=1000, is_training=False)

    source = (f"{TF_SLIM} tf_slim.nets.alexnet.alexnet_v2 built at 224x224x3, num_classes=1000, "
              "alexnet_v2_arg_scope; no release checkpoint")
    return {"alexnet_v2": manifest("alexnet_v2", source, 1000, published_variables(build, 224))}


def _conv_fc_variables(scope, layers):
    """{scope/layer/weights: shape, scope/layer/biases: [out]} for slim conv2d/fully_connected
    layers without normalizer (weights then biases, as slim creates them)."""
    variables = {}
    for name, shape in layers:
        variables[f"{scope}/{name}/weights"] = list(shape)
        variables[f"{scope}/{name}/biases"] = [shape[-1]]
    return variables


def _flat_size(image_size, channels, pools=2):
    """Flattened size after SAME convolutions and `pools` 2x2/2 VALID max pools."""
    size = image_size
    for _ in range(pools):
        size = (size - 2) // 2 + 1
    return size * size * channels


def cifarnet_manifests():
    # research/slim nets/cifarnet.py (not in tf_slim.nets): scope 'CifarNet'; conv1 5x5x64 and
    # conv2 5x5x64 (SAME, each followed by a 2x2/2 VALID max pool), flatten, fc3 384, fc4 192,
    # logits num_classes; no normalizer, so each layer has weights and biases.
    size, classes = 32, 10
    layers = [("conv1", [5, 5, 3, 64]), ("conv2", [5, 5, 64, 64]),
              ("fc3", [_flat_size(size, 64), 384]), ("fc4", [384, 192]), ("logits", [192, classes])]
    source = ("hand-derived from research/slim nets/cifarnet.py (tensorflow/models; not in "
              "tf_slim.nets) by its layer rules at 32x32x3, num_classes=10; no release checkpoint")
    variables = _conv_fc_variables("CifarNet", layers)
    return {"cifarnet": manifest("cifarnet", source, classes, variables)}


def lenet_manifests():
    # research/slim nets/lenet.py (not in tf_slim.nets): scope 'LeNet'; conv1 5x5x32 and conv2
    # 5x5x64 (SAME, each followed by a 2x2/2 VALID max pool), flatten, fc3 1024, fc4 num_classes.
    size, classes = 28, 10
    layers = [("conv1", [5, 5, 1, 32]), ("conv2", [5, 5, 32, 64]),
              ("fc3", [_flat_size(size, 64), 1024]), ("fc4", [1024, classes])]
    source = ("hand-derived from research/slim nets/lenet.py (tensorflow/models; not in "
              "tf_slim.nets) by its layer rules at 28x28x1 (MNIST), num_classes=10; no release "
              "checkpoint")
    return {"lenet": manifest("lenet", source, classes, _conv_fc_variables("LeNet", layers))}


# ResNet and Inception v1. slim.batch_norm no longer runs, so the published nets are built with
# tlslim.layers.batch_norm as the arg scope's normalizer_fn (and is_training passed to it, since
# the nets set is_training on slim's batch_norm). resnet_v1 and inception_v1 call batch norm only
# through that arg scope, so every variable name and shape still comes from tf_slim's code.

def build_with_tlslim_bn(arg_scope_fn, net_fn, images, **kwargs):
    """net_fn(images, **kwargs) under the net's published arg scope, with tlslim's batch_norm as
    the convs' normalizer_fn and is_training=False passed to it."""
    from tlslim.layers import batch_norm
    with slim.arg_scope(arg_scope_fn()):
        with slim.arg_scope([slim.conv2d], normalizer_fn=batch_norm):
            with slim.arg_scope([batch_norm], is_training=False):
                return net_fn(images, **kwargs)


RESNET_UNITS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3), 200: (3, 24, 36, 3)}


def resnet_rule_variables(scope, depth, num_classes, version):
    """ResNet variables by the layer rules of research/slim nets/resnet_v{1,2}.py, in creation order.

    Both: conv1 7x7x3x64; blocks 1-4 of RESNET_UNITS[depth] bottleneck units with base depths
    64/128/256/512 (unit output 4x base), each unit scoped blockB/unit_U/bottleneck_v{version};
    a unit whose input depth differs from its output depth has a 1x1 'shortcut' conv; convs
    conv1 1x1 (in->base), conv2 3x3 (base->base), conv3 1x1 (base->4 base); a 1x1 'logits' conv
    with biases on the 2048-d pooled vector. A conv with BN has BatchNorm/{beta, gamma,
    moving_mean, moving_variance} (resnet_arg_scope: scale=True) and no biases; a conv
    without normalizer has biases.
    v1: BN on every conv (root, shortcut, conv1-3).
    v2: the root conv, the shortcut and conv3 have normalizer_fn=None (biases, no BN); each unit
    starts with a 'preact' batch norm of its input (depth_in channels), and a 'postnorm' batch
    norm follows block4.
    """
    variables = {}

    def bn(prefix, channels):
        for name in ("beta", "gamma", "moving_mean", "moving_variance"):
            variables[f"{prefix}/{name}"] = [channels]

    def conv(prefix, shape, normalized):
        variables[f"{prefix}/weights"] = list(shape)
        if normalized:
            bn(f"{prefix}/BatchNorm", shape[-1])
        else:
            variables[f"{prefix}/biases"] = [shape[-1]]

    v2 = version == 2
    conv(f"{scope}/conv1", [7, 7, 3, 64], normalized=not v2)
    depth_in = 64
    for b, (base, units) in enumerate(zip((64, 128, 256, 512), RESNET_UNITS[depth]), start=1):
        for u in range(1, units + 1):
            unit = f"{scope}/block{b}/unit_{u}/bottleneck_v{version}"
            if v2:
                bn(f"{unit}/preact", depth_in)
            if depth_in != 4 * base:
                conv(f"{unit}/shortcut", [1, 1, depth_in, 4 * base], normalized=not v2)
            conv(f"{unit}/conv1", [1, 1, depth_in, base], normalized=True)
            conv(f"{unit}/conv2", [3, 3, base, base], normalized=True)
            conv(f"{unit}/conv3", [1, 1, base, 4 * base], normalized=not v2)
            depth_in = 4 * base
    if v2:
        bn(f"{scope}/postnorm", depth_in)
    conv(f"{scope}/logits", [1, 1, depth_in, num_classes], normalized=False)
    return variables


# Depths with a release checkpoint in research/slim's README (none for 200 in either version;
# resnet_v2_200's row says 'TBA').
RESNET_V1_RELEASED = RESNET_V2_RELEASED = (50, 101, 152)


def resnet_v1_manifests():
    from tf_slim.nets import resnet_utils, resnet_v1
    out = {}
    for depth in (50, 101, 152, 200):
        net = f"resnet_v1_{depth}"
        fn = getattr(resnet_v1, net)

        def build(images, fn=fn):
            build_with_tlslim_bn(resnet_utils.resnet_arg_scope, fn, images, num_classes=1000, is_training=False)

        variables = published_variables(build, 224)
        # The rule resnet_v2 is derived by must reproduce the built v1 exactly.
        if variables != resnet_rule_variables(net, depth, 1000, version=1):
            raise RuntimeError(f"resnet_rule_variables disagrees with tf_slim's {net}")
        source = (f"{TF_SLIM} tf_slim.nets.resnet_v1.{net} built at 224x224x3, num_classes=1000, "
                  "resnet_arg_scope with normalizer_fn=tlslim.layers.batch_norm (the net calls batch "
                  "norm only through the arg scope)")
        if depth in RESNET_V1_RELEASED:
            source += f"; extra: the other entries of {net}.ckpt in {net}_2016_08_28.tar.gz"
            out[net] = manifest(net, source, 1000, variables, {"global_step": []})
        else:
            out[net] = manifest(net, source + "; no release checkpoint", 1000, variables)
    return out


def resnet_v2_manifests():
    # tf_slim's resnet_v2 calls slim.batch_norm directly (preact, postnorm), which no longer runs,
    # so the manifests come from the layer rules instead (checked against the built v1 above).
    out = {}
    for depth in (50, 101, 152, 200):
        net = f"resnet_v2_{depth}"
        source = ("derived by tools/make_manifests.py resnet_rule_variables(version=2) from the "
                  "structure of research/slim nets/resnet_v2.py (tensorflow/models): preact batch "
                  "norm per unit, postnorm, no BN on conv1/shortcut/conv3; the same rule with "
                  f"version=1 reproduces {TF_SLIM} resnet_v1 exactly; num_classes=1001")
        variables = resnet_rule_variables(net, depth, 1001, version=2)
        if depth in RESNET_V2_RELEASED:
            source += f"; extra: the other entries of {net}.ckpt in {net}_2017_04_14.tar.gz"
            out[net] = manifest(net, source, 1001, variables, {"global_step": []})
        else:
            out[net] = manifest(net, source + "; no release checkpoint", 1001, variables)
    return out


def inception_v1_manifests():
    from tf_slim.nets import inception_v1

    def build(images):
        build_with_tlslim_bn(inception_v1.inception_v1_arg_scope, inception_v1.inception_v1, images,
                             num_classes=1001, is_training=False)

    source = (f"{TF_SLIM} tf_slim.nets.inception_v1.inception_v1 built at 224x224x3, "
              "num_classes=1001, inception_v1_arg_scope with normalizer_fn=tlslim.layers.batch_norm "
              "(the net calls batch norm only through the arg scope); extra: the other entries of "
              "inception_v1.ckpt in inception_v1_2016_08_28.tar.gz")
    variables = published_variables(build, 224)
    return {"inception_v1": manifest("inception_v1", source, 1001, variables, {"global_step": []})}


MOBILENET_V1_MULTIPLIERS = {"mobilenet_v1": 1.0, "mobilenet_v1_075": 0.75, "mobilenet_v1_050": 0.5,
                            "mobilenet_v1_025": 0.25}


def mobilenet_v1_rule_variables(depth_multiplier, num_classes, min_depth=8):
    """MobileNet v1 variables by the layer rules of research/slim nets/mobilenet_v1.py
    (tensorflow/models; not in tf_slim.nets), in creation order.

    Scope 'MobilenetV1'. Output depths (paper Table 1): Conv2d_0 a 3x3 conv to 32, then 13
    depthwise-separable layers i=1..13 to 64, 128, 128, 256, 256, 512 (x6), 1024, 1024. Each
    depth d becomes max(int(d * depth_multiplier), min_depth). Conv2d_0: weights [3,3,3,d].
    Layer i: 'Conv2d_i_depthwise' is slim.separable_conv2d with num_outputs=None and
    depth_multiplier=1: depthwise_weights [3,3,in,1]; 'Conv2d_i_pointwise' a 1x1 conv: weights
    [1,1,in,d]. Every body layer has normalizer_fn=batch_norm, whose arg scope sets center and
    scale: BatchNorm/{beta, gamma, moving_mean, moving_variance} of its output depth, no biases.
    Head: 'Logits/Conv2d_1c_1x1' a 1x1 conv without normalizer: weights [1,1,in,num_classes] and
    biases [num_classes].
    """
    depths = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]
    variables = {}

    def layer(scope, kernel_name, shape, out_channels):
        variables[f"MobilenetV1/{scope}/{kernel_name}"] = list(shape)
        for name in ("beta", "gamma", "moving_mean", "moving_variance"):
            variables[f"MobilenetV1/{scope}/BatchNorm/{name}"] = [out_channels]

    def depth(d):
        return max(int(d * depth_multiplier), min_depth)

    channels = depth(depths[0])
    layer("Conv2d_0", "weights", [3, 3, 3, channels], channels)
    for i in range(1, 14):
        # The depthwise conv keeps the channel count (one 3x3 filter per input channel).
        layer(f"Conv2d_{i}_depthwise", "depthwise_weights", [3, 3, channels, 1], channels)
        layer(f"Conv2d_{i}_pointwise", "weights", [1, 1, channels, depth(depths[i])], depth(depths[i]))
        channels = depth(depths[i])
    variables["MobilenetV1/Logits/Conv2d_1c_1x1/weights"] = [1, 1, channels, num_classes]
    variables["MobilenetV1/Logits/Conv2d_1c_1x1/biases"] = [num_classes]
    return variables


def mobilenet_v1_manifests():
    out = {}
    for net, multiplier in MOBILENET_V1_MULTIPLIERS.items():
        release = f"mobilenet_v1_{multiplier:g}_224".replace("_1_", "_1.0_")
        source = ("hand-derived by tools/make_manifests.py mobilenet_v1_rule_variables from the layer "
                  "rules of research/slim nets/mobilenet_v1.py (tensorflow/models; not in tf_slim.nets): "
                  f"depth_multiplier={multiplier:g}, min_depth=8, num_classes=1001 (background class); "
                  f"release: {release}.ckpt in mobilenet_v1_2018_02_22/{release}.tgz; its other "
                  "entries (extra) are not verified")
        out[net] = manifest(net, source, 1001, mobilenet_v1_rule_variables(multiplier, 1001))
    return out


def overfeat_manifests():
    from tf_slim.nets import overfeat

    def build(images):
        with slim.arg_scope(overfeat.overfeat_arg_scope()):
            overfeat.overfeat(images, num_classes=1000, is_training=False)

    source = (f"{TF_SLIM} tf_slim.nets.overfeat.overfeat built at 231x231x3, num_classes=1000, "
              "overfeat_arg_scope; no release checkpoint")
    return {"overfeat": manifest("overfeat", source, 1000, published_variables(build, 231))}


def inception_v2_manifests():
    from tf_slim.nets import inception_v2

    def build(images):
        build_with_tlslim_bn(inception_v2.inception_v2_arg_scope, inception_v2.inception_v2, images,
                             num_classes=1001, is_training=False)

    source = (f"{TF_SLIM} tf_slim.nets.inception_v2.inception_v2 built at 224x224x3, "
              "num_classes=1001, inception_v2_arg_scope with normalizer_fn=tlslim.layers.batch_norm "
              "(the net calls batch norm only through the arg scope); release: inception_v2.ckpt in "
              "inception_v2_2016_08_28.tar.gz, its other entries (extra) are not verified")
    variables = published_variables(build, 224)
    return {"inception_v2": manifest("inception_v2", source, 1001, variables)}


def inception_v3_manifests():
    from tf_slim.nets import inception_v3

    def build(images):
        build_with_tlslim_bn(inception_v3.inception_v3_arg_scope, inception_v3.inception_v3, images,
                             num_classes=1001, is_training=False)

    # 299 is the smallest size at which tf_slim's aux head keeps its 5x5 conv (Conv2d_2a_5x5).
    source = (f"{TF_SLIM} tf_slim.nets.inception_v3.inception_v3 built at 299x299x3, "
              "num_classes=1001, create_aux_logits=True, inception_v3_arg_scope with "
              "normalizer_fn=tlslim.layers.batch_norm (the net calls batch norm only through the arg "
              "scope); release: inception_v3.ckpt in inception_v3_2016_08_28.tar.gz, its other entries "
              "(extra) are not verified")
    variables = published_variables(build, 299)
    return {"inception_v3": manifest("inception_v3", source, 1001, variables)}


# Inception v4 and Inception-ResNet-v2 are only in research/slim (not in tf_slim.nets), so their
# manifests come from layer rules too, spelled out below from their research/slim sources.

def _kernel_of(scope):
    """(kh, kw) from a conv scope's 'KxK' suffix: research/slim names these nets' convs by kernel."""
    h, w = scope.rsplit("_", 1)[1].split("x")
    return int(h), int(w)


class _InceptionRules:
    """Variables of slim layers under the Inception arg scopes, in creation order. A conv has
    weights [kh, kw, in, out] and, normalized (the arg scope's batch norm, batch_norm_scale=False),
    BatchNorm/{beta, moving_mean, moving_variance} [out], or, linear (normalizer_fn=None), biases
    [out]; a fully connected layer has weights [in, out] and biases [out]."""

    def __init__(self):
        self.variables = {}

    def conv(self, name, cin, cout, kernel=None, normalized=True):
        kh, kw = kernel or _kernel_of(name)
        self.variables[f"{name}/weights"] = [kh, kw, cin, cout]
        if normalized:
            for leaf in ("beta", "moving_mean", "moving_variance"):
                self.variables[f"{name}/BatchNorm/{leaf}"] = [cout]
        else:
            self.variables[f"{name}/biases"] = [cout]
        return cout

    def fc(self, name, cin, cout):
        self.variables[f"{name}/weights"] = [cin, cout]
        self.variables[f"{name}/biases"] = [cout]

    def module(self, prefix, cin, branches):
        """Branches 'Branch_<i>' of items applied in turn: (scope, depth) a conv, 'pool' a pool
        (keeps the channels), a list of convs on the same input (concatenated). Returns the
        concatenation's channels."""
        total = 0
        for i, items in enumerate(branches):
            c = cin
            for item in items:
                if item == "pool":
                    continue
                if isinstance(item, list):
                    c = sum(self.conv(f"{prefix}/Branch_{i}/{s}", c, d) for s, d in item)
                else:
                    c = self.conv(f"{prefix}/Branch_{i}/{item[0]}", c, item[1])
            total += c
        return total


def inception_v4_rule_variables(num_classes):
    """Inception v4 variables by the layer rules of research/slim nets/inception_v4.py, in creation
    order (slim's inception_arg_scope: every conv normalized).

    Scope 'InceptionV4'. Stem convs Conv2d_1a_3x3 (32), Conv2d_2a_3x3 (32), Conv2d_2b_3x3 (64);
    Mixed_3a: max pool | 3x3 96; Mixed_4a: 1x1 64 -> 3x3 96 | 1x1 64 -> 1x7 64 -> 7x1 64 -> 3x3 96;
    Mixed_5a: 3x3 192 | max pool. Then block_inception_a x4 (Mixed_5b-5e), block_reduction_a
    (Mixed_6a), block_inception_b x7 (Mixed_6b-6h), block_reduction_b (Mixed_7a),
    block_inception_c x3 (Mixed_7b-7d), with the branch depths below. AuxLogits on Mixed_6h:
    Conv2d_1b_1x1 (128), Conv2d_2a (768; its kernel is the map the 5x5/3 pool leaves: 5x5 at
    299), fully connected Aux_logits; Logits/Logits fully connected on the 1536 pooled features.
    """
    r, s = _InceptionRules(), "InceptionV4"
    c = r.conv(f"{s}/Conv2d_1a_3x3", 3, 32)
    c = r.conv(f"{s}/Conv2d_2a_3x3", c, 32)
    c = r.conv(f"{s}/Conv2d_2b_3x3", c, 64)
    block_a = [[("Conv2d_0a_1x1", 96)], [("Conv2d_0a_1x1", 64), ("Conv2d_0b_3x3", 96)],
               [("Conv2d_0a_1x1", 64), ("Conv2d_0b_3x3", 96), ("Conv2d_0c_3x3", 96)], ["pool", ("Conv2d_0b_1x1", 96)]]
    reduction_a = [[("Conv2d_1a_3x3", 384)], [("Conv2d_0a_1x1", 192), ("Conv2d_0b_3x3", 224), ("Conv2d_1a_3x3", 256)],
                   ["pool"]]
    block_b = [[("Conv2d_0a_1x1", 384)], [("Conv2d_0a_1x1", 192), ("Conv2d_0b_1x7", 224), ("Conv2d_0c_7x1", 256)],
               [("Conv2d_0a_1x1", 192), ("Conv2d_0b_7x1", 192), ("Conv2d_0c_1x7", 224), ("Conv2d_0d_7x1", 224),
                ("Conv2d_0e_1x7", 256)], ["pool", ("Conv2d_0b_1x1", 128)]]
    reduction_b = [[("Conv2d_0a_1x1", 192), ("Conv2d_1a_3x3", 192)],
                   [("Conv2d_0a_1x1", 256), ("Conv2d_0b_1x7", 256), ("Conv2d_0c_7x1", 320), ("Conv2d_1a_3x3", 320)],
                   ["pool"]]
    block_c = [[("Conv2d_0a_1x1", 256)], [("Conv2d_0a_1x1", 384), [("Conv2d_0b_1x3", 256), ("Conv2d_0c_3x1", 256)]],
               [("Conv2d_0a_1x1", 384), ("Conv2d_0b_3x1", 448), ("Conv2d_0c_1x3", 512),
                [("Conv2d_0d_1x3", 256), ("Conv2d_0e_3x1", 256)]], ["pool", ("Conv2d_0b_1x1", 256)]]
    modules = [("Mixed_3a", [["pool"], [("Conv2d_0a_3x3", 96)]]),
               ("Mixed_4a", [[("Conv2d_0a_1x1", 64), ("Conv2d_1a_3x3", 96)],
                             [("Conv2d_0a_1x1", 64), ("Conv2d_0b_1x7", 64), ("Conv2d_0c_7x1", 64),
                              ("Conv2d_1a_3x3", 96)]]),
               ("Mixed_5a", [[("Conv2d_1a_3x3", 192)], ["pool"]])]
    modules += [(f"Mixed_5{x}", block_a) for x in "bcde"] + [("Mixed_6a", reduction_a)]
    modules += [(f"Mixed_6{x}", block_b) for x in "bcdefgh"] + [("Mixed_7a", reduction_b)]
    modules += [(f"Mixed_7{x}", block_c) for x in "bcd"]
    channels = {}
    for name, branches in modules:
        c = channels[name] = r.module(f"{s}/{name}", c, branches)
    aux = r.conv(f"{s}/AuxLogits/Conv2d_1b_1x1", channels["Mixed_6h"], 128)
    aux = r.conv(f"{s}/AuxLogits/Conv2d_2a", aux, 768, kernel=(5, 5))
    r.fc(f"{s}/AuxLogits/Aux_logits", aux, num_classes)
    r.fc(f"{s}/Logits/Logits", c, num_classes)
    return r.variables


def inception_resnet_v2_rule_variables(num_classes):
    """Inception-ResNet-v2 variables by the layer rules of research/slim nets/inception_resnet_v2.py,
    in creation order (inception_resnet_v2_arg_scope: every conv normalized unless said).

    Scope 'InceptionResnetV2'. Stem convs Conv2d_1a_3x3 (32), Conv2d_2a_3x3 (32), Conv2d_2b_3x3
    (64), Conv2d_3b_1x1 (80), Conv2d_4a_3x3 (192), with max pools between; Mixed_5b (320). A
    residual block (slim.repeat names them Repeat/block35_<i> x10, Repeat_1/block17_<i> x20,
    Repeat_2/block8_<i> x9; then one more block8 scoped 'Block8') has its branches and a linear
    1x1 'Conv2d_1x1' (normalizer_fn=None: weights and biases) from their concatenation back to
    the block's input depth. Mixed_6a (to 1088) after the block35s, Mixed_7a (to 2080) after the
    block17s, Conv2d_7b_1x1 (1536) last. AuxLogits on the block17s' output: Conv2d_1b_1x1 (128),
    Conv2d_2a_5x5 (768, 5x5 at 299), fully connected Logits; Logits/Logits fully connected on
    the 1536 pooled features.
    """
    r, s = _InceptionRules(), "InceptionResnetV2"
    c = 3
    for name, depth in (("Conv2d_1a_3x3", 32), ("Conv2d_2a_3x3", 32), ("Conv2d_2b_3x3", 64), ("Conv2d_3b_1x1", 80),
                        ("Conv2d_4a_3x3", 192)):
        c = r.conv(f"{s}/{name}", c, depth)
    c = r.module(f"{s}/Mixed_5b", c, [[("Conv2d_1x1", 96)], [("Conv2d_0a_1x1", 48), ("Conv2d_0b_5x5", 64)],
                                      [("Conv2d_0a_1x1", 64), ("Conv2d_0b_3x3", 96), ("Conv2d_0c_3x3", 96)],
                                      ["pool", ("Conv2d_0b_1x1", 64)]])

    def residual(prefix, cin, branches):
        r.conv(f"{prefix}/Conv2d_1x1", r.module(prefix, cin, branches), cin, normalized=False)

    block35 = [[("Conv2d_1x1", 32)], [("Conv2d_0a_1x1", 32), ("Conv2d_0b_3x3", 32)],
               [("Conv2d_0a_1x1", 32), ("Conv2d_0b_3x3", 48), ("Conv2d_0c_3x3", 64)]]
    for i in range(1, 11):
        residual(f"{s}/Repeat/block35_{i}", c, block35)
    c = r.module(f"{s}/Mixed_6a", c, [[("Conv2d_1a_3x3", 384)],
                                      [("Conv2d_0a_1x1", 256), ("Conv2d_0b_3x3", 256), ("Conv2d_1a_3x3", 384)],
                                      ["pool"]])
    block17 = [[("Conv2d_1x1", 192)], [("Conv2d_0a_1x1", 128), ("Conv2d_0b_1x7", 160), ("Conv2d_0c_7x1", 192)]]
    for i in range(1, 21):
        residual(f"{s}/Repeat_1/block17_{i}", c, block17)
    pre_aux = c
    c = r.module(f"{s}/Mixed_7a", c, [[("Conv2d_0a_1x1", 256), ("Conv2d_1a_3x3", 384)],
                                      [("Conv2d_0a_1x1", 256), ("Conv2d_1a_3x3", 288)],
                                      [("Conv2d_0a_1x1", 256), ("Conv2d_0b_3x3", 288), ("Conv2d_1a_3x3", 320)],
                                      ["pool"]])
    block8 = [[("Conv2d_1x1", 192)], [("Conv2d_0a_1x1", 192), ("Conv2d_0b_1x3", 224), ("Conv2d_0c_3x1", 256)]]
    for i in range(1, 10):
        residual(f"{s}/Repeat_2/block8_{i}", c, block8)
    residual(f"{s}/Block8", c, block8)
    c = r.conv(f"{s}/Conv2d_7b_1x1", c, 1536)
    aux = r.conv(f"{s}/AuxLogits/Conv2d_1b_1x1", pre_aux, 128)
    aux = r.conv(f"{s}/AuxLogits/Conv2d_2a_5x5", aux, 768)
    r.fc(f"{s}/AuxLogits/Logits", aux, num_classes)
    r.fc(f"{s}/Logits/Logits", c, num_classes)
    return r.variables


def inception_v4_manifests():
    source = ("hand-derived by tools/make_manifests.py inception_v4_rule_variables from the layer rules of "
              "research/slim nets/inception_v4.py (tensorflow/models; not in tf_slim.nets) at 299x299x3, "
              "num_classes=1001 (background class), create_aux_logits=True, inception_v4_arg_scope (batch norm "
              "without gamma); release: inception_v4.ckpt in inception_v4_2016_09_09.tar.gz, its other entries "
              "(extra) are not verified")
    return {"inception_v4": manifest("inception_v4", source, 1001, inception_v4_rule_variables(1001))}


def inception_resnet_v2_manifests():
    source = ("hand-derived by tools/make_manifests.py inception_resnet_v2_rule_variables from the layer rules "
              "of research/slim nets/inception_resnet_v2.py (tensorflow/models; not in tf_slim.nets) at "
              "299x299x3, num_classes=1001 (background class), create_aux_logits=True, "
              "inception_resnet_v2_arg_scope (batch norm without gamma); release: "
              "inception_resnet_v2_2016_08_30.ckpt in inception_resnet_v2_2016_08_30.tar.gz, its other entries "
              "(extra) are not verified")
    return {"inception_resnet_v2": manifest("inception_resnet_v2", source, 1001,
                                            inception_resnet_v2_rule_variables(1001))}


def _make_divisible(v, divisor, min_value=None):
    """research/slim nets/mobilenet's depth rounding: `v` to the nearest multiple of `divisor`, at
    least `min_value` (default `divisor`), one multiple more if that lost over 10% of `v`."""
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(v + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * v else rounded)


def _conv_bn(variables, prefix, kernel_name, shape):
    """A bias-free conv `prefix` followed by batch norm with center and scale (MobileNet v2/v3)."""
    variables[f"{prefix}/{kernel_name}"] = list(shape)
    for name in ("beta", "gamma", "moving_mean", "moving_variance"):
        variables[f"{prefix}/BatchNorm/{name}"] = [shape[-1] if kernel_name == "weights" else shape[2]]


# MobileNet v2's blocks (paper Table 2 after the stem): (expansion, output depth, repeats, first stride).
MOBILENET_V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1))
# Registry name -> (depth multiplier, finegrain_classification_mode, release name).
MOBILENET_V2_RELEASES = {"mobilenet_v2": (1.0, False, "mobilenet_v2_1.0_224"),
                         "mobilenet_v2_140": (1.4, False, "mobilenet_v2_1.4_224"),
                         "mobilenet_v2_035": (0.35, True, "mobilenet_v2_0.35_224")}


def mobilenet_v2_rule_variables(depth_multiplier, num_classes, finegrain=False):
    """MobileNet v2 variables by the layer rules of research/slim nets/mobilenet/mobilenet_v2.py,
    conv_blocks.py and mobilenet.py (tensorflow/models; not in tf_slim.nets), in creation order.

    Scope 'MobilenetV2'. Every output depth d becomes _make_divisible(d * depth_multiplier, 8, 8)
    (slim's depth_multiplier op). 'Conv': a 3x3 conv from 3 to depth(32). Then the inverted
    residual blocks of MOBILENET_V2_BLOCKS, scoped 'expanded_conv', 'expanded_conv_1', ...: with
    input depth c, the expansion is _make_divisible(6 c, 8) (the first block: expand_input(1,
    divisible_by=1), i.e. c); an 'expand' 1x1 conv [1,1,c,e] only when e > c; 'depthwise' a
    slim.separable_conv2d with num_outputs=None: depthwise_weights [3,3,e,1]; 'project' a 1x1
    conv [1,1,e,out]. 'Conv_1': a 1x1 conv to depth(1280), or, in finegrain mode with a
    multiplier below 1, to depth(1280 / depth_multiplier) (= 1280). V2_DEF's defaults give every
    one of these convs normalizer_fn=batch_norm with center and scale: BatchNorm/{beta, gamma,
    moving_mean, moving_variance}, no biases. Head: 'Logits/Conv2d_1c_1x1' a 1x1 conv without
    normalizer: weights [1,1,last,num_classes] and biases.
    """
    variables = {}

    def depth(d):
        return _make_divisible(d * depth_multiplier, 8, 8)

    channels = depth(32)
    _conv_bn(variables, "MobilenetV2/Conv", "weights", [3, 3, 3, channels])
    index = 0
    for expansion, out, repeats, _ in MOBILENET_V2_BLOCKS:
        for _ in range(repeats):
            block = "MobilenetV2/expanded_conv" + (f"_{index}" if index else "")
            inner = channels if expansion == 1 else _make_divisible(channels * expansion, 8)
            if inner > channels:
                _conv_bn(variables, f"{block}/expand", "weights", [1, 1, channels, inner])
            _conv_bn(variables, f"{block}/depthwise", "depthwise_weights", [3, 3, inner, 1])
            _conv_bn(variables, f"{block}/project", "weights", [1, 1, inner, depth(out)])
            channels = depth(out)
            index += 1
    last = depth(1280 / depth_multiplier if finegrain and depth_multiplier < 1 else 1280)
    _conv_bn(variables, "MobilenetV2/Conv_1", "weights", [1, 1, channels, last])
    variables["MobilenetV2/Logits/Conv2d_1c_1x1/weights"] = [1, 1, last, num_classes]
    variables["MobilenetV2/Logits/Conv2d_1c_1x1/biases"] = [num_classes]
    return variables


def mobilenet_v2_manifests():
    out = {}
    for net, (multiplier, finegrain, release) in MOBILENET_V2_RELEASES.items():
        source = ("hand-derived by tools/make_manifests.py mobilenet_v2_rule_variables from the layer rules of "
                  "research/slim nets/mobilenet/mobilenet_v2.py, conv_blocks.py and mobilenet.py "
                  "(tensorflow/models; not in tf_slim.nets): "
                  f"depth_multiplier={multiplier:g}, finegrain_classification_mode={finegrain}, "
                  "num_classes=1001 (background class); release: "
                  f"{release}.ckpt in https://storage.googleapis.com/mobilenet_v2/checkpoints/{release}.tgz; "
                  "its other entries (extra) are not verified")
        out[net] = manifest(net, source, 1001, mobilenet_v2_rule_variables(multiplier, 1001, finegrain))
    return out


# NASNet-A and PNASNet-5 (research/slim nets/nasnet/; not in tf_slim.nets). The cells are too
# many to spell out, so the layer rules of nasnet_utils.py / nasnet.py / pnasnet.py are followed
# below with the maps' (width, channels) tracked, since which layers exist depends on them.

# The cells of nasnet_utils.py / pnasnet.py: ten operations (two per new hidden state), the hidden
# state each reads, and which states the cell does not concatenate.
NASNET_CELLS = {
    "nasnet_a_normal": (["separable_5x5_2", "separable_3x3_2", "separable_5x5_2", "separable_3x3_2", "avg_pool_3x3",
                         "none", "avg_pool_3x3", "avg_pool_3x3", "separable_3x3_2", "none"],
                        [0, 1, 1, 1, 0, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0, 0]),
    "nasnet_a_reduction": (["separable_5x5_2", "separable_7x7_2", "max_pool_3x3", "separable_7x7_2", "avg_pool_3x3",
                            "separable_5x5_2", "none", "avg_pool_3x3", "separable_3x3_2", "max_pool_3x3"],
                           [0, 1, 0, 1, 0, 1, 3, 2, 2, 0], [1, 1, 1, 0, 0, 0, 0]),
    "pnasnet_5": (["separable_5x5_2", "max_pool_3x3", "separable_7x7_2", "max_pool_3x3", "separable_5x5_2",
                   "separable_3x3_2", "separable_3x3_2", "max_pool_3x3", "separable_3x3_2", "none"],
                  [1, 1, 0, 0, 0, 0, 4, 0, 1, 0], [1, 1, 0, 0, 0, 0, 0]),
}

# (family, num_cells, num_conv_filters, stem_multiplier, skip_reduction_layer_input, image size, release)
NASNET_RELEASES = {
    "nasnet_mobile": ("nasnet", 12, 44, 1.0, 0, 224, "nasnet-a_mobile_04_10_2017.tar.gz"),
    "nasnet_large": ("nasnet", 18, 168, 3.0, 1, 331, "nasnet-a_large_04_10_2017.tar.gz"),
    "pnasnet_mobile": ("pnasnet", 9, 54, 1.0, 1, 224, "pnasnet-5_mobile_2017_12_13.tar.gz"),
    "pnasnet_large": ("pnasnet", 12, 216, 3.0, 1, 331, "pnasnet-5_large_2017_12_13.tar.gz"),
}


def nasnet_rule_variables(family, num_cells, num_conv_filters, stem_multiplier, skip_reduction_layer_input,
                          image_size, num_classes):
    """NASNet-A ('nasnet') or PNASNet-5 ('pnasnet') ImageNet variables by the layer rules of
    research/slim nets/nasnet/, in creation order, for an NHWC input of `image_size` in training
    mode (with the aux head). No enclosing scope. Rules:

    - conv2d / separable_conv2d have no biases (arg scope); a 1x1 conv 'S' is S/weights
      [1,1,in,out]; a separable conv (depth_multiplier 1) S/depthwise_weights [k,k,in,1] and
      S/pointwise_weights [1,1,in,out]; every batch norm S has beta, gamma, moving_mean,
      moving_variance (scale=True); fully connected 'FC' has weights and biases.
    - Stem: conv0 3x3/2 VALID to int(32 * stem_multiplier), conv0_bn; cell_stem_0 and cell_stem_1
      (NASNet: the reduction cell; PNASNet: its cell) with stride 2 at widths F/4 and F/2
      (F = num_conv_filters), each reading the state two back (none for cell_stem_0).
    - Cells: reduction indices int(k / 3 * num_cells), k = 1, 2; the width doubles at each. NASNet
      puts 'reduction_cell_<k>' (stride 2) before cell_<i> at the k-th index; PNASNet's cell_<i>
      itself strides. A cell's second input is the state two back (NASNet without
      skip_reduction_layer_input: counted after the reduction cell).
    - A cell of width f = int(F * scaling) on (net, prev): prev at another width -> ReLU and
      factorized_reduction (path1_conv f//2 and path2_conv f - f//2 1x1 convs, final_path_bn);
      same width, other channels -> prev_1x1 and prev_bn; then 1x1 + beginning_bn on net. States
      [net', prev']. comb_iter_<j>/{left,right}: 'separable_KxK_2' -> separable_KxK_1 (in->f),
      bn_sep_KxK_1, separable_KxK_2 (f->f), bn_sep_KxK_2; a pool -> 1x1 + bn_1 if its channels
      are not f; 'none' -> 1x1 + bn_1 if strided or its channels are not f. Only operations on
      the two inputs stride. cell_output: each unused state whose width or channels differ from
      the last one's -> reduction_<idx> factorized_reduction (path_conv + path_bn at stride 1).
    - Aux head 'aux_<i>/aux_logits' after the cell before the second reduction: 5x5/3 VALID
      average pool, proj (1x1 to 128) + aux_bn0, 'Conv' with the remaining map as kernel (to
      768) + aux_bn1, FC. Head: final_layer/FC.
    """
    variables = {}

    def conv(scope, k, cin, cout):
        variables[f"{scope}/weights"] = [k, k, cin, cout]

    def bn(scope, c):
        for leaf in ("beta", "gamma", "moving_mean", "moving_variance"):
            variables[f"{scope}/{leaf}"] = [c]

    def strided(width, stride):
        return -(-width // stride)  # SAME padding

    def factorized(scope, state, cout, stride):
        width, cin = state
        if stride == 1:
            conv(f"{scope}/path_conv", 1, cin, cout)
            bn(f"{scope}/path_bn", cout)
            return width, cout
        conv(f"{scope}/path1_conv", 1, cin, cout // 2)
        conv(f"{scope}/path2_conv", 1, cin, cout - cout // 2)
        bn(f"{scope}/final_path_bn", cout)
        return strided(width, 2), cout

    def operation(scope, op, state, f, stride):
        width, cin = state
        if op.startswith("separable"):
            k = int(op.split("_")[1].split("x")[0])
            for layer in (1, 2):
                name = f"{scope}/separable_{k}x{k}_{layer}"
                variables[f"{name}/depthwise_weights"] = [k, k, cin, 1]
                variables[f"{name}/pointwise_weights"] = [1, 1, cin, f]
                bn(f"{scope}/bn_sep_{k}x{k}_{layer}", f)
                cin = f
            return strided(width, stride), f
        if op == "none" and stride == 1 and cin == f:
            return state
        if cin != f or op == "none":
            conv(f"{scope}/1x1", 1, cin, f)
            bn(f"{scope}/bn_1", f)
        return strided(width, stride), f

    def cell(scope, kind, net, prev, f, stride):
        ops, reads, used = NASNET_CELLS[kind]
        if prev is None:
            prev = net
        elif prev[0] != net[0]:
            prev = factorized(scope, prev, f, 2)
        elif prev[1] != f:
            conv(f"{scope}/prev_1x1", 1, prev[1], f)
            bn(f"{scope}/prev_bn", f)
            prev = (prev[0], f)
        conv(f"{scope}/1x1", 1, net[1], f)
        bn(f"{scope}/beginning_bn", f)
        states = [(net[0], f), prev]
        for j in range(5):
            outs = [operation(f"{scope}/comb_iter_{j}/{side}", ops[i], states[reads[i]], f,
                              stride if reads[i] < 2 else 1)
                    for side, i in (("left", 2 * j), ("right", 2 * j + 1))]
            states.append(outs[0])
        last_width, last_channels = states[-1]
        channels = 0
        for idx, state in enumerate(states):
            if used[idx]:
                continue
            if state != (last_width, last_channels):
                state = factorized(f"{scope}/cell_output/reduction_{idx}", state, last_channels,
                                   2 if state[0] != last_width else 1)
            channels += state[1]
        return last_width, channels

    nasnet = family == "nasnet"
    normal, reduction = ("nasnet_a_normal", "nasnet_a_reduction") if nasnet else ("pnasnet_5", "pnasnet_5")
    stem_filters = int(32 * stem_multiplier)
    conv("conv0", 3, 3, stem_filters)
    bn("conv0_bn", stem_filters)
    outputs = [None, ((image_size - 3) // 2 + 1, stem_filters)]
    for i, scaling in enumerate((0.25, 0.5)):
        outputs.append(cell(f"cell_stem_{i}", reduction, outputs[-1], outputs[-2], int(num_conv_filters * scaling),
                            2))
    reductions = [int((k / 3.0) * num_cells) for k in (1, 2)]
    scaling, net = 1.0, outputs[-1]
    for i in range(num_cells):
        stride = 1
        prev = outputs[-2]
        if i in reductions:
            scaling *= 2
            if nasnet:
                net = cell(f"reduction_cell_{reductions.index(i)}", reduction, net, outputs[-2],
                           int(num_conv_filters * scaling), 2)
                outputs.append(net)
                if not skip_reduction_layer_input:
                    prev = outputs[-2]
            else:
                stride = 2
        net = cell(f"cell_{i}", normal, net, prev, int(num_conv_filters * scaling), stride)
        outputs.append(net)
        if i == reductions[1] - 1:
            kernel = (net[0] - 5) // 3 + 1
            conv(f"aux_{i}/aux_logits/proj", 1, net[1], 128)
            bn(f"aux_{i}/aux_logits/aux_bn0", 128)
            conv(f"aux_{i}/aux_logits/Conv", kernel, 128, 768)
            bn(f"aux_{i}/aux_logits/aux_bn1", 768)
            variables[f"aux_{i}/aux_logits/FC/weights"] = [768, num_classes]
            variables[f"aux_{i}/aux_logits/FC/biases"] = [num_classes]
    variables["final_layer/FC/weights"] = [net[1], num_classes]
    variables["final_layer/FC/biases"] = [num_classes]
    return variables


def nasnet_manifests():
    out = {}
    for net, (family, cells, filters, stem, skip, size, tarball) in NASNET_RELEASES.items():
        source = (f"hand-derived by tools/make_manifests.py nasnet_rule_variables from the layer rules of "
                  f"research/slim nets/nasnet/{family}.py and nasnet_utils.py (tensorflow/models; not in "
                  f"tf_slim.nets): {cells} cells, {filters} filters, stem_multiplier {stem:g}, "
                  f"skip_reduction_layer_input {skip}, at {size}x{size}x3 in training mode (aux head), "
                  "num_classes=1001; checked equal to that research/slim code built with tf_slim and "
                  f"tlslim.layers.batch_norm; release: model.ckpt in {tarball}, its other entries (extra) are "
                  "not verified")
        variables = nasnet_rule_variables(family, cells, filters, stem, skip, size, 1001)
        out[net] = manifest(net, source, 1001, variables)
    return out


# MobileNet v3's blocks: (expansion factor, output depth, depthwise kernel, squeeze-excite?); the
# strides and activations do not change the variables.
MOBILENET_V3_BLOCKS = {
    "large": [(1, 16, 3, False), (4, 24, 3, False), (3, 24, 3, False)] + [(3, 40, 5, True)] * 3
    + [(6, 80, 3, False), (2.5, 80, 3, False)] + [(184 / 80., 80, 3, False)] * 2 + [(6, 112, 3, True)] * 2
    + [(6, 160, 5, True)] * 3,
    "small": [(1, 16, 3, True), (72. / 16, 24, 3, False), (88. / 24, 24, 3, False), (4, 40, 5, True)]
    + [(6, 40, 5, True)] * 2 + [(3, 48, 5, True)] * 2 + [(6, 96, 5, True)] * 3,
}
# Registry name -> (blocks, Conv_1 depth, Conv_2 depth, release name, checkpoint prefix in the tarball).
MOBILENET_V3_RELEASES = {"mobilenet_v3_large": ("large", 960, 1280, "v3-large_224_1.0_float", "ema/model-540000"),
                         "mobilenet_v3_small": ("small", 576, 1024, "v3-small_224_1.0_float", "ema/model-388500")}


def mobilenet_v3_rule_variables(blocks, conv1_depth, conv2_depth, num_classes):
    """MobileNet v3 variables (depth multiplier 1) by the layer rules of research/slim
    nets/mobilenet/mobilenet_v3.py, conv_blocks.py and mobilenet.py (tensorflow/models; not in
    tf_slim.nets), in creation order.

    Scope 'MobilenetV3'. 'Conv': a 3x3 conv from 3 to 16. Blocks (mbv3_op / mbv3_op_se, scoped
    'expanded_conv', 'expanded_conv_1', ...): with input depth c and expansion factor ef, the
    expanded depth is e = _make_divisible(c * ef, 8); an 'expand' 1x1 conv [1,1,c,e] only when
    e > c; 'depthwise' [k,k,e,1]; with squeeze-excite (squeeze_factor 4), 'squeeze_excite/Conv'
    [1,1,e,s] and 'squeeze_excite/Conv_1' [1,1,s,e], s = _make_divisible(e / 4, 8), both
    with normalizer_fn=None: weights and biases; 'project' [1,1,e,out]. 'Conv_1': a 1x1 conv to
    `conv1_depth`; 'AvgPool2D' (reduce_to_1x1, no variables); 'Conv_2': a 1x1 conv to
    `conv2_depth` with normalizer_fn=None (biases). Every other conv has DEFAULTS' batch norm
    (center and scale): BatchNorm/{beta, gamma, moving_mean, moving_variance}, no biases.
    Head: 'Logits/Conv2d_1c_1x1' weights [1,1,conv2_depth,num_classes] and biases.
    """
    variables = {}

    def biased(prefix, shape):
        variables[f"{prefix}/weights"] = list(shape)
        variables[f"{prefix}/biases"] = [shape[-1]]

    channels = 16
    _conv_bn(variables, "MobilenetV3/Conv", "weights", [3, 3, 3, channels])
    for index, (expansion, out, kernel, se) in enumerate(blocks):
        block = "MobilenetV3/expanded_conv" + (f"_{index}" if index else "")
        inner = _make_divisible(channels * expansion, 8)
        if inner > channels:
            _conv_bn(variables, f"{block}/expand", "weights", [1, 1, channels, inner])
        _conv_bn(variables, f"{block}/depthwise", "depthwise_weights", [kernel, kernel, inner, 1])
        if se:
            squeeze = _make_divisible(inner / 4, 8)
            biased(f"{block}/squeeze_excite/Conv", [1, 1, inner, squeeze])
            biased(f"{block}/squeeze_excite/Conv_1", [1, 1, squeeze, inner])
        _conv_bn(variables, f"{block}/project", "weights", [1, 1, inner, out])
        channels = out
    _conv_bn(variables, "MobilenetV3/Conv_1", "weights", [1, 1, channels, conv1_depth])
    biased("MobilenetV3/Conv_2", [1, 1, conv1_depth, conv2_depth])
    biased("MobilenetV3/Logits/Conv2d_1c_1x1", [1, 1, conv2_depth, num_classes])
    return variables


def mobilenet_v3_manifests():
    out = {}
    for net, (blocks, conv1, conv2, release, ckpt) in MOBILENET_V3_RELEASES.items():
        source = ("hand-derived by tools/make_manifests.py mobilenet_v3_rule_variables from the layer rules of "
                  f"research/slim nets/mobilenet/mobilenet_v3.py (V3_{blocks.upper()}), conv_blocks.py and "
                  "mobilenet.py (tensorflow/models; not in tf_slim.nets): depth_multiplier=1, num_classes=1001 "
                  f"(background class); release: {ckpt} (the moving-average weights) in "
                  f"https://storage.googleapis.com/mobilenet_v3/checkpoints/{release}.tgz; its other entries "
                  "(extra) are not verified")
        out[net] = manifest(net, source, 1001,
                            mobilenet_v3_rule_variables(MOBILENET_V3_BLOCKS[blocks], conv1, conv2, 1001))
    return out


FAMILIES = [vgg_manifests, alexnet_manifests, cifarnet_manifests, lenet_manifests]
FAMILIES += [resnet_v1_manifests, resnet_v2_manifests, inception_v1_manifests, mobilenet_v1_manifests]
FAMILIES += [overfeat_manifests, inception_v2_manifests]
FAMILIES += [inception_v3_manifests]
FAMILIES += [mobilenet_v2_manifests, mobilenet_v3_manifests]
FAMILIES += [inception_v4_manifests, inception_resnet_v2_manifests]
FAMILIES += [nasnet_manifests]


def to_json(data):
    """JSON with one variable per line and each shape on that line (diff-friendly)."""
    import json

    def block(d):
        if not d:
            return "{}"
        rows = [f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in d.items()]
        return "{\n" + ",\n".join(rows) + "\n  }"

    head = [f"  {json.dumps(k)}: {json.dumps(data[k])}" for k in ("net", "source", "num_classes")]
    return ("{\n" + ",\n".join(head + [f'  "variables": {block(data["variables"])}',
                                       f'  "extra": {block(data["extra"])}']) + "\n}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=MANIFEST_DIR, help="directory to write <net>.json into")
    parser.add_argument("--only", default="", help="comma-separated nets to write (default all)")
    args = parser.parse_args(argv)
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    graph_mode()
    os.makedirs(args.out, exist_ok=True)
    for family in FAMILIES:
        for net, data in family().items():
            if only and net not in only:
                continue
            path = os.path.join(args.out, f"{net}.json")
            with open(path, "w", encoding="utf-8") as f:
                f.write(to_json(data))
            print(f"{path}: {len(data['variables'])} variables")


if __name__ == "__main__":
    main()
