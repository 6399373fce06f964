// Package bitbug: the bitfields state:4, dir:1, nat:1, reserved:26 read as four bytes.
// The size and the later fields match; the bitfields are misread.
package bitbug

type ConnFlags struct {
	State    uint8
	Dir      uint8
	Nat      uint8
	Reserved uint8
	Port     uint16
	Af       uint8
	_        [1]byte
}
