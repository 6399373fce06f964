// Package stringbug: Comm is a Go string (a pointer and a length), not char[16].
package stringbug

type Event struct {
	Pid    uint32
	_      [4]byte
	TsNs   uint64
	Ret    int32
	IsExit uint8
	Comm   string
}
