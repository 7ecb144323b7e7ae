package ledger

import "testing"

// Snapshots hold digests of visitors, contacts and fact keys: a fact key's
// is the digest of source, a zero byte and id (digestmap.Digest is tested
// as FNV-1a in its own package).
func TestKeyDigestIsTheDigestOfTheWholeKey(t *testing.T) {
	if keyDigest("checkout", "evt-0001") != digest("checkout\x00evt-0001") {
		t.Error("keyDigest differs from the digest of source, zero byte, id")
	}
	if keyDigest("a", "bc") == keyDigest("ab", "c") {
		t.Error("the zero byte does not separate source from id")
	}
}
