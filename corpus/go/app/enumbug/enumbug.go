// Package enumbug: the 4-byte enum conn_state read as a uint8 plus padding (loses the
// upper bytes and the sign: CS_CLOSED = -1 reads as 255).
package enumbug

type FlowStats struct {
	Packets    uint64
	Bytes      uint64
	Drops      uint32
	State      uint8
	_          [3]byte
	LastSeenNs int64
}
