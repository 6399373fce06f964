// Package generic: a generic struct, instantiated in main as Pair[uint32, uint64].
package generic

type Pair[K any, V any] struct {
	Key   K
	Value V
}
