"""Ask a checkpoint what it sees: the top-5 classes, with names and probabilities, of each image.

    python scripts/predict.py --model vgg_16 --checkpoint_path checkpoints/vgg_16.ckpt photo.jpg more/*.png
    python scripts/predict.py --checkpoint_path runs/cifarnet-synthetic-head picture.png

Images are JPEG or PNG files of any size, preprocessed as the net's release was evaluated.
--model may be left out when the checkpoint's variables say which net it is; for a --train_dir of
scripts/finetune.py the model, image size, preprocessing and class names are the run's. Release
ImageNet checkpoints get ImageNet class names (1000 classes, or 1001 with background at 0).
Each image prints its path, then one line per class: probability, class index, name.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tlslim import cli  # noqa: E402
from tlslim import predict as predicting  # noqa: E402

FIELDS = cli.define_flags(predicting.PredictConfig)


def main(argv):
    config = cli.from_flags(predicting.PredictConfig, FIELDS)
    for result in predicting.predict(config, argv[1:]):
        print("\n".join(predicting.format_result(result)))


if __name__ == "__main__":
    cli.run(main)
