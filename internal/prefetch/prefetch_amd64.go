package prefetch

// at asks the processor to bring the cache line at addr in, without waiting
// for it (PREFETCHT0): it never faults, whatever addr is.
func at(addr uintptr)
