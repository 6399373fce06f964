// Package extrafield: flow_key with a field C does not have (Vlan after Proto). The size
// still rounds to 16, but Vlan reads the C struct's trailing padding.
package extrafield

type FlowKey struct {
	Saddr uint32
	Daddr uint32
	Sport uint16
	Dport uint16
	Proto uint8
	Vlan  uint16
}
