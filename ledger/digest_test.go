package ledger

import (
	"hash/fnv"
	"testing"
)

func TestDigestIsFNV1a(t *testing.T) {
	for _, s := range []string{"", "a", "v-laptop", "checkout\x00evt-0001"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if digest(s) != h.Sum64() {
			t.Errorf("digest(%q) differs from FNV-1a", s)
		}
	}
	if keyDigest("checkout", "evt-0001") != digest("checkout\x00evt-0001") {
		t.Error("keyDigest differs from the digest of source, zero byte, id")
	}
}
