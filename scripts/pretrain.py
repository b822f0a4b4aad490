"""Reproduce the embedded checkpoint: CifarNet trained from scratch on the SYNTHETIC source task.

    python scripts/pretrain.py          # writes runs/pretrain/cifarnet_synthetic.ckpt (and .json)
    python scripts/pretrain.py --output checkpoints/cifarnet_synthetic/cifarnet_synthetic.ckpt --overwrite
                                        # rebuilds the embedded checkpoint that ships with tlslim

Trains on `synthetic_source` (20 classes of procedurally generated images; see
tlslim/data/synthetic.py), then exports a TF-Slim-release-style V1 file (model variables and
global_step only) and a JSON record beside it (sha256, source test accuracy, the recipe).
An existing --output (the embedded checkpoint included) is replaced only with --overwrite, and
then only once the new file and its record are complete. Deterministic from --seed;
checkpoints/README.md says how long it takes and how exactly a re-run reproduces the shipped
file. The output is a synthetic-data model, not an ImageNet one.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, pretrain, train  # noqa: E402

_d = pretrain.PretrainConfig()
OUTPUT_FIELDS = cli.define_flags(pretrain.PretrainConfig, skip=("train",))
TRAIN_FIELDS = cli.define_flags(train.TrainConfig, defaults=_d.train, only=(
    "train_dir", "max_steps", "batch_size", "optimizer", "learning_rate", "lr_decay", "weight_decay", "augment",
    "train_subset", "eval_examples", "seed", "device"), help={
    "train_dir": "Where training checkpoints go (a re-run resumes there); default: a temporary directory, deleted "
                 "at the end.",
    "train_subset": "Use only this many source images per class (default: all).",
    "eval_examples": "Evaluate on the first N source test images (default: all)."})
FLAGS = flags.FLAGS


def main(argv):
    cli.no_arguments(argv)
    config = cli.nested_from_flags(_d, OUTPUT_FIELDS, TRAIN_FIELDS)
    output = config.output or pretrain.default_output()
    previous = pretrain.read_record(output)
    record = pretrain.pretrain(config)
    print(f"wrote {output} ({record['bytes']} bytes, step {record['step']}) in {record['seconds']:.0f} s; "
          f"source test top-1 {record['source_test_top1']:.4f} on {record['source_test_examples']} images")
    print(f"sha256 {record['sha256']}")
    if previous and previous.get("sha256"):
        same = "identical to" if previous["sha256"] == record["sha256"] else "different from"
        print(f"the new file is {same} the one it replaced (sha256 {previous['sha256']})")


if __name__ == "__main__":
    cli.run(main)
