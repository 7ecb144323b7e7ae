package digestmap

import "unsafe"

// prefetch asks the processor to bring the cache line at addr in, without
// waiting for it (PREFETCHT0): it never faults, whatever addr is.
//
//go:noescape
func prefetch(addr unsafe.Pointer)
