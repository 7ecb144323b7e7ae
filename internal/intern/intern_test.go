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

func TestCopyNeverKeepsTheStringGiven(t *testing.T) {
	tab := New(1)
	given := strings.Clone("l1")
	kept := tab.Copy(given)
	if kept != "l1" || unsafe.StringData(kept) == unsafe.StringData(given) {
		t.Error("Copy kept the string it was given")
	}
	if again := tab.Copy(strings.Clone("l1")); unsafe.StringData(again) != unsafe.StringData(kept) {
		t.Error("Copy made another copy of a kept string")
	}
	past := strings.Clone("l2") // past the limit: a copy, not kept
	if got := tab.Copy(past); got != "l2" || unsafe.StringData(got) == unsafe.StringData(past) {
		t.Error("past the limit Copy handed back the string it was given")
	}
}
