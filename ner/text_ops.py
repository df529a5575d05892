"""The `tensorflow_text` functions the tokenizer uses, without the rest of the package.

`import tensorflow_text` loads all of its 30-odd op libraries (each about
7.7 MB on disk, with its own copy of ICU and Abseil), whatever a program uses:
92 MB of resident memory in every process that tags (measured with
`/proc/self/status`: 645 -> 760 MB for the whole package, 645 -> 668 MB for
the three modules below; TensorFlow Text 2.21, EPYC Zen 4). The tokenizer
needs three of those libraries: fast WordPiece, Unicode normalisation and
regex splitting.

The package's `__init__` files import every module, so the modules below are
imported under placeholder parent packages that have the package's folders
as their path but run none of its `__init__` code; the placeholders are
removed again at once. A later `import tensorflow_text` (a user's, or
`ner.exported`'s) then runs the real `__init__`, which finds these modules
already imported and reuses them: one `FastWordpieceTokenizer` class, each
op library loaded once. Where `tensorflow_text` is already imported, or its
layout differs from the one this expects (another version), the whole
package is imported instead, as before; only memory differs.

`regex_split_with_offsets` here runs the package's op on a string vector
without its Python wrapper, whose checks cost more graph than the op (see
there).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

import tensorflow as tf

__all__ = ["FastWordpieceTokenizer", "normalize_utf8", "regex_split_with_offsets"]

_PACKAGE = "tensorflow_text"
# The parent packages of the modules imported, as folders under the package.
_PARENTS = ("python", "python/ops", "core", "core/pybinds")
_MODULES = ("fast_wordpiece_tokenizer", "normalize_ops", "regex_split_ops")


def _import_parts() -> list[types.ModuleType]:
    """The modules that define `__all__`, imported alone."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"No module named {_PACKAGE!r}")
    root = list(spec.submodule_search_locations)[0]
    placeholders = {}
    for folder in ("",) + _PARENTS:
        name = ".".join([_PACKAGE] + [p for p in folder.split("/") if p])
        placeholder = types.ModuleType(name)
        placeholder.__path__ = [f"{root}/{folder}" if folder else root]
        placeholders[name] = placeholder
    before = set(sys.modules)
    sys.modules.update(placeholders)
    try:
        return [importlib.import_module(f"{_PACKAGE}.python.ops.{m}") for m in _MODULES]
    except BaseException:
        # Nothing half-imported stays behind for the real package to trip on.
        for name in set(sys.modules) - before:
            if name.startswith(_PACKAGE):
                del sys.modules[name]
        raise
    finally:
        for name in placeholders:
            sys.modules.pop(name, None)


def _load() -> dict:
    """`__all__`'s functions by name, from the three modules or else the whole package."""
    if not any(name == _PACKAGE or name.startswith(_PACKAGE + ".") for name in sys.modules):
        try:
            modules = _import_parts()
            return {name: next(getattr(m, name) for m in modules if hasattr(m, name))
                    for name in __all__}
        except Exception:  # another layout (ImportError, StopIteration): the whole package
            pass
    import tensorflow_text

    return {name: getattr(tensorflow_text, name) for name in __all__}


_found = _load()
FastWordpieceTokenizer = _found["FastWordpieceTokenizer"]
normalize_utf8 = _found["normalize_utf8"]
# The op itself, from the module that defines the wrapper (either import path).
_split_op = _found["regex_split_with_offsets"].__globals__["gen_regex_split_ops"]
del _found


def regex_split_with_offsets(strings: tf.Tensor, delim_regex_pattern: str,
                             keep_delim_regex_pattern: str
                             ) -> tuple[tf.RaggedTensor, tf.RaggedTensor, tf.RaggedTensor]:
    """`tensorflow_text.regex_split_with_offsets` of a string vector, as one graph op.

    The package's wrapper builds its three results with
    `RaggedTensor.from_row_splits(..., validate=True)`, whose graph checks of
    row splits that the op made valid take about 340 ops per call: with two
    calls, 9% of a tagger's traced graph, paid in tracing and in Grappler's
    optimisation on every first call (TensorFlow Text 2.21). The patterns go
    to the op as the wrapper passes them, each in a group.

    Args:
        strings: string [N].
        delim_regex_pattern, keep_delim_regex_pattern: RE2 patterns, as the
            package's function takes them.

    Returns:
        (pieces string, begin byte offsets int64, end byte offsets int64),
        RaggedTensors [N, (T)].
    """
    pieces, begins, ends, splits = _split_op.regex_split_with_offsets(
        strings, f"({delim_regex_pattern})", f"({keep_delim_regex_pattern})")
    ragged = lambda values: tf.RaggedTensor.from_row_splits(values, splits, validate=False)
    return ragged(pieces), ragged(begins), ragged(ends)
