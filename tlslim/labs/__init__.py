"""Course lab exercises that reproduce the lectures' demonstrations in graph mode.

Each lab is a module with `run(output_dir=None) -> dict` (the numbers, JSON-ready; the paths
of any PNGs it saved under 'figures') and `format(result) -> str` (a small table).

    from tlslim import labs
    result = labs.run('activations')
    print(labs.get('activations').format(result))
"""
import importlib
import inspect

from tlslim.errors import TlslimError

# name -> module under tlslim.labs, in the order of the course.
LABS = {
    "activations": "activations",
    "weight_init": "weight_init",
    "batch_norm": "batch_norm",
    "tensor_names": "tensor_names",
    "receptive_field": "receptive_field",
    "params": "params",
    "preprocessing": "preprocessing",
    "regularization": "regularization",
    "strategies": "strategies",
}


def names():
    return list(LABS)


def get(name):
    """The lab module `name`; TlslimError listing the known labs otherwise."""
    if name not in LABS:
        raise TlslimError(f"unknown lab '{name}'; known labs: {', '.join(names())}")
    return importlib.import_module(f"tlslim.labs.{LABS[name]}")


def title(name):
    """The first line of the lab's docstring."""
    doc = get(name).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def takes_nets(name):
    """Whether lab `name` can be run on nets of the registry (its run() has a `nets` argument)."""
    return "nets" in inspect.signature(get(name).run).parameters


def run(name, output_dir=None, nets=None):
    """Run lab `name`; `nets` (registry names) for the labs that take them."""
    if nets:
        if not takes_nets(name):
            labs = ", ".join(n for n in names() if takes_nets(n))
            raise TlslimError(f"lab '{name}' does not take --nets; the labs that do: {labs}.")
        return get(name).run(output_dir=output_dir, nets=tuple(nets))
    return get(name).run(output_dir=output_dir)
