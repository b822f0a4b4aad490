"""Variable-scope matching shared by restore, training and batch norm.

A prefix matches at scope boundaries only: `vgg_16/fc8` matches `vgg_16/fc8/weights`
and `vgg_16/fc8` itself, never `vgg_16/fc80/weights`.
"""
import difflib

from tlslim.errors import TlslimError


def parse_scopes(value):
    """'a, b ,,c' or ['a ', 'b'] or None -> ['a', 'b', 'c'] (whitespace stripped, empties and
    trailing slashes dropped, order kept, duplicates removed)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    out = []
    for item in items:
        s = str(item).strip().rstrip("/").strip()
        if s and s not in out:
            out.append(s)
    return out


def strip_tensor_suffix(name):
    """'vgg_16/fc8/weights:0' -> 'vgg_16/fc8/weights'."""
    head, sep, tail = name.rpartition(":")
    return head if sep and tail.isdigit() else name


def in_scope(name, prefixes):
    """True if `name` (a variable or op name, ':0' allowed) lies under any of `prefixes`."""
    name = strip_tensor_suffix(name)
    return any(name == p or name.startswith(p + "/") for p in prefixes)


def all_scopes(names):
    """Every scope prefix of the given variable names, e.g. 'a/b/c' -> {'a', 'a/b', 'a/b/c'}."""
    out = set()
    for name in names:
        parts = strip_tensor_suffix(name).split("/")
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def closest_scopes(prefix, names, n=5):
    """The existing scopes (of `names`) that look most like `prefix`, best first."""
    candidates = sorted(all_scopes(names))
    close = difflib.get_close_matches(prefix, candidates, n=n, cutoff=0.5)
    if not close:
        # Fall back to the scopes at the same depth, which is what a user usually meant.
        depth = prefix.count("/")
        close = [c for c in candidates if c.count("/") == depth][:n]
    return close


def check_scopes_match(prefixes, names, flag):
    """Raise TlslimError naming the first prefix that matches none of `names`.

    `flag` is the option the prefix came from (e.g. '--exclude'), so the message can say
    what to change.
    """
    names = [strip_tensor_suffix(n) for n in names]
    for p in prefixes:
        if not any(n == p or n.startswith(p + "/") for n in names):
            close = closest_scopes(p, names)
            hint = ("closest existing scopes: " + ", ".join(close)) if close else "the graph has no variables"
            raise TlslimError(f"{flag} scope '{p}' matches no variable; {hint}. Fix the spelling of {flag}.")
