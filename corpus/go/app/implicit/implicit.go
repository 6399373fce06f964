// Package implicit mirrors struct event with no explicit padding, relying on Go's own
// alignment. Correct where uint64 is 8-aligned (amd64, arm64, s390x, ppc64le); wrong on
// 386 and arm, where Go aligns uint64 to 4 (TsNs lands at 4, size 36).
package implicit

type Event struct {
	Pid    uint32
	TsNs   uint64
	Ret    int32
	IsExit uint8
	Comm   [16]byte
}
