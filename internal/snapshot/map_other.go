//go:build !unix

package snapshot

import "os"

// mapFile reads the whole file where there is no mmap.
func mapFile(path string) ([]byte, error) { return os.ReadFile(path) }
