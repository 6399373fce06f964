package main

// Event is the newcomer's hand-written mirror of struct event. It reads naturally and
// is wrong. On 64-bit targets Go's own alignment puts TsNs at 8 as in C, and the size
// even comes out at 40, but IsExit is a Go bool and Comm is a Go string header
// (pointer + length) at 24, not 16 inline bytes at 21. On 386/arm TsNs moves to 4.
type Event struct {
	Pid    uint32
	TsNs   uint64
	Ret    int32
	IsExit bool
	Comm   string
}
