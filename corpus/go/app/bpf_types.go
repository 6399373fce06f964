// Types as cilium/ebpf's bpf2go renders corpus/bpf/mirror.h (GoFormatter): blank
// `_ [N]byte` fields for holes and trailing padding, char arrays as int8, enums as a
// named int32, bitfields skipped and replaced by `_ [N]byte /* unsupported bitfield */`,
// an anonymous union replaced by its first member plus padding up to the union's size.
// These are the CORRECT mirrors.

package main

type bpfConnState int32

const (
	bpfConnStateCS_CLOSED      bpfConnState = -1
	bpfConnStateCS_NEW         bpfConnState = 0
	bpfConnStateCS_ESTABLISHED bpfConnState = 1
	bpfConnStateCS_TIME_WAIT   bpfConnState = 2
)

type bpfEvent struct {
	_      hostLayout
	Pid    uint32
	_      [4]byte
	TsNs   uint64
	Ret    int32
	IsExit uint8
	Comm   [16]int8
	_      [3]byte
}

type bpfFlowKey struct {
	_     hostLayout
	Saddr uint32
	Daddr uint32
	Sport uint16
	Dport uint16
	Proto uint8
	_     [3]byte
}

type bpfFlowStats struct {
	_          hostLayout
	Packets    uint64
	Bytes      uint64
	Drops      uint32
	State      bpfConnState
	LastSeenNs int64
}

type bpfConnFlags struct {
	_    hostLayout
	_    [4]byte /* unsupported bitfield */
	Port uint16
	Af   uint8
	_    [1]byte
}

type bpfAddr struct {
	_      hostLayout
	Family uint16
	_      [2]byte
	V4     uint32
	_      [12]byte
}

type bpfLpmV4Key struct {
	_         hostLayout
	Prefixlen uint32
	Addr      [4]uint8
}
