"""The plan of a run: what it restores and what it trains, decided once before any graph is built.

Strategies (which variables train; `trainable_scopes` overrides them all):
  head            the excluded scopes (the new head; the net's head scope if nothing is excluded)
  top             the last `unfreeze` blocks before the head (NetInfo.blocks), plus the head
  all             every variable of the net, one learning rate
  discriminative  every variable; the k-th block counting back from the head (head: k=0) learns
                  at learning_rate / lr_factor**k (one optimizer per block, one global step)
  scratch         no checkpoint: random initialization, every variable trains

The restore is planned here once per run (`restore.prepare_restore` on the net's variable shapes:
`--exclude auto` expanded, the preflight run, stopping on a bad checkpoint before anything
expensive); every training mode binds that plan to its graph's variables without reading the
checkpoint again.
"""
import dataclasses
from typing import List, Optional, Tuple

from absl import logging

from tlslim import nets, restore
from tlslim.compat import slim, tf
from tlslim.errors import TlslimError
from tlslim.scopes import check_scopes_match, in_scope


@dataclasses.dataclass
class Plan:
    """What a run restores and trains.

    groups: [(scopes, lr_multiplier)], head first; a variable trains in the first group whose
    scopes hold it. trainable_scopes: every group's scopes (batch norm trains only there).
    restore_plan: the release checkpoint's RestorePlan (None for scratch runs and resumed runs,
    which restore everything from their train_dir).
    """
    strategy: str
    exclude: List[str]
    groups: List[Tuple[List[str], float]]
    trainable_scopes: List[str]
    restore_plan: Optional[restore.RestorePlan] = None
    image_bytes: int = 0  # activations of one image in the training tower (see net_shapes)

    @property
    def checkpoint_path(self):
        return self.restore_plan.checkpoint_path if self.restore_plan else None

    @property
    def auto_excluded(self):
        return self.restore_plan.auto_excluded if self.restore_plan else []


def net_shapes(model, num_classes, image_size):
    """({name: shape} of net `model`'s model variables, bytes of the activations one image makes in
    the training tower: every float tensor downstream of the input), built in a throwaway graph."""
    network_fn = nets.get_network_fn(model, num_classes, is_training=True)
    with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [1, image_size, image_size, 3])
        network_fn(images)
        shapes = {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}
    seen, pending, size = set(), [images.op], 0
    while pending:
        op = pending.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        for t in op.outputs:
            if t.dtype.base_dtype.is_floating and t.shape.is_fully_defined():
                size += t.shape.num_elements() * t.dtype.base_dtype.size
            pending += t.consumers()
    return shapes, size


def variable_shapes(model, num_classes, image_size):
    """{name: shape} of net `model`'s model variables, built in a throwaway graph."""
    return net_shapes(model, num_classes, image_size)[0]


def check_memory(config, image_bytes, available):
    """TlslimError when a batch cannot fit: activations (`image_bytes` per image, the sum over the
    forward pass: about what training keeps for the backward pass) beyond `available` bytes of
    memory (None: unknown, not checked)."""
    batch = max(config.batch_size, config.eval_batch_size or 0)
    needed = batch * image_bytes
    if available is not None and needed > available:
        flag = "--batch_size" if batch == config.batch_size else "--eval_batch_size"
        largest = int(available // image_bytes)
        fix = (f"use {flag} {largest} or less, or a smaller --image_size" if largest else
               "use a smaller --image_size")
        raise TlslimError(f"{flag} {batch} at {config.image_size or 'the default'} pixels needs about "
                          f"{needed / 2 ** 30:.1f} GiB for {config.model}'s activations, and "
                          f"{available / 2 ** 30:.1f} GiB of memory is available; {fix}.")


def _strategy_groups(config, info, head_scopes):
    """[(scopes, lr_multiplier)] for the strategy, head first."""
    body = [b for b in info.blocks if b != info.head_scope]
    if config.strategy == "head":
        return [(head_scopes, 1.0)]
    if config.strategy == "top":
        if config.unfreeze > len(body):
            raise TlslimError(f"--unfreeze {config.unfreeze} is more than the {len(body)} blocks below the head of "
                              f"{info.name} ({', '.join(body)}); use at most {len(body)}, or --strategy all.")
        top = body[len(body) - config.unfreeze:]
        return [(head_scopes + [b for b in top if not in_scope(b, head_scopes)], 1.0)]
    if config.strategy == "discriminative":
        groups = [(head_scopes, 1.0)]
        for k, block in enumerate(reversed(body), start=1):
            groups.append(([block], config.lr_factor ** -k))
        # Anything outside the listed blocks (a net-level variable) learns at the lowest rate.
        groups.append((list(info.scopes), config.lr_factor ** -len(body)))
        return groups
    return [(list(info.scopes), 1.0)]  # all, scratch


def make_plan(config, num_classes, image_size, resumed=None):
    """Decide what to restore and what to train (`config` checked; TlslimError on problems).

    `resumed`: the run record of the train_dir being resumed; then the release checkpoint is not
    read at all (the train_dir's checkpoint holds everything) and `--exclude auto` means what it
    meant in that run.
    """
    info = nets.get_info(config.model)
    shapes, image_bytes = net_shapes(config.model, num_classes, image_size)
    names = list(shapes)
    exclude, restore_plan = [], None
    if config.strategy == "scratch":
        if config.checkpoint_path:
            logging.warning("--strategy scratch starts from random weights; --checkpoint_path %s is not used",
                            config.checkpoint_path)
    elif resumed is not None and "exclude" in resumed:
        exclude = list(config.exclude or ())
        if restore.AUTO in exclude:
            exclude = list(resumed["exclude"])
        check_scopes_match(exclude, names, "--exclude")
    else:
        restore_plan = restore.prepare_restore(config.checkpoint_path, exclude=config.exclude or (),
                                               scope_map=config.scope_map, variables=shapes)
        exclude = restore_plan.exclude
    head_scopes = list(exclude) or [info.head_scope]
    if config.trainable_scopes:
        scopes = list(config.trainable_scopes)
        check_scopes_match(scopes, names, "--trainable_scopes")
        untrained = [s for s in exclude if not in_scope(s, scopes)]
        if untrained:
            logging.warning("excluded scopes %s are not in --trainable_scopes: they keep their random initial "
                            "values", ", ".join(untrained))
        groups = [(scopes, 1.0)]
    else:
        groups = _strategy_groups(config, info, head_scopes)
    trainable = []
    for scopes, _ in groups:
        trainable += [s for s in scopes if s not in trainable]
    return Plan(config.strategy, exclude, groups, trainable, restore_plan, image_bytes)
