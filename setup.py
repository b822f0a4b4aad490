"""tlslim: TF-Slim-style transfer learning in graph mode on current TensorFlow."""
from setuptools import find_packages, setup

setup(
    name="tlslim",
    version="0.1.0",
    description="The TF-Slim transfer-learning workflow (graph mode, release checkpoints) on current TensorFlow",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tlslim", "tlslim.*"]),
    package_data={"tlslim.nets": ["manifests/*.json"]},
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
