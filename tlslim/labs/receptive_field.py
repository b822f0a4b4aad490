"""Receptive fields, computed from the built graph of any net.

Walking the ops from the input in graph order, each tensor gets a receptive field r (how many
input pixels one of its positions sees, per axis) and a jump j (how far apart, in input pixels,
its neighbouring positions are). A conv or pool of kernel k, stride s, dilation d gives
    r_out = r_in + (d * (k - 1)) * j_in,    j_out = j_in * s;
every other op (ReLU, batch norm, padding, adds, concatenation) passes r and j through, taking
the largest over its inputs, so branches (ResNet shortcuts, Inception modules) are covered.
A global pool or a fully connected layer sees the whole image (r = None).

Numbers shown: stacked 3x3 stride-1 convs see 3, 5, 7; three 3x3 layers use 27C^2 weights
against 49C^2 for one 7x7 (45% fewer, and three nonlinearities instead of one); vgg_16's pool5
sees 212x212; resnet_v1_50's block4 sees 483x483 (more than a 224 image: the padding counts).
"""
import math

from tlslim.compat import graph_mode, slim, tf
from tlslim.errors import TlslimError
from tlslim.labs import common

SPATIAL_OPS = ("Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool", "MaxPoolV2", "MaxPoolWithArgmax")
UNSUPPORTED_OPS = ("SpaceToBatchND", "BatchToSpaceND", "Conv2DBackpropInput", "ResizeBilinear",
                   "ResizeNearestNeighbor", "Conv3D")
NETS = ("vgg_16", "resnet_v1_50")
IMAGE_SIZE = 224
CHANNELS = 64


def _hw(values, data_format):
    """The (height, width) entries of a 4-element NHWC/NCHW attribute list."""
    values = list(values)
    return (values[2], values[3]) if data_format == "NCHW" else (values[1], values[2])


def _attr(op, name, default=None):
    try:
        return op.get_attr(name)
    except ValueError:
        return default


def _data_format(op):
    fmt = _attr(op, "data_format", b"NHWC")
    return fmt.decode() if isinstance(fmt, bytes) else fmt


def _kernel_stride_dilation(op):
    """((kh, kw), (sh, sw), (dh, dw)) of a spatial op."""
    fmt = _data_format(op)
    if op.type in ("Conv2D", "DepthwiseConv2dNative"):
        kernel = tuple(int(k) for k in op.inputs[1].shape.as_list()[:2])  # filter [kh, kw, in, out]
        return kernel, _hw(op.get_attr("strides"), fmt), _hw(_attr(op, "dilations", [1, 1, 1, 1]), fmt)
    if op.type == "MaxPoolV2":  # ksize and strides are inputs, not attributes
        ksize, strides = (tf.get_static_value(t) for t in op.inputs[1:3])
        return _hw(ksize, fmt), _hw(strides, fmt), (1, 1)
    return _hw(op.get_attr("ksize"), fmt), _hw(op.get_attr("strides"), fmt), (1, 1)


def _is_global(op):
    """A reduction over the spatial axes (global pooling) or a matmul (a fully connected layer)."""
    if op.type == "MatMul":
        return True
    if op.type in ("Mean", "Max", "Sum", "Min"):
        axes = tf.get_static_value(op.inputs[1])
        spatial = {1, 2} if _data_format(op) == "NHWC" else {2, 3}
        return axes is not None and spatial <= {int(a) % 4 for a in list(axes.ravel())}
    return False


def receptive_fields(inputs):
    """{tensor: ((rh, rw), (jh, jw))} for every tensor computed from `inputs` in its graph.

    rh, rw are math.inf where a position sees the whole input.
    """
    fields = {inputs.ref(): ((1, 1), (1, 1))}
    for op in inputs.graph.get_operations():
        incoming = [fields[t.ref()] for t in op.inputs if t.ref() in fields]
        if not incoming:
            continue
        r = tuple(max(f[0][a] for f in incoming) for a in (0, 1))
        j = tuple(max(f[1][a] for f in incoming) for a in (0, 1))
        if op.type in UNSUPPORTED_OPS:
            raise TlslimError(f"the receptive field calculator does not handle op {op.name} of type {op.type}; "
                              f"ask for an end point before it.")
        if op.type in SPATIAL_OPS:
            kernel, stride, dilation = _kernel_stride_dilation(op)
            r = tuple(r[a] + dilation[a] * (kernel[a] - 1) * j[a] for a in (0, 1))
            j = tuple(j[a] * stride[a] for a in (0, 1))
        elif _is_global(op):
            r = (math.inf, math.inf)
        for t in op.outputs:
            fields[t.ref()] = (r, j)
    return fields


def receptive_field(inputs, output):
    """((rh, rw), (jh, jw)) of tensor `output` with respect to `inputs`."""
    fields = receptive_fields(inputs)
    if output.ref() not in fields:
        raise TlslimError(f"tensor {output.name} is not computed from {inputs.name}; pick an end point of the net.")
    return fields[output.ref()]


def _square(size):
    """An int for a square field, None for a global one; (h, w) otherwise."""
    h, w = size
    if math.isinf(h) or math.isinf(w):
        return None
    return int(h) if h == w else [int(h), int(w)]


def net_receptive_fields(name, image_size=IMAGE_SIZE):
    """[(end point, receptive field, jump)] for registry net `name`, in end_points order."""
    from tlslim import nets  # the registry is needed only here
    graph_mode()
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [1, image_size, image_size, 3], name="images")
        _, end_points = nets.get_network_fn(name, num_classes=1000)(images)
        fields = receptive_fields(images)
        rows = []
        for key, tensor in end_points.items():
            if tensor.ref() in fields:
                size, jump = fields[tensor.ref()]
                rows.append((key, _square(size), _square(jump)))
    return rows


def stacked_convs(channels=CHANNELS):
    """Three stacked 3x3 convs vs one 7x7: receptive fields and weight counts from the graph."""
    graph_mode()
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [1, 32, 32, channels])
        stack, net = [], x
        for i in range(3):
            net = slim.conv2d(net, channels, [3, 3], biases_initializer=None, scope=f"conv3x3_{i + 1}")
            stack.append(net)
        single = slim.conv2d(x, channels, [7, 7], biases_initializer=None, scope="conv7x7")
        fields = receptive_fields(x)
        weights = {v.op.name.split("/")[0]: int(v.shape.num_elements()) for v in tf.trainable_variables()}
    return {
        "channels": channels,
        "stack_receptive_fields": [_square(fields[t.ref()][0]) for t in stack],
        "single_receptive_field": _square(fields[single.ref()][0]),
        "stack_weights": sum(weights[f"conv3x3_{i + 1}"] for i in range(3)),
        "single_weights": weights["conv7x7"],
    }


def run(output_dir=None, nets=NETS):
    """The stacked-conv comparison, and the receptive fields of registry nets `nets` (any of them)."""
    result = {"stacked": stacked_convs(), "nets": {}}
    for name in nets:
        result["nets"][name] = [list(row) for row in net_receptive_fields(name)]
    figure = _plot(result["nets"], output_dir)
    result["figures"] = [figure] if figure else []
    return result


def _plot(net_rows, output_dir):
    if not output_dir:
        return None
    fig = common.new_figure(12, 4.5)
    for i, (name, rows) in enumerate(net_rows.items()):
        rows = [r for r in rows if isinstance(r[1], int) and name in r[0]]
        ax = fig.add_subplot(1, len(net_rows), i + 1)
        ax.plot(range(len(rows)), [r[1] for r in rows], marker=".")
        ax.axhline(IMAGE_SIZE, color="grey", linestyle="--", label=f"{IMAGE_SIZE}px image")
        # Long nets: label only the top-level end points (conv1, block1, ...).
        ticks = [k for k, r in enumerate(rows) if len(rows) <= 25 or r[0].count("/") == 1]
        ax.set_xticks(ticks)
        ax.set_xticklabels([rows[k][0].split("/", 1)[-1] for k in ticks], rotation=70, fontsize=7)
        ax.set_xlabel("end point, input to output")
        ax.set_ylabel("receptive field (pixels)")
        ax.set_title(name)
        ax.legend()
    return common.save_figure(fig, output_dir, "receptive_field")


def format(result):
    s = result["stacked"]
    c = s["channels"]
    out = ["stacked 3x3 stride-1 convs:",
           common.table(["layers", "receptive field", f"weights (C={c})", "per C^2"],
                        [[i + 1, rf, "", ""] for i, rf in enumerate(s["stack_receptive_fields"][:-1])]
                        + [[3, s["stack_receptive_fields"][-1], f"{s['stack_weights']:,}", s["stack_weights"] // c ** 2],
                           ["one 7x7", s["single_receptive_field"], f"{s['single_weights']:,}",
                            s["single_weights"] // c ** 2]]),
           f"three 3x3 use {1 - s['stack_weights'] / s['single_weights']:.1%} fewer weights than one 7x7", ""]
    rows = []
    for name, net_rows in result["nets"].items():
        for key, rf, jump in net_rows:
            # The stages of VGG and ResNet, and for every net the classifier's input.
            if key.rsplit("/", 1)[-1] in ("pool5", "block1", "block2", "block3", "block4", "PreLogits"):
                rows.append([name, key, rf, jump])
    out += ["receptive fields from the built graphs:", common.table(["net", "end point", "receptive field", "jump"], rows)]
    return "\n".join(out)
