"""Loading files without running code inside them, and with clear errors when they are corrupt.

Every checkpoint budgetnas writes holds tensors and plain data only (dicts, lists, tuples, str,
int, float, bool, None), so :func:`load_weights` reads it with ``torch.load(weights_only=True)``:
a crafted file whose pickle would call a function is refused before anything runs. A truncated,
empty or random file gives a :class:`ValueError` naming the file and the remedy instead of a
``PytorchStreamReader``/``EOFError``/``UnpicklingError`` traceback.

Files that need full unpickling (a whole pickled ``nn.Module``) load only through
:func:`load_pickled` with ``trust_file=True``. :func:`load_plain_pickle` reads a python pickle
that may hold numpy arrays but nothing that could run code (the CIFAR-10 batches).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["UNTRUSTED", "UntrustedFileError", "load_pickled", "load_plain_pickle", "load_weights"]

UNTRUSTED = "loading it could run code inside it"


class UntrustedFileError(ValueError):
    """A file that holds objects beyond tensors and plain data (it needs full unpickling)."""


# what a pickled numpy array needs (numpy >= 2 writes numpy._core, older numpy numpy.core)
_NUMPY_GLOBALS = {
    (mod, name)
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


def _check_file(path: Path, what: str, remedy: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty, not a {what}: {remedy}")


def _refused(err: BaseException) -> bool:
    """Whether ``torch.load(weights_only=True)`` refused a global (the file wanted to call or
    build something beyond tensors and plain data)."""
    return isinstance(err, pickle.UnpicklingError) and "GLOBAL" in str(err)


def load_weights(path: str | Path, what: str, remedy: str, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; a refused, truncated or corrupt file raises a
    :class:`ValueError` naming ``path``, ``what`` it should be and the ``remedy``.

    Example:
        >>> import tempfile, torch
        >>> p = Path(tempfile.mkdtemp()) / "w.pt"
        >>> torch.save({"format": 1, "w": torch.ones(2)}, p)
        >>> load_weights(p, "checkpoint", "rerun it")["w"].tolist()
        [1.0, 1.0]
        >>> _ = p.write_bytes(b"not a checkpoint")
        >>> load_weights(p, "checkpoint", "rerun it")
        Traceback (most recent call last):
        ...
        ValueError: ... is truncated or corrupt, not a readable checkpoint (...): rerun it
    """
    import torch

    path = Path(path)
    _check_file(path, what, remedy)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # any failure of a corrupt file becomes one message
        if _refused(err):
            raise UntrustedFileError(
                f"{path} is not a {what}: it holds objects beyond tensors and plain data and "
                f"{UNTRUSTED}, so it was not loaded: {remedy}"
            ) from None
        detail = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
        raise ValueError(
            f"{path} is truncated or corrupt, not a readable {what} ({detail}): {remedy}"
        ) from None


def load_pickled(path: str | Path, what: str, trust_file: bool, hint: str = "") -> Any:
    """A file that needs full unpickling (a whole pickled module), loaded only when the user
    vouches for it (``trust_file``); otherwise a :class:`ValueError` saying why and ``hint``
    (what to pass instead)."""
    import torch

    path = Path(path)
    _check_file(path, what, "give another file")
    if not trust_file:
        raise UntrustedFileError(
            f"{path} is a pickled Python object and {UNTRUSTED}; pass --trust-file if you made "
            f"it or trust who did{hint}"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except (ImportError, AttributeError) as err:
        raise ValueError(
            f"{path} is a pickled {what} whose class cannot be imported here ({err}): install or "
            "put on PYTHONPATH the code that defined it"
        ) from None
    except Exception as err:  # any other failure of a corrupt file becomes one message
        raise ValueError(
            f"{path} is truncated or corrupt, not a readable {what} "
            f"({type(err).__name__}: {err}): give another file"
        ) from None


class _PlainUnpickler(pickle.Unpickler):
    """Builds containers, numbers, strings, bytes and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name} ({UNTRUSTED})")


def load_plain_pickle(f: BinaryIO, encoding: str = "bytes") -> Any:
    """``pickle.load(f)`` that builds only plain data and numpy arrays: a ``__reduce__`` calling
    anything else raises :class:`pickle.UnpicklingError` before it runs.

    Example:
        >>> import io, os
        >>> load_plain_pickle(io.BytesIO(pickle.dumps({b"labels": [1, 2]})))
        {b'labels': [1, 2]}
        >>> load_plain_pickle(io.BytesIO(pickle.dumps(os.getcwd)))
        Traceback (most recent call last):
        ...
        _pickle.UnpicklingError: refused global posix.getcwd (loading it could run code inside it)
    """
    return _PlainUnpickler(f, encoding=encoding).load()
