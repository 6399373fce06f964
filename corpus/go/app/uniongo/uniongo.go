// Package uniongo: struct addr with the union flattened to its v4 alternative only;
// the v6 bytes are dropped (size 8 instead of 20).
package uniongo

type Addr struct {
	Family uint16
	V4     uint32
}
