"""NASNet-A (Zoph et al. 2017, arXiv:1707.07012) with research/slim's API (`nets/nasnet/nasnet.py`)
and the variable names of slim's released checkpoints: NASNet-A_Mobile_224
(nasnet-a_mobile_04_10_2017.tar.gz) and NASNet-A_Large_331 (nasnet-a_large_04_10_2017.tar.gz),
each a V2 checkpoint `model.ckpt` of 1001 classes (class 0 = background), Inception preprocessing.

    with slim.arg_scope(nasnet.nasnet_mobile_arg_scope()):
        logits, end_points = nasnet.build_nasnet_mobile(images, 1001, is_training=False)

The net has no enclosing variable scope: its variables are 'conv0', 'conv0_bn', 'cell_stem_0',
'cell_stem_1', 'cell_<i>', 'reduction_cell_<k>', the auxiliary head 'aux_<i>' and the classifier
'final_layer/FC'. ImageNet stem: a 3x3/2 VALID conv and two stride-2 reduction cells; then
`num_cells` normal cells with a reduction cell before each third (mobile: 12 cells, 44 filters;
large: 18 cells, 168 filters), ReLU, a global mean ('global_pool'), dropout and the fully
connected 'final_layer/FC'. Convolutions have no biases and are followed by batch norm
(tlslim.layers.batch_norm, where slim used slim.batch_norm; with gamma). The auxiliary head
(5x5/3 VALID average pool, 1x1 conv 'proj', a conv whose kernel is the remaining map, 'FC') reads
the cell before the second reduction; slim builds it only when training, as does this module.
Hyperparameters come in an `HParams` (a stand-in for tf.contrib.training.HParams). Drop-path
(large: keep 0.7) is on only in training; it reads the global step (created if missing, where
slim creates it) unless `current_step` is given.

What tlslim does differently: the convolutions are `nasnet_utils.conv2d` / `separable_conv2d`,
slim's layers (same arguments, arg scopes, variables and ops) without the Keras layer under them,
which makes building a NASNet several times faster; with data_format 'NCHW' each batch norm runs
on the transposed map; `is_training` may be a boolean tensor (then the aux head is built and
drop-path runs where it is true).

Small inputs. The cells are 'SAME' throughout and build at any size; slim's aux head needs a
5x5 map (a 67x67 input) and its conv kernel follows the map, so only inputs near the release
size give the release's kernel (mobile 4x4 at 224, large 6x6 at 331). Where slim's aux pool would
have no output its window is cut to the map, so every size builds; elsewhere slim's graph is
built exactly. `aux_release_shapes=True` (tlslim's keyword; the registry sets it) builds the aux
head in every mode (so inference creates the release's variables too and end_points has
'AuxLogits') and keeps the release kernel at every size: a smaller map is zero-padded to it and a
larger result is averaged to 1x1. The cells keep the release's layers down to 19x19 (below, a
stride-2 cell meets a 1x1 map that it cannot halve, and the next cell builds other layers); the
registry's minimum is 32x32, where the last map is 1x1.

The registry entries (nasnet_mobile, nasnet_large) are at the end of this module.
"""
import copy
import functools
import numbers

from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.nasnet import nasnet_utils
from tlslim.nets.registry import NetInfo, register

__all__ = ["HParams", "cifar_config", "large_imagenet_config", "mobile_imagenet_config", "nasnet_cifar_arg_scope",
           "nasnet_mobile_arg_scope", "nasnet_large_arg_scope", "build_nasnet_cifar", "build_nasnet_mobile",
           "build_nasnet_large"]

arg_scope = slim.arg_scope


class HParams(object):
    """Named hyperparameters, the part of tf.contrib.training.HParams that the NASNet code and
    its users touch: attribute access, `set_hparam` (type-checked as contrib does: no float into
    an int, no number into a bool or a string), `add_hparam`, `values`, `get`, `in`; copy it
    with copy.deepcopy."""

    def __init__(self, **kwargs):
        self._hparam_types = {}
        for name, value in kwargs.items():
            self.add_hparam(name, value)

    def add_hparam(self, name, value):
        if name in self._hparam_types or hasattr(self, name):
            raise ValueError(f"Hyperparameter name is reserved or already set: {name}")
        self._hparam_types[name] = type(value)
        setattr(self, name, value)

    def set_hparam(self, name, value):
        if name not in self._hparam_types:
            raise KeyError(name)
        setattr(self, name, self._cast(name, self._hparam_types[name], value))

    @staticmethod
    def _cast(name, param_type, value):
        if type(value) is param_type or param_type is type(None) or isinstance(value, (list, tuple)):
            return value
        fail = ValueError(f"Could not cast hparam '{name}' of type '{param_type}' from value {value!r}")
        if issubclass(param_type, (str, bytes)) and not isinstance(value, (str, bytes)):
            raise fail
        if issubclass(param_type, bool) != isinstance(value, bool):
            raise fail
        if issubclass(param_type, numbers.Integral) and not isinstance(value, numbers.Integral):
            raise fail
        if issubclass(param_type, numbers.Number) and not isinstance(value, numbers.Number):
            raise fail
        return param_type(value)

    def values(self):
        return {name: getattr(self, name) for name in self._hparam_types}

    def get(self, key, default=None):
        return getattr(self, key) if key in self._hparam_types else default

    def __contains__(self, key):
        return key in self._hparam_types

    def __repr__(self):
        return f"HParams({self.values()!r})"


# The training notes of slim's configs: aux head loss weight 0.4; cifar: batch 32, lr 0.025, cosine
# decay, gradients clipped at 5; ImageNet: label smoothing 0.1, gradients clipped at 10, lr decay
# 0.97 every 2.4 epochs (large: batch 16 x 100 replicas, lr 0.015 x 100; mobile: batch 32 x 50
# replicas, lr 0.04 x 50). total_training_steps sets how fast drop-path reaches its full rate.

def cifar_config():
    return HParams(stem_multiplier=3.0, drop_path_keep_prob=0.6, num_cells=18, use_aux_head=1, num_conv_filters=32,
                   dense_dropout_keep_prob=1.0, filter_scaling_rate=2.0, num_reduction_layers=2, data_format="NHWC",
                   skip_reduction_layer_input=0, total_training_steps=937500, use_bounded_activation=False)


def large_imagenet_config():
    return HParams(stem_multiplier=3.0, dense_dropout_keep_prob=0.5, num_cells=18, filter_scaling_rate=2.0,
                   num_conv_filters=168, drop_path_keep_prob=0.7, use_aux_head=1, num_reduction_layers=2,
                   data_format="NHWC", skip_reduction_layer_input=1, total_training_steps=250000,
                   use_bounded_activation=False)


def mobile_imagenet_config():
    return HParams(stem_multiplier=1.0, dense_dropout_keep_prob=0.5, num_cells=12, filter_scaling_rate=2.0,
                   drop_path_keep_prob=1.0, num_conv_filters=44, use_aux_head=1, num_reduction_layers=2,
                   data_format="NHWC", skip_reduction_layer_input=0, total_training_steps=250000,
                   use_bounded_activation=False)


def _update_hparams(hparams, is_training):
    """No drop-path outside training."""
    if nasnet_utils.static_bool(is_training) is False:
        hparams.set_hparam("drop_path_keep_prob", 1.0)


def _arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon):
    """Convs and separable convs without activation or biases; 'FC' fully connected layers without
    activation; He initialization (fan out) and L2 decay for all three; batch norm with gamma."""
    regularizer = slim.l2_regularizer(float(weight_decay))
    initializer = slim.variance_scaling_initializer(mode="FAN_OUT")
    with arg_scope([slim.fully_connected, slim.conv2d, slim.separable_conv2d],
                   weights_regularizer=regularizer, weights_initializer=initializer):
        with arg_scope([slim.fully_connected], activation_fn=None, scope="FC"):
            with arg_scope([slim.conv2d, slim.separable_conv2d], activation_fn=None, biases_initializer=None):
                with arg_scope([batch_norm], decay=batch_norm_decay, epsilon=batch_norm_epsilon, scale=True,
                               fused=True) as sc:
                    return sc


def nasnet_cifar_arg_scope(weight_decay=5e-4, batch_norm_decay=0.9, batch_norm_epsilon=1e-5):
    """The arg scope of NASNet-A for CIFAR (see `_arg_scope`)."""
    return _arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def nasnet_mobile_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=1e-3):
    """The arg scope of NASNet-A Mobile (see `_arg_scope`)."""
    return _arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def nasnet_large_arg_scope(weight_decay=5e-5, batch_norm_decay=0.9997, batch_norm_epsilon=1e-3):
    """The arg scope of NASNet-A Large (see `_arg_scope`)."""
    return _arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def _activation(hparams):
    return tf.nn.relu6 if hparams.use_bounded_activation else tf.nn.relu


def _spatial(net, data_format):
    """[height, width] of `net` (None where unknown)."""
    dims = net.shape[1:3] if data_format == nasnet_utils.DATA_FORMAT_NHWC else net.shape[2:4]
    return [None if d is None else int(d) for d in dims]


def _aux_kernel_at(image_size, hparams, stem_type):
    """The kernel of the aux head's conv in slim's graph at `image_size` (the map left by its
    5x5/3 VALID pool): 4 for the mobile nets at 224, 6 for the large ones at 331."""
    size = image_size
    if stem_type == "imagenet":
        size = nasnet_utils.ceil_half(nasnet_utils.ceil_half((size - 3) // 2 + 1))
    reductions = nasnet_utils.calc_reduction_layers(hparams.num_cells, hparams.num_reduction_layers)
    for cell_num in range(reductions[1]):
        if cell_num in reductions:
            size = nasnet_utils.ceil_half(size)
    return (size - 5) // 3 + 1


def _build_aux_head(net, end_points, num_classes, hparams, scope, release_kernel=None):
    """The auxiliary classifier on `net` -> end_points['AuxLogits'] ([batch, num_classes]).

    release_kernel: tlslim's; keep the conv at that kernel whatever the map (see the module doc).
    """
    activation_fn = _activation(hparams)
    data_format = hparams.data_format
    with tf.variable_scope(scope):
        aux = tf.identity(net)
        with tf.variable_scope("aux_logits"):
            # slim's 5x5 window; cut to the map only where slim's pool would have no output.
            window = [5 if d is None else min(d, 5) for d in _spatial(aux, data_format)]
            aux = slim.avg_pool2d(aux, window, stride=3, padding="VALID")
            aux = nasnet_utils.conv2d(aux, 128, [1, 1], scope="proj")
            aux = nasnet_utils.format_batch_norm(aux, "aux_bn0")
            aux = activation_fn(aux)
            if release_kernel is None:
                kernel = _spatial(aux, data_format)  # slim's: the whole map
            else:
                kernel = [release_kernel, release_kernel]
                aux = _pad_to_kernel(aux, kernel, data_format)
            aux = nasnet_utils.conv2d(aux, 768, kernel, padding="VALID")
            aux = nasnet_utils.format_batch_norm(aux, "aux_bn1")
            aux = activation_fn(aux)
            if release_kernel is not None and _spatial(aux, data_format) != [1, 1]:
                # A map larger than the kernel: one value per channel, as the main head.
                axes = [1, 2] if data_format == nasnet_utils.DATA_FORMAT_NHWC else [2, 3]
                aux = tf.reduce_mean(aux, axes, keepdims=True, name="GlobalPool")
            aux = slim.flatten(aux)
            aux = slim.fully_connected(aux, num_classes)
            end_points["AuxLogits"] = aux


def _pad_to_kernel(net, kernel, data_format):
    """Zero-pad each known spatial side shorter than `kernel` up to it (the extra pixel after, as
    SAME padding puts it), so a VALID conv with that kernel gives one output there."""
    pads = []
    for d, k in zip(_spatial(net, data_format), kernel):
        missing = 0 if d is None else max(k - d, 0)
        pads.append([missing // 2, missing - missing // 2])
    if not any(before or after for before, after in pads):
        return net
    if data_format == nasnet_utils.DATA_FORMAT_NHWC:
        return tf.pad(net, [[0, 0]] + pads + [[0, 0]])
    return tf.pad(net, [[0, 0], [0, 0]] + pads)


def _imagenet_stem(inputs, hparams, stem_cell, current_step=None):
    """conv0 (3x3/2 VALID) and conv0_bn, then cell_stem_0 and cell_stem_1 (stride 2, a quarter and a
    half of the net's width) -> (net, [None, conv0 output, stem outputs...])."""
    net = nasnet_utils.conv2d(inputs, int(32 * hparams.stem_multiplier), [3, 3], stride=2, scope="conv0",
                              padding="VALID")
    net = nasnet_utils.format_batch_norm(net, "conv0_bn")
    cell_outputs = [None, net]
    filter_scaling = 1.0 / (hparams.filter_scaling_rate ** 2)
    for cell_num in range(2):
        net = stem_cell(net, scope=f"cell_stem_{cell_num}", filter_scaling=filter_scaling, stride=2,
                        prev_layer=cell_outputs[-2], cell_num=cell_num, current_step=current_step)
        cell_outputs.append(net)
        filter_scaling *= hparams.filter_scaling_rate
    return net, cell_outputs


def _cifar_stem(inputs, hparams):
    """A 3x3 conv 'l1_stem_3x3' and batch norm -> (net, [None, net])."""
    net = nasnet_utils.conv2d(inputs, int(hparams.num_conv_filters * hparams.stem_multiplier), 3,
                              scope="l1_stem_3x3")
    net = nasnet_utils.format_batch_norm(net, "l1_stem_bn")
    return net, [None, net]


def _prepare(hparams, images, is_training):
    """The images in the config's data format."""
    _update_hparams(hparams, is_training)
    if hparams.data_format == nasnet_utils.DATA_FORMAT_NCHW:
        images = tf.transpose(images, [0, 3, 1, 2])
    return images


def _scopes(hparams, is_training):
    """slim's two arg scopes: is_training for dropout, drop-path and batch norm; data_format for
    every layer and helper that reads it."""
    outer = arg_scope([slim.dropout, nasnet_utils.drop_path, batch_norm], is_training=is_training)
    inner = arg_scope([slim.avg_pool2d, slim.max_pool2d, slim.conv2d, nasnet_utils.format_batch_norm,
                       slim.separable_conv2d, nasnet_utils.factorized_reduction, nasnet_utils.global_avg_pool,
                       nasnet_utils.get_channel_index, nasnet_utils.get_channel_dim],
                      data_format=hparams.data_format)
    return outer, inner


def _cells(hparams, total_num_cells):
    args = (hparams.num_conv_filters, hparams.drop_path_keep_prob, total_num_cells, hparams.total_training_steps,
            hparams.use_bounded_activation)
    return nasnet_utils.NasNetANormalCell(*args), nasnet_utils.NasNetAReductionCell(*args)


def _build(images, num_classes, is_training, config, default_config, stem_type, final_endpoint, current_step,
           aux_release_size):
    hparams = default_config() if config is None else copy.deepcopy(config)
    images = _prepare(hparams, images, is_training)
    # Two reduction cells among the cells, and two more in an ImageNet stem.
    total_num_cells = hparams.num_cells + 2 + (2 if stem_type == "imagenet" else 0)
    normal_cell, reduction_cell = _cells(hparams, total_num_cells)
    outer, inner = _scopes(hparams, is_training)
    with outer, inner:
        return _build_nasnet_base(images, normal_cell=normal_cell, reduction_cell=reduction_cell,
                                  num_classes=num_classes, hparams=hparams, is_training=is_training,
                                  stem_type=stem_type, final_endpoint=final_endpoint, current_step=current_step,
                                  aux_release_size=aux_release_size)


def build_nasnet_cifar(images, num_classes, is_training=True, config=None, current_step=None):
    """NASNet-A for CIFAR (32x32; a 3x3 conv stem, 18 cells of 32 filters) -> (logits, end_points)."""
    return _build(images, num_classes, is_training, config, cifar_config, "cifar", None, current_step, None)


build_nasnet_cifar.default_image_size = 32


def build_nasnet_mobile(images, num_classes, is_training=True, final_endpoint=None, config=None, current_step=None,
                        *, aux_release_shapes=False):
    """NASNet-A Mobile (224x224) -> (logits, end_points); see the module doc.

    With num_classes 0 or None: (the pooled features [batch, 1056], end_points). final_endpoint
    (an end_points key) stops there and returns (that tensor, end_points), except that 'Logits'
    and 'Predictions' return the classifier's input, as slim does. aux_release_shapes: tlslim's.
    """
    return _build(images, num_classes, is_training, config, mobile_imagenet_config, "imagenet", final_endpoint,
                  current_step, build_nasnet_mobile.default_image_size if aux_release_shapes else None)


build_nasnet_mobile.default_image_size = 224


def build_nasnet_large(images, num_classes, is_training=True, final_endpoint=None, config=None, current_step=None,
                       *, aux_release_shapes=False):
    """NASNet-A Large (331x331) -> (logits, end_points); as build_nasnet_mobile (features [batch, 4032])."""
    return _build(images, num_classes, is_training, config, large_imagenet_config, "imagenet", final_endpoint,
                  current_step, build_nasnet_large.default_image_size if aux_release_shapes else None)


build_nasnet_large.default_image_size = 331


def _wants_aux(hparams, num_classes, is_training, aux_release_size):
    """slim builds the aux head when training; the release-shapes mode (or a tensor is_training,
    which slim does not take) builds it in every mode."""
    return bool(hparams.use_aux_head and num_classes) and (
        aux_release_size is not None or nasnet_utils.static_bool(is_training) is not False)


def _final_layer(net, num_classes, hparams, add_and_check_endpoint):
    """ReLU, global mean, dropout and 'FC' under 'final_layer' -> (output, end_points done?)."""
    with tf.variable_scope("final_layer"):
        net = _activation(hparams)(net)
        net = nasnet_utils.global_avg_pool(net)
        if add_and_check_endpoint("global_pool", net) or not num_classes:
            return net
        net = slim.dropout(net, hparams.dense_dropout_keep_prob, scope="dropout")
        logits = slim.fully_connected(net, num_classes)
        # slim returns the classifier's input when stopping at Logits or Predictions.
        if add_and_check_endpoint("Logits", logits):
            return net
        predictions = tf.nn.softmax(logits, name="predictions")
        if add_and_check_endpoint("Predictions", predictions):
            return net
    return logits


def _endpoint_recorder(end_points, final_endpoint):
    def add_and_check_endpoint(name, net):
        end_points[name] = net
        return bool(final_endpoint) and name == final_endpoint
    return add_and_check_endpoint


def _build_nasnet_base(images, normal_cell, reduction_cell, num_classes, hparams, is_training, stem_type,
                       final_endpoint=None, current_step=None, aux_release_size=None):
    """The stem, the cells (a reduction cell before each of `calc_reduction_layers`' indices), the
    aux head after the cell before the second reduction, and the final layer."""
    end_points = {}
    add_and_check_endpoint = _endpoint_recorder(end_points, final_endpoint)
    reduction_indices = nasnet_utils.calc_reduction_layers(hparams.num_cells, hparams.num_reduction_layers)
    if stem_type == "imagenet":
        # As in slim, the stem cells read the global step for drop-path even when current_step is given.
        net, cell_outputs = _imagenet_stem(images, hparams, reduction_cell)
    elif stem_type == "cifar":
        net, cell_outputs = _cifar_stem(images, hparams)
    else:
        raise ValueError("Unknown stem_type: ", stem_type)
    if add_and_check_endpoint("Stem", net):
        return net, end_points

    aux_cells = [reduction_indices[1] - 1] if len(reduction_indices) >= 2 else []
    build_aux = _wants_aux(hparams, num_classes, is_training, aux_release_size)
    release_kernel = None if aux_release_size is None else _aux_kernel_at(aux_release_size, hparams, stem_type)
    filter_scaling = 1.0
    true_cell_num = 2 if stem_type == "imagenet" else 0  # counts the stem cells, for drop-path
    for cell_num in range(hparams.num_cells):
        # Large: the cell after a reduction reads the state before the reduction's input.
        if hparams.skip_reduction_layer_input:
            prev_layer = cell_outputs[-2]
        if cell_num in reduction_indices:
            filter_scaling *= hparams.filter_scaling_rate
            k = reduction_indices.index(cell_num)
            net = reduction_cell(net, scope=f"reduction_cell_{k}", filter_scaling=filter_scaling, stride=2,
                                 prev_layer=cell_outputs[-2], cell_num=true_cell_num, current_step=current_step)
            if add_and_check_endpoint(f"Reduction_Cell_{k}", net):
                return net, end_points
            true_cell_num += 1
            cell_outputs.append(net)
        if not hparams.skip_reduction_layer_input:
            prev_layer = cell_outputs[-2]
        net = normal_cell(net, scope=f"cell_{cell_num}", filter_scaling=filter_scaling, stride=1,
                          prev_layer=prev_layer, cell_num=true_cell_num, current_step=current_step)
        if add_and_check_endpoint(f"Cell_{cell_num}", net):
            return net, end_points
        true_cell_num += 1
        if build_aux and cell_num in aux_cells:
            _build_aux_head(_activation(hparams)(net), end_points, num_classes, hparams, f"aux_{cell_num}",
                            release_kernel)
        cell_outputs.append(net)

    return _final_layer(net, num_classes, hparams, add_and_check_endpoint), end_points


# ---- registry entries (tlslim's addition; the functions above are slim's API) ----

def registry_blocks(hparams, reduction_scope):
    """The top-level variable scopes from input to head, the aux head after the cell it reads:
    conv0, conv0_bn, the stem cells, the cells (`reduction_scope(k)` before the k-th reduction
    index, None for none), aux_<i>, final_layer."""
    reductions = nasnet_utils.calc_reduction_layers(hparams.num_cells, hparams.num_reduction_layers)
    blocks = ["conv0", "conv0_bn", "cell_stem_0", "cell_stem_1"]
    for cell_num in range(hparams.num_cells):
        if cell_num in reductions and reduction_scope(reductions.index(cell_num)):
            blocks.append(reduction_scope(reductions.index(cell_num)))
        blocks.append(f"cell_{cell_num}")
        if cell_num == reductions[1] - 1:
            blocks.append(f"aux_{cell_num}")
    return tuple(blocks) + ("final_layer",)


def register_release(name, builder, arg_scope_fn, config, reduction_scope, default_image_size, tarball):
    """Register a NASNet-style release: no enclosing scope, 'final_layer' the head, 'aux_<i>' the
    aux head (its release shapes at every size), 1001 classes, Inception preprocessing, `model.ckpt`
    in `tarball`; the penultimate tensor is the input of the final 'FC'."""
    blocks = registry_blocks(config, reduction_scope)
    return register(NetInfo(
        name=name,
        builder=functools.partial(builder, aux_release_shapes=True),
        arg_scope=arg_scope_fn,
        # The variables sit at the top level (conv0, cell_*, final_layer, ...): no scope holds them all.
        scope="",
        head_scope="final_layer",
        aux_scopes=tuple(b for b in blocks if b.startswith("aux_")),
        # From input to head; the aux head after the cell it reads. A fine-tune to new classes
        # excludes its 'FC' with the main head (`--exclude auto`).
        blocks=blocks,
        default_image_size=default_image_size,
        min_image_size=32,
        num_classes=1001,
        preprocessing="inception",
        checkpoint_tarball=tarball,
        checkpoint_file="model.ckpt",
        manifest=f"{name}.json",
        # Relative to no scope: 'final_layer/FC/MatMul' (or 'eval/final_layer/...') ends with it.
        prelogits_op="FC/MatMul",
    ))


register_release("nasnet_mobile", build_nasnet_mobile, nasnet_mobile_arg_scope, mobile_imagenet_config(),
                 lambda k: f"reduction_cell_{k}", 224, "nasnet-a_mobile_04_10_2017.tar.gz")
register_release("nasnet_large", build_nasnet_large, nasnet_large_arg_scope, large_imagenet_config(),
                 lambda k: f"reduction_cell_{k}", 331, "nasnet-a_large_04_10_2017.tar.gz")
