"""tlslim's own layers: a drop-in for `slim.batch_norm`, which no longer imports.

`batch_norm` creates the variables slim's creates (`<scope>/BatchNorm/beta`, `gamma` when
`scale=True`, `moving_mean`, `moving_variance`) as model variables, normalizes with batch
statistics in training and moving statistics in inference, and puts its moving-average
updates in `tf.GraphKeys.UPDATE_OPS`. Like slim's default path, 4-D NHWC inputs use the fused
kernel, whose moving-variance update takes the unbiased (n-1) batch variance; other ranks use
`tf.nn.moments` (biased variance).

`batch_norm_train_only(scopes)` is how training freezes batch norm in frozen layers: inside it,
a batch norm whose scope is not under one of `scopes` runs in inference mode and creates no
update ops, whatever `is_training` says.
"""
import contextlib
import inspect
import threading

from tlslim.compat import slim, tf
from tlslim.errors import TlslimError
from tlslim.scopes import in_scope

_state = threading.local()


@contextlib.contextmanager
def batch_norm_train_only(scopes):
    """Within this block, only batch norms under `scopes` (a list of prefixes) may train."""
    previous = getattr(_state, "train_scopes", None)
    _state.train_scopes = list(scopes)
    try:
        yield
    finally:
        _state.train_scopes = previous


def _frozen_here(scope_name):
    scopes = getattr(_state, "train_scopes", None)
    return scopes is not None and not in_scope(scope_name, scopes)


def _static_bool(value):
    """True/False if `value` is known when the graph is built, else None."""
    if isinstance(value, bool):
        return value
    static = tf.get_static_value(value)
    return None if static is None else bool(static)


def _cond(pred, true_fn, false_fn):
    static = _static_bool(pred)
    if static is None:
        return tf.cond(pred, true_fn, false_fn)
    return true_fn() if static else false_fn()


def _collections(variables_collections, name):
    if isinstance(variables_collections, dict):
        return variables_collections.get(name)
    return variables_collections


@slim.add_arg_scope
def batch_norm(inputs, *args, **kwargs):
    """Batch normalization with slim's signature (see `_batch_norm` for the arguments), variable
    names and update semantics, under tlslim's arg scopes and slim's.

    Arguments set for `slim.batch_norm` in a `slim.arg_scope` apply here too, below those set
    for this function and those passed: code written for slim, such as
    `with slim.arg_scope([slim.batch_norm], is_training=False)`, configures the nets' batch norms.
    """
    names = _BATCH_NORM_ARGS[1:]
    given = {**slim.current_arg_scope().get(slim.arg_scope_func_key(slim.batch_norm), {}), **kwargs}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise TlslimError(f"batch_norm does not support {', '.join(unknown)} (slim's batch_norm options that tlslim's "
                          f"batch norm lacks); it takes {', '.join(names)}.")
    for name in names[:len(args)]:
        given.pop(name, None)  # passed by position
    return _batch_norm(inputs, *args, **given)


def _batch_norm(inputs,
               decay=0.999,
               center=True,
               scale=False,
               epsilon=0.001,
               activation_fn=None,
               param_initializers=None,
               param_regularizers=None,
               updates_collections=tf.GraphKeys.UPDATE_OPS,
               is_training=True,
               reuse=None,
               variables_collections=None,
               outputs_collections=None,
               trainable=True,
               fused=None,
               data_format="NHWC",
               scope=None):
    """`batch_norm`'s arguments, slim's: `is_training` may be a Python bool or a boolean tensor.
    With `updates_collections=None` the moving averages are updated in place before the output
    is returned.
    """
    if data_format != "NHWC":
        raise TlslimError(f"batch_norm supports data_format NHWC only, got {data_format}; build the net in NHWC.")
    param_initializers = param_initializers or {}
    param_regularizers = param_regularizers or {}
    with tf.variable_scope(scope, "BatchNorm", [inputs], reuse=reuse) as sc:
        inputs = tf.convert_to_tensor(inputs)
        rank = inputs.shape.ndims
        if rank is None or inputs.shape[-1] is None:
            raise TlslimError(f"batch_norm needs a known rank and channel count, got shape {inputs.shape}.")
        params_shape = [int(inputs.shape[-1])]
        dtype = inputs.dtype.base_dtype
        if dtype in (tf.float16, tf.bfloat16):
            # Mixed precision: low-precision activations, float32 parameters (as the fused kernel wants).
            dtype = tf.float32

        def param(name, default_init, param_trainable, regularizer=None):
            return slim.model_variable(
                name, shape=params_shape, dtype=dtype,
                initializer=param_initializers.get(name, default_init),
                regularizer=regularizer,
                collections=_collections(variables_collections, name),
                trainable=param_trainable)

        beta = param("beta", tf.zeros_initializer(), trainable, param_regularizers.get("beta")) if center else None
        gamma = param("gamma", tf.ones_initializer(), trainable, param_regularizers.get("gamma")) if scale else None
        moving_mean = param("moving_mean", tf.zeros_initializer(), False)
        moving_variance = param("moving_variance", tf.ones_initializer(), False)

        if _frozen_here(sc.name):
            is_training = False
        use_fused = (rank == 4) if fused is None else bool(fused and rank == 4)
        offset = beta if beta is not None else tf.zeros(params_shape, dtype)
        gain = gamma if gamma is not None else tf.ones(params_shape, dtype)

        def train_branch():
            if use_fused:
                # The fused kernel normalizes with the biased variance and returns the unbiased one.
                out, mean, var = tf.nn.fused_batch_norm(inputs, gain, offset, epsilon=epsilon, is_training=True)
            else:
                mean, var = tf.nn.moments(inputs, list(range(rank - 1)))
                out = tf.nn.batch_normalization(inputs, mean, var, offset, gain, epsilon)
            return out, mean, var

        def infer_branch():
            if use_fused:
                out, _, _ = tf.nn.fused_batch_norm(inputs, gain, offset, mean=moving_mean,
                                                   variance=moving_variance, epsilon=epsilon,
                                                   is_training=False)
            else:
                out = tf.nn.batch_normalization(inputs, moving_mean, moving_variance, offset, gain, epsilon)
            return out, moving_mean, moving_variance

        training = _static_bool(is_training)
        if training is False:
            outputs = infer_branch()[0]
        else:
            train_out, mean, var = train_branch()

            def updates():
                return (tf.assign_sub(moving_mean, (moving_mean - mean) * (1.0 - decay)),
                        tf.assign_sub(moving_variance, (moving_variance - var) * (1.0 - decay)))

            def no_updates():
                return tf.identity(moving_mean), tf.identity(moving_variance)

            if updates_collections is None:
                with tf.control_dependencies(_cond(is_training, updates, no_updates)):
                    train_out = tf.identity(train_out)
            else:
                for op in _cond(is_training, updates, no_updates):
                    tf.add_to_collections(updates_collections, op)
            if training is True:
                outputs = train_out
            else:
                outputs = tf.cond(is_training, lambda: train_out, lambda: infer_branch()[0])
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return slim.utils.collect_named_outputs(outputs_collections, sc.name, outputs)


_BATCH_NORM_ARGS = tuple(inspect.signature(_batch_norm).parameters)
