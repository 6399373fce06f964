//! What mapsleuth knows about each BPF map type, in one table: bpftool's name, whether
//! values are per CPU, what the values are, whether entries can be iterated from user
//! space, and how bpftool dumps the type. Shared by the BTF reader (map definitions),
//! the dump readers and live capture.

/// What a map's values are, as user space reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapValues {
    /// Bytes of the value type.
    Data,
    /// Program ids (prog arrays).
    ProgIds,
    /// Inner map ids (maps of maps).
    MapIds,
    /// Socket cookies (sockmap, sockhash, reuseport arrays).
    SocketCookies,
    /// Entries cannot be iterated and read from user space: why.
    NotIterable(&'static str),
}

/// One `BPF_MAP_TYPE_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapTypeInfo {
    /// `enum bpf_map_type`'s value.
    pub id: u32,
    /// bpftool's name.
    pub name: &'static str,
    /// One value per possible CPU.
    pub per_cpu: bool,
    pub values: MapValues,
    /// What a user must know about how bpftool (7.1) dumps maps of this type, if
    /// anything.
    pub dump_note: Option<&'static str>,
}

const fn data(id: u32, name: &'static str, per_cpu: bool) -> MapTypeInfo {
    MapTypeInfo {
        id,
        name,
        per_cpu,
        values: MapValues::Data,
        dump_note: None,
    }
}

const fn other(id: u32, name: &'static str, values: MapValues) -> MapTypeInfo {
    MapTypeInfo {
        id,
        name,
        per_cpu: false,
        values,
        dump_note: None,
    }
}

const fn noted(t: MapTypeInfo, note: &'static str) -> MapTypeInfo {
    MapTypeInfo {
        dump_note: Some(note),
        ..t
    }
}

const EMPTY_SLOTS: &str = "empty slots are listed as lookup errors (`<no entry>`) and not \
     counted in `Found N elements`";
const NO_KEYS: &str = "queue, stack and bloom filter maps have no keys to iterate: bpftool \
     prints `Found 0 elements` (or `[]`) and exits with status 234 (EINVAL) whatever they \
     hold; use `bpftool map peek` or a capture";
const RING: &str = "ring buffers cannot be dumped: bpftool prints `Found 0 elements` (or \
     `[]`) and exits with status 244 (ENOTSUPP); read the ring with a consumer instead";
const FD_KEYED: &str = "its keys are socket/inode/task/cgroup fds: entries can be looked up \
     through an open fd but not iterated";
const RING_VALUES: &str = "it is a ring buffer: records are consumed through mmap, not \
     looked up by key";

use MapValues::{MapIds, NotIterable, ProgIds, SocketCookies};

/// Every map type of Linux 6.18, indexed by id.
pub const MAP_TYPES: [MapTypeInfo; 34] = [
    other(0, "unspec", NotIterable("BPF_MAP_TYPE_UNSPEC is not a map type")),
    data(1, "hash", false),
    data(2, "array", false),
    noted(
        other(3, "prog_array", ProgIds),
        "values are program ids; empty slots are not listed; the map is emptied when its \
         last user-space reference (fd or pin) goes away",
    ),
    other(
        4,
        "perf_event_array",
        NotIterable("its values are perf event fds, which the kernel does not return to user space"),
    ),
    data(5, "percpu_hash", true),
    data(6, "percpu_array", true),
    data(7, "stack_trace", false),
    other(
        8,
        "cgroup_array",
        NotIterable("its values are cgroup fds, which the kernel does not return to user space"),
    ),
    data(9, "lru_hash", false),
    data(10, "lru_percpu_hash", true),
    data(11, "lpm_trie", false),
    noted(other(12, "array_of_maps", MapIds), "values are the ids of the inner maps"),
    noted(other(13, "hash_of_maps", MapIds), "values are the ids of the inner maps"),
    noted(data(14, "devmap", false), EMPTY_SLOTS),
    noted(other(15, "sockmap", SocketCookies), EMPTY_SLOTS),
    noted(data(16, "cpumap", false), EMPTY_SLOTS),
    noted(
        other(
            17,
            "xskmap",
            NotIterable("its values are AF_XDP sockets, which the kernel does not return to user space"),
        ),
        EMPTY_SLOTS,
    ),
    noted(other(18, "sockhash", SocketCookies), EMPTY_SLOTS),
    data(19, "cgroup_storage", false),
    noted(other(20, "reuseport_sockarray", SocketCookies), EMPTY_SLOTS),
    data(21, "percpu_cgroup_storage", true),
    noted(
        other(
            22,
            "queue",
            NotIterable("it has no keys, and reading it means popping elements, which mapsleuth never does (captures are read-only)"),
        ),
        NO_KEYS,
    ),
    noted(
        other(
            23,
            "stack",
            NotIterable("it has no keys, and reading it means popping elements, which mapsleuth never does (captures are read-only)"),
        ),
        NO_KEYS,
    ),
    other(24, "sk_storage", NotIterable(FD_KEYED)),
    noted(data(25, "devmap_hash", false), EMPTY_SLOTS),
    other(
        26,
        "struct_ops",
        NotIterable("it holds the state of a kernel struct_ops object, not key/value entries"),
    ),
    noted(other(27, "ringbuf", NotIterable(RING_VALUES)), RING),
    other(28, "inode_storage", NotIterable(FD_KEYED)),
    other(29, "task_storage", NotIterable(FD_KEYED)),
    noted(
        other(
            30,
            "bloom_filter",
            NotIterable("a bloom filter stores no keys; it only answers membership queries"),
        ),
        NO_KEYS,
    ),
    noted(other(31, "user_ringbuf", NotIterable(RING_VALUES)), RING),
    other(32, "cgrp_storage", NotIterable(FD_KEYED)),
    other(
        33,
        "arena",
        NotIterable("an arena is memory shared through mmap, without keys"),
    ),
];

// The table is indexed by id.
const _: () = {
    let mut i = 0;
    while i < MAP_TYPES.len() {
        assert!(MAP_TYPES[i].id as usize == i);
        i += 1;
    }
};

/// The map type of an `enum bpf_map_type` value, if this build knows it.
pub fn map_type(id: u32) -> Option<&'static MapTypeInfo> {
    MAP_TYPES.get(id as usize)
}

/// The map type bpftool calls `name`.
pub fn map_type_named(name: &str) -> Option<&'static MapTypeInfo> {
    MAP_TYPES.iter().find(|t| t.name == name)
}

/// bpftool's name of a `BPF_MAP_TYPE_*` value (`unknown` past Linux 6.18's).
pub fn map_type_name(id: u32) -> &'static str {
    map_type(id).map_or("unknown", |t| t.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_agree() {
        for t in &MAP_TYPES {
            assert_eq!(map_type_named(t.name), Some(t));
        }
        assert_eq!(map_type_name(27), "ringbuf");
        assert_eq!(map_type_name(999), "unknown");
        let per_cpu: Vec<&str> = MAP_TYPES
            .iter()
            .filter(|t| t.per_cpu)
            .map(|t| t.name)
            .collect();
        assert_eq!(
            per_cpu,
            [
                "percpu_hash",
                "percpu_array",
                "lru_percpu_hash",
                "percpu_cgroup_storage"
            ]
        );
    }
}
