"""The pieces NASNet-A and PNASNet-5 are built from, with research/slim's
`nets/nasnet/nasnet_utils.py` API: `calc_reduction_layers`, `get_channel_index`,
`get_channel_dim`, `global_avg_pool`, `factorized_reduction`, `drop_path` and the cells
`NasNetABaseCell`, `NasNetANormalCell`, `NasNetAReductionCell`.

A cell reads two hidden states, the previous cell's output (through a ReLU, a 1x1 conv and batch
norm) and the one before it (brought to the same size and width when it differs), and adds five
new ones: each sums two operations ('separable_KxK_2': two ReLU -> separable conv -> batch norm
layers; 'avg_pool_3x3' / 'max_pool_3x3'; 'none', the identity) applied to earlier states. The
states no operation used are concatenated as the cell's output. A stride-2 cell strides the
operations that read its two inputs.

tlslim's differences: batch norm is tlslim.layers.batch_norm (slim used slim.batch_norm), which
works in NHWC, so under data_format 'NCHW' each batch norm runs on the transposed map (same
variables); the convolutions are `conv2d` and `separable_conv2d` here, slim's layers without the
Keras layer slim builds them with (same variables and ops; see `conv2d`); `is_training` may be a
boolean tensor (slim needs a Python bool): drop-path then runs only where it is true.
"""
import functools
import inspect
import math

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm

__all__ = ["DATA_FORMAT_NCHW", "DATA_FORMAT_NHWC", "INVALID", "CLIP_BY_VALUE_CAP", "calc_reduction_layers",
           "get_channel_index", "get_channel_dim", "global_avg_pool", "factorized_reduction", "drop_path",
           "format_batch_norm", "conv2d", "separable_conv2d", "NasNetABaseCell", "NasNetANormalCell",
           "NasNetAReductionCell"]

arg_scope = slim.arg_scope

DATA_FORMAT_NCHW = "NCHW"
DATA_FORMAT_NHWC = "NHWC"
INVALID = "null"
# With bounded activations the cell's branch outputs are clipped to [-6, 6] (ReLU6's range).
CLIP_BY_VALUE_CAP = 6


def static_bool(value):
    """True/False when `value` (a Python bool or a tensor) is known at graph-building time, else None."""
    if isinstance(value, bool):
        return value
    static = tf.get_static_value(value)
    return None if static is None else bool(static)


def ceil_half(size):
    """The length a SAME stride-2 op (or factorized_reduction) gives."""
    return int(math.ceil(size / 2.0))


def calc_reduction_layers(num_cells, num_reduction_layers):
    """The cell indices before which a reduction happens: `num_reduction_layers` evenly spaced
    points of `num_cells` (e.g. 18 cells, 2 reductions -> [6, 12])."""
    # slim's float arithmetic, kept so that every count rounds as it does there.
    return [int((float(k) / (num_reduction_layers + 1)) * num_cells) for k in range(1, num_reduction_layers + 1)]


def _check_format(data_format):
    if data_format not in (DATA_FORMAT_NHWC, DATA_FORMAT_NCHW):
        raise ValueError(f"data_format must be 'NHWC' or 'NCHW' (usually set by the builder's arg scope), "
                         f"got {data_format!r}")


@slim.add_arg_scope
def get_channel_index(data_format=INVALID):
    """The channel axis: 3 for NHWC, 1 for NCHW."""
    _check_format(data_format)
    return 3 if data_format == DATA_FORMAT_NHWC else 1


@slim.add_arg_scope
def get_channel_dim(shape, data_format=INVALID):
    """The channel count of a rank-4 `shape`."""
    _check_format(data_format)
    if len(shape) != 4:
        raise ValueError(f"expected a rank-4 shape, got {shape}")
    return int(shape[3] if data_format == DATA_FORMAT_NHWC else shape[1])


@slim.add_arg_scope
def global_avg_pool(x, data_format=INVALID):
    """The spatial mean of a rank-4 `x` -> [batch, channels]."""
    _check_format(data_format)
    if x.shape.ndims != 4:
        raise ValueError(f"global_avg_pool needs a rank-4 input, got {x.shape}")
    return tf.reduce_mean(x, [1, 2] if data_format == DATA_FORMAT_NHWC else [2, 3])


@slim.add_arg_scope
def format_batch_norm(net, scope, data_format=INVALID):
    """tlslim's batch_norm (its arg scope applies) on a map in `data_format`."""
    _check_format(data_format)
    if data_format == DATA_FORMAT_NHWC:
        return batch_norm(net, scope=scope, data_format=DATA_FORMAT_NHWC)
    net = batch_norm(tf.transpose(net, [0, 2, 3, 1]), scope=scope, data_format=DATA_FORMAT_NHWC)
    return tf.transpose(net, [0, 3, 1, 2])


@functools.lru_cache(maxsize=None)
def _defaults(layer):
    return {name: p.default for name, p in inspect.signature(layer).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _layer_args(layer, kwargs):
    """`layer`'s (a slim layer's) defaults, then its arg scope, then the call's `kwargs`."""
    args = dict(_defaults(layer))
    args.update(slim.current_arg_scope().get(slim.arg_scope_func_key(layer), {}))
    args.update(kwargs)
    return args


def _kernel(size):
    return [size, size] if isinstance(size, int) else [int(d) for d in size]


def _model_variable(name, shape, dtype, initializer, regularizer, args, kind):
    return slim.model_variable(name, shape=shape, dtype=dtype, initializer=initializer, regularizer=regularizer,
                               collections=slim.utils.get_variable_collections(args["variables_collections"], kind),
                               trainable=args["trainable"])


def _finish(outputs, inputs, num_outputs, args, data_format, sc):
    """Biases, activation and the outputs collection, as slim's conv layers end."""
    if args["biases_initializer"] is not None:
        biases = _model_variable("biases", [num_outputs], inputs.dtype.base_dtype, args["biases_initializer"],
                                 args["biases_regularizer"], args, "biases")
        outputs = tf.nn.bias_add(outputs, biases, data_format=data_format)
    if args["activation_fn"] is not None:
        outputs = args["activation_fn"](outputs)
    return slim.utils.collect_named_outputs(args["outputs_collections"], sc.name, outputs)


def _strides(stride, data_format):
    return [1, stride, stride, 1] if data_format == DATA_FORMAT_NHWC else [1, 1, stride, stride]


def conv2d(inputs, num_outputs, kernel_size, scope=None, **kwargs):
    """slim.conv2d (its defaults and arg scope; the same variables and ops) without the Keras layer
    slim builds it with, whose add_weight scans every global variable: a net of ~1,500 variables
    builds several times faster. A normalizer_fn or a rate falls back to slim.conv2d itself."""
    args = _layer_args(slim.conv2d, kwargs)
    if args["normalizer_fn"] is not None or args["rate"] != 1:
        return slim.conv2d(inputs, num_outputs, kernel_size, scope=scope, **kwargs)
    data_format = args["data_format"] or DATA_FORMAT_NHWC
    with tf.variable_scope(scope, "Conv", [inputs], reuse=args["reuse"]) as sc:
        inputs = tf.convert_to_tensor(inputs)
        channels = int(inputs.shape[get_channel_index(data_format=data_format)])
        weights = _model_variable("weights", _kernel(kernel_size) + [channels, num_outputs], inputs.dtype.base_dtype,
                                  args["weights_initializer"], args["weights_regularizer"], args, "weights")
        outputs = tf.nn.conv2d(inputs, weights, _strides(args["stride"], data_format), args["padding"].upper(),
                               data_format=data_format)
        return _finish(outputs, inputs, num_outputs, args, data_format, sc)


def separable_conv2d(inputs, num_outputs, kernel_size, scope=None, **kwargs):
    """slim.separable_conv2d with num_outputs (a depthwise then a 1x1 conv), as `conv2d` stands for
    slim.conv2d; anything else falls back to slim.separable_conv2d itself."""
    args = _layer_args(slim.separable_conv2d, kwargs)
    if num_outputs is None or args["normalizer_fn"] is not None or args["rate"] != 1:
        return slim.separable_conv2d(inputs, num_outputs, kernel_size, scope=scope, **kwargs)
    data_format = args["data_format"] or DATA_FORMAT_NHWC
    with tf.variable_scope(scope, "SeparableConv2d", [inputs], reuse=args["reuse"]) as sc:
        inputs = tf.convert_to_tensor(inputs)
        channels = int(inputs.shape[get_channel_index(data_format=data_format)])
        dtype, multiplier = inputs.dtype.base_dtype, args["depth_multiplier"]
        depthwise = _model_variable("depthwise_weights", _kernel(kernel_size) + [channels, multiplier], dtype,
                                    args["weights_initializer"], args["weights_regularizer"], args, "weights")
        pointwise = _model_variable("pointwise_weights", [1, 1, channels * multiplier, num_outputs], dtype,
                                    args["pointwise_initializer"] or args["weights_initializer"],
                                    args["weights_regularizer"], args, "weights")
        outputs = tf.nn.separable_conv2d(inputs, depthwise, pointwise, _strides(args["stride"], data_format),
                                         args["padding"].upper(), data_format=data_format)
        return _finish(outputs, inputs, num_outputs, args, data_format, sc)


def _spatial_axes(data_format):
    return (1, 2) if data_format == DATA_FORMAT_NHWC else (2, 3)


@slim.add_arg_scope
def factorized_reduction(net, output_filters, stride, data_format=INVALID):
    """Bring `net` to `output_filters` channels, halving its size when `stride` is 2, without
    dropping pixels: two 1x1 convs, one on the even positions and one on the odd positions (the
    map shifted by one, zero at the end), concatenated and batch-normalized. Stride 1 is a 1x1
    conv and batch norm."""
    _check_format(data_format)
    if stride == 1:
        net = conv2d(net, output_filters, 1, scope="path_conv", data_format=data_format)
        return format_batch_norm(net, "path_bn", data_format=data_format)
    rows, cols = _spatial_axes(data_format)
    strides = [1, 1, 1, 1]
    strides[rows] = strides[cols] = stride

    def subsample(x):
        return tf.nn.avg_pool2d(x, [1, 1, 1, 1], strides, "VALID", data_format=data_format)

    half = output_filters // 2
    even = conv2d(subsample(net), half, 1, scope="path1_conv", data_format=data_format)
    pads = [[0, 0]] * 4
    pads[rows] = pads[cols] = [0, 1]
    begin = [0, 0, 0, 0]
    begin[rows] = begin[cols] = 1
    shifted = tf.slice(tf.pad(net, pads), begin, [-1, -1, -1, -1])
    # An odd count gives the extra channel to the shifted path.
    odd = conv2d(subsample(shifted), output_filters - half, 1, scope="path2_conv", data_format=data_format)
    net = tf.concat([even, odd], axis=get_channel_index(data_format=data_format))
    return format_batch_norm(net, "final_path_bn", data_format=data_format)


@slim.add_arg_scope
def drop_path(net, keep_prob, is_training=True):
    """In training, zero each example's `net` with probability 1 - keep_prob and scale the kept
    ones by 1 / keep_prob. `is_training` may be a boolean tensor."""
    def dropped():
        noise = keep_prob + tf.random.uniform([tf.shape(net)[0], 1, 1, 1], dtype=tf.float32)
        mask = tf.cast(tf.floor(noise), net.dtype)
        return net * tf.cast(1.0 / keep_prob, net.dtype) * mask

    training = static_bool(is_training)
    if training is None:
        return tf.cond(is_training, dropped, lambda: tf.identity(net))
    return dropped() if training else net


def _parse_operation(operation):
    """'separable_5x5_2' -> ('separable', 5, 2); 'avg_pool_3x3' -> ('avg', 3, 1); 'none' -> ('none', 1, 1)."""
    if operation == "none":
        return "none", 1, 1
    parts = operation.split("_")
    if parts[0] == "separable":
        size = parts[1]
        layers = 1 if "x" in parts[-1] else int(parts[-1])
    elif parts[0] in ("avg", "max") and parts[1] == "pool":
        size, layers = parts[-1], 1
    else:
        raise ValueError("Unimplemented operation", operation)
    height, width = size.split("x")
    if height != width:
        raise ValueError(f"only square kernels are supported, got {operation}")
    return parts[0], int(height), layers


class NasNetABaseCell(object):
    """A NASNet-style cell (see the module doc).

    num_conv_filters: the width of each operation at filter_scaling 1 (the cell's width is
      int(num_conv_filters * filter_scaling)).
    operations: ten operation names, two per new hidden state (left, right).
    used_hiddenstates: one flag per hidden state (the two inputs and the five new ones): 1 if
      an operation reads it; the others are concatenated as the output.
    hiddenstate_indices: the hidden state each of the ten operations reads.
    drop_path_keep_prob, total_num_cells, total_training_steps: drop-path, which drops more in
      later cells and as training goes on (see `_apply_drop_path`).
    use_bounded_activation: ReLU6 for ReLU and branch outputs clipped to +-CLIP_BY_VALUE_CAP.
    """

    def __init__(self, num_conv_filters, operations, used_hiddenstates, hiddenstate_indices, drop_path_keep_prob,
                 total_num_cells, total_training_steps, use_bounded_activation=False):
        self._num_conv_filters = num_conv_filters
        self._operations = operations
        self._used_hiddenstates = used_hiddenstates
        self._hiddenstate_indices = hiddenstate_indices
        self._drop_path_keep_prob = drop_path_keep_prob
        self._total_num_cells = total_num_cells
        self._total_training_steps = total_training_steps
        self._use_bounded_activation = use_bounded_activation

    # ---- small helpers

    def _relu(self, net):
        return tf.nn.relu6(net) if self._use_bounded_activation else tf.nn.relu(net)

    def _clip(self, net):
        if self._use_bounded_activation:
            return tf.clip_by_value(net, -CLIP_BY_VALUE_CAP, CLIP_BY_VALUE_CAP)
        return net

    def _conv_bn(self, net, stride, conv_scope, bn_scope):
        net = conv2d(net, self._filter_size, 1, stride=stride, scope=conv_scope)
        return format_batch_norm(net, bn_scope)

    # ---- the cell

    def __call__(self, net, scope=None, filter_scaling=1, stride=1, prev_layer=None, cell_num=-1,
                 current_step=None):
        """The cell on `net` (and `prev_layer`, the state before it) -> its output."""
        self._cell_num = cell_num
        self._filter_scaling = filter_scaling
        self._filter_size = int(self._num_conv_filters * filter_scaling)
        with tf.variable_scope(scope):
            states = self._cell_base(net, prev_layer)
            for k in range(5):
                with tf.variable_scope(f"comb_iter_{k}"):
                    branches = []
                    for side, i in (("left", 2 * k), ("right", 2 * k + 1)):
                        index = self._hiddenstate_indices[i]
                        with tf.variable_scope(side):
                            # Only the operations on the cell's inputs stride.
                            branches.append(self._apply_conv_operation(
                                states[index], self._operations[i], stride, index < 2, current_step))
                    with tf.variable_scope("combine"):
                        state = branches[0] + branches[1]
                        if self._use_bounded_activation:
                            state = tf.nn.relu6(state)
                    states.append(state)
            with tf.variable_scope("cell_output"):
                return self._combine_unused_states(states)

    def _reduce_prev_layer(self, prev_layer, curr_layer):
        """`prev_layer` at `curr_layer`'s width and this cell's channel count (itself if it already
        is; `curr_layer` when there is none)."""
        if prev_layer is None:
            return curr_layer
        if int(curr_layer.shape[2]) != int(prev_layer.shape[2]):
            return factorized_reduction(self._relu(prev_layer), self._filter_size, stride=2)
        if get_channel_dim(prev_layer.shape) != self._filter_size:
            return self._conv_bn(self._relu(prev_layer), 1, "prev_1x1", "prev_bn")
        return prev_layer

    def _cell_base(self, net, prev_layer):
        """The two input hidden states: `net` through ReLU, a 1x1 conv and batch norm; `prev_layer`
        matched to it."""
        prev_layer = self._reduce_prev_layer(prev_layer, net)
        net = self._conv_bn(self._relu(net), 1, "1x1", "beginning_bn")
        return [net, prev_layer]

    def _apply_conv_operation(self, net, operation, stride, is_from_original_input, current_step):
        """One operation of a comb_iter on hidden state `net`."""
        if not is_from_original_input:
            stride = 1
        kind, kernel, layers = _parse_operation(operation)
        in_filters = get_channel_dim(net.shape)
        if kind == "separable":
            for layer in range(1, layers + 1):
                net = self._relu(net)
                net = separable_conv2d(net, self._filter_size, kernel, depth_multiplier=1, stride=stride,
                                            scope=f"separable_{kernel}x{kernel}_{layer}")
                net = format_batch_norm(net, f"bn_sep_{kernel}x{kernel}_{layer}")
                stride = 1  # only the first layer strides
            net = self._clip(net)
        elif kind == "none":
            if self._use_bounded_activation:
                net = tf.nn.relu6(net)
            if stride > 1 or in_filters != self._filter_size:
                if not self._use_bounded_activation:
                    net = tf.nn.relu(net)
                net = self._clip(self._conv_bn(net, stride, "1x1", "bn_1"))
        else:
            if self._use_bounded_activation:
                net = tf.nn.relu6(net)
            pool = slim.avg_pool2d if kind == "avg" else slim.max_pool2d
            net = pool(net, kernel, stride=stride, padding="SAME")
            if in_filters != self._filter_size:
                net = self._conv_bn(net, 1, "1x1", "bn_1")
            net = self._clip(net)
        if kind != "none":
            net = self._apply_drop_path(net, current_step=current_step)
        return net

    def _combine_unused_states(self, net):
        """The unused hidden states, each brought to the last state's size and width, concatenated."""
        last = net[-1]
        width, filters = int(last.shape[2]), get_channel_dim(last.shape)
        if len(self._used_hiddenstates) != len(net):
            raise ValueError(f"used_hiddenstates has {len(self._used_hiddenstates)} entries for {len(net)} "
                             "hidden states")
        outputs = []
        for idx, (state, used) in enumerate(zip(net, self._used_hiddenstates)):
            if used:
                continue
            state_width = int(state.shape[2])
            if state_width != width or get_channel_dim(state.shape) != filters:
                with tf.variable_scope(f"reduction_{idx}"):
                    state = factorized_reduction(state, filters, 2 if state_width != width else 1)
            outputs.append(state)
        return tf.concat(outputs, axis=get_channel_index())

    @slim.add_arg_scope
    def _apply_drop_path(self, net, current_step=None, use_summaries=False, drop_connect_version="v3"):
        """Drop-path on a branch output when drop_path_keep_prob < 1.

        The keep probability falls linearly from 1 to drop_path_keep_prob with the cell's depth
        (v2: (cell_num + 1) / total_num_cells of the way) and with training progress (v1:
        current_step / total_training_steps, capped at 1; `current_step` defaults to the global
        step, created if there is none); v3 (the default) does both.
        """
        keep_prob = self._drop_path_keep_prob
        if keep_prob >= 1.0:
            return net
        if drop_connect_version not in ("v1", "v2", "v3"):
            raise ValueError(f"drop_connect_version must be 'v1', 'v2' or 'v3', got {drop_connect_version!r}")
        if drop_connect_version in ("v2", "v3"):
            if self._cell_num == -1:
                raise ValueError("drop-path by depth needs the cell's cell_num")
            layer_ratio = (self._cell_num + 1) / float(self._total_num_cells)
            if use_summaries:
                with tf.device("/cpu:0"):
                    tf.summary.scalar("layer_ratio", layer_ratio)
            keep_prob = 1 - layer_ratio * (1 - keep_prob)
        if drop_connect_version in ("v1", "v3"):
            if current_step is None:
                current_step = tf.train.get_or_create_global_step()
            ratio = tf.minimum(1.0, tf.cast(current_step, tf.float32) / self._total_training_steps)
            if use_summaries:
                with tf.device("/cpu:0"):
                    tf.summary.scalar("current_ratio", ratio)
            keep_prob = 1 - ratio * (1 - keep_prob)
        if use_summaries:
            with tf.device("/cpu:0"):
                tf.summary.scalar("drop_path_keep_prob", keep_prob)
        return drop_path(net, keep_prob)


class NasNetANormalCell(NasNetABaseCell):
    """NASNet-A's normal cell: six concatenated states, so 6 x its width channels out."""

    def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells, total_training_steps,
                 use_bounded_activation=False):
        operations = ["separable_5x5_2", "separable_3x3_2",
                      "separable_5x5_2", "separable_3x3_2",
                      "avg_pool_3x3", "none",
                      "avg_pool_3x3", "avg_pool_3x3",
                      "separable_3x3_2", "none"]
        super(NasNetANormalCell, self).__init__(
            num_conv_filters, operations, [1, 0, 0, 0, 0, 0, 0], [0, 1, 1, 1, 0, 1, 1, 1, 0, 0],
            drop_path_keep_prob, total_num_cells, total_training_steps, use_bounded_activation)


class NasNetAReductionCell(NasNetABaseCell):
    """NASNet-A's reduction cell (used with stride 2): four concatenated states."""

    def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells, total_training_steps,
                 use_bounded_activation=False):
        operations = ["separable_5x5_2", "separable_7x7_2",
                      "max_pool_3x3", "separable_7x7_2",
                      "avg_pool_3x3", "separable_5x5_2",
                      "none", "avg_pool_3x3",
                      "separable_3x3_2", "max_pool_3x3"]
        super(NasNetAReductionCell, self).__init__(
            num_conv_filters, operations, [1, 1, 1, 0, 0, 0, 0], [0, 1, 0, 1, 0, 1, 3, 2, 2, 0],
            drop_path_keep_prob, total_num_cells, total_training_steps, use_bounded_activation)

