"""The generic MobileNet builder of research/slim's `nets/mobilenet/mobilenet.py`: a net is a
`conv_defs` dict, and `mobilenet_base` / `mobilenet` build it.

    conv_defs = {'defaults': {(fn, ...): {arg: value}},    # arg scopes around the whole net
                 'overrides': {...},                        # optional, applied after defaults
                 'spec': [op(fn, **params), ...]}           # one layer each, in order

Each `op` is built as fn(net, **params) after its `multiplier_func` (default `depth_multiplier`:
num_outputs * multiplier made divisible by 8, at least 8; both settable through
`slim.arg_scope([depth_multiplier], ...)`) has scaled `num_outputs`. Layer i+1's output is end
point 'layer_<i+1>', and every op named '...output' directly in that layer's scope is end point
'layer_<i+1>/<op name>' (an expanded_conv's 'expansion_output', 'depthwise_output', 'output').
`mobilenet` adds the head: a global average pool ('global_pool', kernel = the whole final map,
so any input size gives [B, 1, 1, C]), dropout ('Logits/Dropout', is_training only) and the 1x1
conv 'Logits/Conv2d_1c_1x1' (with biases), squeezed to [B, num_classes] ('Logits'), and
'Predictions'. The nets build in inference mode unless `is_training` (or `training_scope()`)
says otherwise. Batch norm is tlslim.layers.batch_norm, where slim used slim.batch_norm.
"""
import collections
import contextlib
import copy
import os

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.mobilenet.conv_blocks import _fixed_padding, _make_divisible

__all__ = ["apply_activation", "depth_multiplier", "op", "NoOpScope", "safe_arg_scope", "mobilenet_base", "mobilenet",
           "global_pool", "training_scope"]


@slim.add_arg_scope
def apply_activation(x, name=None, activation_fn=None):
    """activation_fn(x, name=name), or x when there is no activation."""
    return activation_fn(x, name=name) if activation_fn else x


@contextlib.contextmanager
def _set_arg_scope_defaults(defaults):
    """Enter slim.arg_scope(funcs, **args) for each (funcs, args) of `defaults` (a dict or a list of
    pairs), in order, so a later entry wins for a function both set."""
    items = list(defaults.items()) if hasattr(defaults, "items") else list(defaults)
    with contextlib.ExitStack() as stack:
        for funcs, args in items:
            stack.enter_context(slim.arg_scope(funcs, **args))
        yield


@slim.add_arg_scope
def depth_multiplier(output_params, multiplier, divisible_by=8, min_depth=8, **unused_kwargs):
    """Scale output_params['num_outputs'] (in place, when present) by `multiplier`, made divisible
    by `divisible_by` and at least `min_depth`."""
    if "num_outputs" not in output_params:
        return
    output_params["num_outputs"] = _make_divisible(output_params["num_outputs"] * multiplier, divisible_by,
                                                   min_depth)


_Op = collections.namedtuple("Op", ["op", "params", "multiplier_func"])


def op(opfunc, multiplier_func=depth_multiplier, **params):
    """One layer of a conv_defs spec: opfunc(net, **params), its depth scaled by multiplier_func
    (params may also name it 'multiplier_transform', which wins)."""
    multiplier = params.pop("multiplier_transform", multiplier_func)
    return _Op(opfunc, params=params, multiplier_func=multiplier)


class NoOpScope(object):
    """A context manager that does nothing."""

    def __enter__(self):
        return None

    def __exit__(self, exc_type, exc_value, traceback):
        return False


def safe_arg_scope(funcs, **kwargs):
    """slim.arg_scope(funcs, **kwargs) without the None-valued kwargs (None means 'leave the
    argument alone'); a NoOpScope when none are left."""
    given = {name: value for name, value in kwargs.items() if value is not None}
    return slim.arg_scope(funcs, **given) if given else NoOpScope()


@contextlib.contextmanager
def _scope_all(scope, default_scope=None):
    """The variable scope `scope` (default name `default_scope`) and its original name scope."""
    with tf.variable_scope(scope, default_name=default_scope) as s, tf.name_scope(s.original_name_scope):
        yield s


@slim.add_arg_scope
def mobilenet_base(inputs, conv_defs, multiplier=1.0, final_endpoint=None, output_stride=None,
                   use_explicit_padding=False, scope=None, is_training=False):
    """The layers of `conv_defs` from `inputs` up to `final_endpoint` ('layer_<i>'; default all)
    -> (net, end_points), in scope `scope` (default 'Mobilenet').

    multiplier: the depth multiplier (> 0). output_stride (None, 1 or even): once the layers'
    strides reach it, later strides become atrous rates (kernels other than 1x1).
    use_explicit_padding: convs pad explicitly and convolve VALID. is_training: batch norm's mode
    (None leaves it to the arg scope). ValueError for a multiplier <= 0 or another output_stride.
    """
    if multiplier <= 0:
        raise ValueError("multiplier is not greater than zero.")
    defaults = conv_defs.get("defaults", {})
    overrides = conv_defs.get("overrides", {})
    if use_explicit_padding:
        overrides = copy.deepcopy(overrides)
        overrides[(slim.conv2d, slim.separable_conv2d)] = {"padding": "VALID"}
    if output_stride is not None and (output_stride == 0 or (output_stride > 1 and output_stride % 2)):
        raise ValueError("Output stride must be None, 1 or a multiple of 2.")

    with _scope_all(scope, default_scope="Mobilenet"), \
            safe_arg_scope([batch_norm], is_training=is_training), \
            _set_arg_scope_defaults(defaults), \
            _set_arg_scope_defaults(overrides):
        # stride_so_far: the input/output size ratio reached; once it equals output_stride, later
        # strides multiply the atrous rate instead.
        stride_so_far, rate = 1, 1
        net = inputs
        end_points = {}
        layer_of_scope = {}
        for i, opdef in enumerate(conv_defs["spec"]):
            params = dict(opdef.params)
            opdef.multiplier_func(params, multiplier)
            stride = params.get("stride", 1)
            if output_stride is not None and stride_so_far == output_stride:
                layer_stride, layer_rate = 1, rate
                rate *= stride
            else:
                layer_stride, layer_rate = stride, 1
                stride_so_far *= stride
            params["stride"] = layer_stride
            # A 1x1 kernel gains nothing from dilation; a layer without kernel_size is 3x3.
            if layer_rate > 1 and tuple(params.get("kernel_size", [])) != (1, 1):
                params["rate"] = layer_rate
            if use_explicit_padding:
                if "kernel_size" in params:
                    net = _fixed_padding(net, params["kernel_size"], layer_rate)
                else:
                    params["use_explicit_padding"] = True

            end_point = "layer_%d" % (i + 1)
            try:
                net = opdef.op(net, **params)
            except Exception:
                print("Failed to create op %i: %r params: %r" % (i, opdef, params))
                raise
            end_points[end_point] = net
            layer_of_scope[os.path.dirname(net.name)] = end_point
            if final_endpoint is not None and end_point == final_endpoint:
                break

        # A layer's named intermediate tensors: ops '<layer scope>/<...output>'.
        for graph_op in net.graph.get_operations():
            layer_scope, leaf = os.path.split(graph_op.name)
            if layer_scope in layer_of_scope and graph_op.name.endswith("output"):
                end_points[layer_of_scope[layer_scope] + "/" + leaf] = graph_op.outputs[0]
        return net, end_points


@slim.add_arg_scope
def mobilenet(inputs, num_classes=1001, prediction_fn=slim.softmax, reuse=None, scope="Mobilenet", base_only=False,
              use_reduce_mean_for_pooling=False, **mobilenet_args):
    """`mobilenet_base(inputs, **mobilenet_args)` and the classifier -> (logits [B, num_classes],
    end_points).

    num_classes 0 or None: the pooled features [B, 1, 1, C] (before dropout) are returned
    instead of logits. base_only: return the base's output (no pool, no head).
    use_reduce_mean_for_pooling: pool with tf.reduce_mean instead of an average pool.
    mobilenet_args: conv_defs, multiplier, final_endpoint, output_stride, use_explicit_padding,
    is_training (also the dropout's mode; default False). ValueError for an input not of rank 4.
    """
    is_training = mobilenet_args.get("is_training", False)
    input_shape = inputs.get_shape().as_list()
    if len(input_shape) != 4:
        raise ValueError("Expected rank 4 input, was: %d" % len(input_shape))

    with tf.variable_scope(scope, "Mobilenet", reuse=reuse) as scope:
        inputs = tf.identity(inputs, "input")
        net, end_points = mobilenet_base(inputs, scope=scope, **mobilenet_args)
        if base_only:
            return net, end_points
        net = tf.identity(net, name="embedding")
        with tf.variable_scope("Logits"):
            net = global_pool(net, use_reduce_mean_for_pooling)
            end_points["global_pool"] = net
            if not num_classes:
                return net, end_points
            net = slim.dropout(net, scope="Dropout", is_training=is_training)
            # 'Conv2d_1c_1x1': the scope name of slim's MobileNet v1 head, kept by its checkpoints.
            logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None,
                                 biases_initializer=tf.zeros_initializer(), scope="Conv2d_1c_1x1")
            logits = tf.identity(tf.squeeze(logits, [1, 2]), name="output")
        end_points["Logits"] = logits
        if prediction_fn:
            end_points["Predictions"] = prediction_fn(logits, "Predictions")
    return logits, end_points


def global_pool(input_tensor, use_reduce_mean_for_pooling=False, pool_op=tf.nn.avg_pool2d):
    """The mean of each channel over the whole map -> [B, 1, 1, C]: `pool_op` with a kernel the
    size of the map (its size read at run time when unknown), or tf.reduce_mean
    ('ReduceMean') when use_reduce_mean_for_pooling."""
    if use_reduce_mean_for_pooling:
        return tf.reduce_mean(input_tensor, [1, 2], keepdims=True, name="ReduceMean")
    height, width = input_tensor.get_shape().as_list()[1:3]
    if height is None or width is None:
        dynamic = tf.shape(input_tensor)
        kernel_size = tf.convert_to_tensor([1, dynamic[1], dynamic[2], 1])
    else:
        kernel_size = [1, height, width, 1]
    output = pool_op(input_tensor, ksize=kernel_size, strides=[1, 1, 1, 1], padding="VALID")
    # A run-time kernel leaves the static shape unknown; the result is 1x1 all the same.
    output.set_shape([None, 1, 1, None])
    return output


def training_scope(is_training=True, weight_decay=0.00004, stddev=0.09, dropout_keep_prob=0.8, bn_decay=0.997):
    """slim's MobileNet arg scope, with tlslim's batch_norm as the convs' normalizer.

    is_training: batch norm's, dropout's and mobilenet's / mobilenet_base's mode (None: not set).
    weight_decay: L2 on slim.conv2d weights (not the depthwise ones). stddev: truncated-normal
    initialization (negative: Xavier). dropout_keep_prob / bn_decay: not set when None. It
    changes nothing about the inference graph's variables.
    """
    if stddev < 0:
        initializer = slim.initializers.xavier_initializer()
    else:
        initializer = tf.truncated_normal_initializer(stddev=stddev)
    with slim.arg_scope([slim.conv2d, slim.fully_connected, slim.separable_conv2d],
                        weights_initializer=initializer, normalizer_fn=batch_norm), \
            slim.arg_scope([mobilenet_base, mobilenet], is_training=is_training), \
            safe_arg_scope([batch_norm], decay=bn_decay, is_training=is_training), \
            safe_arg_scope([slim.dropout], is_training=is_training, keep_prob=dropout_keep_prob), \
            slim.arg_scope([slim.conv2d], weights_regularizer=slim.l2_regularizer(weight_decay)), \
            slim.arg_scope([slim.separable_conv2d], weights_regularizer=None) as sc:
        return sc
