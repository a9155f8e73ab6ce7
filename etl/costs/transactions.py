"""The one transaction every write of the costs package runs in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def transaction(con: Any) -> Iterator[Any]:
    """Run the block in one transaction: committed when it ends, rolled back if it raises.

    After an I/O failure (a full disk) DuckDB may already have aborted the transaction on its
    own; the rollback then fails with "no transaction is active", which is ignored so that the
    block's error is the one reported.
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
