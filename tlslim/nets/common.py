"""Layers and shape rules that more than one net family uses, so that each net module imports
them from here and no net module imports another's.

- `trunc_normal`, the initializer slim's net modules share.
- Static shapes and padding: `spatial_size`, `valid_or_same`, `fc_padding`.
- VGG's and AlexNet's convolutional 'fully connected' head: `fc_conv2d` (a SAME fc6 over a
  map smaller than its kernel convolves with only the taps that can meet the map),
  `needs_global_pool` and `conv_fc_head` (fc6 -> dropout6 -> fc7 -> [global pool] -> dropout7
  -> fc8, with slim's scopes and end_points); `any_size_classifier` wraps such a slim-API
  builder for the registry.
- CifarNet's and LeNet's fully connected tail: `adaptive_avg_pool` and `pool_and_flatten` (any
  image size reaches the release's flatten size).

Helpers used by a single family stay in its module (ResNet's in `resnet_utils`).
"""
import math

from tlslim.compat import slim, tf
from tlslim.errors import TlslimError

# Width of VGG's and AlexNet's fc6 and fc7.
FC_WIDTH = 4096


def trunc_normal(stddev):
    """A truncated normal initializer of mean 0 (the `trunc_normal` slim's net modules export)."""
    return tf.truncated_normal_initializer(0.0, stddev)


def spatial_size(tensor):
    """(height, width) of an NHWC tensor as ints, or None when either is unknown."""
    h, w = tensor.shape[1], tensor.shape[2]
    if h is None or w is None:
        return None
    return int(h), int(w)


def valid_or_same(net, kernel):
    """'VALID' (slim's graph) when `net` is at least kernel x kernel or of unknown size, 'SAME'
    when it is smaller, where a VALID window would not fit at all."""
    size = spatial_size(net)
    return "SAME" if size is not None and min(size) < kernel else "VALID"


def fc_padding(net, kernel, padding):
    """(padding, adapted): the padding of a 'fully connected' convolution of `kernel` over `net`.

    'VALID' (slim's default; None means the same) stays VALID when the map is at least
    kernel x kernel or of unknown size: slim's graph. On a smaller map, where slim's graph cannot
    be built at all, it becomes SAME and `adapted` is True. 'SAME' is kept as asked.
    """
    padding = "VALID" if padding is None else str(padding).upper()
    if padding not in ("SAME", "VALID"):
        raise TlslimError(f"fc_conv_padding must be 'SAME' or 'VALID', got {padding!r}.")
    if padding == "VALID" and valid_or_same(net, kernel) == "SAME":
        return "SAME", True
    return padding, False


def _live_taps(size, kernel):
    """The slice of a `kernel` axis that a stride-1 SAME convolution over `size` positions uses."""
    centre = (kernel - 1) // 2
    if kernel % 2 == 0 or 2 * size - 1 >= kernel:
        return slice(0, kernel)
    return slice(centre - (size - 1), centre + size)


@slim.add_arg_scope
def fc_conv2d(inputs, num_outputs, kernel_size, padding, scope, **kwargs):
    """slim.conv2d (stride 1, under slim.conv2d's arg scope) with the same variables, which skips
    the kernel taps that only ever meet SAME padding.

    With VALID padding, an unknown map size, or a map at least as large as the kernel this is
    exactly `slim.conv2d`. Otherwise the `weights` variable keeps its full [k, k, in, out] shape
    (so checkpoints load) and the convolution uses only its live centre taps: outputs and
    gradients equal the full SAME convolution's (the other taps' gradients are zero there too).
    """
    size = spatial_size(inputs)
    rows, cols = (slice(0, kernel_size[0]), slice(0, kernel_size[1])) if size is None else (
        _live_taps(size[0], kernel_size[0]), _live_taps(size[1], kernel_size[1]))
    if padding != "SAME" or (rows, cols) == (slice(0, kernel_size[0]), slice(0, kernel_size[1])):
        return slim.conv2d(inputs, num_outputs, kernel_size, padding=padding, scope=scope, **kwargs)
    # slim.conv2d's own defaults, then its arg scope, then the call: the layer it stands in for.
    args = {"activation_fn": tf.nn.relu, "weights_initializer": slim.xavier_initializer(),
            "weights_regularizer": None, "biases_initializer": tf.zeros_initializer(), "biases_regularizer": None,
            "trainable": True, "variables_collections": None, "outputs_collections": None, "reuse": None,
            "normalizer_fn": None}
    args.update(slim.current_arg_scope().get(slim.arg_scope_func_key(slim.conv2d), {}))
    args.update(kwargs)
    if args["normalizer_fn"] is not None or args.get("stride", 1) != 1 or args.get("rate", 1) != 1:
        raise TlslimError("fc_conv2d supports stride 1, rate 1 and no normalizer_fn.")
    collections = args["variables_collections"]
    with tf.variable_scope(scope, "Conv", [inputs], reuse=args["reuse"]) as sc:
        dtype = inputs.dtype.base_dtype
        weights = slim.model_variable(
            "weights", shape=list(kernel_size) + [int(inputs.shape[-1]), num_outputs], dtype=dtype,
            initializer=args["weights_initializer"], regularizer=args["weights_regularizer"],
            collections=slim.utils.get_variable_collections(collections, "weights"), trainable=args["trainable"])
        outputs = tf.nn.conv2d(inputs, weights[rows, cols], [1, 1, 1, 1], "SAME", name="Conv2D")
        if args["biases_initializer"] is not None:
            biases = slim.model_variable(
                "biases", shape=[num_outputs], dtype=dtype, initializer=args["biases_initializer"],
                regularizer=args["biases_regularizer"],
                collections=slim.utils.get_variable_collections(collections, "biases"), trainable=args["trainable"])
            outputs = tf.nn.bias_add(outputs, biases, name="BiasAdd")
        if args["activation_fn"] is not None:
            outputs = args["activation_fn"](outputs)
        return slim.utils.collect_named_outputs(args["outputs_collections"], sc.name, outputs)


def needs_global_pool(net, global_pool):
    """True when `net` must be averaged to 1x1: forced, or (if None) not statically 1x1."""
    if global_pool is not None:
        return bool(global_pool)
    return spatial_size(net) != (1, 1)


def conv_fc_head(net, num_classes, fc6_kernel, is_training, dropout_keep_prob, spatial_squeeze, fc_conv_padding,
                 global_pool, collection, scope_name, **fc8_kwargs):
    """slim's VGG / AlexNet head over the pool5 map `net` -> (net, end_points), as slim's builders.

    fc6 (`fc6_kernel` square, padding from `fc_padding`) -> dropout6 -> fc7 (1x1) -> a 1x1
    'global_pool' mean when `needs_global_pool` -> dropout7 -> fc8 (1x1, linear; `fc8_kwargs` go
    to its slim.conv2d) -> 'fc8/squeezed' when `spatial_squeeze`. With num_classes 0 or None,
    fc7's output (pooled if asked) is returned. Call it inside the net's variable scope
    `scope_name`, under an arg scope that sends slim.conv2d's and fc_conv2d's outputs to
    `collection`: end_points are that collection after fc7, then 'global_pool' and
    '<scope_name>/fc8', slim's set.

    Where fc6 had to become SAME (a map smaller than its kernel, which slim cannot build), fc7 is
    also averaged to 1x1 whatever `global_pool` says, so the small image is classified as one.
    """
    padding, adapted = fc_padding(net, fc6_kernel, fc_conv_padding)
    net = fc_conv2d(net, FC_WIDTH, [fc6_kernel, fc6_kernel], padding=padding, scope="fc6")
    net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout6")
    net = slim.conv2d(net, FC_WIDTH, [1, 1], scope="fc7")
    end_points = slim.utils.convert_collection_to_dict(collection)
    if needs_global_pool(net, global_pool) or (adapted and spatial_size(net) != (1, 1)):
        net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
        end_points["global_pool"] = net
    if not num_classes:
        return net, end_points
    net = slim.dropout(net, dropout_keep_prob, is_training=is_training, scope="dropout7")
    net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="fc8", **fc8_kwargs)
    if spatial_squeeze:
        net = tf.squeeze(net, [1, 2], name="fc8/squeezed")
    end_points[scope_name + "/fc8"] = net
    return net, end_points


def any_size_classifier(builder):
    """`builder` (a slim-API net whose `global_pool` defaults to False) for the registry: the
    last map is averaged to 1x1 only where it is larger, unless the caller passes `global_pool`,
    so the logits are [B, num_classes] at any image size and slim's graph where that is 1x1."""
    def build(images, num_classes, is_training=False, **kwargs):
        kwargs.setdefault("global_pool", None)
        return builder(images, num_classes, is_training=is_training, **kwargs)
    build.__name__ = builder.__name__
    return build


def adaptive_avg_pool(net, out_size, scope="AdaptivePool"):
    """Average-pool NHWC `net` to spatial `out_size` (h, w) like torchvision's AdaptiveAvgPool2d.

    Output cell i along an axis of length n averages input rows floor(i*n/out) to
    ceil((i+1)*n/out) - 1; a map already of `out_size` is returned unchanged. Needs a static
    spatial shape.
    """
    size = spatial_size(net)
    if size is None:
        raise TlslimError("adaptive pooling needs images with a static height and width; "
                          "give the input placeholder a fixed image size.")
    if tuple(size) == tuple(out_size):
        return net
    with tf.name_scope(scope):
        for axis, (n, out) in ((1, (size[0], out_size[0])), (2, (size[1], out_size[1]))):
            cells = []
            for i in range(out):
                start, end = (i * n) // out, math.ceil((i + 1) * n / out)
                window = tf.gather(net, list(range(start, end)), axis=axis)
                cells.append(tf.reduce_mean(window, axis=axis, keepdims=True))
            net = tf.concat(cells, axis=axis)
    return net


def pool_and_flatten(net, grid, end_points):
    """`net` adaptively pooled to `grid` (h, w), then flattened to [B, h*w*C].

    Records end_points 'AdaptivePool' (only when the map was not already `grid`, so the graph
    at the default size is slim's) and 'Flatten'.
    """
    pooled = adaptive_avg_pool(net, grid)
    if pooled is not net:
        net = end_points["AdaptivePool"] = pooled
    net = end_points["Flatten"] = slim.flatten(net)
    return net


def reduced_kernel_size_for_small_input(input_tensor, kernel_size):
    """`kernel_size` cut down to the map's static height and width (unchanged when unknown), so a
    map smaller than the kernel is pooled once instead of failing (slim's rule of the same name)."""
    h, w = input_tensor.shape[1], input_tensor.shape[2]
    if h is None or w is None:
        return kernel_size
    return [min(int(h), kernel_size[0]), min(int(w), kernel_size[1])]


def pad_to_kernel(net, kernel):
    """NHWC `net` zero-padded on each static spatial side shorter than `kernel` up to it (the odd
    pixel after, where SAME padding puts it), so a VALID conv of that kernel has an output there;
    `net` itself when no side is short."""
    pads = [[0, 0]]
    for d, k in zip((net.shape[1], net.shape[2]), kernel):
        missing = 0 if d is None else max(k - int(d), 0)
        pads.append([missing // 2, missing - missing // 2])
    if not any(before or after for before, after in pads):
        return net
    return tf.pad(net, pads + [[0, 0]])


def global_pool_above(builder, release_size):
    """`builder` for the registry: images larger than `release_size` (or of unknown size) are
    averaged globally before the classifier, unless the caller passes `global_pool`, so the logits
    stay [B, C]; at the release size and below the graph is the builder's own."""
    def build(images, num_classes, is_training=False, **kwargs):
        if "global_pool" not in kwargs:
            h, w = images.shape[1], images.shape[2]
            kwargs["global_pool"] = h is None or w is None or max(int(h), int(w)) > release_size
        return builder(images, num_classes, is_training=is_training, **kwargs)
    return build
