// Package good holds correct hand-written mirrors of every struct in
// corpus/bpf/mirror.h, with explicit padding so the layout is the same on every GOARCH.
package good

type Event struct {
	Pid    uint32
	_      [4]byte
	TsNs   uint64
	Ret    int32
	IsExit uint8
	Comm   [16]byte
	_      [3]byte
}

type FlowKey struct {
	Saddr uint32
	Daddr uint32
	Sport uint16
	Dport uint16
	Proto uint8
	_     [3]byte
}

type FlowStats struct {
	Packets    uint64
	Bytes      uint64
	Drops      uint32
	State      int32 // enum conn_state
	LastSeenNs int64
}

// ConnFlags keeps the bitfield storage unit whole; callers mask the bits out.
type ConnFlags struct {
	Bits uint32 // state:4, dir:1, nat:1, reserved:26
	Port uint16
	Af   uint8
	_    [1]byte
}

// Addr keeps the larger union alternative (v6); v4 is its first 4 bytes.
type Addr struct {
	Family uint16
	_      [2]byte
	V6     [16]byte
}

type LpmV4Key struct {
	Prefixlen uint32
	Addr      [4]byte
}
