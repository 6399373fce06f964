// Package missingfield: flow_key without Proto (size 12 instead of 16).
package missingfield

type FlowKey struct {
	Saddr uint32
	Daddr uint32
	Sport uint16
	Dport uint16
}
