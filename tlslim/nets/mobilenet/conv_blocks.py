"""The layers MobileNet v2 and v3 are made of, with the API of research/slim's
`nets/mobilenet/conv_blocks.py`.

- `expanded_conv`: the inverted residual block (MobileNet v2, Sandler et al. 2018,
  arXiv:1801.04381): an optional 1x1 'expand' conv widening the input (by `expansion_size`,
  usually `expand_input_by_factor(6)`), a 'depthwise' kxk conv on the wide tensor, a linear
  1x1 'project' conv down to `num_outputs`, and the input added back when stride is 1 and the
  depths match. Its intermediate tensors are named `expansion_output`, `depthwise_output` and
  `output` inside the block's scope, which `mobilenet_base` turns into end points.
- `squeeze_excite`: MobileNet v3's channel gating (Howard et al. 2019, arXiv:1905.02244).
- `split_conv` / `split_separable_conv2d`: grouped 1x1 convs and the MobileNet v1 style layer.

The blocks call whatever normalizer they are given (tlslim.layers.batch_norm in the nets here);
they build the same variables under the same scopes as slim's.
"""
import contextlib
import functools

from tlslim.compat import slim, tf

__all__ = ["expand_input_by_factor", "expanded_conv", "split_conv", "split_separable_conv2d", "squeeze_excite"]


def _fixed_padding(inputs, kernel_size, rate=1):
    """Zero-pad H and W so that a VALID conv gives a SAME conv's output size. Like slim, both axes
    are padded for kernel_size[0] (dilated by `rate`): every MobileNet kernel is square."""
    effective = kernel_size[0] + (kernel_size[0] - 1) * (rate - 1)
    before = (effective - 1) // 2
    after = effective - 1 - before
    return tf.pad(inputs, [[0, 0], [before, after], [before, after], [0, 0]])


def _make_divisible(v, divisor, min_value=None):
    """`v` rounded to the nearest multiple of `divisor` (at least `min_value`, default `divisor`),
    one multiple more when rounding lost over 10% of `v`."""
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(v + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * v:
        rounded += divisor
    return int(rounded)


def _split_divisible(num, num_ways, divisible_by=8):
    """`num` cut into `num_ways` near-equal parts, each a multiple of `divisible_by`."""
    assert num % divisible_by == 0
    assert num / num_ways >= divisible_by
    base = num // num_ways // divisible_by * divisible_by
    parts, total = [], 0
    for i in range(num_ways):
        part = base
        # Grow this part until the running total reaches its even share.
        while total + part < num * (i + 1) / num_ways:
            part += divisible_by
        parts.append(part)
        total += part
    assert total == num
    return parts


@contextlib.contextmanager
def _v1_compatible_scope_naming(scope):
    """Yield the prefix of a separable layer's two scopes: '<scope>_' (MobileNet v1 checkpoints'
    'Conv2d_<i>_depthwise' / '_pointwise'), or '' inside a fresh 'separable[_N]' scope."""
    if scope is None:
        with tf.variable_scope(None, default_name="separable") as s, tf.name_scope(s.original_name_scope):
            yield ""
    else:
        yield scope + "_"


@slim.add_arg_scope
def split_separable_conv2d(input_tensor, num_outputs, scope=None, normalizer_fn=None, stride=1, rate=1,
                           endpoints=None, use_explicit_padding=False):
    """MobileNet v1's layer: a 3x3 depthwise conv and a 1x1 conv, each with `normalizer_fn` and the
    arg scope's activation (unlike slim.separable_conv2d, which normalizes only the result)."""
    with _v1_compatible_scope_naming(scope) as prefix:
        endpoints = endpoints if endpoints is not None else {}
        kernel_size = [3, 3]
        padding = "SAME"
        if use_explicit_padding:
            padding = "VALID"
            input_tensor = _fixed_padding(input_tensor, kernel_size, rate)
        depthwise_scope = prefix + "depthwise"
        net = slim.separable_conv2d(input_tensor, None, kernel_size, depth_multiplier=1, stride=stride, rate=rate,
                                    normalizer_fn=normalizer_fn, padding=padding, scope=depthwise_scope)
        endpoints[depthwise_scope] = net
        pointwise_scope = prefix + "pointwise"
        net = slim.conv2d(net, num_outputs, [1, 1], stride=1, normalizer_fn=normalizer_fn, scope=pointwise_scope)
        endpoints[pointwise_scope] = net
    return net


def expand_input_by_factor(n, divisible_by=8):
    """An `expansion_size` callable: the block's input depth times `n`, made divisible."""
    return lambda num_inputs, **_: _make_divisible(num_inputs * n, divisible_by)


def split_conv(input_tensor, num_outputs, num_ways, scope, divisible_by=8, **kwargs):
    """A 1x1 conv (`scope`) cut into `num_ways` groups, group i mapping the i-th slice of the input
    channels to the i-th slice of the outputs ('<scope>_part_<i>'); a plain slim.conv2d when
    num_ways is 1 or a group would get fewer than `divisible_by` channels on either side.
    kwargs go to slim.conv2d."""
    depth_in = input_tensor.get_shape().as_list()[3]
    if num_ways == 1 or min(depth_in // num_ways, num_outputs // num_ways) < divisible_by:
        return slim.conv2d(input_tensor, num_outputs, [1, 1], scope=scope, **kwargs)
    pieces = tf.split(input_tensor, _split_divisible(depth_in, num_ways, divisible_by=divisible_by), axis=3,
                      name="split_" + scope)
    widths = _split_divisible(num_outputs, num_ways, divisible_by=divisible_by)
    outs = []
    for i, (piece, width) in enumerate(zip(pieces, widths)):
        part = f"{scope}_part_{i}"
        outs.append(tf.identity(slim.conv2d(piece, width, [1, 1], scope=part, **kwargs), part + "_output"))
    # slim names the concat after the last part.
    return tf.concat(outs, 3, name=part + "_concat")


@slim.add_arg_scope
def expanded_conv(input_tensor,
                  num_outputs,
                  expansion_size=expand_input_by_factor(6),
                  stride=1,
                  rate=1,
                  kernel_size=(3, 3),
                  residual=True,
                  normalizer_fn=None,
                  split_projection=1,
                  split_expansion=1,
                  split_divisible_by=8,
                  expansion_transform=None,
                  depthwise_location="expansion",
                  depthwise_channel_multiplier=1,
                  endpoints=None,
                  use_explicit_padding=False,
                  padding="SAME",
                  inner_activation_fn=None,
                  depthwise_activation_fn=None,
                  project_activation_fn=tf.identity,
                  depthwise_fn=slim.separable_conv2d,
                  expansion_fn=split_conv,
                  projection_fn=split_conv,
                  scope=None):
    """The inverted residual block: [1x1 'expand'] -> kxk 'depthwise' -> 1x1 linear 'project'
    [+ input] -> tensor of depth `num_outputs`, in scope `scope` (default 'expanded_conv[_N]').

    expansion_size: the expanded depth, or a callable given `num_inputs=` (the input depth); no
    'expand' conv when it is not larger than the input depth. depthwise_location: where the
    depthwise conv goes, 'expansion' (after expand), 'input', 'output' or None (none).
    expansion_transform(expansion_tensor=, input_tensor=): applied after the depthwise conv
    (MobileNet v3's squeeze-excite). residual: True adds the input when stride is 1 and the depths
    match; a callable(input_tensor=, output_tensor=) combines them itself.
    inner_activation_fn / depthwise_activation_fn: the activation of the expand and depthwise
    convs (the latter taking precedence for depthwise); None keeps the arg scope's.
    project_activation_fn: the projection's (linear: tf.identity). endpoints: a dict that gets
    'expansion_output', 'depthwise_output' and 'projection_output' where those exist.
    use_explicit_padding pads before a VALID depthwise conv (needs padding='SAME').
    TypeError for an unknown depthwise_location.
    """
    conv_defaults, depthwise_defaults = {}, {}
    if inner_activation_fn is not None:
        conv_defaults["activation_fn"] = depthwise_defaults["activation_fn"] = inner_activation_fn
    if depthwise_activation_fn is not None:
        depthwise_defaults["activation_fn"] = depthwise_activation_fn
    with tf.variable_scope(scope, default_name="expanded_conv") as s, tf.name_scope(s.original_name_scope), \
            slim.arg_scope((slim.conv2d,), **conv_defaults), \
            slim.arg_scope((slim.separable_conv2d,), **depthwise_defaults):
        depth_in = input_tensor.get_shape().as_list()[3]
        if depthwise_location not in (None, "input", "output", "expansion"):
            raise TypeError("%r is unknown value for depthwise_location" % depthwise_location)
        if use_explicit_padding:
            if padding != "SAME":
                raise TypeError('`use_explicit_padding` should only be used with "SAME" padding.')
            padding = "VALID"

        def depthwise(net, **overrides):
            if use_explicit_padding:
                net = _fixed_padding(net, kernel_size, rate)
            # num_outputs=None: the depthwise half of a separable conv only.
            net = depthwise_fn(net, num_outputs=None, kernel_size=kernel_size,
                               depth_multiplier=depthwise_channel_multiplier, stride=stride, rate=rate,
                               normalizer_fn=normalizer_fn, padding=padding, scope="depthwise", **overrides)
            net = tf.identity(net, name="depthwise_output")
            if endpoints is not None:
                endpoints["depthwise_output"] = net
            return net

        def one_by_one(fn, split, net, depth, scope_name, **kwargs):
            # The split / divisible settings belong to split_conv; a custom fn gets neither.
            if fn is split_conv:
                fn = functools.partial(split_conv, num_ways=split, divisible_by=split_divisible_by, stride=1)
            return fn(net, depth, scope=scope_name, normalizer_fn=normalizer_fn, **kwargs)

        input_tensor = tf.identity(input_tensor, "input")
        net = input_tensor
        if depthwise_location == "input":
            net = depthwise(net, activation_fn=None)

        inner_size = expansion_size(num_inputs=depth_in) if callable(expansion_size) else expansion_size
        if inner_size > net.shape[3]:
            net = one_by_one(expansion_fn, split_expansion, net, inner_size, "expand")
            net = tf.identity(net, "expansion_output")
            if endpoints is not None:
                endpoints["expansion_output"] = net

        if depthwise_location == "expansion":
            net = depthwise(net)
        if expansion_transform:
            net = expansion_transform(expansion_tensor=net, input_tensor=input_tensor)
        # The projection always runs: it gives the block its output depth.
        net = one_by_one(projection_fn, split_projection, net, num_outputs, "project",
                         activation_fn=project_activation_fn)
        if endpoints is not None:
            endpoints["projection_output"] = net
        if depthwise_location == "output":
            net = depthwise(net, activation_fn=None)

        if callable(residual):
            net = residual(input_tensor=input_tensor, output_tensor=net)
        elif (residual and stride == 1
              and net.get_shape().as_list()[3] == input_tensor.get_shape().as_list()[3]):
            net += input_tensor
        return tf.identity(net, name="output")


@slim.add_arg_scope
def squeeze_excite(input_tensor, divisible_by=8, squeeze_factor=3, inner_activation_fn=tf.nn.relu,
                   gating_fn=tf.sigmoid, squeeze_input_tensor=None, pool=None):
    """`input_tensor` times a per-channel gate, in scope 'squeeze_excite': the mean of
    `squeeze_input_tensor` (default the input) over the whole map (or over `pool` x `pool`
    windows, resized back, when the map is at least that tall), a 1x1 conv 'Conv' to its depth
    / `squeeze_factor` (made divisible) with `inner_activation_fn`, a 1x1 conv 'Conv_1' back to
    the input's depth with `gating_fn`. Both convs have biases and no normalizer."""
    with tf.variable_scope("squeeze_excite"):
        if squeeze_input_tensor is None:
            squeeze_input_tensor = input_tensor
        input_size = input_tensor.shape.as_list()[1:3]
        pool_height, pool_width = squeeze_input_tensor.shape.as_list()[1:3]
        pool_stride = 1
        if pool is not None and pool_height >= pool:
            pool_height, pool_width, pool_stride = pool, pool, pool
        squeeze_channels = _make_divisible(squeeze_input_tensor.shape.as_list()[3] / squeeze_factor,
                                           divisor=divisible_by)
        if pool is None:
            # A mean over H and W: the map's size need not be known when the graph is built.
            pooled = tf.reduce_mean(squeeze_input_tensor, axis=[1, 2], keepdims=True)
        else:
            pooled = tf.nn.avg_pool(squeeze_input_tensor, (1, pool_height, pool_width, 1),
                                    strides=(1, pool_stride, pool_stride, 1), padding="VALID")
        squeeze = slim.conv2d(pooled, kernel_size=(1, 1), num_outputs=squeeze_channels, normalizer_fn=None,
                              activation_fn=inner_activation_fn)
        excite = slim.conv2d(squeeze, num_outputs=input_tensor.shape.as_list()[3], kernel_size=[1, 1],
                             normalizer_fn=None, activation_fn=gating_fn)
        if pool is not None:
            # Bilinear with aligned corners, as slim (the variant with gradients on TPU).
            excite = tf.image.resize_images(excite, input_size, align_corners=True)
        return input_tensor * excite
