// Package intbug: Pid is a Go int (8 bytes on 64-bit), not a uint32. On 386/arm int is
// 4 bytes and the layout happens to match.
package intbug

type Event struct {
	Pid    int
	_      [4]byte
	TsNs   uint64
	Ret    int32
	IsExit uint8
	Comm   [16]byte
	_      [3]byte
}
