// Package reorder: TsNs is declared before Pid (fields swapped against the C order).
package reorder

type Event struct {
	TsNs   uint64
	Pid    uint32
	_      [4]byte
	Ret    int32
	IsExit uint8
	Comm   [16]byte
	_      [3]byte
}
