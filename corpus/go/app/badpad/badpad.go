// Package badpad: the explicit 4-byte pad sits after IsExit instead of after Pid.
// Go still aligns TsNs to 8 (on 64-bit), so TsNs is right by luck, but Comm moves to 25.
package badpad

type Event struct {
	Pid    uint32
	TsNs   uint64
	Ret    int32
	IsExit uint8
	_      [4]byte
	Comm   [16]byte
	_      [3]byte
}
