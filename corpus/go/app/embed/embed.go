// Package embed mirrors struct event correctly through an embedded struct.
package embed

type Header struct {
	Pid  uint32
	_    [4]byte
	TsNs uint64
}

type Event struct {
	Header
	Ret    int32
	IsExit uint8
	Comm   [16]byte
	_      [3]byte
}
