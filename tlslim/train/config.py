"""What a training run is: the TrainConfig dataclass, the one source of truth for its settings.

Every field carries its help text (and, where TF-Slim spelled the flag differently, slim's
aliases) in its metadata: `tlslim.cli.define_flags` turns the fields into the flags of
finetune.py, compare.py and pretrain.py, so a field cannot be forgotten by one of them.

Values are parsed once, here: `exclude` and `trainable_scopes` become tuples of scopes and
`scope_map` a {checkpoint scope: graph scope} dict when a TrainConfig is made, whether from a
comma-separated flag or from a library call; deeper code never parses them again.
"""
import dataclasses
import math
import os
from typing import Dict, Optional, Tuple

from tlslim import data, embedded, nets, restore
from tlslim.device import PRECISIONS
from tlslim.errors import TlslimError
from tlslim.scopes import parse_scopes
from tlslim.train.cluster import parse_hosts

# The one list of strategies, in the order a comparison shows them (scratch is the baseline).
STRATEGIES = ("scratch", "head", "top", "all", "discriminative", "fine_tune")
# The fields that place a process in a cluster (tlslim.train.cluster); scripts that run several
# trainings one after another (compare.py) leave them out.
CLUSTER_FIELDS = ("job_name", "task", "worker_hosts", "ps_hosts", "worker_replicas", "num_ps_tasks", "cluster_timeout")
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
LR_DECAYS = ("fixed", "exponential", "cosine", "range")


def field(default, help, aliases=(), choices=None, factory=None):  # noqa: A002 - absl's word for it
    """A dataclass field with its flag's help text, slim's alias spellings and allowed values."""
    metadata = {"help": help, "aliases": tuple(aliases), "choices": choices}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on (the flags of scripts/finetune.py are its fields)."""
    model: str = field("cifarnet", "Network name (see tlslim.nets.names()).", aliases=("model_name",))
    dataset: str = field("synthetic", "Dataset name: cifar10 (the python release or slim's TFRecords), folder, "
                                      "synthetic, synthetic_source; slim's TFRecords: flowers, mnist, imagenet, or "
                                      "a set scripts/convert_dataset.py wrote.",
                         aliases=("dataset_name",))
    dataset_dir: Optional[str] = field(None, "Where the dataset's files are (not needed for synthetic data).")
    checkpoint_path: Optional[str] = field(
        None, f"Pretrained checkpoint: V1 file, V2 prefix or directory. Default for --model {embedded.MODEL}: "
              f"the built-in {embedded.RELATIVE_DIR}; required for other models unless --strategy scratch.")
    exclude: Optional[Tuple[str, ...]] = field(
        None, "Comma-separated scopes not restored (the new head), or 'auto' for the ones whose shapes differ. "
              "Default with the built-in checkpoint: the net's head (CifarNet/logits).",
        aliases=("checkpoint_exclude_scopes",))
    scope_map: Optional[Dict[str, str]] = field(
        None, "Checkpoint-to-graph scope renames, 'ckpt_scope=graph_scope,...'.")
    strategy: Optional[str] = field(
        None, "What trains: head (default with --exclude), top (--unfreeze N blocks + head), all (default without "
              "--exclude), discriminative (all, lower rates for lower blocks), fine_tune (the head alone for "
              "--head_steps, then discriminative), scratch (no checkpoint).",
        choices=STRATEGIES)
    unfreeze: int = field(1, "--strategy top: number of blocks below the head to train.")
    head_steps: Optional[int] = field(None, "--strategy fine_tune: steps of its first phase, the new head alone "
                                            "(default: a fifth of --max_steps); then everything trains with "
                                            "discriminative learning rates to --max_steps.")
    lr_factor: float = field(3.0, "--strategy discriminative: learning-rate divisor per block.")
    trainable_scopes: Optional[Tuple[str, ...]] = field(None, "Comma-separated scopes to train; overrides --strategy.")
    train_dir: Optional[str] = field(None, "Where checkpoints and summaries go; default "
                                           "runs/<model>-<dataset>-<strategy>.")
    image_size: Optional[int] = field(None, "Input size (square); default: the net's default size.",
                                      aliases=("train_image_size",))
    preprocessing: Optional[str] = field(None, "Preprocessing style; default: the one the net was released with.",
                                         aliases=("preprocessing_name",))
    geometry: str = field(
        "auto", "How images reach the input size: slim (research/slim's preprocessing for the net's style: "
                "vgg's aspect-preserving resize and crop, inception's central or distorted-box crop, cifarnet's crop "
                "or pad; in training its random scales, crops, flips and colour changes), squash (the whole image "
                "resized; pad-crop-flip augmentation), auto (slim when the images are larger than the input, else "
                "squash: small images such as CIFAR-10's keep the whole picture).",
        choices=("auto", "slim", "squash"))
    augment: Optional[bool] = field(None, "Random crops and flips of the training images (default: on; "
                                          "--noaugment: off).")
    cache_features: Optional[bool] = field(
        None, "Train the head on cached penultimate features of the frozen base (computed once, not every "
              "step). Default: on for --strategy head with --noaugment; --nocache_features forces it off.")
    cache_dir: Optional[str] = field(None, "Where cached features go (default runs/feature_cache); an entry is "
                                           "keyed by everything that makes it, so a changed input never reuses one.")
    train_subset: Optional[int] = field(None, "Use only this many training images per class.")
    labels_offset: int = field(0, "Subtracted from the TFRecords' labels (slim's flag: 1 for imagenet's records, "
                                  "whose label 0 is the background class, with a 1000-class net).")
    imbalance_ratio: Optional[float] = field(
        None, "Make the training set long-tailed, as CIFAR-10-LT is made: class k keeps a fraction R^(-k/(C-1)) "
              "of its images (after --train_subset), so the first class keeps all and the last 1/R.")
    class_weights: str = field("none", "Weight each image's loss: none, or balanced (by inverse class frequency, "
                                       "scikit-learn's N / (C * n_c)).", choices=("none", "balanced"))
    sampling: str = field("shuffle", "How training batches are drawn: shuffle (epochs in random order), or balanced "
                                     "(every class equally often: each run of C images holds one of each class).",
                          choices=("shuffle", "balanced"))
    batch_size: int = field(32, "Images per training step.")
    max_steps: int = field(1000, "Stop at this global step.", aliases=("max_number_of_steps",))
    optimizer: str = field("momentum", "Optimizer (TF-Slim's names; momentum is SGD with --momentum).",
                           choices=OPTIMIZERS)
    learning_rate: float = field(0.01, f"Initial learning rate (TF-Slim's 0.01; {embedded.LEARNING_RATE:g} for the "
                                       f"built-in example when not given).")
    momentum: float = field(0.9, "Momentum (momentum and rmsprop optimizers).")
    lr_decay: str = field("fixed", "Learning-rate schedule: fixed, exponential (staircase), cosine, range (from "
                                   "--learning_rate to --end_learning_rate exponentially over --max_steps: the "
                                   "range test of scripts/lr_find.py).",
                          aliases=("learning_rate_decay", "learning_rate_decay_type"), choices=LR_DECAYS)
    decay_steps: Optional[int] = field(None, "exponential: steps per decay (default max_steps/4); cosine: steps to "
                                             "zero (default max_steps).")
    end_learning_rate: float = field(10.0, "range: the learning rate at --max_steps.")
    decay_rate: float = field(0.5, "exponential: factor per decay_steps (staircase).",
                              aliases=("learning_rate_decay_factor",))
    weight_decay: float = field(0.00004, "L2 weight decay of the trained variables.")
    aux_loss_weight: float = field(0.4, "Weight of the auxiliary head's cross-entropy (Inception's AuxLogits) in "
                                        "the loss, as slim's train_image_classifier added it; 0 leaves it out.")
    eval_every_steps: int = field(0, "Evaluate on the test split every N steps (0: at the end only).")
    eval_batch_size: Optional[int] = field(None, "Batch size of evaluation (default --batch_size).")
    eval_examples: Optional[int] = field(None, "Evaluate on the first N test images only.")
    log_every_steps: int = field(50, "Log and write summaries every N steps.", aliases=("log_every_n_steps",))
    save_every_steps: int = field(500, "Save a checkpoint every N steps.")
    keep_checkpoints: int = field(3, "How many recent checkpoints to keep.")
    seed: int = field(0, "Random seed (initialization, data order, subsets).")
    device: str = field("auto", "auto, cpu or gpu (optionally with an index, e.g. gpu:1).")
    num_clones: int = field(1, "Replicas of the net, each on its own device (GPUs, or CPU devices with "
                               "--clone_on_cpu): each takes an equal share of --batch_size, their gradients are "
                               "averaged, one global step.", aliases=("replicas",))
    clone_on_cpu: bool = field(False, "Put the --num_clones replicas on CPU devices (the CPU split into logical "
                                      "devices): how a machine without GPUs runs replicas.")
    precision: str = field(
        "float32", "Compute precision: float32; mixed_float16 (float16 compute, float32 weights, loss scaling; for "
                   "GPUs, slower on a CPU); mixed_bfloat16 (bfloat16 compute on CPUs with avx512_bf16 or AMX and on "
                   "GPUs of compute capability 8.0+). Weights and checkpoints stay float32.",
        choices=PRECISIONS)
    mixed_precision: bool = field(False, "Alias of --precision mixed_float16.")
    # Training across machines (tlslim.train.cluster): slim's flags and TensorFlow's host lists; or TF_CONFIG.
    job_name: str = field("worker", "In a cluster: this process's role, worker (trains; worker 0 is the chief, "
                                    "which alone writes the train_dir) or ps (a parameter server: holds the "
                                    "variables).", choices=("worker", "ps"))
    task: int = field(0, "In a cluster: this process's index among the --worker_hosts (or the --ps_hosts with "
                         "--job_name ps).", aliases=("task_index",))
    worker_hosts: Optional[Tuple[str, ...]] = field(
        None, "Comma-separated host:port of every worker of a cluster, the chief first (or the TF_CONFIG "
              "environment variable: its cluster and task).")
    ps_hosts: Optional[Tuple[str, ...]] = field(None, "Comma-separated host:port of the cluster's parameter servers.")
    worker_replicas: Optional[int] = field(None, "Number of workers (slim's flag): checked against the cluster.")
    num_ps_tasks: Optional[int] = field(None, "Number of parameter servers (slim's flag): checked against the "
                                              "cluster.")
    cluster_timeout: float = field(120.0, "Seconds to wait for the cluster's other processes (the parameter "
                                          "servers, the chief's initialization, the other workers at the end).")

    def __post_init__(self):
        # Parse at the edge: strings become typed values once; typed values pass unchanged.
        if self.exclude is not None:
            self.exclude = tuple(parse_scopes(self.exclude))
        if self.trainable_scopes is not None:
            self.trainable_scopes = tuple(parse_scopes(self.trainable_scopes)) or None
        for name in ("worker_hosts", "ps_hosts"):
            if getattr(self, name) is not None:
                setattr(self, name, parse_hosts(getattr(self, name), f"--{name}") or None)
        if self.scope_map is not None:
            self.scope_map = restore.parse_scope_map(self.scope_map) or None
        if self.checkpoint_path is not None and not str(self.checkpoint_path).strip():
            self.checkpoint_path = None


def _positive(config, *names):
    for name in names:
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or value <= 0):
            raise TlslimError(f"--{name} must be positive, got {value}.")


def check_config(config):
    """Validate a TrainConfig (TlslimError naming the flag) and fill in the strategy; returns a copy."""
    config = dataclasses.replace(config)
    info = nets.get_info(config.model)  # unknown model -> the list of known ones
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise TlslimError(f"--{f.name} must be a finite number, got {value}.")
    for name in ("momentum", "weight_decay"):
        if not getattr(config, name) >= 0:
            raise TlslimError(f"--{name} must be 0 or more, got {getattr(config, name)}.")
    if config.imbalance_ratio is not None and not config.imbalance_ratio >= 1:
        raise TlslimError(f"--imbalance_ratio must be 1 or more (largest class / smallest), got "
                          f"{config.imbalance_ratio}.")
    if config.momentum > 1:
        raise TlslimError(f"--momentum must be at most 1, got {config.momentum}; 0.9 is usual.")
    for name in ("strategy", "optimizer", "lr_decay", "precision", "class_weights", "sampling"):
        allowed, value = TrainConfig.__dataclass_fields__[name].metadata["choices"], getattr(config, name)
        if value is not None and value not in allowed:
            raise TlslimError(f"--{name} must be one of {', '.join(allowed)}, got '{value}'.")
    _positive(config, "num_clones", "batch_size", "max_steps", "learning_rate", "lr_factor", "decay_steps",
              "decay_rate", "image_size", "eval_batch_size", "eval_examples", "head_steps", "log_every_steps",
              "save_every_steps", "keep_checkpoints", "worker_replicas", "cluster_timeout", "end_learning_rate")
    # Images of unknown size here: an impossible geometry fails now, 'auto' is settled on the data.
    data.choose_geometry(config.geometry, config.preprocessing or info.preprocessing, None,
                         config.image_size or info.default_image_size)
    if config.batch_size % config.num_clones:
        raise TlslimError(f"--batch_size {config.batch_size} does not split into --num_clones {config.num_clones} "
                          f"equal shares; use a multiple of {config.num_clones}.")
    for name in ("unfreeze", "aux_loss_weight", "task", "num_ps_tasks", "labels_offset"):
        if getattr(config, name) is not None and getattr(config, name) < 0:
            raise TlslimError(f"--{name} must be 0 or more, got {getattr(config, name)}.")
    if config.mixed_precision:
        if config.precision not in ("float32", "mixed_float16"):
            raise TlslimError(f"--mixed_precision is --precision mixed_float16, but --precision {config.precision} "
                              f"was given too; pass one of them.")
        config.precision = "mixed_float16"
    config.mixed_precision = config.precision == "mixed_float16"
    if config.strategy is None:
        if config.checkpoint_path is None:
            config.strategy = "scratch"
        else:
            config.strategy = "head" if config.exclude else "all"
    if config.strategy == "fine_tune":
        if config.trainable_scopes:
            raise TlslimError("--trainable_scopes replaces what a strategy trains, and fine_tune trains the head and "
                              "then everything; drop one of them.")
        config.head_steps = config.head_steps or max(1, config.max_steps // 5)
        if config.head_steps >= config.max_steps:
            raise TlslimError(f"--head_steps {config.head_steps} leaves no steps of --max_steps {config.max_steps} "
                              f"for fine_tune's second phase; use fewer --head_steps or more --max_steps.")
    if config.strategy != "scratch" and config.checkpoint_path is None:
        raise TlslimError(f"--strategy {config.strategy} fine-tunes a pretrained net and needs --checkpoint_path; "
                          f"pass one, or use --strategy scratch to train from random weights.")
    return config


def default_train_dir(config):
    return os.path.join("runs", f"{config.model}-{config.dataset}-{config.strategy}")


def with_default_checkpoint(config, learning_rate_given=True, scratch_hint="use --strategy scratch to train it "
                                                                            "from random weights"):
    """`config` with the built-in example filled in when it fine-tunes without a checkpoint: the
    embedded checkpoint (for the embedded model only), its head excluded and, unless
    `learning_rate_given`, the example's learning rate. Other configs come back unchanged."""
    if config.checkpoint_path is not None or config.strategy == "scratch":
        return config
    nets.get_info(config.model)  # an unknown --model lists the known ones before any other advice
    if config.model != embedded.MODEL:
        raise TlslimError(f"--model {config.model} needs --checkpoint_path (its release checkpoint); or "
                          f"{scratch_hint}.")
    changes = {"checkpoint_path": embedded.require_checkpoint()}
    if config.exclude is None:
        changes["exclude"] = (nets.get_info(config.model).head_scope,)
    if not learning_rate_given:
        changes["learning_rate"] = embedded.LEARNING_RATE
    return dataclasses.replace(config, **changes)


def nested_config(cls, train_defaults, **settings):
    """An instance of `cls`, a config that holds a TrainConfig as its field `train`, from flat
    keyword settings: `cls`'s own fields, and TrainConfig fields applied over `train_defaults`."""
    own = {f.name for f in dataclasses.fields(cls)}
    shared = {k: v for k, v in settings.items() if k not in own}
    return cls(train=dataclasses.replace(train_defaults, **shared), **{k: v for k, v in settings.items() if k in own})
