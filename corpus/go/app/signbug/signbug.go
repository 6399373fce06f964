// Package signbug: Ret is unsigned for a C __s32 (negative errnos read as huge values).
package signbug

type Event struct {
	Pid    uint32
	_      [4]byte
	TsNs   uint64
	Ret    uint32
	IsExit uint8
	Comm   [16]byte
	_      [3]byte
}
