package ledger

import "testing"

// Snapshots hold digests of visitors, contacts and fact keys: a fact key's
// is pinned here (digestmap pins the digest itself), and the zero byte
// between source and id keeps keys split differently apart.
func TestKeyDigestKeepsItsValue(t *testing.T) {
	if got := keyDigest("checkout", "evt-0001"); got != 0x198476c22011df92 {
		t.Errorf("keyDigest(checkout, evt-0001) = %#x: the writer's snapshot version must change with it", got)
	}
	if keyDigest("a", "bc") == keyDigest("ab", "c") {
		t.Error("the zero byte does not separate source from id")
	}
}
