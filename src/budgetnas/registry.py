"""Build components by name: one small registry type shared by solvers, spaces and predictors."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib import import_module
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories; modules that hold implementations are imported on first use.

    Example:
        >>> solvers = Registry("solver", modules=[])
        >>> @solvers.register("dummy")
        ... class Dummy:
        ...     def __init__(self, k=1):
        ...         self.k = k
        >>> solvers.create("dummy", k=3).k
        3
    """

    def __init__(self, kind: str, modules: list[str]):
        self.kind = kind
        self._modules = list(modules)
        self._entries: dict[str, Callable[..., T]] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        def deco(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries and self._entries[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = factory
            return factory

        return deco

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                try:
                    import_module(module)
                except ModuleNotFoundError as err:  # an optional module not written/installed
                    if err.name != module:
                        raise

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> Callable[..., T]:
        self._load()
        if name not in self._entries:
            close = difflib.get_close_matches(name, self._entries, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise KeyError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}.{hint}"
            )
        return self._entries[name]

    def create(self, name: str, **kwargs) -> T:
        return self.get(name)(**kwargs)

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries
