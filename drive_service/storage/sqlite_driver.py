"""aiosqlite for SQLAlchemy with one thread hop per statement instead of three or four.

SQLAlchemy's aiosqlite adapter runs each statement as separate calls into aiosqlite's worker
thread (open a cursor, execute, fetch the rows, close the cursor), and every call is a round
trip between the event loop and that thread. Under load a round trip costs 0.1-0.5 ms, which made
the service's per-statement cost many times SQLite's own. Here the four calls run as one job in
the same thread, on the same sqlite3 connection, with the same results and exceptions.

This leans on two internals, ``aiosqlite.Connection._execute`` (queue a function for the worker
thread) and ``aiosqlite.Connection._conn`` (its sqlite3 connection); a connection that lacks
them gets SQLAlchemy's own cursor, so a changed aiosqlite only loses the speed.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to pass as ``module=`` to ``create_async_engine`` for sqlite+aiosqlite."""
    return _DBAPI(aiosqlite, sqlite3)


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        driver = adapted._connection
        if type(adapted) is AsyncAdapt_aiosqlite_connection and _supported(driver):
            return _Connection(self, driver)
        return adapted


def _supported(driver: Any) -> bool:
    return callable(getattr(driver, "_execute", None)) and isinstance(
        getattr(driver, "_conn", None), sqlite3.Connection
    )


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        if server_side:
            return super().cursor(server_side=True)
        return _Cursor(self)


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            description, rows, lastrowid, rowcount = self.await_(
                self._connection._execute(_execute, self._connection._conn, operation, parameters)
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self.description = description
        if description:
            self.lastrowid = self.rowcount = -1
            self._rows.clear()
            self._rows.extend(rows)
        else:
            self.lastrowid, self.rowcount = lastrowid, rowcount

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            lastrowid, rowcount = self.await_(
                self._connection._execute(_executemany, self._connection._conn, operation, seq_of_parameters)
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self.description = None
        self.lastrowid, self.rowcount = lastrowid, rowcount


def _execute(connection: sqlite3.Connection, operation: Any, parameters: Any) -> tuple[Any, Any, Any, Any]:
    """In aiosqlite's thread: what SQLAlchemy's adapter does in four trips."""
    cursor = connection.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()


def _executemany(connection: sqlite3.Connection, operation: Any, seq_of_parameters: Any) -> tuple[Any, Any]:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return cursor.lastrowid, cursor.rowcount
    finally:
        cursor.close()
