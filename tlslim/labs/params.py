"""Parameter counts per layer, from built graphs only (no session): LeNet-5 and VGG A-E.

LeNet-5 is the lecture's version, built here with slim layers (conv 6@5x5 -> pool -> conv 16@5x5
-> pool -> fc 120 -> fc 84 -> fc 10 on 32x32x1, every conv seeing all input channels): 156,
2,416, 48,120, 10,164 and 850 parameters, 61,706 in all. A conv layer has k*k*Cin*Cout weights
+ Cout biases; pooling has none.

VGG: configurations A (vgg_a), D (vgg_16) and E (vgg_19) come from the registry; B and C are
built here from table 1 of Simonyan & Zisserman (C puts a 1x1 conv third in blocks 3-5).
fc6 alone (7*7*512*4096 weights) holds about 103M of VGG-16's 138M.
"""
import numpy as np

from tlslim.compat import graph_mode, slim, tf
from tlslim.labs import common

IMAGE_SIZE = 224
# Configurations of the paper's table 1 not in the registry: per block, the conv kernel sizes.
PAPER_CONFIGS = {
    "B": ((3, 3), (3, 3), (3, 3), (3, 3), (3, 3)),
    "C": ((3, 3), (3, 3), (3, 3, 1), (3, 3, 1), (3, 3, 1)),
}
REGISTRY_CONFIGS = {"A": "vgg_a", "D": "vgg_16", "E": "vgg_19"}
WIDTHS = (64, 128, 256, 512, 512)


def count_by_layer(variables):
    """[(layer scope, parameter count)] in creation order; a layer is a variable's parent scope."""
    counts = {}
    for v in variables:
        layer = v.op.name.rsplit("/", 1)[0]
        counts[layer] = counts.get(layer, 0) + int(np.prod(v.shape.as_list()))
    return list(counts.items())


def lenet5(images, num_classes=10, scope="LeNet5"):
    """The lecture's LeNet-5 (tanh, average-pool subsampling) -> logits."""
    with tf.variable_scope(scope):
        with slim.arg_scope([slim.conv2d, slim.fully_connected], activation_fn=tf.tanh):
            net = slim.conv2d(images, 6, [5, 5], padding="VALID", scope="C1")    # 28x28x6
            net = slim.avg_pool2d(net, [2, 2], scope="S2")                       # 14x14x6
            net = slim.conv2d(net, 16, [5, 5], padding="VALID", scope="C3")      # 10x10x16
            net = slim.avg_pool2d(net, [2, 2], scope="S4")                       # 5x5x16
            net = slim.flatten(net, scope="flatten")                             # 400
            net = slim.fully_connected(net, 120, scope="C5")
            net = slim.fully_connected(net, 84, scope="F6")
            return slim.fully_connected(net, num_classes, activation_fn=None, scope="output")


def vgg_from_config(images, kernels, num_classes=1000, scope="vgg"):
    """A VGG of the paper's table from per-block conv kernel sizes (slim's layout: fc as convs)."""
    with tf.variable_scope(scope):
        with slim.arg_scope([slim.conv2d], padding="SAME", activation_fn=tf.nn.relu):
            net = images
            for i, (block, width) in enumerate(zip(kernels, WIDTHS), start=1):
                for j, k in enumerate(block, start=1):
                    net = slim.conv2d(net, width, [k, k], scope=f"conv{i}/conv{i}_{j}")
                net = slim.max_pool2d(net, [2, 2], scope=f"pool{i}")
            net = slim.conv2d(net, 4096, [7, 7], padding="VALID", scope="fc6")
            net = slim.conv2d(net, 4096, [1, 1], scope="fc7")
            return slim.conv2d(net, num_classes, [1, 1], activation_fn=None, scope="fc8")


def _counted(build):
    """Build in a fresh graph and count its trainable variables by layer."""
    graph_mode()
    graph = tf.Graph()
    with graph.as_default():
        build()
        return count_by_layer(tf.trainable_variables())


def _registry_net(name, num_classes):
    from tlslim import nets  # imported here: only this lab's VGG part needs the registry

    def build():
        images = tf.placeholder(tf.float32, [1, IMAGE_SIZE, IMAGE_SIZE, 3])
        nets.get_network_fn(name, num_classes)(images)
    return build


def _summary(layers):
    total = sum(c for _, c in layers)
    fc = sum(c for layer, c in layers if "/fc" in layer)
    return {"layers": [[layer, c] for layer, c in layers], "total": total, "conv": total - fc, "fc": fc}


def run(output_dir=None, nets=()):
    """LeNet-5 and VGG's parameter counts, plus those of registry nets `nets` (any of them, with
    their release class counts)."""
    result = {"lenet5": _summary(_counted(lambda: lenet5(tf.placeholder(tf.float32, [1, 32, 32, 1]))))}
    result["vgg_16"] = _summary(_counted(_registry_net("vgg_16", 1000)))
    result["vgg_16_2_classes"] = _summary(_counted(_registry_net("vgg_16", 2)))
    configs = {}
    for config in "ABCDE":
        if config in REGISTRY_CONFIGS:
            layers = _counted(_registry_net(REGISTRY_CONFIGS[config], 1000))
            source = REGISTRY_CONFIGS[config]
        else:
            layers = _counted(lambda: vgg_from_config(
                tf.placeholder(tf.float32, [1, IMAGE_SIZE, IMAGE_SIZE, 3]), PAPER_CONFIGS[config]))
            source = "built in this lab"
        configs[config] = dict(_summary(layers), source=source,
                               conv_layers=sum(1 for layer, _ in layers if "/conv" in layer))
    result["vgg_configs"] = configs
    if nets:
        from tlslim import nets as registry
        result["nets"] = {name: _summary(_counted(_registry_net(name, registry.get_info(name).num_classes)))
                          for name in nets}
    figure = _plot(result["vgg_16"], output_dir)
    result["figures"] = [figure] if figure else []
    return result


def _plot(vgg, output_dir):
    if not output_dir:
        return None
    fig = common.new_figure(10, 4)
    ax = fig.add_subplot(1, 1, 1)
    names = [layer.split("/")[-1] for layer, _ in vgg["layers"]]
    ax.bar(range(len(names)), [c / 1e6 for _, c in vgg["layers"]])
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, fontsize=8)
    ax.set_ylabel("parameters (millions)")
    ax.set_title(f"vgg_16 parameters per layer ({vgg['total']:,} in all)")
    return common.save_figure(fig, output_dir, "params")


def format(result):
    out = ["LeNet-5 (lecture version, 32x32x1 input):",
           common.table(["layer", "parameters"], [[l, f"{c:,}"] for l, c in result["lenet5"]["layers"]]
                        + [["total", f"{result['lenet5']['total']:,}"]]), ""]
    v, v2 = result["vgg_16"], result["vgg_16_2_classes"]
    out += [f"vgg_16: {v['total']:,} parameters with 1000 classes, {v2['total']:,} with 2 classes "
            f"(fc6 alone: {dict(v['layers'])['vgg_16/fc6']:,})", "",
            "VGG configurations (Simonyan & Zisserman, table 1; A-LRN adds no parameters to A):"]
    rows = [[k, c["conv_layers"] + 3, f"{c['conv']:,}", f"{c['fc']:,}", f"{c['total']:,}", c["source"]]
            for k, c in result["vgg_configs"].items()]
    out.append(common.table(["config", "weight layers", "conv", "fc", "total", "graph"], rows))
    if result.get("nets"):
        out += ["", "registry nets (release class counts):",
                common.table(["net", "layers with parameters", "total"],
                             [[name, len(n["layers"]), f"{n['total']:,}"] for name, n in result["nets"].items()])]
    return "\n".join(out)
