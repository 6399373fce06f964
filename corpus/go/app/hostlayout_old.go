//go:build !go1.23

package main

// hostLayout stands in for structs.HostLayout (Go 1.23+) on older toolchains.
type hostLayout struct{}
