"""Running part of a test as a user who cannot write what chmod protects.

Root ignores file modes, so a read-only situation made with chmod is not one
for root: when the tests run as root, `unprivileged` runs its call in a forked
child that has dropped to `nobody` (uid and gid 65534) first. As any other
user, chmod suffices and the call runs in this process. Everything the call
needs must be imported beforehand (the child may not read root's files).
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

NOBODY = 65534


def unprivileged(call: Callable[[], Any]) -> Any:
    """`call()`'s result, computed by a user who cannot write what chmod protects.

    An exception comes back as the string "TypeName: message".
    """
    if os.geteuid() != 0:
        return _outcome(call)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child process
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            payload = pickle.dumps(_outcome(call))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    assert data, "the unprivileged child died without an answer"
    return pickle.loads(data)


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@contextmanager
def reachable_folder() -> Iterator[Path]:
    """A new folder that the unprivileged user can reach (pytest's tmp_path is private)."""
    path = Path(tempfile.mkdtemp(prefix="histoire-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        path.chmod(0o755)
        shutil.rmtree(path)


def listing(folder: Path) -> list[str]:
    """The names of the files in `folder`, sorted."""
    return sorted(p.name for p in folder.iterdir())
