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

_d = compare.CompareConfig()
# The shared settings are TrainConfig's fields (at the comparison's defaults), except those that
# each run of the comparison sets itself and those of a cluster (a comparison runs in one process);
# then the comparison's own.
TRAIN_FIELDS = cli.define_flags(train.TrainConfig, defaults=_d.train,
                                skip=compare.PER_RUN_FIELDS + train.CLUSTER_FIELDS, help={
    "learning_rate": "Learning rate (the same for every strategy).",
    "eval_every_steps": "Test-set evaluations for the curves; default: max_steps / 5.",
    "checkpoint_path": "Pretrained checkpoint (V1 file, V2 prefix or directory); default for cifarnet: the "
                       "embedded checkpoints/cifarnet_synthetic.",
    "exclude": "Scopes not restored (the new head); default: the net's head scope."})
COMPARE_FIELDS = cli.define_flags(compare.CompareConfig, skip=("train",))
flags.DEFINE_string("output_dir", os.path.join("runs", "compare"), "Where the comparison files go.")
FLAGS = flags.FLAGS


def main(argv):
    cli.no_arguments(argv)
    config = cli.nested_from_flags(_d, COMPARE_FIELDS, TRAIN_FIELDS)
    result = compare.run(config, output_dir=FLAGS.output_dir)
    print(compare.markdown(result), end="")
    print(f"total {result['seconds']:.0f} s; wrote {', '.join(result['files'])}")


if __name__ == "__main__":
    cli.run(main)
