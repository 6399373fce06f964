#!/usr/bin/env python3
"""Writes the C programs behind corpus/align's oracles (run by corpus/regen-align.sh).

  gen-oracle.py program BTF.json CASE.c   > oracle.c   (compiled and run on the host)
  gen-oracle.py asserts ORACLE.tsv CASE.c > asserts.c  (compiled with -target bpf)

The list of types and members comes from the BTF (bpftool -j btf dump file); every
number comes from the compiler: sizeof, _Alignof, offsetof, and for bitfields the bits
that setting the field to all ones turns on. The oracle's lines, tab-separated:

  type     NAME  SIZE  ALIGN          a named struct or union, or a typedef of one
  member   NAME  PATH  OFFSET_BITS  SIZE_BITS
  bitfield NAME  PATH  OFFSET_BITS  WIDTH_BITS
  mtype    NAME  PATH  SIZE  ALIGN    the struct or union a member is (PATH ends in
                                     `[0]` per dimension for an array of them)

PATH is a C member designator from NAME (`inner.name`, `r[0].p`); members of anonymous
struct and union members are named as C names them, without the anonymous level.
"""

import json
import sys

AGGREGATES = ("STRUCT", "UNION")
THROUGH = ("TYPEDEF", "CONST", "VOLATILE", "RESTRICT", "TYPE_TAG")


def load_types(path):
    with open(path) as f:
        types = json.load(f)["types"]
    return {t["id"]: t for t in types}


def resolve(types, tid, arrays=False):
    """The type under typedefs and qualifiers (and arrays, when asked), and how many
    array dimensions were crossed."""
    dims = 0
    for _ in range(64):
        t = types.get(tid)
        if t is None:
            return None, dims
        if t["kind"] in THROUGH:
            tid = t["type_id"]
        elif arrays and t["kind"] == "ARRAY":
            tid = t["type_id"]
            dims += 1
        else:
            return t, dims
    return None, dims


def is_zero_len_array(types, tid):
    t, _ = resolve(types, tid)
    return t is not None and t["kind"] == "ARRAY" and t["nr_elems"] == 0


def top_level(types):
    """(C name, type) of every named aggregate and every typedef of one."""
    out = []
    for t in types.values():
        if t["kind"] in AGGREGATES and t["name"] != "(anon)":
            out.append((f'{t["kind"].lower()} {t["name"]}', t))
        elif t["kind"] == "TYPEDEF":
            target, _ = resolve(types, t["type_id"])
            if target is not None and target["kind"] in AGGREGATES:
                out.append((t["name"], target))
    return out


def walk_members(types, agg, prefix):
    """(path, member, bitfield?) for every named member, through anonymous members and
    into named members whose type is an anonymous aggregate."""
    for m in agg.get("members", []):
        mtype, dims = resolve(types, m["type_id"], arrays=True)
        name = m["name"]
        if name == "(anon)" or name == "":
            if mtype is not None and mtype["kind"] in AGGREGATES:
                yield from walk_members(types, mtype, prefix)
            continue
        path = prefix + name
        yield path, m, m.get("bitfield_size", 0) > 0, mtype, dims
        if mtype is not None and mtype["kind"] in AGGREGATES and mtype["name"] == "(anon)":
            yield from walk_members(types, mtype, path + "[0]" * dims + ".")


def program(btf_json, case_c):
    types = load_types(btf_json)
    out = [
        f'#include "{case_c}"',
        "#include <stddef.h>",
        "#include <stdio.h>",
        "#include <string.h>",
        "",
        "static void bits(const char *ty, const char *path, const unsigned char *p, size_t n)",
        "{",
        "\tlong first = -1, width = 0;",
        "\tfor (size_t i = 0; i < n * 8; i++)",
        "\t\tif (p[i / 8] >> (i % 8) & 1) {",
        "\t\t\tif (first < 0)",
        "\t\t\t\tfirst = (long)i;",
        "\t\t\twidth++;",
        "\t\t}",
        '\tprintf("bitfield\\t%s\\t%s\\t%ld\\t%ld\\n", ty, path, first, width);',
        "}",
        "",
        "int main(void)",
        "{",
    ]
    for cname, agg in top_level(types):
        out.append(
            f'\tprintf("type\\t%s\\t%zu\\t%zu\\n", "{cname}", sizeof({cname}), _Alignof({cname}));'
        )
        for path, m, bitfield, mtype, dims in walk_members(types, agg, ""):
            if bitfield:
                out.append(
                    f"\t{{ {cname} v; memset(&v, 0, sizeof v); v.{path} = -1; "
                    f'bits("{cname}", "{path}", (const unsigned char *)&v, sizeof v); }}'
                )
                continue
            size = "(size_t)0" if is_zero_len_array(types, m["type_id"]) else f"sizeof((({cname} *)0)->{path})"
            out.append(
                f'\tprintf("member\\t%s\\t%s\\t%zu\\t%zu\\n", "{cname}", "{path}", '
                f"offsetof({cname}, {path}) * 8, {size} * 8);"
            )
            if mtype is not None and mtype["kind"] in AGGREGATES:
                elem_path = path + "[0]" * dims
                elem = f"__typeof__((({cname} *)0)->{elem_path})"
                out.append(
                    f'\tprintf("mtype\\t%s\\t%s\\t%zu\\t%zu\\n", "{cname}", "{elem_path}", '
                    f"sizeof({elem}), _Alignof({elem}));"
                )
    out += ["\treturn 0;", "}", ""]
    return "\n".join(out)


def asserts(oracle_tsv, case_c):
    """The host's numbers as static assertions for the BPF target: the two agree."""
    out = [f'#include "{case_c}"', "#include <stddef.h>", ""]
    with open(oracle_tsv) as f:
        for line in f:
            if line.startswith("#"):
                continue
            rec = line.rstrip("\n").split("\t")
            if rec[0] == "type":
                _, name, size, align = rec
                out.append(f"_Static_assert(sizeof({name}) == {size}, \"{name} size\");")
                out.append(f"_Static_assert(_Alignof({name}) == {align}, \"{name} align\");")
            elif rec[0] == "member":
                _, name, path, off, _ = rec
                out.append(
                    f"_Static_assert(offsetof({name}, {path}) * 8 == {off}, \"{name}.{path}\");"
                )
            elif rec[0] == "mtype":
                _, name, path, size, align = rec
                elem = f"__typeof__((({name} *)0)->{path})"
                out.append(f"_Static_assert(sizeof({elem}) == {size}, \"{name}.{path} size\");")
                out.append(f"_Static_assert(_Alignof({elem}) == {align}, \"{name}.{path} align\");")
    out.append("")
    return "\n".join(out)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("program", "asserts"):
        sys.exit(__doc__)
    mode, src, case_c = sys.argv[1:]
    sys.stdout.write(program(src, case_c) if mode == "program" else asserts(src, case_c))


if __name__ == "__main__":
    main()
