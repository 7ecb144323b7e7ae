//go:build !amd64

package digestmap

import "unsafe"

// prefetch does nothing where no prefetch instruction is written for.
func prefetch(unsafe.Pointer) {}
