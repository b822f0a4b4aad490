"""Compare transfer-learning strategies with equal step budgets over several seeds: a table and plots.

With no flags it runs on the embedded default (CifarNet pretrained on the SYNTHETIC source task,
fine-tuned on the synthetic target with 20 images per class) and writes runs/compare/.

    python scripts/compare.py
    python scripts/compare.py --train_subset 5,20,100 --output_dir runs/compare_subsets
    python scripts/compare.py --model vgg_16 --checkpoint_path vgg_16.ckpt --dataset cifar10 \\
        --dataset_dir data/cifar-10-batches-py --image_size 224 --strategies scratch,head,all

--output_dir receives comparison.json, comparison.md, comparison.png (test accuracy against
steps) and, with two or more --train_subset values, comparison_train_subset.png (accuracy
against images per class). Re-running the same command reuses the finished runs.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, compare, train  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402

_d = compare.CompareConfig()

flags.DEFINE_string("model", _d.model, "Network name (see tlslim.nets.names()).")
flags.DEFINE_string("checkpoint_path", None,
                    "Pretrained checkpoint (V1 file, V2 prefix or directory); default for cifarnet: the embedded "
                    "checkpoints/cifarnet_synthetic.")
flags.DEFINE_string("exclude", None, "Scopes not restored (the new head); default: the net's head scope.")
flags.DEFINE_string("scope_map", None, "Checkpoint-to-graph scope renames, 'ckpt_scope=graph_scope,...'.")
flags.DEFINE_string("dataset", _d.dataset, "Dataset name: synthetic, cifar10, folder, synthetic_source.")
flags.DEFINE_string("dataset_dir", None, "Where the dataset's files are (not needed for synthetic data).")
flags.DEFINE_integer("image_size", None, "Input size (square); default: the net's default size.")
flags.DEFINE_string("preprocessing", None, "Preprocessing style; default: the one the net was released with.")
flags.DEFINE_list("strategies", list(_d.strategies), f"Strategies to compare, from {', '.join(compare.STRATEGIES)}.")
flags.DEFINE_list("seeds", [str(s) for s in _d.seeds], "Seeds; each strategy runs once per seed.")
flags.DEFINE_list("train_subset", None,
                  "Training images per class, one or more (comma-separated; 'all' for the whole split); two or "
                  f"more add comparison_train_subset.png. Default: {compare.DEFAULT_SYNTHETIC_SUBSET} on the "
                  "synthetic target (the small-data setting), else all.")
flags.DEFINE_integer("max_steps", _d.max_steps, "Training steps of every run (the equal budget).")
flags.DEFINE_integer("batch_size", _d.batch_size, "Images per training step.")
flags.DEFINE_enum("optimizer", _d.optimizer, list(train.OPTIMIZERS), "Optimizer (the same for every strategy).")
flags.DEFINE_float("learning_rate", _d.learning_rate, "Learning rate (the same for every strategy).")
flags.DEFINE_enum("lr_decay", _d.lr_decay, list(train.LR_DECAYS), "Learning-rate schedule.")
flags.DEFINE_float("weight_decay", _d.weight_decay, "L2 weight decay of the trained variables.")
flags.DEFINE_integer("unfreeze", _d.unfreeze, "Strategy top: blocks below the head that train.")
flags.DEFINE_float("lr_factor", _d.lr_factor, "Strategy discriminative: learning-rate divisor per block.")
flags.DEFINE_bool("augment", _d.augment, "Random crops/flips in training; default: the preprocessing style's choice.")
flags.DEFINE_integer("eval_every_steps", None, "Test-set evaluations for the curves; default: max_steps / 5.")
flags.DEFINE_integer("eval_examples", None, "Evaluate on the first N test images only.")
flags.DEFINE_integer("eval_batch_size", None, "Batch size of evaluation (default --batch_size).")
flags.DEFINE_string("device", _d.device, "auto, cpu or gpu (optionally with an index, e.g. gpu:1).")
flags.DEFINE_bool("mixed_precision", _d.mixed_precision, "float16 compute with float32 weights (for GPUs).")
flags.DEFINE_string("output_dir", os.path.join("runs", "compare"), "Where the comparison files go.")
flags.DEFINE_string("work_dir", None, "Where the runs go; default: <output_dir>/runs.")
flags.DEFINE_bool("keep_checkpoints", False, "Keep every finished run's checkpoint (default: its result only).")
FLAGS = flags.FLAGS


def _ints(values, flag):
    try:
        return [int(v) for v in values]
    except ValueError:
        raise TlslimError(f"--{flag} takes comma-separated integers, got {','.join(values)}.") from None


def config_from_flags():
    subsets = None
    if FLAGS.train_subset is not None:
        subsets = [None if v.strip().lower() == "all" else v for v in FLAGS.train_subset]
        subsets = [None if v is None else _ints([v], "train_subset")[0] for v in subsets]
    return compare.CompareConfig(
        model=FLAGS.model, checkpoint_path=FLAGS.checkpoint_path, exclude=FLAGS.exclude, scope_map=FLAGS.scope_map,
        dataset=FLAGS.dataset, dataset_dir=FLAGS.dataset_dir, image_size=FLAGS.image_size,
        preprocessing=FLAGS.preprocessing, strategies=[s.strip() for s in FLAGS.strategies],
        seeds=_ints(FLAGS.seeds, "seeds"), train_subsets=subsets, max_steps=FLAGS.max_steps,
        batch_size=FLAGS.batch_size, optimizer=FLAGS.optimizer, learning_rate=FLAGS.learning_rate,
        lr_decay=FLAGS.lr_decay, weight_decay=FLAGS.weight_decay, unfreeze=FLAGS.unfreeze,
        lr_factor=FLAGS.lr_factor, augment=FLAGS.augment, eval_every_steps=FLAGS.eval_every_steps,
        eval_examples=FLAGS.eval_examples, eval_batch_size=FLAGS.eval_batch_size, device=FLAGS.device,
        mixed_precision=FLAGS.mixed_precision, work_dir=FLAGS.work_dir, keep_checkpoints=FLAGS.keep_checkpoints)


def main(argv):
    if len(argv) > 1:
        raise TlslimError(f"unexpected arguments {' '.join(argv[1:])}; all options are --flags (see --helpshort).")
    result = compare.run(config_from_flags(), output_dir=FLAGS.output_dir)
    print(compare.markdown(result), end="")
    print(f"total {result['seconds']:.0f} s; wrote {', '.join(result['files'])}")


if __name__ == "__main__":
    cli.run(main)
