// Package floatbug: Bytes is a float64 for a C __u64 (same size, wrong encoding).
package floatbug

type FlowStats struct {
	Packets    uint64
	Bytes      float64
	Drops      uint32
	State      int32
	LastSeenNs int64
}
