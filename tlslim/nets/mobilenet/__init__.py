"""MobileNet v2 and v3 as research/slim's `nets/mobilenet` package: the generic builder
(`mobilenet`), its blocks (`conv_blocks`) and the architectures (`mobilenet_v2`, `mobilenet_v3`).

    from tlslim.nets.mobilenet import mobilenet_v2      # slim: from nets.mobilenet import mobilenet_v2
"""
