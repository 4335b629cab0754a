"""Hot read queries compiled once: `PreparedValues`.

Building a queryset and compiling it to SQL (resolving names, joins, ordering, the select list, converters) cost
more CPU than running it: on SQLite, about 0.3 ms for each of the booking list's item and payment queries and the
bearer token's user lookup, against about 0.15 ms to run one. A `PreparedValues` compiles its query once per
thread, database connection and number of parameters, then runs the same SQL with each call's values, and turns
the rows into dicts with the backend's converters exactly as ``.values()`` does.

Only queries whose shape never depends on the values may be prepared (a filter on an id, a list of ids); the SQL is
the ORM's own, so the database sees the same statement as before.
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import QuerySet

#: Parameter values the query is compiled with (this one and those below it), each found again in the compiled
#: parameters by its position: within every backend's range of a 32-bit (positive) integer column, where Django
#: refuses no lookup, and unlike the query's other parameters (flags, small numbers).
PROBE_BASE = 2_147_483_647


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[int, ...]  # where each value goes in the statement's parameters
    fixed: tuple[Any, ...]  # the statement's parameters, probes included (replaced per call)
    names: tuple[str, ...]
    compiler: Any  # the SQLCompiler: its converters and connection
    converters: dict


class PreparedValues:
    """A ``.values()`` query run with new parameter values without being built and compiled again.

    ``build(values)`` returns the queryset for a list of parameter values (ids); it is called only to compile,
    with probe values (`PROBE_BASE` and just below), and must use each value exactly once as a query parameter, in a
    filter whose SQL does not depend on the value (``pk=``, ``booking_id__in=``). `rows` returns the rows that
    ``build(values)`` would give, as dicts, in its order. Compiled statements are kept per thread (a compiler holds
    its thread's connection), per database alias, connection object and number of values.
    """

    def __init__(self, build: Callable[[list], QuerySet], using: str = "default"):
        self.build = build
        self.using = using
        self._local = threading.local()

    def _compiled(self, count: int) -> _Compiled:
        connection = connections[self.using]
        cache = self._local.__dict__.setdefault("compiled", {})
        found = cache.get(count)
        if found is None or found.compiler.connection is not connection:
            probes = [PROBE_BASE - number for number in range(count)]
            queryset = self.build(probes)
            query = queryset.query
            compiler = query.get_compiler(using=self.using)
            sql, params = compiler.as_sql()
            params = tuple(params)
            positions = tuple(params.index(probe) for probe in probes)
            if sorted(params.count(probe) for probe in probes) != [1] * count:
                raise ValueError(f"each value must be one parameter of the query: {params!r}")
            names = (*query.extra_select, *query.values_select, *query.annotation_select)
            converters = compiler.get_converters([column[0] for column in compiler.select[0 : compiler.col_count]])
            found = cache[count] = _Compiled(sql, positions, params, names, compiler, converters)
        return found

    def rows(self, values: Sequence) -> list[dict]:
        """The rows of ``build(values)`` as ``{column: value}`` dicts, converted as ``.values()`` converts them."""
        compiled = self._compiled(len(values))
        params = list(compiled.fixed)
        for position, value in zip(compiled.positions, values, strict=True):
            params[position] = value
        with compiled.compiler.connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        names = compiled.names
        return [dict(zip(names, row, strict=True)) for row in rows]
