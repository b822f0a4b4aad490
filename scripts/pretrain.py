"""Reproduce the embedded checkpoint: CifarNet trained from scratch on the SYNTHETIC source task.

    python scripts/pretrain.py          # rewrites checkpoints/cifarnet_synthetic/cifarnet_synthetic.ckpt

Trains on `synthetic_source` (20 classes of procedurally generated images; see
tlslim/data/synthetic.py), then exports a TF-Slim-release-style V1 file (model variables and
global_step only) and a JSON record beside it (sha256, source test accuracy, the recipe).
Deterministic from --seed; checkpoints/README.md says how long it takes and how exactly a
re-run reproduces the shipped file. The output is a synthetic-data model, not an ImageNet one.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, pretrain, train  # noqa: E402
from tlslim.errors import TlslimError  # noqa: E402

_d = pretrain.PretrainConfig()

flags.DEFINE_string("output", _d.output, "The V1 checkpoint file to write (its JSON record goes beside it).")
flags.DEFINE_string("train_dir", None, "Where training checkpoints go (a re-run resumes there); default: a temporary "
                                       "directory, deleted at the end.")
flags.DEFINE_integer("max_steps", _d.max_steps, "Training steps.")
flags.DEFINE_integer("batch_size", _d.batch_size, "Images per step.")
flags.DEFINE_enum("optimizer", _d.optimizer, list(train.OPTIMIZERS), "Optimizer.")
flags.DEFINE_float("learning_rate", _d.learning_rate, "Initial learning rate.")
flags.DEFINE_enum("lr_decay", _d.lr_decay, list(train.LR_DECAYS), "Learning-rate schedule.")
flags.DEFINE_float("weight_decay", _d.weight_decay, "L2 weight decay.")
flags.DEFINE_bool("augment", _d.augment, "Random crops/flips; default: the preprocessing style's choice.")
flags.DEFINE_integer("train_subset", None, "Use only this many source images per class (default: all).")
flags.DEFINE_integer("eval_examples", None, "Evaluate on the first N source test images (default: all).")
flags.DEFINE_integer("seed", _d.seed, "Random seed: initialization and data order.")
flags.DEFINE_string("device", _d.device, "auto, cpu or gpu.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise TlslimError(f"unexpected arguments {' '.join(argv[1:])}; all options are --flags (see --helpshort).")
    config = pretrain.PretrainConfig(**{name: FLAGS[name].value for name in (
        "output", "train_dir", "max_steps", "batch_size", "optimizer", "learning_rate", "lr_decay", "weight_decay",
        "augment", "train_subset", "eval_examples", "seed", "device")})
    previous = pretrain.read_record(config.output)
    record = pretrain.pretrain(config)
    print(f"wrote {config.output} ({record['bytes']} bytes, step {record['step']}) in {record['seconds']:.0f} s; "
          f"source test top-1 {record['source_test_top1']:.4f} on {record['source_test_examples']} images")
    print(f"sha256 {record['sha256']}")
    if previous and previous.get("sha256"):
        same = "identical to" if previous["sha256"] == record["sha256"] else "different from"
        print(f"the new file is {same} the one it replaced (sha256 {previous['sha256']})")


if __name__ == "__main__":
    cli.run(main)
