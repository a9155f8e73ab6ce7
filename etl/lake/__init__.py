"""The Parquet lake: atomic files, the one publisher of every lake table, the views over it
(and views.sql for the DuckDB CLI), whether it is behind the warehouse, and the read-only query
sandbox over it.

The lake never opens the DuckDB file: publishing runs on a connection the warehouse passes in.
"""

from contracts.lake import LakeTable
from etl.lake.files import (
    atomic_file,
    copy_parquet_atomically,
    write_parquet_atomically,
    write_text_atomically,
)
from etl.lake.publish import publish_lake, publish_table, publish_tables
from etl.lake.query import (
    LakeBehind,
    QueryFailed,
    QueryRefused,
    Rows,
    Select,
    first_line,
    lock_configuration,
    lock_down,
    published_reader,
    query_published,
    run_select,
)
from etl.lake.state import MARKER, PublishMarker, lake_behind
from etl.lake.views import create_views, view_statements, views_sql

__all__ = [
    "MARKER",
    "LakeBehind",
    "LakeTable",
    "PublishMarker",
    "QueryFailed",
    "QueryRefused",
    "Rows",
    "Select",
    "atomic_file",
    "copy_parquet_atomically",
    "create_views",
    "first_line",
    "lake_behind",
    "lock_configuration",
    "lock_down",
    "publish_lake",
    "publish_table",
    "publish_tables",
    "published_reader",
    "query_published",
    "run_select",
    "view_statements",
    "views_sql",
    "write_parquet_atomically",
    "write_text_atomically",
]
