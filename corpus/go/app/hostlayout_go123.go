//go:build go1.23

package main

import "structs"

// hostLayout is what bpf2go (cilium/ebpf >= v0.16) puts as the first, blank field of
// every generated struct. Go 1.23 has the real marker; older toolchains get the shim in
// hostlayout_old.go (a zero-size struct either way).
type hostLayout = structs.HostLayout
