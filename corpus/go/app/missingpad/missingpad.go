// Package missingpad: TsNs as [8]byte (alignment 1) with no padding, so it lands at 4
// instead of 8 and everything after it is shifted by 4 (size 36).
package missingpad

type Event struct {
	Pid    uint32
	TsNs   [8]byte
	Ret    int32
	IsExit uint8
	Comm   [16]byte
	_      [3]byte
}
