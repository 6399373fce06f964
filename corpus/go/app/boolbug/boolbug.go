// Package boolbug: IsExit is a Go bool for a C __u8 (same size, any value other than
// 0 or 1 is undefined behaviour in Go).
package boolbug

type Event struct {
	Pid    uint32
	_      [4]byte
	TsNs   uint64
	Ret    int32
	IsExit bool
	Comm   [16]byte
	_      [3]byte
}
