"""tlslim: the TF-Slim transfer-learning workflow in graph mode on current TensorFlow."""
from tlslim.errors import TlslimError

__version__ = "0.1.0"
__all__ = ["TlslimError", "__version__"]
