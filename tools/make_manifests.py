"""Write tlslim/nets/manifests/*.json: the variable names and shapes of the PUBLISHED nets.

The manifests are reference data the tests compare tlslim's builders against, so they are
derived from the published definitions, never from tlslim.nets:
  - nets in tf_slim.nets are built at their default size with the release num_classes and
    their model variables are listed;
  - nets only in research/slim (cifarnet, lenet, mobilenet_v1) are written by the layer rules
    of their research/slim source, spelled out below;
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


FAMILIES = [vgg_manifests, alexnet_manifests, cifarnet_manifests, lenet_manifests]
FAMILIES += [resnet_v1_manifests, resnet_v2_manifests, inception_v1_manifests, mobilenet_v1_manifests]
FAMILIES += [overfeat_manifests, inception_v2_manifests]
FAMILIES += [inception_v3_manifests]


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
