"""Reads a mapsleuth fleet dataset (`mapsleuth export ... -o DIR --partition-by map,host`)
with DuckDB or with Spark and prints the rows of entries per host and map as JSON:
the fleet tests compare them with `mapsleuth query --dataset DIR`. docs/frames.md shows
the code between the BEGIN and END lines (the tests check it is the same).

usage: fleet_interop.py duckdb DIR | spark DIR
"""

import json
import sys


def duckdb_counts(d):
    # BEGIN duckdb
    import duckdb

    rows = duckdb.sql(f"""
        SELECT host, map, count(*) AS n
        FROM read_parquet('{d}/entries/**/*.parquet',
                          hive_partitioning = true, union_by_name = true)
        GROUP BY host, map ORDER BY host, map
    """).fetchall()
    # END duckdb
    return rows


def spark_counts(d):
    # BEGIN spark
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("mapsleuth-fleet")
             .config("spark.ui.enabled", "false").getOrCreate())
    entries = spark.read.option("mergeSchema", "true").parquet(f"{d}/entries")
    entries.createOrReplaceTempView("entries")
    rows = spark.sql("""
        SELECT host, map, count(*) AS n FROM entries
        GROUP BY host, map ORDER BY host, map
    """).collect()
    # END spark
    out = [tuple(r) for r in rows]
    spark.stop()
    return out


def main():
    mode, d = sys.argv[1], sys.argv[2]
    rows = duckdb_counts(d) if mode == "duckdb" else spark_counts(d)
    json.dump([[h, m, int(n)] for h, m, n in rows], sys.stdout)


if __name__ == "__main__":
    main()
