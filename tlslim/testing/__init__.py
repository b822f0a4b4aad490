"""Writers of files in the real external formats (release checkpoints, CIFAR-10 batches, tarballs),
a loopback HTTP server and a runner of the scripts as subprocesses (`cli`), for tests and
benchmarks. Everything they make is synthetic stand-in content in the exact real format, and is
labelled so."""
