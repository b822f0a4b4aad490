"""PNASNet-5 (Liu et al. 2017, arXiv:1712.00559) with research/slim's API (`nets/nasnet/pnasnet.py`)
and the variable names of slim's released checkpoints: PNASNet-5_Mobile_224
(pnasnet-5_mobile_2017_12_13.tar.gz) and PNASNet-5_Large_331 (pnasnet-5_large_2017_12_13.tar.gz),
each a V2 checkpoint `model.ckpt` of 1001 classes (class 0 = background), Inception preprocessing.

    with slim.arg_scope(pnasnet.pnasnet_mobile_arg_scope()):
        logits, end_points = pnasnet.build_pnasnet_mobile(images, 1001, is_training=False)

PNASNet is NASNet's skeleton (tlslim.nets.nasnet.nasnet: stem, aux head, final layer, no
enclosing variable scope) with one cell, `PNasNetNormalCell`, which is also the stem cells and,
with stride 2, the reductions: 'cell_<i>' for i in range(num_cells) (mobile: 9 cells, 54 filters,
aux head 'aux_5'; large: 12 cells, 216 filters, 'aux_7'). Each cell reads the cell before its
input as well. As in slim there is no `current_step`: drop-path (large: keep 0.6, training only)
reads the global step.

Small inputs: as NASNet's (see its module doc); `aux_release_shapes=True` (the registry's) keeps
the aux head's release shapes from 32x32 up, in every mode.

The registry entries (pnasnet_mobile, pnasnet_large) are at the end of this module.
"""
import copy

from tlslim.compat import slim
from tlslim.nets.nasnet import nasnet, nasnet_utils

__all__ = ["large_imagenet_config", "mobile_imagenet_config", "pnasnet_large_arg_scope", "pnasnet_mobile_arg_scope",
           "build_pnasnet_large", "build_pnasnet_mobile", "PNasNetNormalCell"]

arg_scope = slim.arg_scope


def large_imagenet_config():
    """PNASNet-5 Large."""
    return nasnet.HParams(stem_multiplier=3.0, dense_dropout_keep_prob=0.5, num_cells=12, filter_scaling_rate=2.0,
                          num_conv_filters=216, drop_path_keep_prob=0.6, use_aux_head=1, num_reduction_layers=2,
                          data_format="NHWC", skip_reduction_layer_input=1, total_training_steps=250000,
                          use_bounded_activation=False)


def mobile_imagenet_config():
    """PNASNet-5 Mobile."""
    return nasnet.HParams(stem_multiplier=1.0, dense_dropout_keep_prob=0.5, num_cells=9, filter_scaling_rate=2.0,
                          num_conv_filters=54, drop_path_keep_prob=1.0, use_aux_head=1, num_reduction_layers=2,
                          data_format="NHWC", skip_reduction_layer_input=1, total_training_steps=250000,
                          use_bounded_activation=False)


def pnasnet_large_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=0.001):
    """NASNet-A Large's arg scope, with PNASNet's weight decay."""
    return nasnet.nasnet_large_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def pnasnet_mobile_arg_scope(weight_decay=4e-5, batch_norm_decay=0.9997, batch_norm_epsilon=0.001):
    """NASNet-A Mobile's arg scope."""
    return nasnet.nasnet_mobile_arg_scope(weight_decay, batch_norm_decay, batch_norm_epsilon)


def _build_pnasnet_base(images, normal_cell, num_classes, hparams, is_training, final_endpoint=None,
                        aux_release_size=None):
    """The stem (with `normal_cell` as the stem cell), the cells (stride 2 at
    `calc_reduction_layers`' indices), the aux head after the cell before the second reduction,
    and the final layer."""
    end_points = {}
    add_and_check_endpoint = nasnet._endpoint_recorder(end_points, final_endpoint)
    reduction_indices = nasnet_utils.calc_reduction_layers(hparams.num_cells, hparams.num_reduction_layers)
    net, cell_outputs = nasnet._imagenet_stem(images, hparams, normal_cell)
    if add_and_check_endpoint("Stem", net):
        return net, end_points

    aux_cells = [reduction_indices[1] - 1] if len(reduction_indices) >= 2 else []
    build_aux = nasnet._wants_aux(hparams, num_classes, is_training, aux_release_size)
    release_kernel = (None if aux_release_size is None
                      else nasnet._aux_kernel_at(aux_release_size, hparams, "imagenet"))
    filter_scaling = 1.0
    true_cell_num = 2  # counts the stem cells, for drop-path
    for cell_num in range(hparams.num_cells):
        is_reduction = cell_num in reduction_indices
        if is_reduction:
            filter_scaling *= hparams.filter_scaling_rate
        # Without skip_reduction_layer_input a reduction reads the state its predecessor read.
        if hparams.skip_reduction_layer_input or not is_reduction:
            prev_layer = cell_outputs[-2]
        net = normal_cell(net, scope=f"cell_{cell_num}", filter_scaling=filter_scaling,
                          stride=2 if is_reduction else 1, prev_layer=prev_layer, cell_num=true_cell_num)
        if add_and_check_endpoint(f"Cell_{cell_num}", net):
            return net, end_points
        true_cell_num += 1
        cell_outputs.append(net)
        if build_aux and cell_num in aux_cells:
            nasnet._build_aux_head(nasnet._activation(hparams)(net), end_points, num_classes, hparams,
                                   f"aux_{cell_num}", release_kernel)

    return nasnet._final_layer(net, num_classes, hparams, add_and_check_endpoint), end_points


def _build(images, num_classes, is_training, final_endpoint, config, default_config, aux_release_size):
    hparams = copy.deepcopy(config) if config else default_config()
    images = nasnet._prepare(hparams, images, is_training)
    # No separate reduction cells: the cells and the two stem cells.
    normal_cell = PNasNetNormalCell(hparams.num_conv_filters, hparams.drop_path_keep_prob, hparams.num_cells + 2,
                                    hparams.total_training_steps, hparams.use_bounded_activation)
    outer, inner = nasnet._scopes(hparams, is_training)
    with outer, inner:
        return _build_pnasnet_base(images, normal_cell=normal_cell, num_classes=num_classes, hparams=hparams,
                                   is_training=is_training, final_endpoint=final_endpoint,
                                   aux_release_size=aux_release_size)


def build_pnasnet_large(images, num_classes, is_training=True, final_endpoint=None, config=None, *,
                        aux_release_shapes=False):
    """PNASNet-5 Large (331x331) -> (logits, end_points); features [batch, 4320] with num_classes
    0 or None. final_endpoint and aux_release_shapes as in nasnet.build_nasnet_mobile."""
    return _build(images, num_classes, is_training, final_endpoint, config, large_imagenet_config,
                  build_pnasnet_large.default_image_size if aux_release_shapes else None)


build_pnasnet_large.default_image_size = 331


def build_pnasnet_mobile(images, num_classes, is_training=True, final_endpoint=None, config=None, *,
                         aux_release_shapes=False):
    """PNASNet-5 Mobile (224x224) -> (logits, end_points); features [batch, 1080] with num_classes
    0 or None. final_endpoint and aux_release_shapes as in nasnet.build_nasnet_mobile."""
    return _build(images, num_classes, is_training, final_endpoint, config, mobile_imagenet_config,
                  build_pnasnet_mobile.default_image_size if aux_release_shapes else None)


build_pnasnet_mobile.default_image_size = 224


class PNasNetNormalCell(nasnet_utils.NasNetABaseCell):
    """PNASNet-5's cell: five concatenated states (the two inputs are used)."""

    def __init__(self, num_conv_filters, drop_path_keep_prob, total_num_cells, total_training_steps,
                 use_bounded_activation=False):
        operations = ["separable_5x5_2", "max_pool_3x3",
                      "separable_7x7_2", "max_pool_3x3",
                      "separable_5x5_2", "separable_3x3_2",
                      "separable_3x3_2", "max_pool_3x3",
                      "separable_3x3_2", "none"]
        super(PNasNetNormalCell, self).__init__(
            num_conv_filters, operations, [1, 1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 4, 0, 1, 0],
            drop_path_keep_prob, total_num_cells, total_training_steps, use_bounded_activation)


# ---- registry entries (tlslim's addition; the functions above are slim's API) ----

nasnet.register_release("pnasnet_mobile", build_pnasnet_mobile, pnasnet_mobile_arg_scope, mobile_imagenet_config(),
                        lambda k: None, 224, "pnasnet-5_mobile_2017_12_13.tar.gz")
nasnet.register_release("pnasnet_large", build_pnasnet_large, pnasnet_large_arg_scope, large_imagenet_config(),
                        lambda k: None, 331, "pnasnet-5_large_2017_12_13.tar.gz")
