"""Fine-tune a pretrained TF-Slim net on a dataset (the transfer-learning recipe).

With no flags it runs the embedded example: CifarNet pretrained on the synthetic source dataset
(checkpoints/cifarnet_synthetic) gets a new head trained on the synthetic target dataset.

    python scripts/finetune.py
    python scripts/finetune.py --model vgg_16 --checkpoint_path vgg_16.ckpt --exclude vgg_16/fc8 \\
        --dataset cifar10 --dataset_dir /data/cifar10 --image_size 32 --max_steps 1000

Re-running the same command resumes from --train_dir. TF-Slim's train_image_classifier.py names
are accepted as aliases: --model_name, --dataset_name, --checkpoint_exclude_scopes,
--max_number_of_steps, --learning_rate_decay_type, --learning_rate_decay_factor,
--log_every_n_steps, --train_image_size, --preprocessing_name (--train_dir, --optimizer,
--trainable_scopes, --weight_decay, --batch_size, --learning_rate, --momentum are spelled the
same). Not mapped: --num_epochs_per_decay (use --decay_steps, in steps), --save_interval_secs and
--save_summaries_secs (use --save_every_steps), --num_clones, --ignore_missing_vars (the preflight
check stops on missing variables instead).
"""
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, nets, restore, train  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = "cifarnet"
DEFAULT_CHECKPOINT = os.path.join("checkpoints", "cifarnet_synthetic")  # relative to the repository
DEFAULT_CHECKPOINT_MAKER = "scripts/pretrain.py"  # writes checkpoints/cifarnet_synthetic/cifarnet_synthetic.ckpt
# The built-in example's head learning rate: at slim's 0.01 the new head on these features grows
# overconfident (test loss 3.7 at 60% top-1); 0.001 gives 68% at a loss near 1 (measured, 1000 steps).
DEFAULT_LEARNING_RATE = 0.001
_d = train.TrainConfig()

flags.DEFINE_string("model", DEFAULT_MODEL, "Network name (see tlslim.nets.names()).")
flags.DEFINE_string("checkpoint_path", None,
                    f"Pretrained checkpoint: V1 file, V2 prefix or directory. Default for --model {DEFAULT_MODEL}: "
                    f"{DEFAULT_CHECKPOINT} (in the repository); required for other models unless --strategy scratch.")
flags.DEFINE_string("dataset", _d.dataset, "Dataset name: cifar10, folder, synthetic, synthetic_source.")
flags.DEFINE_string("dataset_dir", None, "Where the dataset's files are (not needed for synthetic data).")
flags.DEFINE_string("train_dir", None, "Where checkpoints and summaries go; default runs/<model>-<dataset>-<strategy>.")
flags.DEFINE_string("exclude", None,
                    "Comma-separated scopes not restored (the new head), or 'auto' for the ones whose shapes differ. "
                    "Default with the built-in checkpoint: the net's head (CifarNet/logits).")
flags.DEFINE_string("scope_map", None, "Checkpoint-to-graph scope renames, 'ckpt_scope=graph_scope,...'.")
flags.DEFINE_enum("strategy", None, list(train.STRATEGIES),
                  "What trains: head (default with --exclude), top (--unfreeze N blocks + head), all (default "
                  "without --exclude), discriminative (all, lower rates for lower blocks), scratch (no checkpoint).")
flags.DEFINE_integer("unfreeze", _d.unfreeze, "--strategy top: number of blocks below the head to train.")
flags.DEFINE_float("lr_factor", _d.lr_factor, "--strategy discriminative: learning-rate divisor per block.")
flags.DEFINE_string("trainable_scopes", None, "Comma-separated scopes to train; overrides --strategy.")
flags.DEFINE_integer("image_size", None, "Input size (square); default: the net's default size.")
flags.DEFINE_string("preprocessing", None, "Preprocessing style; default: the one the net was released with.")
flags.DEFINE_bool("augment", None, "Random crops and flips of the training images (default: on; --noaugment: off).")
flags.DEFINE_integer("train_subset", None, "Use only this many training images per class.")
flags.DEFINE_integer("batch_size", _d.batch_size, "Images per training step.")
flags.DEFINE_integer("max_steps", _d.max_steps, "Stop at this global step.")
flags.DEFINE_enum("optimizer", _d.optimizer, list(train.OPTIMIZERS), "Optimizer.")
flags.DEFINE_float("learning_rate", _d.learning_rate,
                   f"Initial learning rate (TF-Slim's {_d.learning_rate:g}; {DEFAULT_LEARNING_RATE:g} for the built-in "
                   f"example when not given).")
flags.DEFINE_float("momentum", _d.momentum, "Momentum (momentum and rmsprop optimizers).")
flags.DEFINE_enum("lr_decay", _d.lr_decay, list(train.LR_DECAYS), "Learning-rate schedule (also --learning_rate_decay): fixed, exponential (staircase), cosine.")
flags.DEFINE_integer("decay_steps", None, "exponential: steps per decay (default max_steps/4); "
                                          "cosine: steps to zero (default max_steps).")
flags.DEFINE_float("decay_rate", _d.decay_rate, "exponential: factor per decay_steps (staircase).")
flags.DEFINE_float("weight_decay", _d.weight_decay, "L2 weight decay of the trained variables.")
flags.DEFINE_integer("eval_every_steps", _d.eval_every_steps,
                     "Evaluate on the test split every N steps (0: at the end only).")
flags.DEFINE_integer("eval_batch_size", None, "Batch size of evaluation (default --batch_size).")
flags.DEFINE_integer("eval_examples", None, "Evaluate on the first N test images only.")
flags.DEFINE_integer("log_every_steps", _d.log_every_steps, "Log and write summaries every N steps.")
flags.DEFINE_integer("save_every_steps", _d.save_every_steps, "Save a checkpoint every N steps.")
flags.DEFINE_integer("keep_checkpoints", _d.keep_checkpoints, "How many recent checkpoints to keep.")
flags.DEFINE_integer("seed", _d.seed, "Random seed (initialization, data order, subsets).")
flags.DEFINE_string("device", _d.device, "auto, cpu or gpu (optionally with an index, e.g. gpu:1).")
flags.DEFINE_bool("mixed_precision", _d.mixed_precision,
                  "float16 compute with float32 weights and loss scaling (for GPUs; slower on a CPU).")
flags.DEFINE_bool("dry_run", False, "Print the resolved configuration and exit without training.")

# The spelling, then TF-Slim's train_image_classifier.py spellings.
for _alias, _name in (("learning_rate_decay", "lr_decay"), ("model_name", "model"), ("dataset_name", "dataset"), ("checkpoint_exclude_scopes", "exclude"),
                      ("max_number_of_steps", "max_steps"), ("learning_rate_decay_type", "lr_decay"),
                      ("learning_rate_decay_factor", "decay_rate"), ("log_every_n_steps", "log_every_steps"),
                      ("train_image_size", "image_size"), ("preprocessing_name", "preprocessing")):
    flags.DEFINE_alias(_alias, _name)

FLAGS = flags.FLAGS


def config_from_flags():
    """The TrainConfig the flags ask for, with the built-in example's defaults filled in."""
    fields = {f.name for f in dataclasses.fields(train.TrainConfig)}
    config = train.TrainConfig(**{name: FLAGS[name].value for name in fields})
    nets.get_info(config.model)  # an unknown --model lists the known ones before any other advice
    if config.checkpoint_path is None and config.strategy != "scratch":
        if config.model != DEFAULT_MODEL:
            raise TlslimError(f"--model {config.model} needs --checkpoint_path (its release checkpoint); "
                              f"or use --strategy scratch to train it from random weights.")
        path = os.path.join(REPO, DEFAULT_CHECKPOINT)
        try:
            restore.resolve_checkpoint(path)
        except TlslimError:
            raise TlslimError(f"the built-in checkpoint {DEFAULT_CHECKPOINT} is not there; make it with "
                              f"`python {DEFAULT_CHECKPOINT_MAKER}`, or pass --checkpoint_path.") from None
        config.checkpoint_path = path
        if config.exclude is None:
            config.exclude = nets.get_info(config.model).head_scope
        if not FLAGS["learning_rate"].present:
            config.learning_rate = DEFAULT_LEARNING_RATE
    return config


def main(argv):
    if len(argv) > 1:
        raise TlslimError(f"unexpected arguments {' '.join(argv[1:])}; all options are --flags (see --helpshort).")
    config = config_from_flags()
    if FLAGS.dry_run:
        for name, value in dataclasses.asdict(config).items():
            print(f"{name}={value}")
        return
    result = train.train(config)
    top5 = f", top-5 {result['top5']:.4f}" if result["top5"] is not None else ""
    print(f"step {result['step']}: test top-1 {result['top1']:.4f}{top5}; checkpoint {result['checkpoint']}")


if __name__ == "__main__":
    cli.run(main)
