package jsonl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/refledger/refledger/events"
)

// fuzzMaxLen is the longest line the fuzz target reads: short, so that
// lines too long come often.
const fuzzMaxLen = 300

// FuzzTimeOrdered holds the order an import appends a file's lines in to
// what the README says of it, for any file: every line that is not blank
// comes once, with its own bytes (none for a line too long); the first
// line of each key comes in time order, lines of one time in file order,
// but that a definition never comes after the activity below it;
// a line repeating a key comes after that key's first line (where else
// does not matter: it is a duplicate or a conflict, which changes
// nothing); and a file already in time order comes as it is.
func FuzzTimeOrdered(f *testing.F) {
	event := func(id, at string) string {
		return `{"specversion":"1.0","id":"` + id + `","source":"s","type":"contact.identified","time":"` + at + `","data":{"visitor_id":"v","contact_id":"c"}}`
	}
	f.Add([]byte(event("a", "2020-01-02T00:00:00Z") + "\n" + event("b", "2020-01-01T00:00:00Z") + "\n"))
	f.Add([]byte(event("a", "2020-01-01T00:00:00Z") + "\r\n\n" + event("b", "2020-01-01T00:00:00Z") + "\n{bad\n" + event("a", "2019-01-01T00:00:00Z")))
	definition := `{"specversion":"1.0","id":"p","source":"s","type":"partner.registered","time":"2022-01-01T00:00:00Z","data":{"partner_id":"p","name":"P"}}`
	link := `{"specversion":"1.0","id":"l","source":"s","type":"link.created","time":"2022-01-01T00:00:00Z","data":{"link_code":"l","partner_id":"p","landing_url":"https://x.example/"}}`
	f.Add([]byte(link + "\n" + definition + "\n" + event("a", "2022-01-01T00:00:00Z") + "\n"))
	f.Add([]byte(definition + "\n" + event("a", "2020-01-02T00:00:00Z") + "\n" + event("b", "2020-01-01T00:00:00Z") + "\n" + definition + "\n"))
	f.Add([]byte(event("x", "2021-05-05T10:00:00+02:00") + "\n" + event("y", "2021-05-05T09:00:00Z") + "\n" + event("x", "2000-01-01T00:00:00Z") + "\n"))
	f.Add([]byte("\n\n" + strings.Repeat("y", fuzzMaxLen+1) + "\n" + strings.Repeat("y", fuzzMaxLen) + "\r\n" + event("z", "2020-01-01T00:00:00Z")))
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(t.TempDir(), "f.jsonl")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		lines, err := TimeOrdered(file, fuzzMaxLen)
		if err != nil {
			t.Fatal(err)
		}
		type emitted struct {
			n       int
			line    string
			tooLong bool
		}
		var got []emitted
		err = lines(func(n int, line []byte, tooLong bool) error {
			if len(bytes.TrimSpace(line)) > 0 || tooLong { // the importer skips blank lines itself
				got = append(got, emitted{n, string(line), tooLong})
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

		// What is expected, from the content split on line ends.
		type want struct {
			emitted
			key        string
			at         events.Moment // when the time reads
			timed      bool
			definition bool
			first      bool          // the first line of its key
			order      events.Moment // the moment it goes by
			came       int           // where it came, -1 before it does
		}
		var all []*want
		byLine := map[int]*want{}
		firstOf := map[string]*want{}
		inOrder, last := true, events.Moment{Time: -1 << 63}
		for i, raw := range bytes.SplitAfter(content, []byte("\n")) {
			if len(raw) == 0 {
				continue
			}
			line := bytes.TrimRight(raw, "\r\n")
			w := &want{emitted: emitted{n: i + 1, line: string(line)}, came: -1}
			if len(line) > fuzzMaxLen {
				w.tooLong, w.line = true, ""
			}
			if len(bytes.TrimSpace(line)) == 0 && !w.tooLong {
				continue
			}
			if e, ok := events.Peek(line); ok && !w.tooLong {
				w.key, w.at, w.timed, w.definition = e.Key(), events.MomentOf(e.Type, e.Time.UnixNano()), true, events.IsDefinition(e.Type)
				if firstOf[w.key] == nil {
					firstOf[w.key], w.first = w, true
				}
				inOrder = inOrder && w.at.Compare(last) >= 0
				last = w.at
			}
			all = append(all, w)
			byLine[w.n] = w
		}
		if len(got) != len(all) {
			t.Fatalf("%d lines came, want %d", len(got), len(all))
		}
		for i, g := range got {
			w := byLine[g.n]
			if w == nil || w.came >= 0 || g.tooLong != w.tooLong || g.line != w.line {
				t.Fatalf("line %d came as %q (too long %v), want it once as %+v", g.n, g.line, g.tooLong, w)
			}
			w.came = i
			if inOrder && g.n != all[i].n {
				t.Fatalf("a file in time order came out of it: line %d came %d-th", g.n, i+1)
			}
		}
		// The first line of a key goes by its moment (time, then rank among
		// events of one instant), a definition by the time of the activity
		// below it in the file when that is earlier: it never goes after
		// that line.
		var firsts []*want
		below := (*want)(nil) // the nearest activity below
		for i := len(all) - 1; i >= 0; i-- {
			w := all[i]
			switch {
			case !w.timed:
				continue
			case !w.definition:
				w.order = firstOf[w.key].at
				below = w
			case w.first && below != nil:
				w.order = w.at
				w.order.Time = min(w.at.Time, below.order.Time) // and a definition's rank is before any activity's
				if w.came > below.came {
					t.Fatalf("definition line %d came after line %d, the activity below it", w.n, below.n)
				}
			default:
				w.order = w.at
			}
			if w.first {
				firsts = append(firsts, w)
			} else if w.came < firstOf[w.key].came {
				t.Fatalf("line %d came before line %d, the first of its key", w.n, firstOf[w.key].n)
			}
		}
		slices.Reverse(firsts)
		slices.SortStableFunc(firsts, func(a, b *want) int { return a.order.Compare(b.order) })
		for i := 1; i < len(firsts); i++ {
			if firsts[i-1].came > firsts[i].came {
				t.Fatalf("line %d came after line %d", firsts[i-1].n, firsts[i].n)
			}
		}
	})
}

// A pipe is read as it comes, in one pass.
func TestTimeOrderedTakesAPipeAsItComes(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.WriteString("b\n\na\n")
		w.Close()
	}()
	lines, err := TimeOrdered(r, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	lines(func(n int, line []byte, _ bool) error {
		got = append(got, fmt.Sprintf("%d %s", n, line))
		return nil
	})
	if want := []string{"1 b", "2 ", "3 a"}; !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
}
