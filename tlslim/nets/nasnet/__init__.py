"""NASNet-A and PNASNet-5, laid out as research/slim's `nets/nasnet/` (`from nets.nasnet import
nasnet` becomes `from tlslim.nets.nasnet import nasnet`). Importing the package registers
nasnet_mobile, nasnet_large, pnasnet_mobile and pnasnet_large."""
from tlslim.nets.nasnet import nasnet, nasnet_utils, pnasnet

__all__ = ["nasnet", "nasnet_utils", "pnasnet"]
