package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/refledger/refledger/events/store"
	"github.com/refledger/refledger/internal/snapshot"
)

// The snapshot of the read models fed from the fact log (the catalog and
// the click history), with the fact-log position they have applied and the
// id of the commit there.
const (
	readModelsKind    = "refledger.read-models"
	readModelsVersion = 2 // 2: visitors' digests are no longer FNV-1a
)

// WriteReadModels saves the catalog and the click history, which have
// applied the fact log through position through, to path, atomically.
func WriteReadModels(ctx context.Context, facts store.Log, path string, through store.Position, cat *Catalog, clicks *Clicks) error {
	write, err := CopyReadModels(ctx, facts, through, cat, clicks)
	if err != nil {
		return err
	}
	return write(path)
}

// CopyReadModels takes what a snapshot of the catalog and click history
// needs, quickly, and returns what writes it, which may run while facts are
// applied. The click columns only ever grow, so it keeps their lengths
// rather than copying them; maps are cloned (their slices, too, only grow).
// It must run in the goroutine that applies facts.
func CopyReadModels(ctx context.Context, facts store.Log, through store.Position, cat *Catalog, clicks *Clicks) (func(path string) error, error) {
	id, err := store.CommitIDAt(ctx, facts, through)
	if err != nil {
		return nil, err
	}
	cat.mu.RLock()
	catalog := []any{maps.Clone(cat.partners), maps.Clone(cat.programs), maps.Clone(cat.enrolled), maps.Clone(cat.links)}
	cat.mu.RUnlock()
	clicks.mu.RLock()
	c := &Clicks{
		links: maps.Clone(clicks.links), partnerLinks: maps.Clone(clicks.partnerLinks),
		syms: symbols{names: clicks.syms.names[:len(clicks.syms.names):len(clicks.syms.names)]},
		at:   clicks.at[:len(clicks.at):len(clicks.at)], link: clicks.link[:len(clicks.link):len(clicks.link)],
		agent: clicks.agent[:len(clicks.agent):len(clicks.agent)], referrer: clicks.referrer[:len(clicks.referrer):len(clicks.referrer)],
		text: clicks.text[:len(clicks.text):len(clicks.text)], arena: clicks.arena[:len(clicks.arena):len(clicks.arena)],
		prevOnLink: clicks.prevOnLink[:len(clicks.prevOnLink):len(clicks.prevOnLink)], prevOfVisitor: clicks.prevOfVisitor[:len(clicks.prevOfVisitor):len(clicks.prevOfVisitor)],
		lastOnLink: maps.Clone(clicks.lastOnLink), lastOfVisitor: maps.Clone(clicks.lastOfVisitor),
		byContact: maps.Clone(clicks.byContact), visitorsOf: maps.Clone(clicks.visitorsOf), manual: maps.Clone(clicks.manual),
	}
	clicks.mu.RUnlock()
	catalog = append(catalog, c.links, c.partnerLinks, c.visitorsOf, c.manual)
	return func(path string) error {
		// The catalog is small, and JSON (with sorted map keys) keeps it exact.
		catalogJSON, err := json.Marshal(catalog)
		if err != nil {
			return fmt.Errorf("snapshot the catalog: %w", err)
		}
		return snapshot.WriteFile(path, readModelsKind, readModelsVersion, func(e *snapshot.Encoder) {
			e.Uvarint(through)
			e.String(id)
			e.Bytes(catalogJSON)
			e.Uvarint(uint64(len(c.syms.names)))
			for _, s := range c.syms.names {
				e.String(s)
			}
			e.Int64s(c.at)
			for _, col := range [][]uint32{c.link, c.agent, c.referrer} {
				e.Uint32s(col)
			}
			e.Uint64s(c.text)
			e.Bytes(c.arena)
			e.Int32s(c.prevOnLink)
			e.Int32s(c.prevOfVisitor)
			links, lastOnLink := snapshot.SortedPairs(c.lastOnLink)
			e.Uint32s(links)
			e.Int32s(lastOnLink)
			visitors, lastOfVisitor := snapshot.SortedPairs(c.lastOfVisitor)
			e.Uint64s(visitors)
			e.Int32s(lastOfVisitor)
			contacts := snapshot.SortedKeys(c.byContact)
			e.Uvarint(uint64(len(contacts)))
			for _, k := range contacts {
				e.String(k)
				e.Int32s(c.byContact[k])
			}
		})
	}, nil
}

// ReadReadModels loads the catalog and click history saved at path into
// into and intoClicks (which readers may be using) and returns the
// fact-log position they have applied. The catalog is put in place as soon
// as it is read and the snapshot is known to be of this log, before the
// click history (most of the file): at 10M facts that lets redirects serve
// seconds sooner after a start. An error means there is no usable
// snapshot; it leaves the click history as it was, and the catalog either
// as it was or at the snapshot's position, which applying the fact log
// from the start again brings to the same state (the catalog's facts
// overwrite or are already there).
func ReadReadModels(ctx context.Context, facts store.Log, path string, into *Catalog, intoClicks *Clicks) (store.Position, error) {
	var c *Clicks
	var through store.Position
	err := snapshot.ReadFile(path, readModelsKind, readModelsVersion, func(r *snapshot.Decoder) error {
		_, c, through, _ = decodeReadModels(r, func(cat *Catalog, through store.Position, id string) error {
			if err := snapshotOf(ctx, facts, through, id); err != nil {
				return err
			}
			into.mu.Lock()
			into.partners, into.programs, into.enrolled, into.links = cat.partners, cat.programs, cat.enrolled, cat.links
			into.mu.Unlock()
			return nil
		})
		return r.Err()
	})
	if err != nil {
		return 0, err
	}
	k := intoClicks
	k.mu.Lock()
	defer k.mu.Unlock()
	k.links, k.partnerLinks, k.syms, k.at, k.link, k.agent, k.referrer = c.links, c.partnerLinks, c.syms, c.at, c.link, c.agent, c.referrer
	k.text, k.arena, k.prevOnLink, k.prevOfVisitor, k.lastOnLink = c.text, c.arena, c.prevOnLink, c.prevOfVisitor, c.lastOnLink
	k.lastOfVisitor, k.byContact, k.visitorsOf, k.manual = c.lastOfVisitor, c.byContact, c.visitorsOf, c.manual
	return through, nil
}

// snapshotOf checks that a snapshot taken through a fact-log position whose
// commit had id id is of this log.
func snapshotOf(ctx context.Context, facts store.Log, through store.Position, id string) error {
	got, err := store.CommitIDAt(ctx, facts, through)
	switch {
	case errors.Is(err, store.ErrNoCommit):
		return fmt.Errorf("%w: %v (another store?)", snapshot.ErrUnusable, err)
	case err != nil:
		return err
	case got != id:
		return fmt.Errorf("%w: the commit at %d is %q, the snapshot's was %q (another store?)", snapshot.ErrUnusable, through, got, id)
	}
	return nil
}

// check makes sure every row and link of a loaded click history is in
// range, so a damaged snapshot fails to load rather than panics when read.
func (c *Clicks) check() error {
	n := len(c.at)
	for _, l := range []int{len(c.link), len(c.agent), len(c.referrer), len(c.text), len(c.prevOnLink), len(c.prevOfVisitor)} {
		if l != n {
			return fmt.Errorf("columns of %d and %d rows", l, n)
		}
	}
	row := func(i int32, below int) bool { return i >= -1 && int(i) < below }
	for i := range n {
		for _, sym := range []uint32{c.link[i], c.agent[i], c.referrer[i]} {
			if int(sym) >= len(c.syms.names) {
				return fmt.Errorf("row %d: symbol %d is not defined", i, sym)
			}
		}
		if !row(c.prevOnLink[i], i) || !row(c.prevOfVisitor[i], i) {
			return fmt.Errorf("row %d links forward", i)
		}
		b := c.arena[min(c.text[i], uint64(len(c.arena))):]
		for range 4 {
			m, w := binary.Uvarint(b)
			if w <= 0 || m > uint64(len(b)-w) {
				return fmt.Errorf("row %d: its strings run past the arena", i)
			}
			b = b[w+int(m):]
		}
	}
	for _, m := range []map[uint32]int32{c.lastOnLink} {
		for _, i := range m {
			if !row(i, n) || i < 0 {
				return fmt.Errorf("a link's last click %d is out of range", i)
			}
		}
	}
	for _, i := range c.lastOfVisitor {
		if !row(i, n) || i < 0 {
			return fmt.Errorf("a visitor's last click %d is out of range", i)
		}
	}
	for _, rows := range c.byContact {
		for _, i := range rows {
			if !row(i, n) || i < 0 {
				return fmt.Errorf("a contact's click %d is out of range", i)
			}
		}
	}
	return nil
}

// decodeReadModels reads the body of a read-models snapshot; the decoder's
// error says whether it is usable.
//
// catalogRead, when not nil, is called with the catalog as soon as it is
// read whole (before the click history); an error from it fails the
// decoder.
func decodeReadModels(r *snapshot.Decoder, catalogRead func(*Catalog, store.Position, string) error) (cat *Catalog, c *Clicks, through store.Position, id string) {
	cat, c = NewCatalog(), NewClicks()
	through, id = r.Uvarint(), r.String()
	// One JSON array: the catalog's four tables, then the click history's
	// own. It is read a table at a time, so that the catalog is whole before
	// the larger rest is read.
	tables := []any{&cat.partners, &cat.programs, &cat.enrolled, &cat.links, &c.links, &c.partnerLinks, &c.visitorsOf, &c.manual}
	const catalogTables = 4
	dec := json.NewDecoder(bytes.NewReader(r.Bytes()))
	err := expectDelim(dec, '[')
	for i := 0; i < len(tables) && err == nil; i++ {
		if !dec.More() {
			err = errors.New("a table is missing")
			break
		}
		err = dec.Decode(tables[i])
		if i == catalogTables-1 && err == nil && r.Err() == nil && catalogRead != nil && cat.complete() {
			if err := catalogRead(cat, through, id); err != nil {
				r.Fail("%v", err)
				return cat, c, through, id
			}
		}
	}
	if err == nil {
		err = expectDelim(dec, ']')
	}
	if err == nil && dec.More() {
		err = errors.New("data after the tables")
	}
	if err != nil && r.Err() == nil {
		r.Fail("catalog: %v", err)
	}
	if !cat.complete() || c.links == nil || c.partnerLinks == nil || c.visitorsOf == nil || c.manual == nil {
		r.Fail("catalog: a table is missing")
	}
	c.syms = symbols{ids: map[string]uint32{}}
	for range r.Count(1) {
		c.syms.of(r.String())
	}
	if len(c.syms.names) == 0 || c.syms.names[0] != "" {
		r.Fail("symbol 0 is not the empty string")
	}
	c.at = r.Int64s()
	c.link, c.agent, c.referrer = r.Uint32s(), r.Uint32s(), r.Uint32s()
	c.text, c.arena = r.Uint64s(), r.Bytes()
	c.prevOnLink, c.prevOfVisitor = r.Int32s(), r.Int32s()
	links, lastOnLink := r.Uint32s(), r.Int32s()
	visitors, lastOfVisitor := r.Uint64s(), r.Int32s()
	c.lastOnLink = snapshot.PairsMap(r, links, lastOnLink)
	c.lastOfVisitor = snapshot.PairsMap(r, visitors, lastOfVisitor)
	for range r.Count(2) {
		k := r.String()
		c.byContact[k] = r.Int32s()
	}
	if r.Err() == nil {
		if err := c.check(); err != nil {
			r.Fail("click history: %v", err)
		}
	}
	return cat, c, through, id
}

// complete is true when every table of a decoded catalog is there.
func (c *Catalog) complete() bool {
	return c.partners != nil && c.programs != nil && c.enrolled != nil && c.links != nil
}

// expectDelim reads the JSON delimiter want.
func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("want %v, found %v", want, tok)
	}
	return nil
}
