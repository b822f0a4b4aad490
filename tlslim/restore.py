"""Everything about checkpoints: listing, choosing what to restore, the preflight check, restoring.

    exclude, auto = restore.expand_exclude("auto", variables, ckpt)   # optional 'auto'
    report = restore.preflight(variables, ckpt, exclude=exclude)
    print(report.text()); report.check()                                # stops on a bad restore
    init_fn = restore.make_init_fn(ckpt, restore.variables_to_restore(exclude=exclude))
    ...
    init_fn(session)                                                    # after the initializers

(`prepare_restore` does these steps in one call.)

Names. *Graph names* are the names of the variables in the graph being built; *checkpoint
names* are the keys in the checkpoint file. They are equal unless a scope map says otherwise.
A scope map goes FROM CHECKPOINT PREFIX TO GRAPH PREFIX: `{'vgg_16': 'my_scope'}` restores the
checkpoint's `vgg_16/conv1/conv1_1/weights` into the graph's `my_scope/conv1/conv1_1/weights`.
Exclusions (`exclude`, `include`) always name graph scopes.

A checkpoint path may be a V1 single file (how the TF-Slim releases ship, e.g. `vgg_16.ckpt`),
a V2 prefix (`model.ckpt-100`, with `.index` and `.data-*` files; the `.index` or `.data-*`
file name itself is accepted too), or a directory (its latest checkpoint).

Entries that are not model weights -- the step counter `global_step`, the extras the releases
carry such as `vgg_16/mean_rgb`, optimizer slots -- are reported as ignored and never restored.
"""
import collections
import dataclasses
import functools
import glob
import os
import re

from tlslim import nets
from tlslim.compat import tf
from tlslim.errors import TlslimError
from tlslim.nets import registry
from tlslim.scopes import check_scopes_match, in_scope, parse_scopes, strip_tensor_suffix

__all__ = [
    "AUTO", "PreflightReport", "RestorePlan", "auto_exclude", "checkpoint_dtypes", "checkpoint_name",
    "expand_exclude", "format_shape", "identify_net", "is_extra", "list_checkpoint", "make_init_fn", "map_scopes",
    "num_elements", "parse_scope_map", "penultimate", "prepare_restore", "preflight", "resolve_checkpoint",
    "variables_to_restore", "verify_checkpoint",
]

# The flags the messages tell users to change (the names scripts/finetune.py defines).
EXCLUDE_FLAG = "--exclude"
SCOPE_MAP_FLAG = "--scope_map"
MODEL_FLAG = "--model"

AUTO = "auto"  # `--exclude auto`: exclude exactly the variables whose shapes differ

# Checkpoint entries that are never model weights, whatever the net.
_NON_MODEL_NAMES = ("global_step", "beta1_power", "beta2_power")

_V2_DATA = re.compile(r"\.data-\d{5}-of-(\d{5})$")
_STEP = re.compile(r"^(.*)-(\d+)$")
_LIST_LIMIT = 12  # names listed per category in report text


# ---------------------------------------------------------------- reading checkpoints

def _is_v2_prefix(path):
    return os.path.isfile(path + ".index")


def _checkpoints_in(directory):
    """Checkpoint paths found in `directory` by file name: V2 prefixes and V1 `*.ckpt[-N]` files."""
    found = set()
    for entry in os.listdir(directory):
        full = os.path.join(directory, entry)
        if entry.endswith(".index"):
            found.add(full[: -len(".index")])
        elif os.path.isfile(full) and re.search(r"\.ckpt(-\d+)?$", entry):
            found.add(full)
    return sorted(found)


def _latest_in(directory):
    """The latest checkpoint of a directory: the `checkpoint` state file's, else the highest step
    of the one checkpoint series in it; several unrelated checkpoints are an error."""
    latest = tf.train.latest_checkpoint(directory)
    if latest and (os.path.isfile(latest) or _is_v2_prefix(latest)):
        return latest
    found = _checkpoints_in(directory)
    if not found:
        raise TlslimError(f"directory '{directory}' holds no checkpoint (no 'checkpoint' state file, "
                          f"no *.index or *.ckpt file); pass the checkpoint file itself.")
    series = collections.defaultdict(list)
    for path in found:
        m = _STEP.match(path)
        base, step = (m.group(1), int(m.group(2))) if m else (path, -1)
        series[base].append((step, path))
    if len(series) > 1:
        names = ", ".join(os.path.basename(p) for p in found)
        raise TlslimError(f"directory '{directory}' holds several checkpoints ({names}) and no 'checkpoint' "
                          f"state file; pass the one you want.")
    return max(next(iter(series.values())))[1]


def resolve_checkpoint(path):
    """The path TF's readers accept for `path` (V1 file, V2 prefix, or a directory's latest).

    Raises TlslimError if nothing is there. The file's content is not read here.
    """
    if path is None or not str(path).strip():
        raise TlslimError("no checkpoint path was given; pass a checkpoint file, V2 prefix or directory.")
    path = os.path.expanduser(str(path).strip())
    if os.path.isdir(path):
        return _latest_in(path)
    prefix = _V2_DATA.sub("", path)
    for suffix in (".index", ".meta"):
        if prefix.endswith(suffix):
            prefix = prefix[: -len(suffix)]
    if prefix != path and _is_v2_prefix(prefix):
        return prefix
    if os.path.isfile(path) or _is_v2_prefix(path):
        return path
    raise TlslimError(f"checkpoint '{path}' not found (no such file, and no V2 checkpoint '{path}.index'); "
                      f"check the path.")


def _check_v2_data(prefix, reader):
    """A V2 checkpoint's data shards must all exist and hold at least the tensors' bytes.

    The index reads fine when a data file is missing or cut short by an interrupted copy;
    this catches that before a restore fails halfway.
    """
    shards = glob.glob(glob.escape(prefix) + ".data-?????-of-?????")
    if not shards:
        raise TlslimError(f"checkpoint '{prefix}' has an index but no data file ({prefix}.data-00000-of-...); "
                          f"copy the whole checkpoint again.")
    total = int(_V2_DATA.search(shards[0]).group(1))
    expected = {f"{prefix}.data-{i:05d}-of-{total:05d}" for i in range(total)}
    absent = sorted(expected - set(shards))
    if absent:
        raise TlslimError(f"checkpoint '{prefix}' is missing data file {absent[0]}; copy the whole checkpoint again.")
    need = 0
    dtypes = reader.get_variable_to_dtype_map()
    for name, shape in reader.get_variable_to_shape_map().items():
        dtype = dtypes[name]
        if dtype not in (tf.string, tf.variant, tf.resource):
            need += num_elements(shape) * dtype.size
    have = sum(os.path.getsize(p) for p in expected)
    if have < need:
        raise TlslimError(f"checkpoint '{prefix}' is truncated: its data files hold {have} bytes, its tensors "
                          f"need {need}; copy or download it again.")


def _reader(path):
    """(resolved path, CheckpointReader); unreadable files are a one-line TlslimError."""
    resolved = resolve_checkpoint(path)
    try:
        reader = tf.train.NewCheckpointReader(resolved)
    except (tf.errors.OpError, ValueError) as err:
        message = (getattr(err, "message", None) or str(err)).strip() or type(err).__name__
        reason = message.splitlines()[0].split(": perhaps")[0]  # TF's hint about restore ops does not apply
        raise TlslimError(f"cannot read checkpoint '{resolved}': {reason}; the file is corrupt, truncated or "
                          f"not a TensorFlow checkpoint; download or copy it again.") from None
    if _is_v2_prefix(resolved):
        _check_v2_data(resolved, reader)
    return resolved, reader


def list_checkpoint(path):
    """{checkpoint name: shape as a list of ints}, sorted by name, of a V1 file, V2 prefix or directory."""
    resolved = resolve_checkpoint(path)
    files = [resolved + ".index"] if _is_v2_prefix(resolved) else [resolved]
    stamp = tuple((f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files)
    return {name: list(shape) for name, shape in _listing(stamp, resolved).items()}


@functools.lru_cache(maxsize=16)
def _listing(stamp, path):
    """The shapes of checkpoint `path`, read once per file version (`stamp`: its files' size and mtime)."""
    _, reader = _reader(path)
    shapes = reader.get_variable_to_shape_map()
    return {name: tuple(int(d) for d in shapes[name]) for name in sorted(shapes)}


def checkpoint_dtypes(path):
    """{checkpoint name: dtype name such as 'float32'}."""
    _, reader = _reader(path)
    dtypes = reader.get_variable_to_dtype_map()
    return {name: dtypes[name].name for name in sorted(dtypes)}


def num_elements(shape):
    """Number of values in a tensor of `shape`."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


# ---------------------------------------------------------------- names, extras, scope maps

@functools.lru_cache(maxsize=None)
def _manifest_extras():
    """The non-model entries (`extra`) recorded in every registered net's manifest."""
    out = set()
    for name in nets.names():
        if nets.get_info(name).manifest:
            out.update(nets.manifest(name).get("extra", {}))
    return frozenset(out)


def is_extra(name):
    """True for checkpoint entries that are never restored: the step counter and release extras."""
    name = strip_tensor_suffix(name)
    return name in _NON_MODEL_NAMES or name.endswith("/global_step") or name in _manifest_extras()


def parse_scope_map(value):
    """A scope map from a dict, 'ckpt=graph,ckpt2=graph2', or a list of 'ckpt=graph' -> dict.

    Keys are checkpoint prefixes, values graph prefixes (see the module docstring).
    """
    if not value:
        return {}
    if isinstance(value, dict):
        items = list(value.items())
    else:
        items = []
        for entry in (value.split(",") if isinstance(value, str) else value):
            entry = str(entry).strip()
            if not entry:
                continue
            if entry.count("=") != 1:
                raise TlslimError(f"{SCOPE_MAP_FLAG} entry '{entry}' is not CHECKPOINT_SCOPE=GRAPH_SCOPE, "
                                  f"e.g. {SCOPE_MAP_FLAG} vgg_16=my_scope.")
            items.append(entry.split("="))
    out = {}
    for ckpt, graph in items:
        ckpt, graph = str(ckpt).strip().strip("/"), str(graph).strip().strip("/")
        if not ckpt or not graph:
            raise TlslimError(f"{SCOPE_MAP_FLAG} entry '{ckpt}={graph}' has an empty side; write "
                              f"CHECKPOINT_SCOPE=GRAPH_SCOPE, e.g. {SCOPE_MAP_FLAG} vgg_16=my_scope.")
        out[ckpt] = graph
    return out


def _swap_prefix(name, pairs):
    """Replace the longest prefix (at a scope boundary) among `pairs` (from, to) in `name`."""
    best = None
    for old, new in pairs:
        if (name == old or name.startswith(old + "/")) and (best is None or len(old) > len(best[0])):
            best = (old, new)
    return name if best is None else best[1] + name[len(best[0]):]


def map_scopes(checkpoint_names, scope_map):
    """{checkpoint name: graph name} for `checkpoint_names` under `scope_map` (checkpoint -> graph)."""
    pairs = list(parse_scope_map(scope_map).items())
    return {n: _swap_prefix(n, pairs) for n in checkpoint_names}


def checkpoint_name(graph_name, scope_map=None):
    """The checkpoint name a graph variable is restored from (the inverse of `map_scopes`)."""
    pairs = [(g, c) for c, g in parse_scope_map(scope_map).items()]
    return _swap_prefix(strip_tensor_suffix(graph_name), pairs)


# ---------------------------------------------------------------- choosing variables

def _model_variables(graph=None):
    graph = graph or tf.get_default_graph()
    variables = graph.get_collection(tf.GraphKeys.MODEL_VARIABLES)
    if not variables:
        raise TlslimError("the graph has no model variables; build the net before choosing what to restore.")
    return variables


def _var_name(v):
    return strip_tensor_suffix(v.name)


def _is_step_counter(v):
    """The graph's step counter or a release extra: never restored, never compared."""
    return any(v is s for s in v.graph.get_collection(tf.GraphKeys.GLOBAL_STEP)) or is_extra(_var_name(v))


def variables_to_restore(exclude=(), include=None, variables=None):
    """The variables to restore: `variables` (default: the default graph's model variables), only
    those under `include` scopes if given, minus those under any `exclude` scope.

    Scopes match at boundaries (`vgg_16/fc8` excludes `vgg_16/fc8/weights`, not `vgg_16/fc80/w`);
    a comma-separated string is accepted and whitespace around entries is stripped. A scope that
    matches no variable is a TlslimError naming it and the closest existing scopes. The step
    counter and release extras are never returned. `auto` must be expanded first (`expand_exclude`).
    """
    variables = list(variables) if variables is not None else _model_variables()
    names = [_var_name(v) for v in variables]
    exclude = parse_scopes(exclude)
    if AUTO in exclude:
        raise TlslimError(f"'{EXCLUDE_FLAG} {AUTO}' needs the checkpoint; expand it with expand_exclude() first.")
    check_scopes_match(exclude, names, EXCLUDE_FLAG)
    if include is not None:
        include = parse_scopes(include)
        check_scopes_match(include, names, "--include")
    return [v for v, n in zip(variables, names)
            if (include is None or in_scope(n, include)) and not in_scope(n, exclude) and not _is_step_counter(v)]


def _graph_shapes(variables):
    """{graph name: shape list} from tf.Variables or from a {name: shape} mapping."""
    if isinstance(variables, dict):
        return {strip_tensor_suffix(n): [int(d) for d in s] for n, s in variables.items()}
    out = {}
    for v in variables:
        if _is_step_counter(v):
            continue
        if not v.shape.is_fully_defined():
            raise TlslimError(f"variable {_var_name(v)} has no fully known shape ({v.shape}); build the net "
                              f"with a fixed input size.")
        out[_var_name(v)] = v.shape.as_list()
    return out


def _covering_scopes(selected, all_names):
    """The fewest scopes that cover exactly `selected` among `all_names`: each name climbs to its
    highest ancestor scope all of whose variables are selected (e.g. 'vgg_16/fc8')."""
    selected = set(selected)
    order = {n: i for i, n in enumerate(all_names)}
    scopes = []
    for name in sorted(selected, key=lambda n: order.get(n, -1)):
        best = name
        parts = name.split("/")
        for depth in range(len(parts) - 1, 0, -1):
            scope = "/".join(parts[:depth])
            if all(n in selected for n in all_names if in_scope(n, [scope])):
                best = scope
            else:
                break
        if not in_scope(best, scopes):
            scopes = [s for s in scopes if not in_scope(s, [best])] + [best]
    return scopes


# ---------------------------------------------------------------- preflight

def format_shape(shape):
    """[3, 3, 64] -> '[3, 3, 64]' (as the messages print shapes)."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _some(names, limit=_LIST_LIMIT):
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" ... and {len(names) - limit} more" if len(names) > limit else "")


@dataclasses.dataclass
class PreflightReport:
    """What a restore of `checkpoint_path` into the graph's variables would do.

    Graph names unless said otherwise:
      restored   -- variables that will get the checkpoint's values
      excluded   -- variables under an excluded scope (they keep their fresh initial values)
      missing    -- variables not excluded and not in the checkpoint
      mismatched -- (name, graph shape, checkpoint shape) for variables not excluded whose shapes differ
      unexpected -- checkpoint names no graph variable reads (left unused)
      ignored    -- checkpoint names never restored: global_step, release extras, optimizer slots
    """
    checkpoint_path: str
    exclude: list
    scope_map: dict
    restored: list
    excluded: list
    missing: list
    mismatched: list
    unexpected: list
    ignored: list
    checkpoint_scopes: list  # top-level scopes of the checkpoint's model entries
    graph_names: list

    @property
    def ok(self):
        """True when nothing stops the restore (unexpected and ignored entries do not)."""
        return not self.missing and not self.mismatched

    def suggested_exclude(self):
        """Exclusion scopes covering exactly the mismatched variables (what `--exclude auto` picks)."""
        return _covering_scopes([m[0] for m in self.mismatched], self.graph_names)

    def _flag_for(self, scopes):
        if self.exclude:
            return f"use {EXCLUDE_FLAG} {','.join(self.exclude + scopes)}"
        return f"add {EXCLUDE_FLAG} {','.join(scopes)}"

    def text(self):
        """The report in plain words, several lines."""
        lines = [f"Checkpoint {self.checkpoint_path}: restoring {len(self.restored)} of the graph's "
                 f"{len(self.graph_names)} variables."]
        if self.scope_map:
            lines.append("Scope map (checkpoint -> graph): "
                         + ", ".join(f"{c} -> {g}" for c, g in self.scope_map.items()) + ".")
        if self.excluded:
            lines.append(f"Excluded by {','.join(self.exclude)}, starting from fresh values "
                         f"({len(self.excluded)}): {_some(self.excluded)}.")
        if self.mismatched:
            lines.append(f"Shape mismatches, graph vs checkpoint ({len(self.mismatched)}): "
                         + _some(f"{n} {format_shape(g)} vs {format_shape(c)}" for n, g, c in self.mismatched)
                         + f"; to train these from scratch, {self._flag_for(self.suggested_exclude())}.")
        if self.missing:
            lines.append(f"Missing from the checkpoint ({len(self.missing)}): {_some(self.missing)}.")
        if self.unexpected:
            lines.append(f"In the checkpoint but not in the graph, left unused ({len(self.unexpected)}): "
                         f"{_some(self.unexpected)}.")
        if self.ignored:
            lines.append(f"Never restored (step counter, extras, optimizer state) ({len(self.ignored)}): "
                         f"{_some(self.ignored)}.")
        lines.append("Preflight: OK." if self.ok else "Preflight: FAILED; " + self.problem())
        return "\n".join(lines)

    def problem(self):
        """The one-line reason the restore cannot go ahead, or None."""
        if self.mismatched:
            name, g, c = self.mismatched[0]
            more = f" (and {len(self.mismatched) - 1} more)" if len(self.mismatched) > 1 else ""
            return (f"shape mismatch: {name} is {format_shape(g)} in the graph but {format_shape(c)} in the checkpoint "
                    f"{self.checkpoint_path}{more}; {self._flag_for(self.suggested_exclude())} "
                    f"(or {EXCLUDE_FLAG} {AUTO}) to train it from scratch.")
        if self.missing:
            graph_tops = sorted({n.split("/")[0] for n in self.missing})
            if not any(in_scope(t, self.checkpoint_scopes) for t in graph_tops) and self.checkpoint_scopes:
                ck = ", ".join(self.checkpoint_scopes)
                models = _nets_with_scopes(self.checkpoint_scopes)
                which = f" (the variables of {MODEL_FLAG} {', '.join(models)})" if models else ""
                return (f"checkpoint {self.checkpoint_path} holds no variables under {', '.join(graph_tops)}: "
                        f"its variables are under {ck}{which}; use the {MODEL_FLAG} the checkpoint was made for, "
                        f"or {SCOPE_MAP_FLAG} {self.checkpoint_scopes[0]}={graph_tops[0]} if only the scope "
                        f"name differs.")
            scopes = _covering_scopes(self.missing, self.graph_names)
            more = f" (and {len(self.missing) - 1} more)" if len(self.missing) > 1 else ""
            return (f"{self.missing[0]}{more} is not in the checkpoint {self.checkpoint_path}; "
                    f"{self._flag_for(scopes)} to train it from scratch, or use the {MODEL_FLAG} "
                    f"the checkpoint was made for.")
        return None

    def check(self):
        """Raise a one-line TlslimError if a variable is missing or has the wrong shape."""
        problem = self.problem()
        if problem:
            raise TlslimError(problem)
        return self


def _nets_with_scopes(scopes):
    """Registered nets whose variables all lie under the top-level scopes `scopes`; of nets built
    without one scope (NASNet's cells), only those no other candidate's scopes contain."""
    tops = {n: {s.split("/")[0] for s in nets.get_info(n).scopes} for n in nets.names()}
    fits = {n: t for n, t in tops.items() if t <= set(scopes)}
    return [n for n, t in fits.items() if not any(t < other for other in fits.values())]


def preflight(variables, checkpoint_path, exclude=(), scope_map=None):
    """Compare the graph's `variables` (tf.Variables, or {name: shape}) with the checkpoint.

    `exclude` are graph scopes left out of the restore (no `auto` here: see `expand_exclude`);
    `scope_map` maps checkpoint prefixes to graph prefixes. Returns a PreflightReport; call
    `.check()` to stop on missing or mismatched variables, `.text()` to show it.
    """
    path = resolve_checkpoint(checkpoint_path)
    ckpt = list_checkpoint(path)
    graph = _graph_shapes(variables)
    names = list(graph)
    exclude = parse_scopes(exclude)
    if AUTO in exclude:
        raise TlslimError(f"'{EXCLUDE_FLAG} {AUTO}' must be expanded with expand_exclude() before preflight.")
    check_scopes_match(exclude, names, EXCLUDE_FLAG)
    smap = parse_scope_map(scope_map)
    if smap:
        check_scopes_match(list(smap), list(ckpt), f"{SCOPE_MAP_FLAG} (checkpoint side)")
        check_scopes_match(list(smap.values()), names, f"{SCOPE_MAP_FLAG} (graph side)")

    restored, excluded, missing, mismatched, read = [], [], [], [], set()
    for name in names:
        source = checkpoint_name(name, smap)
        if source in ckpt:
            read.add(source)
        if in_scope(name, exclude):
            excluded.append(name)
        elif source not in ckpt:
            missing.append(name)
        elif ckpt[source] != graph[name]:
            mismatched.append((name, graph[name], ckpt[source]))
        else:
            restored.append(name)
    sources = {checkpoint_name(n, smap) for n in names}
    unexpected, ignored = [], []
    for c in ckpt:
        if c in read:
            continue
        if is_extra(c) or any(c.startswith(s + "/") for s in sources):  # optimizer slots: '<var>/Momentum'
            ignored.append(c)
        else:
            unexpected.append(c)
    tops = sorted({c.split("/")[0] for c in ckpt if "/" in c and not is_extra(c)})
    return PreflightReport(path, exclude, smap, restored, excluded, missing, mismatched, unexpected, ignored,
                           tops, names)


def auto_exclude(variables, checkpoint_path, scope_map=None):
    """The scopes `--exclude auto` excludes: those covering exactly the variables whose shapes
    differ from the checkpoint's, as scope prefixes (e.g. ['vgg_16/fc8']); [] if none differ."""
    return preflight(variables, checkpoint_path, scope_map=scope_map).suggested_exclude()


def expand_exclude(exclude, variables, checkpoint_path, scope_map=None):
    """Parse `exclude` and replace `auto` by `auto_exclude` of what the other entries leave.

    Returns (scopes, auto_scopes): the full exclusion list and the part `auto` contributed
    (tell the user which). Without `auto` this is (parse_scopes(exclude), []).
    """
    scopes = parse_scopes(exclude)
    if AUTO not in scopes:
        return scopes, []
    scopes = [s for s in scopes if s != AUTO]
    report = preflight(variables, checkpoint_path, exclude=scopes, scope_map=scope_map)
    auto = [s for s in report.suggested_exclude() if s not in scopes]
    return scopes + auto, auto


# ---------------------------------------------------------------- restoring

def make_init_fn(checkpoint_path, variables, scope_map=None):
    """fn(session) that restores `variables` from the checkpoint; call it after the initializers.

    `variables` is a list of tf.Variables (their checkpoint names follow `scope_map`) or a dict
    {checkpoint name: tf.Variable}. The step counter and extras are dropped: a restored run starts
    at step 0. The preflight check runs now (TlslimError on missing or mismatched variables), and
    the Saver is built now, so call this before the graph is finalized. The returned fn has
    `.checkpoint_path` (resolved) and `.var_list` ({checkpoint name: variable}).
    """
    path = resolve_checkpoint(checkpoint_path)
    if isinstance(variables, dict):
        var_list = {strip_tensor_suffix(k): v for k, v in variables.items()
                    if not is_extra(k) and not _is_step_counter(v)}
        report = preflight({k: v.shape.as_list() for k, v in var_list.items()}, path)
    else:
        variables = [v for v in variables if not _is_step_counter(v)]
        report = preflight(variables, path, scope_map=scope_map)
        var_list = {checkpoint_name(_var_name(v), scope_map): v for v in variables}
    report.check()
    return _restore_fn(path, var_list)


def _restore_fn(path, var_list):
    """fn(session) restoring {checkpoint name: variable} from the checked checkpoint `path`."""
    if not var_list:
        raise TlslimError(f"nothing to restore from {path}: every variable is excluded; drop some {EXCLUDE_FLAG} "
                          f"scopes or train without a checkpoint.")
    graph = next(iter(var_list.values())).graph
    with graph.as_default():
        saver = tf.train.Saver(var_list, name="tlslim_restore", allow_empty=False)

    def init_fn(session):
        try:
            saver.restore(session, path)
        except tf.errors.OpError as err:
            lines = (err.message or type(err).__name__).strip().splitlines() or [type(err).__name__]
            reason = lines[-1].split(": perhaps")[0]
            raise TlslimError(f"restoring from {path} failed: {reason}; the file may be corrupt or truncated, "
                              f"download it again.") from None

    init_fn.checkpoint_path = path
    init_fn.var_list = var_list
    return init_fn


@dataclasses.dataclass
class RestorePlan:
    """What `prepare_restore` decided: the exclusion (and what `auto` added), the checked report,
    and, when it was given graph variables, the init fn. `make_init_fn(variables)` binds the plan
    to a graph's variables without reading the checkpoint again."""
    checkpoint_path: str
    exclude: list
    auto_excluded: list
    report: PreflightReport
    scope_map: dict
    include: list = None
    init_fn: object = None

    @classmethod
    def from_report(cls, report):
        """The plan of a preflight report (checked here): what it restores, under its exclusions."""
        return cls(report.check().checkpoint_path, list(report.exclude), [], report, dict(report.scope_map))

    def make_init_fn(self, variables):
        """fn(session) restoring the planned variables among `variables` (tf.Variables of the graph
        the plan was made for: the same names and shapes as the report's)."""
        chosen = variables_to_restore(exclude=self.exclude, include=self.include, variables=variables)
        names = [_var_name(v) for v in chosen]
        if sorted(names) != sorted(self.report.restored):
            raise RuntimeError(f"the graph's variables differ from the restore plan's ({len(names)} chosen, "
                               f"{len(self.report.restored)} planned)")
        var_list = {checkpoint_name(n, self.scope_map): v for n, v in zip(names, chosen)}
        return _restore_fn(self.checkpoint_path, var_list)


def prepare_restore(checkpoint_path, exclude=(), include=None, scope_map=None, variables=None):
    """The whole slim recipe in one call: expand `auto`, preflight (stops on a problem), choose the
    variables and, for tf.Variables, build the init fn. `variables` defaults to the default graph's
    model variables; a {name: shape} dict plans for a graph not built yet (bind it later with
    `RestorePlan.make_init_fn`)."""
    variables = (dict(variables) if isinstance(variables, dict) else
                 list(variables) if variables is not None else _model_variables())
    path = resolve_checkpoint(checkpoint_path)
    smap = parse_scope_map(scope_map)
    scopes, auto = expand_exclude(exclude, variables, path, smap)
    include = parse_scopes(include) if include is not None else None
    shapes = _graph_shapes(variables)
    names = list(shapes)
    if include is not None:
        check_scopes_match(include, names, "--include")
        names = [n for n in names if in_scope(n, include)]
    # The report covers the variables the restore is about: all of them, or those under `include`.
    report = preflight({n: shapes[n] for n in names}, path, scope_map=smap,
                       exclude=[s for s in scopes if any(in_scope(n, [s]) for n in names)])
    report.check()
    plan = RestorePlan(path, scopes, auto, report, smap, include)
    if not isinstance(variables, dict):
        plan.init_fn = plan.make_init_fn(variables)
    return plan


def verify_checkpoint(path, net):
    """Check that the checkpoint holds every variable of net `net`'s release manifest with the
    manifest's shape; returns the resolved path. Raises a one-line TlslimError otherwise."""
    expected = nets.manifest(net)["variables"]
    report = preflight(expected, path)
    if report.ok:
        return report.checkpoint_path
    if report.mismatched:
        name, want, got = report.mismatched[0]
        raise TlslimError(f"{report.checkpoint_path} is not the release checkpoint of {net}: {name} has shape "
                          f"{format_shape(got)}, the release has {format_shape(want)}; pass the {net} release file.")
    models = _nets_with_scopes(report.checkpoint_scopes)
    which = (f"; it looks like a {', '.join(models)} checkpoint" if models else
             f"; its variables are under {', '.join(report.checkpoint_scopes)}" if report.checkpoint_scopes else "")
    raise TlslimError(f"{report.checkpoint_path} is not a checkpoint of {net}: {len(report.missing)} of its "
                      f"{len(expected)} variables are missing, e.g. {report.missing[0]}{which}; pass the "
                      f"{net} release file or choose the right model name.")


def identify_net(checkpoint_path):
    """The registered nets whose release variables the checkpoint holds: every variable of the net's
    manifest is in it with the manifest's shape, except that the head's class dimension may differ
    (a fine-tuned head), consistently across the head's variables. Names sorted; [] if none fits."""
    ckpt = list_checkpoint(checkpoint_path)
    tops = {n.split("/")[0] for n in ckpt}
    found = []
    for name in nets.names():
        info = nets.get_info(name)
        if not info.manifest or info.scopes[0].split("/")[0] not in tops:  # skip reading manifests that cannot fit
            continue
        m = nets.manifest(name)
        classes = set()
        for var, shape in m["variables"].items():
            have = ckpt.get(var)
            if have is None or len(have) != len(shape):
                break
            if in_scope(var, [info.head_scope]) and shape and shape[-1] == m["num_classes"]:
                if list(have[:-1]) != list(shape[:-1]):
                    break
                classes.add(have[-1])
            elif list(have) != list(shape):
                break
        else:
            if len(classes) <= 1:
                found.append(name)
    return found


# ---------------------------------------------------------------- penultimate

def penultimate(end_points_or_graph, net=None):
    """The penultimate tensor (the classifier's input, end_points['PreLogits']), fetched with
    `graph.get_tensor_by_name` so its real name shows (e.g. 'vgg_16/dropout7/Identity:0', fc7 after
    dropout7, for vgg_16 built with is_training=False).

    From end_points: `end_points[PreLogits]`. From a graph: the tensor that
    `tlslim.nets.get_network_fn(net, ...)` recorded in the graph collection
    `registry.penultimate_collection(net)` when it built the net (the collection survives
    export_meta_graph/import_meta_graph). `net` is a registered name; it is needed for a graph.
    """
    if isinstance(end_points_or_graph, tf.Graph):
        if net is None:
            raise TlslimError("penultimate(graph, net) needs the net's name, e.g. penultimate(graph, 'vgg_16').")
        info = registry.get_info(net)
        graph = end_points_or_graph
        recorded = graph.get_collection(registry.penultimate_collection(info.name))
        if not recorded:
            raise TlslimError(f"no {info.name} built by tlslim.nets.get_network_fn is in this graph; build it "
                              f"first, or pass its end_points.")
        if len(recorded) > 1:
            raise TlslimError(f"{info.name} was built {len(recorded)} times in this graph "
                              f"({', '.join(t.name for t in recorded)}); pass the end_points of the one you want.")
        return graph.get_tensor_by_name(recorded[0].name)
    end_points = end_points_or_graph
    if not hasattr(end_points, "keys") or registry.PENULTIMATE not in end_points:
        raise TlslimError(f"penultimate() takes a graph or a net's end_points holding '{registry.PENULTIMATE}'.")
    tensor = end_points[registry.PENULTIMATE]
    return tensor.graph.get_tensor_by_name(tensor.name)
