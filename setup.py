"""tlslim: TF-Slim-style transfer learning in graph mode on current TensorFlow."""
from setuptools import find_packages, setup

setup(
    name="tlslim",
    version="0.1.0",
    description="The TF-Slim transfer-learning workflow (graph mode, release checkpoints) on current TensorFlow",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # The embedded checkpoint (tlslim.embedded) ships as package data: the repository's checkpoints/
    # directory becomes tlslim/checkpoints/ in the installed package. A source checkout or an
    # editable install reads it from the repository instead.
    packages=find_packages(include=["tlslim", "tlslim.*"]) + ["tlslim.checkpoints"],
    package_dir={"tlslim.checkpoints": "checkpoints"},
    package_data={
        "tlslim.nets": ["manifests/*.json"],
        "tlslim.data": ["imagenet_classes.txt"],
        "tlslim.checkpoints": ["README.md", "cifarnet_synthetic/*.ckpt", "cifarnet_synthetic/*.json"],
    },
    python_requires=">=3.9",
    install_requires=[
        "tensorflow>=2.15",
        "tf-slim==1.1.0",
        "numpy",
        "absl-py",
        "matplotlib",
    ],
    extras_require={"test": ["pytest"]},
)
