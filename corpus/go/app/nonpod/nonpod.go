// Package nonpod: Go types that hold pointers and cannot mirror kernel memory.
package nonpod

type FlowStats struct {
	Packets uint64
	Bytes   *uint64
	Drops   uint32
	State   int32
	Extra   interface{}
}

type Event struct {
	Pid    uint32
	TsNs   uint64
	Ret    int32
	IsExit uint8
	Comm   []byte
	Labels map[string]int
}
