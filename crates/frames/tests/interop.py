"""Reads a Parquet export with readers that share no code with polars, and prints what
they see as JSON: the row count, each column's type, the key-value metadata and every
row (bytes as lowercase hex). The frame tests compare it with the frame that was written.

usage: interop.py pyarrow FILE | duckdb FILE | duckdb-hive DIR | versions
"""

import json
import sys


def cell(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return v


def main():
    mode = sys.argv[1]
    if mode == "versions":
        import duckdb
        import pyarrow

        print(json.dumps({"pyarrow": pyarrow.__version__, "duckdb": duckdb.__version__}))
        return
    path = sys.argv[2]
    if mode == "pyarrow":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        meta = pq.read_metadata(path).metadata or {}
        out = {
            "rows": table.num_rows,
            "types": {f.name: str(f.type) for f in table.schema},
            "metadata": {k.decode(): v.decode() for k, v in meta.items()},
            "data": [{k: cell(v) for k, v in r.items()} for r in table.to_pylist()],
        }
    elif mode == "duckdb":
        import duckdb

        con = duckdb.connect()
        rel = con.sql("SELECT * FROM read_parquet(?)", params=[path])
        names = rel.columns
        out = {
            "rows": len(rel),
            "types": {n: str(t) for n, t in zip(names, rel.types)},
            "data": [{n: cell(v) for n, v in zip(names, r)} for r in rel.fetchall()],
        }
    elif mode == "duckdb-hive":
        import duckdb

        con = duckdb.connect()
        rel = con.sql(
            "SELECT * FROM read_parquet(?, hive_partitioning = true)",
            params=[path + "/**/*.parquet"],
        )
        names = rel.columns
        out = {
            "rows": len(rel),
            "types": {n: str(t) for n, t in zip(names, rel.types)},
            "data": [{n: cell(v) for n, v in zip(names, r)} for r in rel.fetchall()],
        }
    else:
        raise SystemExit(f"unknown mode {mode}")
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
