package intern

import (
	"strings"
	"testing"
	"unsafe"
)

func TestOfSharesOneCopyUpToTheLimit(t *testing.T) {
	tab := New(2)
	a1 := tab.Of(strings.Clone("l1"))
	a2 := tab.Of(strings.Clone("l1"))
	if a1 != "l1" || unsafe.StringData(a1) != unsafe.StringData(a2) {
		t.Error("the same string interned twice gave two copies")
	}
	tab.Of("l2")
	c1, c2 := strings.Clone("l3"), strings.Clone("l3")
	if got := tab.Of(c1); unsafe.StringData(got) != unsafe.StringData(c1) {
		t.Error("past the limit a string is not handed back as it is")
	}
	if got := tab.Of(c2); got != "l3" || unsafe.StringData(got) != unsafe.StringData(c2) {
		t.Error("past the limit a string was kept")
	}
}

func TestOfBytesIsOf(t *testing.T) {
	tab := New(4)
	a := tab.Of(strings.Clone("prod7"))
	if b := tab.OfBytes([]byte("prod7")); unsafe.StringData(b) != unsafe.StringData(a) {
		t.Error("OfBytes made another copy of a kept string")
	}
	buf := []byte("new")
	got := tab.OfBytes(buf)
	buf[0] = 'x'
	if got != "new" || tab.OfBytes([]byte("new")) != "new" {
		t.Errorf("OfBytes kept the caller's bytes: %q", got)
	}
}
