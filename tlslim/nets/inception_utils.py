"""What the Inception nets share, as slim's `nets/inception_utils.py`: the arg scope, the
average-pool / dropout / 1x1-conv classifier of Inception v2 and v3, and the auxiliary classifier
of Inception v4 and Inception-ResNet-v2."""
from tlslim.compat import slim, tf
from tlslim.layers import batch_norm
from tlslim.nets.common import pad_to_kernel, reduced_kernel_size_for_small_input, spatial_size

__all__ = ["inception_arg_scope", "logits_block", "fc_aux_logits", "pool_whole_map"]


def inception_arg_scope(weight_decay=0.00004, use_batch_norm=True, batch_norm_decay=0.9997, batch_norm_epsilon=0.001,
                        activation_fn=tf.nn.relu, batch_norm_updates_collections=tf.GraphKeys.UPDATE_OPS,
                        batch_norm_scale=False, batch_norm_var_collection="moving_vars", fused=None):
    """slim's Inception arg scope: conv -> batch norm (moving statistics also in
    `batch_norm_var_collection`) -> `activation_fn`, He initialization, L2 weight decay on conv and
    fully-connected weights (0 disables it). `fused` (Inception v3's switch) is passed only when set."""
    bn_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "scale": batch_norm_scale,
        "updates_collections": batch_norm_updates_collections,
        "variables_collections": {
            "beta": None,
            "gamma": None,
            "moving_mean": [batch_norm_var_collection],
            "moving_variance": [batch_norm_var_collection],
        },
    }
    if fused is not None:
        bn_params["fused"] = fused
    with slim.arg_scope([slim.conv2d, slim.fully_connected],
                        weights_regularizer=slim.l2_regularizer(float(weight_decay))):
        with slim.arg_scope([slim.conv2d],
                            weights_initializer=slim.variance_scaling_initializer(),
                            activation_fn=activation_fn,
                            normalizer_fn=batch_norm if use_batch_norm else None,
                            normalizer_params=bn_params if use_batch_norm else {}) as sc:
            return sc


def logits_block(net, end_points, num_classes, kernel, global_pool, global_pool_name, dropout_keep_prob,
                 spatial_squeeze, prelogits=False):
    """Inside the caller's 'Logits' scope: a VALID average pool (`kernel`, cut down for small maps)
    or a global mean, then, with classes, dropout and the 1x1 classifier conv. Returns the logits,
    or the pooled features when `num_classes` is 0 or None. `prelogits` records the dropout output
    as end_points['PreLogits'] (Inception v3's end point)."""
    if global_pool:
        net = tf.reduce_mean(net, [1, 2], keepdims=True, name=global_pool_name)
        end_points["global_pool"] = net
    else:
        kernel = reduced_kernel_size_for_small_input(net, kernel)
        net = slim.avg_pool2d(net, kernel, padding="VALID", scope="AvgPool_1a_{}x{}".format(*kernel))
    if not num_classes:
        return net
    net = slim.dropout(net, keep_prob=dropout_keep_prob, scope="Dropout_1b")
    if prelogits:
        end_points["PreLogits"] = net
    logits = slim.conv2d(net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="Conv2d_1c_1x1")
    if spatial_squeeze:
        logits = tf.squeeze(logits, [1, 2], name="SpatialSqueeze")
    return logits


def fc_aux_logits(net, num_classes, release_shapes, pool_scope, conv_scope, logits_scope):
    """Inside the caller's 'AuxLogits' scope, the auxiliary classifier of Inception v4 and
    Inception-ResNet-v2 (their scope names differ): a 5x5/3 VALID average pool (cut to the map only
    where slim's would have no output), a 1x1 conv to 128, a VALID conv to 768 over the whole map
    as slim builds it, then a fully connected classifier -> [B, num_classes]. With
    `release_shapes` the 768 conv keeps the release's 5x5 kernel at every input size: a smaller
    map is zero-padded to 5x5, a larger output averaged to one value per channel."""
    window = reduced_kernel_size_for_small_input(net, [5, 5])
    net = slim.avg_pool2d(net, window, stride=3, padding="VALID", scope=pool_scope)
    net = slim.conv2d(net, 128, [1, 1], scope="Conv2d_1b_1x1")
    if release_shapes:
        kernel = [5, 5]
        net = pad_to_kernel(net, kernel)
    else:
        kernel = list(net.shape[1:3])  # slim: the whole map
    net = slim.conv2d(net, 768, kernel, padding="VALID", scope=conv_scope)
    if release_shapes and spatial_size(net) != (1, 1):
        net = tf.reduce_mean(net, [1, 2], keepdims=True, name="GlobalPool")
    net = slim.flatten(net)
    return slim.fully_connected(net, num_classes, activation_fn=None, scope=logits_scope)


def pool_whole_map(net, end_points, scope):
    """Inception v4's and Inception-ResNet-v2's pool before the classifier: a VALID average pool
    over the whole map (`scope`), or a mean ('global_pool') when its size is known only at run
    time; recorded as end_points['global_pool']."""
    hw = spatial_size(net)
    if hw:
        net = slim.avg_pool2d(net, list(hw), padding="VALID", scope=scope)
    else:
        net = tf.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
    end_points["global_pool"] = net
    return net
