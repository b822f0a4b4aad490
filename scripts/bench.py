"""Benchmark of tlslim's training paths against the course notebook's loop and Keras, as ratios.

    python scripts/bench.py                        # small: CPU minutes, SYNTHETIC data
    python scripts/bench.py --preset full --checkpoint_path vgg_16.ckpt --dataset cifar10 \\
        --dataset_dir data --device gpu            # VGG-16 at 224

What each part measures, and the targets: tlslim/benchmark/__init__.py. The ratios are printed;
the whole report, absolute numbers included, goes to --output as JSON.
"""
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, train  # noqa: E402
from tlslim.benchmark.report import format_report  # noqa: E402
from tlslim.benchmark.run import run  # noqa: E402
from tlslim.benchmark.settings import PRESETS, Settings  # noqa: E402

_d = Settings()

flags.DEFINE_enum("preset", _d.preset, list(PRESETS),
                  "Sizes: small (default, minutes on a CPU) or full (VGG-16 at 224).")
flags.DEFINE_string("output", os.path.join("runs", "bench.json"), "Where the JSON results go.")
flags.DEFINE_string("model", None, "Network (default: the preset's, vgg_16).")
flags.DEFINE_integer("image_size", None, "Input size (default: the preset's).")
flags.DEFINE_string("checkpoint_path", None, "Pretrained checkpoint of --model; default: a SYNTHETIC release-format "
                                             "one (random values) written to a temporary directory.")
flags.DEFINE_string("head_model", None, "Net of the head-only parts (baseline head epochs, cached features); default: "
                                        "--model with --checkpoint_path, else the embedded cifarnet.")
flags.DEFINE_string("head_checkpoint_path", None, "Checkpoint of --head_model when it differs from --model; default "
                                                  "for cifarnet: the embedded checkpoints/cifarnet_synthetic.")
flags.DEFINE_string("dataset", _d.dataset, "Dataset (default: the SYNTHETIC procedurally generated task).")
flags.DEFINE_string("dataset_dir", None, "Dataset directory (cifar10, folder).")
flags.DEFINE_integer("train_subset", None, "Training images per class (default: the preset's).")
flags.DEFINE_integer("eval_examples", None, "Evaluate on the first N test images (default: the preset's).")
flags.DEFINE_alias("test_examples", "eval_examples")  # the Settings field's name
flags.DEFINE_integer("batch_size", None, "Batch size of every training loop (default: the preset's).")
flags.DEFINE_integer("epochs", None, "Head-training epochs, baseline and cached (default: the preset's).")
flags.DEFINE_integer("full_images", None, "Images per timed full fine-tune run, after a warm-up (default: preset).")
flags.DEFINE_integer("rounds", _d.rounds,
                     "Timed rounds of --full_images per full fine-tune system; the fastest counts.")
flags.DEFINE_integer("matmul_size", None, "n of the n x n float32 matmul measuring the peak (default: preset).")
flags.DEFINE_enum("optimizer", _d.optimizer, list(train.OPTIMIZERS), "Optimizer of every training loop.")
flags.DEFINE_float("learning_rate", _d.learning_rate, "Learning rate of the head-only runs (baseline and cached).")
flags.DEFINE_enum("lr_decay", _d.lr_decay, list(train.LR_DECAYS),
                  "Schedule of the head-only runs; cosine (the default) lets both runs settle on the optimum, so "
                  "their accuracies compare without the noise of the last steps.")
flags.DEFINE_float("full_learning_rate", _d.full_learning_rate, "Learning rate of the timed full fine-tune steps.")
flags.DEFINE_float("weight_decay", _d.weight_decay, "L2 weight decay (VGG's release value).")
flags.DEFINE_string("device", _d.device, "auto, cpu or gpu (optionally with an index, e.g. gpu:1).")
flags.DEFINE_list("parts", list(_d.parts), "Parts to run: head (1, 2), full (3 with the baseline loop), keras (3a), "
                                           "peak (4), precision (5: float32 against mixed_bfloat16), replicas (6: 1 "
                                           "against 2 replicas on CPU devices); 5 and 6 not by default.")
flags.DEFINE_bool("keras_xla", _d.keras_xla, "Also time the Keras Applications model with jit_compile=True (XLA).")
flags.DEFINE_string("work_dir", None, "Scratch directory (checkpoints, cache); default: a temporary one, deleted.")
flags.DEFINE_integer("seed", _d.seed, "Random seed.")
FLAGS = flags.FLAGS

# Every Settings field is the flag of the same name, but these (spelled as in the other scripts).
_FLAG_OF = {"head_checkpoint": "head_checkpoint_path", "test_examples": "eval_examples"}
_FIELDS = {f.name: _FLAG_OF.get(f.name, f.name) for f in dataclasses.fields(Settings)}


def main(argv):
    cli.no_arguments(argv)
    settings = Settings(**{name: FLAGS[flag].value for name, flag in _FIELDS.items()})
    report = run(settings, output=FLAGS.output)
    print(format_report(report))
    print(f"results: {FLAGS.output}")


if __name__ == "__main__":
    cli.run(main)
