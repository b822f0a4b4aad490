"""Fine-tune a pretrained TF-Slim net on a dataset (the transfer-learning recipe).

With no flags it runs the embedded example: CifarNet pretrained on the synthetic source dataset
(checkpoints/cifarnet_synthetic) gets a new head trained on the synthetic target dataset.

    python scripts/finetune.py
    python scripts/finetune.py --model vgg_16 --checkpoint_path vgg_16.ckpt --exclude vgg_16/fc8 \\
        --dataset cifar10 --dataset_dir /data/cifar10 --image_size 32 --max_steps 1000
    python scripts/finetune.py --strategy head --cache_features --noaugment   # the base runs once per image

Re-running the same command resumes from --train_dir. The flags are the fields of
tlslim.train.TrainConfig. TF-Slim's train_image_classifier.py names are accepted as aliases:
--model_name, --dataset_name, --checkpoint_exclude_scopes, --max_number_of_steps,
--learning_rate_decay_type, --learning_rate_decay_factor, --log_every_n_steps, --train_image_size,
--preprocessing_name (--train_dir, --optimizer, --trainable_scopes, --weight_decay, --batch_size,
--learning_rate, --momentum are spelled the same). Not mapped: --num_epochs_per_decay (use
--decay_steps, in steps), --save_interval_secs and --save_summaries_secs (use --save_every_steps),
--ignore_missing_vars (the preflight check stops on missing variables instead). Across machines:
TF_CONFIG, or --worker_hosts/--ps_hosts with --job_name and --task (slim's --worker_replicas and
--num_ps_tasks are checked against them); see the README's "Training across machines".
"""
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import flags  # noqa: E402

from tlslim import cli, train  # noqa: E402

FIELDS = cli.define_flags(train.TrainConfig)
flags.DEFINE_bool("dry_run", False, "Print the resolved configuration and exit without training.")
FLAGS = flags.FLAGS


def main(argv):
    cli.no_arguments(argv)
    config = cli.from_flags(train.TrainConfig, FIELDS)
    config = train.with_default_checkpoint(config, learning_rate_given=cli.given("learning_rate"))
    if FLAGS.dry_run:
        for name, value in dataclasses.asdict(config).items():
            print(f"{name}={cli.flag_text(value)}")
        return
    result = train.train(config)
    if result["role"] and result["top1"] is None:  # a cluster's task other than the chief
        if result["step"] is None:
            print(f"{result['role']}: the chief released it; the run is over")
        else:
            print(f"{result['role']}: stopped at step {result['step']}; the chief saves and evaluates the run")
        return
    top5 = f", top-5 {result['top5']:.4f}" if result["top5"] is not None else ""
    macro = f", macro recall {result['macro_recall']:.4f}" if result["macro_recall"] is not None else ""
    print(f"step {result['step']}: test top-1 {result['top1']:.4f}{top5}{macro}; checkpoint {result['checkpoint']}")
    if result["diverged"]:
        sys.stderr.write(f"warning: {result['diverged']}\n")


if __name__ == "__main__":
    cli.run(main)
