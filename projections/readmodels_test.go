package projections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/refledger/refledger/events"
	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/snapshot"
)

// readModelsOf reads the fact log from..through into cat and clicks.
func readModelsOf(t *testing.T, facts store.Log, from, through store.Position, cat *Catalog, clicks *Clicks) {
	t.Helper()
	err := ReadFacts(context.Background(), facts, from, through, func(fc FactCommit) error {
		cat.ApplyFacts(fc)
		clicks.ApplyFacts(fc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func sameReadModels(t *testing.T, cat *Catalog, clicks *Clicks, wantCat *Catalog, wantClicks *Clicks, partners, contacts []string) {
	t.Helper()
	if !reflect.DeepEqual(cat.Partners(), wantCat.Partners()) || !reflect.DeepEqual(cat.Programs(), wantCat.Programs()) || !reflect.DeepEqual(cat.Links(), wantCat.Links()) {
		t.Fatal("the catalog differs")
	}
	for _, p := range partners {
		if got, want := clicks.OfPartner(p, time.Time{}, time.Time{}), wantClicks.OfPartner(p, time.Time{}, time.Time{}); !reflect.DeepEqual(got, want) {
			t.Fatalf("clicks of %s:\n%+v\nwant\n%+v", p, got, want)
		}
	}
	for _, c := range contacts {
		if got, want := clicks.Referrals(c), wantClicks.Referrals(c); !reflect.DeepEqual(got, want) {
			t.Fatalf("referrals of %s:\n%+v\nwant\n%+v", c, got, want)
		}
	}
}

func TestReadModelsSnapshot(t *testing.T) {
	ctx := context.Background()
	l := newLogs(t)
	all := seedFacts(t)
	for i := range 40 {
		all = append(all, fact(t, fmt.Sprint("k", i), events.TypeClickRecorded, fmt.Sprintf(
			`{"click_id":"ck%d","link_code":"maria-scm","visitor_id":"vis%d","contact_id":"%s","ip":"10.0.0.%d","user_agent":"UA %d","referrer":"https://ref.example/%d"}`,
			i, i%5, map[bool]string{true: "katie", false: ""}[i%7 == 0], i, i%3, i%2)))
		if i%10 == 0 {
			all = append(all, fact(t, fmt.Sprint("id", i), events.TypeContactIdentified, fmt.Sprintf(`{"visitor_id":"vis%d","contact_id":"c%d"}`, i%5, i%4)))
		}
	}
	half := len(all) / 2
	l.submit(t, all[:half])
	through, _ := l.facts.Head(ctx)
	cat, clicks := NewCatalog(), NewClicks()
	readModelsOf(t, l.facts, 1, through, cat, clicks)
	path := filepath.Join(t.TempDir(), "read-models.snap")
	if err := WriteReadModels(ctx, l.facts, path, through, cat, clicks); err != nil {
		t.Fatal(err)
	}
	l.submit(t, all[half:])

	var partners, contacts []string
	for _, p := range cat.Partners() {
		partners = append(partners, p.PartnerID)
	}
	contacts = []string{"katie", "c0", "c1", "c2", "c3", "nobody"}
	for _, f := range all {
		if d, ok := f.Data.(*events.OrderPlaced); ok && d.ContactID != "" {
			contacts = append(contacts, d.ContactID)
		}
	}

	gotCat, gotClicks := NewCatalog(), NewClicks()
	at, err := ReadReadModels(ctx, l.facts, path, gotCat, gotClicks)
	if err != nil || at != through {
		t.Fatalf("read: %v at %d, want %d", err, at, through)
	}
	sameReadModels(t, gotCat, gotClicks, cat, clicks, partners, contacts)
	readModelsOf(t, l.facts, at+1, 0, gotCat, gotClicks)
	wantCat, wantClicks := NewCatalog(), NewClicks()
	readModelsOf(t, l.facts, 1, 0, wantCat, wantClicks)
	sameReadModels(t, gotCat, gotClicks, wantCat, wantClicks, partners, contacts)
	if len(wantClicks.OfPartner("maria", time.Time{}, time.Time{})) < 40 {
		t.Fatalf("maria has %d clicks: the test's clicks went missing", len(wantClicks.OfPartner("maria", time.Time{}, time.Time{})))
	}

	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 4
	os.WriteFile(path, data, 0o644)
	untouched := NewClicks()
	if _, err := ReadReadModels(ctx, l.facts, path, NewCatalog(), untouched); !errors.Is(err, snapshot.ErrUnusable) || len(untouched.at) != 0 {
		t.Fatalf("a damaged snapshot: %v, %d rows", err, len(untouched.at))
	}
}

// FuzzReadModelsSnapshot: whatever the bytes, a read-models body fails to
// decode or gives read models that answer without panicking.
func FuzzReadModelsSnapshot(f *testing.F) {
	ctx := context.Background()
	l := newLogs(f)
	l.submit(f, seedFacts(f))
	through, _ := l.facts.Head(ctx)
	cat, clicks := NewCatalog(), NewClicks()
	err := ReadFacts(ctx, l.facts, 1, through, func(fc FactCommit) error { cat.ApplyFacts(fc); clicks.ApplyFacts(fc); return nil })
	path := filepath.Join(f.TempDir(), "read-models.snap")
	if err == nil {
		err = WriteReadModels(ctx, l.facts, path, through, cat, clicks)
	}
	if err != nil {
		f.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var header bytes.Buffer
	snapshot.NewEncoder(&header, readModelsKind, readModelsVersion).Finish()
	f.Add(data[header.Len()-4 : len(data)-4])
	f.Add([]byte{})
	f.Add([]byte("\x01\x00\x0e[{},{},{},{},{},{},{},{}]\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := snapshot.NewDecoder(data)
		cat, clicks, _, _ := decodeReadModels(r, nil)
		if r.Err() != nil {
			return
		}
		for _, p := range cat.Partners() {
			clicks.OfPartner(p.PartnerID, time.Time{}, time.Time{})
		}
		for contact := range clicks.visitorsOf {
			clicks.Referrals(contact)
		}
		for contact := range clicks.byContact {
			clicks.Referrals(contact)
		}
		clicks.ApplyFacts(FactCommit{Facts: []events.Fact{{Type: events.TypeClickRecorded, Data: &events.ClickRecorded{ClickID: "k", LinkCode: "l", VisitorID: "v"}}}})
	})
}

// TestReadModelsCopyIsTheStateAtCopyTime: facts applied between the copy
// and the write do not leak into the snapshot.
func TestReadModelsCopyIsTheStateAtCopyTime(t *testing.T) {
	ctx := context.Background()
	l := newLogs(t)
	all := seedFacts(t)
	for i := range 30 {
		all = append(all, fact(t, fmt.Sprint("k", i), events.TypeClickRecorded, fmt.Sprintf(
			`{"click_id":"ck%d","link_code":"maria-scm","visitor_id":"vis%d","contact_id":"katie","user_agent":"UA %d"}`, i, i%4, i)))
	}
	half := len(all) / 2
	l.submit(t, all[:half])
	through, _ := l.facts.Head(ctx)
	l.submit(t, all[half:])
	cat, clicks := NewCatalog(), NewClicks()
	readModelsOf(t, l.facts, 1, through, cat, clicks)
	write, err := CopyReadModels(ctx, l.facts, through, cat, clicks)
	if err != nil {
		t.Fatal(err)
	}
	readModelsOf(t, l.facts, through+1, 0, cat, clicks) // the follower goes on
	path := filepath.Join(t.TempDir(), "read-models.snap")
	if err := write(path); err != nil {
		t.Fatal(err)
	}
	gotCat, gotClicks := NewCatalog(), NewClicks()
	if at, err := ReadReadModels(ctx, l.facts, path, gotCat, gotClicks); err != nil || at != through {
		t.Fatalf("read: %v at %d", err, at)
	}
	wantCat, wantClicks := NewCatalog(), NewClicks()
	readModelsOf(t, l.facts, 1, through, wantCat, wantClicks)
	sameReadModels(t, gotCat, gotClicks, wantCat, wantClicks, []string{"maria", "roger"}, []string{"katie"})
	if len(clicks.OfPartner("maria", time.Time{}, time.Time{})) == len(gotClicks.OfPartner("maria", time.Time{}, time.Time{})) {
		t.Fatal("the test's later clicks did not reach the live models")
	}
}

// The catalog is put in place as soon as a snapshot's catalog is read and
// the snapshot is known to be of this log, before its click history: a
// snapshot of another log leaves both read models as they were, and one
// whose click history proves unusable leaves the catalog at the snapshot's
// position, from which applying the log from the start again gives the
// catalog a rebuild gives.
func TestReadModelsCatalogComesFirst(t *testing.T) {
	ctx := context.Background()
	facts := seedFacts(t)
	for i := range 5 {
		facts = append(facts, fact(t, fmt.Sprint("k", i), events.TypeClickRecorded, fmt.Sprintf(`{"click_id":"ck%d","link_code":"maria-scm","visitor_id":"vis%d"}`, i, i)))
	}
	written := func(l logs, damage func(*Clicks)) string {
		through, _ := l.facts.Head(ctx)
		cat, clicks := NewCatalog(), NewClicks()
		readModelsOf(t, l.facts, 1, through, cat, clicks)
		damage(clicks)
		path := filepath.Join(t.TempDir(), "read-models.snap")
		if err := WriteReadModels(ctx, l.facts, path, through, cat, clicks); err != nil {
			t.Fatal(err)
		}
		return path
	}
	l := newLogs(t)
	l.submit(t, facts)

	other := newLogs(t)
	other.submit(t, facts[:len(facts)-1])
	gotCat, gotClicks := NewCatalog(), NewClicks()
	if _, err := ReadReadModels(ctx, l.facts, written(other, func(*Clicks) {}), gotCat, gotClicks); !errors.Is(err, snapshot.ErrUnusable) {
		t.Fatalf("another log's snapshot: %v", err)
	}
	if len(gotCat.Partners()) != 0 || len(gotClicks.at) != 0 {
		t.Fatal("another log's snapshot changed the read models")
	}

	damaged := written(l, func(c *Clicks) { c.prevOnLink[0] = 3 })
	if _, err := ReadReadModels(ctx, l.facts, damaged, gotCat, gotClicks); !errors.Is(err, snapshot.ErrUnusable) || !strings.Contains(err.Error(), "click history") {
		t.Fatalf("a snapshot with a damaged click history: %v", err)
	}
	if _, ok := gotCat.Link("maria-scm"); !ok || len(gotClicks.at) != 0 {
		t.Fatalf("after a damaged click history: the catalog has maria-scm: %v; the click history has %d rows, want none", ok, len(gotClicks.at))
	}
	readModelsOf(t, l.facts, 1, 0, gotCat, gotClicks)
	wantCat, wantClicks := NewCatalog(), NewClicks()
	readModelsOf(t, l.facts, 1, 0, wantCat, wantClicks)
	sameReadModels(t, gotCat, gotClicks, wantCat, wantClicks, []string{"maria", "roger"}, []string{"katie"})
}
