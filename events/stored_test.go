package events

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeStored writes the fixture of a stored version that has none yet.
// A fixture that exists is never written again: it is what the fact log
// of that version holds, forever.
var writeStored = flag.Bool("write-stored", false, "write the missing fixtures of stored versions (testdata/stored)")

// fixtureArrival is the arrival the version 2 fixtures carry.
var fixtureArrival = time.Date(2017, 3, 2, 10, 0, 0, 123456789, time.UTC)

// storedFixture is the fixture of a stored version: one line per fact
// type, the type and the hex of the stored bytes of its testdata/v1
// fixture (arriving at fixtureArrival from version 2 on).
func storedFixture(t *testing.T, version int) map[string][]byte {
	t.Helper()
	path := filepath.Join("testdata", "stored", fmt.Sprintf("v%d.hex", version))
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) && *writeStored {
		var b strings.Builder
		for _, typ := range FactTypes {
			f := wireFixture(t, typ)
			if version >= storedVersion2 {
				f.Arrived = fixtureArrival
			}
			fmt.Fprintf(&b, "%s %x\n", typ, EncodeStored(f))
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		raw = []byte(b.String())
	} else if err != nil {
		t.Fatalf("every stored version needs a fixture (-write-stored writes a missing one): %v", err)
	}
	out := map[string][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		typ, h, _ := strings.Cut(line, " ")
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, typ, err)
		}
		out[typ] = b
	}
	return out
}

func wireFixture(t *testing.T, typ string) Fact {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "v1", typ+".json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestStoredVersionsDecode: the stored facts of every version decode to
// the fact they were written from, and what they say (StoredContent) is
// the same bytes in every version, so that a fact stored before arrivals
// were kept and the same fact sent again now are one fact.
func TestStoredVersionsDecode(t *testing.T) {
	v1, v2 := storedFixture(t, storedVersion1), storedFixture(t, storedVersion2)
	for _, typ := range FactTypes {
		want := wireFixture(t, typ)
		for version, raw := range map[int][]byte{1: v1[typ], 2: v2[typ]} {
			got, err := DecodeStored(typ, raw)
			if err != nil {
				t.Errorf("%s v%d: %v", typ, version, err)
				continue
			}
			w := want
			if version >= storedVersion2 {
				w.Arrived = fixtureArrival
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("%s v%d decodes to\n%#v\nwant\n%#v", typ, version, got, w)
			}
			if version == storedVersion2 && !bytes.Equal(EncodeStored(got), raw) {
				t.Errorf("%s v%d: the stored form is not canonical", typ, version)
			}
		}
		head, rest := StoredContent(v2[typ])
		if content := append(append([]byte{}, head...), rest...); !bytes.Equal(content, v1[typ]) {
			t.Errorf("%s: the content of v2 is %x, want v1's %x", typ, content, v1[typ])
		}
		if head, rest := StoredContent(v1[typ]); !bytes.Equal(head, v1[typ]) || rest != nil {
			t.Errorf("%s: the content of v1 is not itself", typ)
		}
	}
}
