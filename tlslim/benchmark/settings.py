"""What one benchmark run measures: presets, the Settings, and their resolution.

    settings = resolve(Settings(preset="small", epochs=10))   # every None filled in

`Settings` fields left None take the preset's value (model, sizes, counts) or a derived default
(the head-only parts' net and checkpoint); `resolve` fills them in and checks the combination.
`Settings.as_dict()` is what the report records under "settings".
"""
import dataclasses
from typing import Optional, Sequence

from tlslim import embedded
from tlslim.errors import TlslimError

__all__ = ["DEFAULT_PARTS", "PARTS", "PRESETS", "Settings", "resolve"]

PRESETS = {
    # A few minutes on 2 CPU cores.
    "small": dict(model="vgg_16", image_size=32, train_subset=50, test_examples=1000, batch_size=32, epochs=40,
                  full_images=128, matmul_size=2048),
    # The full size: VGG-16 at 224 (meant for a GPU).
    "full": dict(model="vgg_16", image_size=224, train_subset=100, test_examples=1000, batch_size=32, epochs=5,
                 full_images=1024, matmul_size=8192),
}
# head: parts 1 and 2; full: 3 with the baseline loop and the FLOP count; keras: 3a; peak: 4;
# precision: 5, replicas: 6 (asked for by name, not run by default).
PARTS = ("head", "full", "keras", "peak", "precision", "replicas")
DEFAULT_PARTS = PARTS[:4]


@dataclasses.dataclass(frozen=True)
class Settings:
    """One benchmark run; None: the preset's value (or, for the head-only net and checkpoint,
    the default described in tlslim.benchmark)."""
    preset: str = "small"
    model: Optional[str] = None                # net of the full fine-tune parts
    image_size: Optional[int] = None
    checkpoint_path: Optional[str] = None      # None: a SYNTHETIC release-format checkpoint of `model`
    head_model: Optional[str] = None           # net of the head-only parts
    head_checkpoint: Optional[str] = None      # checkpoint of head_model when it differs from model
    dataset: str = "synthetic"
    dataset_dir: Optional[str] = None
    train_subset: Optional[int] = None         # training images per class
    test_examples: Optional[int] = None
    batch_size: Optional[int] = None           # of every training loop
    epochs: Optional[int] = None               # head-training epochs, baseline and cached
    full_images: Optional[int] = None          # images per timed full fine-tune round, after a warm-up
    rounds: int = 3                            # timed rounds per full fine-tune system; the fastest counts
    matmul_size: Optional[int] = None          # n of the n x n float32 matmul measuring the peak
    optimizer: str = "momentum"                # of every training loop
    learning_rate: float = 0.003               # of the head-only runs
    lr_decay: str = "cosine"                   # schedule of the head-only runs
    full_learning_rate: float = 1e-6           # of the timed full fine-tune steps
    weight_decay: float = 0.0005               # VGG's release value
    device: str = "auto"
    parts: Sequence[str] = DEFAULT_PARTS
    keras_xla: bool = False                    # also time the Keras Applications model with XLA
    work_dir: Optional[str] = None             # scratch (checkpoints, cache); None: a temporary one, deleted
    seed: int = 0

    @property
    def synthetic_checkpoint(self):
        """True when the full fine-tune parts run on a SYNTHETIC checkpoint (random values)."""
        return self.checkpoint_path is None

    def as_dict(self):
        """The JSON-ready record of the settings (with synthetic_checkpoint)."""
        out = dataclasses.asdict(self)
        out["parts"] = list(self.parts)
        out["synthetic_checkpoint"] = self.synthetic_checkpoint
        return out


def resolve(settings):
    """`settings` with every None filled in from its preset and defaults; TlslimError when the
    combination cannot run. Resolving resolved settings changes nothing."""
    if settings.preset not in PRESETS:
        raise TlslimError(f"unknown preset '{settings.preset}'; known: {', '.join(PRESETS)}.")
    filled = {name: value for name, value in PRESETS[settings.preset].items() if getattr(settings, name) is None}
    s = dataclasses.replace(settings, parts=tuple(p.strip() for p in settings.parts), **filled)
    unknown = set(s.parts) - set(PARTS)
    if unknown:
        raise TlslimError(f"--parts: unknown part(s) {', '.join(sorted(unknown))}; use {','.join(PARTS)}.")
    # Random weights carry next to no signal through 16 layers (a ridge probe on SYNTHETIC vgg_16
    # features scored 16% on the 10-class task), so without a real checkpoint the head-only
    # comparison runs on the embedded pretrained CifarNet, where accuracy means something.
    head_model = s.head_model or (embedded.MODEL if s.synthetic_checkpoint else s.model)
    head_checkpoint = s.head_checkpoint or (embedded.checkpoint_dir() if head_model == embedded.MODEL else None)
    if head_model != s.model and head_checkpoint is None:
        raise TlslimError(f"--head_model {head_model} needs --head_checkpoint_path.")
    if "keras" in s.parts:
        if s.model != "vgg_16":
            raise TlslimError("the Keras comparison is VGG-16's; use --model vgg_16 or leave keras out of --parts.")
        if s.optimizer != "momentum":
            raise TlslimError("the Keras comparison uses SGD with momentum; use --optimizer momentum.")
    return dataclasses.replace(s, head_model=head_model, head_checkpoint=head_checkpoint)
