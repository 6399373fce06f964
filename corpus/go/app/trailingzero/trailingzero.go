// Package trailingzero: correct fields, then a trailing zero-size field. gc pads a
// struct that ends in a zero-size field so that &s.Tail cannot point past the object:
// the struct grows from 32 to 40 bytes (36 on 386/arm).
package trailingzero

type FlowStats struct {
	Packets    uint64
	Bytes      uint64
	Drops      uint32
	State      int32
	LastSeenNs int64
	Tail       [0]uint64
}
