//go:build !amd64

package prefetch

// at does nothing where no prefetch instruction is written for.
func at(uintptr) {}
