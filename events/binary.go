package events

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
	"unsafe"
)

// The stored form of a fact. On the wire facts are CloudEvents JSON; in the
// fact log they are this compact binary layout, which decodes an order of
// magnitude faster than JSON and is just as canonical (the same fact always
// gives the same bytes, which idempotency digests rely on):
//
//	version 1: 0xB1 0x01 str(type) str(id) str(source) varint(unix nanos) payload
//	version 2: 0xB1 0x02 str(type) str(id) str(source) varint(unix nanos) payload arrived
//
// where str is a uvarint length and the bytes, payload is the type's
// fields in a fixed order (see the encode and decode functions below), and
// arrived (version 2) is when the fact log received the fact, Unix
// nanoseconds in 8 little-endian bytes. Version 2 is version 1 with the
// arrival appended: what the fact says (StoredContent) is the same bytes
// in both, so a fact stored before arrivals were kept and the same fact
// sent again now are one fact. A fact without an arrival is stored as
// version 1. A stored fact starting with '{' is JSON (the form before
// binary), and still decodes.
const (
	storedMarker     = 0xB1
	storedVersion1   = 1
	storedVersion2   = 2 // version 1 and the arrival
	arrivedBytes     = 8
	maxStoredStr     = MaxEventBytes
	storedHeaderSize = 2
)

// storedHeader1 is the header of a version 1 stored fact, which
// StoredContent gives for one of version 2.
var storedHeader1 = []byte{storedMarker, storedVersion1}

// StoredContent is what a stored fact says, without when it arrived: the
// bytes of its version 1 stored form (or its JSON, for a fact stored
// before the binary form), in two pieces, to be read one after the other:
// a version 1 fact is itself and nothing, a version 2 one the version 1
// header and its bytes after its own, up to its arrival. Idempotency
// digests cover these, so a fact is a duplicate of the same fact however
// apart their arrivals. Neither piece may be changed.
func StoredContent(raw []byte) (head, rest []byte) {
	if len(raw) >= storedHeaderSize+arrivedBytes && raw[0] == storedMarker && raw[1] == storedVersion2 {
		return storedHeader1, raw[storedHeaderSize : len(raw)-arrivedBytes]
	}
	return raw, nil
}

// EncodeStored writes the fact's stored (binary) form: version 2 when the
// fact has an arrival time, version 1 when it has none.
func EncodeStored(f Fact) []byte {
	w := binWriter{buf: make([]byte, 0, 128)}
	version := byte(storedVersion1)
	if !f.Arrived.IsZero() {
		version = storedVersion2
	}
	w.buf = append(w.buf, storedMarker, version)
	w.str(f.Type)
	w.str(f.ID)
	w.str(f.Source)
	w.varint(f.Time.UnixNano())
	switch d := f.Data.(type) {
	case *PartnerRegistered:
		w.strs(d.PartnerID, d.Name, d.ParentPartnerID, d.ContactID)
		w.optInt(d.CookieDays)
	case *ProgramDefined:
		w.strs(d.ProgramID, d.Name)
		w.optInt(d.Priority)
		w.str(d.DefaultRate)
		keys := make([]string, 0, len(d.ProductRates))
		for k := range d.ProductRates {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.uvarint(uint64(len(keys)))
		for _, k := range keys {
			w.strs(k, d.ProductRates[k])
		}
		w.uvarint(uint64(len(d.TierRates)))
		w.strs(d.TierRates...)
		w.varint(int64(d.Cycles))
	case *PartnerEnrolled:
		w.strs(d.PartnerID, d.ProgramID)
	case *LinkCreated:
		w.strs(d.LinkCode, d.PartnerID, d.ProgramID, d.LandingURL)
	case *ClickRecorded:
		w.strs(d.ClickID, d.LinkCode, d.VisitorID, d.ContactID, d.IP, d.UserAgent, d.Referrer)
	case *ContactIdentified:
		w.strs(d.VisitorID, d.ContactID)
	case *ReferralAssigned:
		w.strs(d.ContactID, d.PartnerID, d.Note)
	case *OrderPlaced:
		w.strs(d.OrderID, d.ContactID, d.VisitorID, d.Currency, d.SubscriptionID)
		w.varint(int64(d.Cycle))
		w.uvarint(uint64(len(d.Lines)))
		for _, l := range d.Lines {
			w.strs(l.LineID, l.ProductID)
			w.varint(l.Quantity)
			w.str(l.Amount.Text)
		}
	case *PaymentReceived:
		w.strs(d.OrderID, d.PaymentID, d.Amount.Text)
	case *OrderRefunded:
		w.strs(d.OrderID, d.RefundID)
		w.uvarint(uint64(len(d.Lines)))
		for _, l := range d.Lines {
			w.strs(l.LineID, l.Amount.Text)
		}
	case *PolicyChanged:
		w.strs(d.Tracking, d.Credit)
		w.optInt(d.CookieDays)
		w.optInt(d.ReferralDays)
		w.strs(d.ProgramBinding, d.SelfReferral)
		w.optInt(d.HoldingDays)
		w.str(d.PayoutBasis)
		if d.EffectiveAt == nil {
			w.buf = append(w.buf, 0)
		} else {
			w.buf = append(w.buf, 1)
			w.varint(d.EffectiveAt.UnixNano())
		}
	case *PayoutRecorded:
		w.strs(d.PayoutID, d.PartnerID, d.Currency, d.Amount.Text)
	default:
		panic(fmt.Sprintf("events: no stored form for %T", f.Data)) // every fact type has one
	}
	if version == storedVersion2 {
		w.buf = binary.LittleEndian.AppendUint64(w.buf, uint64(f.Arrived.UnixNano()))
	}
	return w.buf
}

// errStored is wrapped by every error of a malformed stored fact.
var errStored = errors.New("malformed stored fact")

// StoredDecoder decodes stored facts as DecodeStored does, but keeps the
// sources it met last and hands the same string on while they repeat (a
// fact commit's facts mostly come from one or two sources): one
// allocation fewer per fact, for the millions a replay decodes. The zero
// value is ready. It is not safe for concurrent use.
type StoredDecoder struct {
	sources [2]string // most recent first
	// TransientClicks makes the id and strings of a click.recorded fact
	// share the stored bytes instead of copying them. It is for a consumer
	// that keeps none of a click's strings once it has folded it (the
	// ledger engine, which copies the click id and digests the rest): it
	// spares a replay millions of small allocations. The stored bytes must
	// not change afterwards, as no store's do.
	TransientClicks bool
}

// Decode decodes one stored fact of type typ.
func (d *StoredDecoder) Decode(typ string, raw []byte) (Fact, error) {
	return decodeStored(typ, raw, d)
}

// source returns the decoder's copy of the source b holds, making one only
// when it has none.
func (d *StoredDecoder) source(b []byte) string {
	switch {
	case d == nil:
		return string(b)
	case string(b) == d.sources[0]: // compares without allocating
		return d.sources[0]
	case string(b) == d.sources[1]:
		d.sources[0], d.sources[1] = d.sources[1], d.sources[0]
		return d.sources[0]
	}
	d.sources[1], d.sources[0] = d.sources[0], string(b)
	return d.sources[0]
}

// decodeBinary reads the stored binary form of a fact of type typ. It
// trusts nothing: every length is bounded by what is left. The fact's Type
// is typ itself, and its Source comes from d (nil: a fresh string).
func decodeBinary(typ string, raw []byte, d *StoredDecoder) (Fact, error) {
	r := binReader{b: raw, shared: d != nil && d.TransientClicks && typ == TypeClickRecorded}
	var arrived time.Time
	switch {
	case len(raw) >= storedHeaderSize && raw[0] == storedMarker && raw[1] == storedVersion1:
		r.b = raw[storedHeaderSize:]
	case len(raw) >= storedHeaderSize+arrivedBytes && raw[0] == storedMarker && raw[1] == storedVersion2:
		r.b = raw[storedHeaderSize : len(raw)-arrivedBytes]
		arrived = time.Unix(0, int64(binary.LittleEndian.Uint64(raw[len(raw)-arrivedBytes:]))).UTC()
	default:
		return Fact{}, fmt.Errorf("%w: not version %d or %d", errStored, storedVersion1, storedVersion2)
	}
	if held := r.bytes(); r.err == nil && string(held) != typ {
		return Fact{}, fmt.Errorf("%w: stored as %q, holds %q", errStored, typ, held)
	}
	f := Fact{Type: typ, ID: r.str(), Arrived: arrived}
	f.Source = d.source(r.bytes())
	f.Time = time.Unix(0, r.varint()).UTC()
	data := newData(f.Type)
	if data == nil && r.err == nil {
		return Fact{}, fmt.Errorf("%w: unknown type %q", errStored, f.Type)
	}
	switch d := data.(type) {
	case *PartnerRegistered:
		d.PartnerID, d.Name, d.ParentPartnerID, d.ContactID = r.str(), r.str(), r.str(), r.str()
		d.CookieDays = r.optInt()
	case *ProgramDefined:
		d.ProgramID, d.Name = r.str(), r.str()
		d.Priority = r.optInt()
		d.DefaultRate = r.str()
		if n := r.count(); n > 0 {
			d.ProductRates = make(map[string]string, n)
			for i := 0; i < n; i++ {
				k := r.str()
				d.ProductRates[k] = r.str()
			}
		}
		if n := r.count(); n > 0 {
			d.TierRates = make([]string, n)
			for i := range d.TierRates {
				d.TierRates[i] = r.str()
			}
		}
		d.Cycles = int(r.varint())
	case *PartnerEnrolled:
		d.PartnerID, d.ProgramID = r.str(), r.str()
	case *LinkCreated:
		d.LinkCode, d.PartnerID, d.ProgramID, d.LandingURL = r.str(), r.str(), r.str(), r.str()
	case *ClickRecorded:
		d.ClickID, d.LinkCode, d.VisitorID, d.ContactID, d.IP, d.UserAgent, d.Referrer = r.str(), r.str(), r.str(), r.str(), r.str(), r.str(), r.str()
	case *ContactIdentified:
		d.VisitorID, d.ContactID = r.str(), r.str()
	case *ReferralAssigned:
		d.ContactID, d.PartnerID, d.Note = r.str(), r.str(), r.str()
	case *OrderPlaced:
		d.OrderID, d.ContactID, d.VisitorID, d.Currency, d.SubscriptionID = r.str(), r.str(), r.str(), r.str(), r.str()
		d.Cycle = int(r.varint())
		if n := r.count(); n > 0 {
			d.Lines = make([]OrderLine, n)
			for i := range d.Lines {
				l := &d.Lines[i]
				l.LineID, l.ProductID = r.str(), r.str()
				l.Quantity = r.varint()
				l.Amount.Text = r.str()
			}
		}
	case *PaymentReceived:
		d.OrderID, d.PaymentID, d.Amount.Text = r.str(), r.str(), r.str()
	case *OrderRefunded:
		d.OrderID, d.RefundID = r.str(), r.str()
		if n := r.count(); n > 0 {
			d.Lines = make([]RefundLine, n)
			for i := range d.Lines {
				d.Lines[i].LineID, d.Lines[i].Amount.Text = r.str(), r.str()
			}
		}
	case *PolicyChanged:
		d.Tracking, d.Credit = r.str(), r.str()
		d.CookieDays, d.ReferralDays = r.optInt(), r.optInt()
		d.ProgramBinding, d.SelfReferral = r.str(), r.str()
		d.HoldingDays = r.optInt()
		d.PayoutBasis = r.str()
		if r.byte() == 1 {
			at := time.Unix(0, r.varint()).UTC()
			d.EffectiveAt = &at
		}
	case *PayoutRecorded:
		d.PayoutID, d.PartnerID, d.Currency, d.Amount.Text = r.str(), r.str(), r.str(), r.str()
	}
	if r.err != nil {
		return Fact{}, r.err
	}
	if len(r.b) != 0 {
		return Fact{}, fmt.Errorf("%w: %d bytes after the payload", errStored, len(r.b))
	}
	f.Data = data
	return f, nil
}

type binWriter struct{ buf []byte }

func (w *binWriter) uvarint(v uint64) { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *binWriter) varint(v int64)   { w.buf = binary.AppendVarint(w.buf, v) }
func (w *binWriter) str(s string) {
	w.uvarint(uint64(len(s)))
	w.buf = append(w.buf, s...)
}
func (w *binWriter) strs(ss ...string) {
	for _, s := range ss {
		w.str(s)
	}
}
func (w *binWriter) optInt(p *int) {
	if p == nil {
		w.buf = append(w.buf, 0)
		return
	}
	w.buf = append(w.buf, 1)
	w.varint(int64(*p))
}

type binReader struct {
	b   []byte
	err error
	// shared makes str share the bytes read instead of copying them
	// (StoredDecoder.TransientClicks).
	shared bool
}

func (r *binReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated %s", errStored, what)
	}
}

func (r *binReader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("byte")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *binReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *binReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("number")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a collection length, bounded by the bytes left (every
// element takes at least one byte).
func (r *binReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("collection")
		return 0
	}
	return int(n)
}

func (r *binReader) str() string {
	b := r.bytes()
	if r.shared && len(b) > 0 {
		return unsafe.String(&b[0], len(b))
	}
	return string(b)
}

// bytes reads a string's bytes without copying them.
func (r *binReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) || n > maxStoredStr {
		r.fail("string")
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *binReader) optInt() *int {
	switch r.byte() {
	case 0:
		return nil
	case 1:
		v := r.varint()
		if v < math.MinInt32 || v > math.MaxInt32 {
			r.fail("integer")
			return nil
		}
		n := int(v)
		return &n
	}
	r.fail("optional integer")
	return nil
}
