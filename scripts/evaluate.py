"""Top-1/top-5 accuracy and macro-averaged recall and F1 of a checkpoint on a dataset split
(inference mode); with --report, a report of what the model learned.

    python scripts/evaluate.py --checkpoint_path runs/cifarnet-synthetic-head
    python scripts/evaluate.py --checkpoint_path runs/cifarnet-synthetic-head --report report
    python scripts/evaluate.py --checkpoint_path model.ckpt-1000 --model vgg_16 \\
        --dataset cifar10 --dataset_dir /data/cifar10 --image_size 32

--checkpoint_path may be a file, a V2 prefix, or a --train_dir of scripts/finetune.py; for a
train_dir, --model, --dataset, --dataset_dir, --image_size and --preprocessing default to the
ones it was trained with. --report DIR writes report.md and report.json (per-class precision,
recall, F1 and support with macro and weighted averages, top-k accuracy, the confusion matrix),
confusion_matrix.png, topk_accuracy.png, most_confident_errors.png and, for a train_dir,
training_curves.png from its TensorBoard events (see tlslim.report).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, report, train  # noqa: E402

FIELDS = cli.define_flags(train.EvalConfig)
flags.DEFINE_string("report", None, "Also write a report of what the model learned into this directory: "
                    "report.md/.json (per-class metrics), confusion matrix, top-k accuracy, most confident "
                    "errors and, for a train_dir, training curves (PNG).")
FLAGS = flags.FLAGS


def main(argv):
    cli.no_arguments(argv)
    config = cli.from_flags(train.EvalConfig, FIELDS)
    if FLAGS.report is not None:
        result, config, files = report.evaluate_and_report(config, FLAGS.report)
        print(f"report in {FLAGS.report}: {', '.join(os.path.basename(f) for f in files)}")
    else:
        result, config = train.evaluate_run(config)
    top5 = f"  top-5 {result['top5']:.4f}" if result["top5"] is not None else ""
    print(f"{config.model} on {config.dataset}/{config.split} ({result['count']} images): top-1 {result['top1']:.4f}"
          f"{top5}  macro recall {result['macro_recall']:.4f}  macro F1 {result['macro_f1']:.4f}"
          f"  loss {result['loss']:.4f}")


if __name__ == "__main__":
    cli.run(main)
