"""The on-disk record of runs: one SQLite file, one table of JSON records keyed by (kind, key).

Everything long-running (benchmark records, supernet evaluations, latency measurements) writes
each result here as soon as it exists, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["Store"]


class Store:
    """A small key-value store of JSON records.

    Example:
        >>> s = Store(":memory:")
        >>> s.put("bench", "milp/seed0", {"regret": 0.1})
        >>> s.get("bench", "milp/seed0")
        {'regret': 0.1}
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30.0)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL") if self.path != ":memory:" else None
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS records ("
                " kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, created REAL NOT NULL,"
                " PRIMARY KEY (kind, key))"
            )
            self._conn.execute("SELECT COUNT(*) FROM records").fetchone()
            self._conn.commit()
        except sqlite3.DatabaseError as err:
            self._conn.close()
            if isinstance(err, sqlite3.OperationalError):
                raise
            raise self._corrupt(err) from None

    def _corrupt(self, err: sqlite3.DatabaseError) -> ValueError:
        return ValueError(
            f"{self.path} is not a readable budgetnas store ({err}): it is corrupt or truncated; "
            "delete it (and its -wal/-shm files) and rerun, which measures its records again"
        )

    @contextmanager
    def _guard(self):
        """A corrupt page found while reading or writing: the same clear error as on open."""
        try:
            yield
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as err:
            raise self._corrupt(err) from None

    def put(self, kind: str, key: str, value: Any) -> None:
        with self._guard():
            self._conn.execute(
                "INSERT OR REPLACE INTO records (kind, key, value, created) VALUES (?, ?, ?, ?)",
                (kind, key, json.dumps(value), time.time()),
            )
            self._conn.commit()

    def put_many(self, kind: str, items: dict[str, Any]) -> None:
        with self._guard():
            now = time.time()
            self._conn.executemany(
                "INSERT OR REPLACE INTO records (kind, key, value, created) VALUES (?, ?, ?, ?)",
                [(kind, k, json.dumps(v), now) for k, v in items.items()],
            )
            self._conn.commit()

    def get(self, kind: str, key: str, default: Any = None) -> Any:
        with self._guard():
            row = self._conn.execute(
                "SELECT value FROM records WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            return default if row is None else json.loads(row[0])

    def __contains__(self, kind_key: tuple[str, str]) -> bool:
        return self.get(*kind_key, default=_MISSING) is not _MISSING

    def items(self, kind: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
        with self._guard():
            rows = self._conn.execute(
                "SELECT key, value FROM records WHERE kind = ? AND key LIKE ? ORDER BY key",
                (kind, prefix.replace("%", r"\%") + "%"),
            ).fetchall()
        for key, value in rows:
            yield key, json.loads(value)

    def delete(self, kind: str, prefix: str = "") -> int:
        with self._guard():
            cur = self._conn.execute(
                "DELETE FROM records WHERE kind = ? AND key LIKE ?", (kind, prefix + "%")
            )
            self._conn.commit()
            return cur.rowcount

    def kinds(self) -> list[str]:
        with self._guard():
            return [
                r[0] for r in self._conn.execute("SELECT DISTINCT kind FROM records ORDER BY kind")
            ]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_MISSING = object()
