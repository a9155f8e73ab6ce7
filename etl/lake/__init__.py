"""The Parquet lake: atomic files, the one publisher of every lake table, views.sql, and the
read-only query sandbox over it.

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
from etl.lake.query import Rows, query_published
from etl.lake.views import views_sql

__all__ = [
    "LakeTable",
    "Rows",
    "atomic_file",
    "copy_parquet_atomically",
    "publish_lake",
    "publish_table",
    "publish_tables",
    "query_published",
    "views_sql",
    "write_parquet_atomically",
    "write_text_atomically",
]
