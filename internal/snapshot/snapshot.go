// Package snapshot writes and reads the binary snapshot files that let a
// restart skip refolding the logs. A file is a header naming what it holds
// (kind and format version), a body of varints, strings and fixed-width
// slices, and a CRC-32C trailer over everything before it. Files are written
// to a temporary name, synced and renamed, so a crash leaves the old
// snapshot or the new one, never half of one. A snapshot is only ever a
// cache of the logs: whoever reads one must be able to do without it.
package snapshot

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"
)

// magic opens every snapshot file.
const magic = "refledger-snapshot\n"

// ErrUnusable is wrapped by every error about a snapshot's contents (a
// different kind or version, a bad checksum, a malformed body): the reader
// should say so and rebuild from the logs.
var ErrUnusable = errors.New("snapshot unusable")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encoder writes a snapshot body. Its first error sticks and is returned
// by WriteFile or Finish; the methods do nothing after it.
type Encoder struct {
	w       *bufio.Writer
	written int64  // bytes so far, from the start of the file
	fixed   []byte // scratch for fixed-width arrays
	symbols map[string]uint64
	recent  [64]recentSymbol
	crc     hash.Hash32
	err     error
	scratch [binary.MaxVarintLen64]byte
}

// bufferSize is how many bytes an encoder gathers before it writes them.
const bufferSize = 1 << 20

// NewEncoder starts a snapshot of the given kind and version on w; call
// Finish to write the trailer.
func NewEncoder(w io.Writer, kind string, version uint64) *Encoder {
	crc := crc32.New(castagnoli)
	e := &Encoder{w: bufio.NewWriterSize(io.MultiWriter(w, crc), bufferSize), crc: crc}
	e.raw([]byte(magic))
	e.String(kind)
	e.Uvarint(version)
	return e
}

func (e *Encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
		e.written += int64(len(b))
	}
}

// Align pads with zero bytes to a multiple of k bytes from the start of
// the file, so that Decoder.Raw can hand out bytes that a fixed-width
// array may be laid over.
func (e *Encoder) Align(k int) {
	if pad := int(e.written % int64(k)); pad != 0 {
		e.raw(make([]byte, k-pad))
	}
}

// Raw writes bytes as they are, with no length: the reader must know it.
func (e *Encoder) Raw(b []byte) { e.raw(b) }

// Finish flushes the body and writes the checksum trailer.
func (e *Encoder) Finish() error {
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err != nil {
		return e.err
	}
	sum := binary.LittleEndian.AppendUint32(nil, e.crc.Sum32())
	e.raw(sum) // the CRC covers itself no more: Sum32 was taken first
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

// Uvarint writes an unsigned integer.
func (e *Encoder) Uvarint(v uint64) { e.raw(binary.AppendUvarint(e.scratch[:0], v)) }

// Varint writes a signed integer.
func (e *Encoder) Varint(v int64) { e.raw(binary.AppendVarint(e.scratch[:0], v)) }

// Int writes an int.
func (e *Encoder) Int(v int) { e.Varint(int64(v)) }

// Bool writes a boolean.
func (e *Encoder) Bool(v bool) {
	if v {
		e.Uvarint(1)
	} else {
		e.Uvarint(0)
	}
}

// String writes a length and the bytes.
func (e *Encoder) String(s string) {
	e.Uvarint(uint64(len(s)))
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
		e.written += int64(len(s))
	}
}

// Symbol writes a string that recurs (a partner id, a currency): the first
// time in full, then as a number.
//
// Recurring strings mostly share their bytes (constants, interned ids),
// so a small table keyed by where the bytes lie answers most calls without
// hashing them: a view of millions of entries asks eight symbols of each.
// The state being encoded does not change meanwhile, so the same bytes in
// the same place are the same string.
func (e *Encoder) Symbol(s string) {
	data := unsafe.StringData(s)
	hit := &e.recent[(uintptr(unsafe.Pointer(data))>>3^uintptr(len(s)))%uintptr(len(e.recent))]
	if hit.data == data && hit.len == len(s) && hit.n != 0 {
		e.Uvarint(hit.n)
		return
	}
	n, ok := e.symbols[s]
	if !ok {
		if e.symbols == nil {
			e.symbols = map[string]uint64{}
		}
		e.symbols[s] = uint64(len(e.symbols)) + 1
		e.Uvarint(0)
		e.String(s)
		return
	}
	*hit = recentSymbol{data: data, len: len(s), n: n}
	e.Uvarint(n)
}

// recentSymbol is a symbol's number, by where its bytes lie.
type recentSymbol struct {
	data *byte
	len  int
	n    uint64
}

// Bytes writes a length and the bytes.
func (e *Encoder) Bytes(b []byte) {
	e.Uvarint(uint64(len(b)))
	e.raw(b)
}

// Time writes an instant (the zero time stays zero), to the nanosecond.
func (e *Encoder) Time(t time.Time) {
	if t.IsZero() {
		e.Bool(false)
		return
	}
	e.Bool(true)
	e.Varint(t.Unix())
	e.Uvarint(uint64(t.Nanosecond()))
}

// Int64s writes a slice of 8-byte little-endian integers, given as one or
// more chunks (the same bytes as their concatenation).
func (e *Encoder) Int64s(chunks ...[]int64) { e.Int64sFunc(chunked(chunks)) }

// Int64sFunc writes n 8-byte little-endian integers, the ith get(i): the
// bytes Int64s writes for them, without holding them in a slice.
func (e *Encoder) Int64sFunc(n int, get func(int) int64) {
	writeFixed(e, n, func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, uint64(get(i))) })
}

// Uint64s writes a slice of 8-byte little-endian unsigned integers.
func (e *Encoder) Uint64s(v []uint64) {
	writeFixed(e, len(v), func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint64(b, v[i]) })
}

// Int32s writes a slice of 4-byte little-endian integers, given as one or
// more chunks.
func (e *Encoder) Int32s(chunks ...[]int32) { e.Int32sFunc(chunked(chunks)) }

// Int32sFunc writes n 4-byte little-endian integers, the ith get(i).
func (e *Encoder) Int32sFunc(n int, get func(int) int32) {
	writeFixed(e, n, func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint32(b, uint32(get(i))) })
}

// Uint32s writes a slice of 4-byte little-endian unsigned integers, given
// as one or more chunks.
func (e *Encoder) Uint32s(chunks ...[]uint32) { e.Uint32sFunc(chunked(chunks)) }

// Uint32sFunc writes n 4-byte little-endian unsigned integers, the ith
// get(i).
func (e *Encoder) Uint32sFunc(n int, get func(int) uint32) {
	writeFixed(e, n, func(b []byte, i int) []byte { return binary.LittleEndian.AppendUint32(b, get(i)) })
}

// BytesFunc writes n byte strings, the ith get(i), as Bytes writes their
// concatenation, which is size bytes long.
func (e *Encoder) BytesFunc(size, n int, get func(int) []byte) {
	e.Uvarint(uint64(size))
	buf := e.fixedBuffer()
	for i := range n {
		if b := get(i); len(buf)+len(b) > cap(buf) {
			e.raw(buf)
			e.raw(b)
			buf = buf[:0]
		} else {
			buf = append(buf, b...)
		}
	}
	e.raw(buf)
}

// chunked is the length of the chunks together and their ith element,
// asked for in increasing order.
func chunked[T any](chunks [][]T) (int, func(int) T) {
	n := 0
	for _, v := range chunks {
		n += len(v)
	}
	c, base := 0, 0 // the chunk holding the last element asked for, and its first index
	return n, func(i int) T {
		for i-base >= len(chunks[c]) {
			base += len(chunks[c])
			c++
		}
		return chunks[c][i-base]
	}
}

func (e *Encoder) fixedBuffer() []byte {
	if e.fixed == nil {
		e.fixed = make([]byte, 0, 8<<10)
	}
	return e.fixed[:0]
}

// writeFixed writes n, then each of n elements in fixed width (at most 8
// bytes) through a small buffer: put appends the ith.
func writeFixed(e *Encoder, n int, put func(b []byte, i int) []byte) {
	e.Uvarint(uint64(n))
	buf := e.fixedBuffer()
	for i := range n {
		buf = put(buf, i)
		if len(buf) > cap(buf)-8 {
			e.raw(buf)
			buf = buf[:0]
		}
	}
	e.raw(buf)
}

// WriteFile writes a snapshot to path atomically: a temporary file in the
// same folder, synced, then renamed over path, and the folder synced.
func WriteFile(path, kind string, version uint64, body func(*Encoder)) error {
	finish, err := StartFile(path, kind, version, body)
	if err != nil {
		return err
	}
	return finish()
}

// StartFile is WriteFile in two halves, so that a loop pauses only for
// the first: it encodes the snapshot with body while another goroutine
// writes the bytes to the temporary file (at most writeAhead of them wait
// in memory), and returns once body has, with finish, which waits for the
// rest of the bytes to reach the file, then syncs and renames it. The
// state body reads may change as soon as StartFile returns. Unless
// StartFile fails, finish must be called, once: it also removes the
// temporary file when anything failed.
func StartFile(path, kind string, version uint64, body func(*Encoder)) (finish func() error, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot folder: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	out := newFileWriter(tmp)
	e := NewEncoder(out, kind, version)
	body(e)
	encErr := e.Finish()
	return func() error {
		defer os.Remove(tmp.Name()) // a no-op once renamed
		err := out.close()          // the file's error, rather than the encoder's errFileFailed
		if err == nil {
			err = encErr
		}
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err == nil {
			err = syncDir(dir)
		}
		if err != nil {
			return fmt.Errorf("write snapshot %s: %w", path, err)
		}
		return nil
	}, nil
}

// errFileFailed stops an encoder whose file failed.
var errFileFailed = errors.New("the snapshot file failed")

// writeAhead bounds the encoded bytes waiting for the file.
const writeAhead = 32 << 20

// fileWriter hands what is written to it to a goroutine that writes it to
// a file: an encoder goes on encoding while the system takes the bytes.
type fileWriter struct {
	bufs   chan []byte
	free   chan []byte
	done   chan struct{}
	failed atomic.Bool // the file failed: stop encoding
	err    error       // the file's first error; read once done is closed
}

func newFileWriter(f *os.File) *fileWriter {
	const bufs = writeAhead / bufferSize
	w := &fileWriter{bufs: make(chan []byte, bufs), free: make(chan []byte, bufs+1), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for b := range w.bufs {
			if w.err == nil {
				if _, w.err = f.Write(b); w.err != nil {
					w.failed.Store(true)
				}
			}
			select {
			case w.free <- b[:0]:
			default: // enough are free; this one goes to the collector
			}
		}
	}()
	return w
}

// Write queues a copy of p (the encoder's buffer is reused once it
// returns); it fails only once the file has (close says how).
func (w *fileWriter) Write(p []byte) (int, error) {
	if w.failed.Load() {
		return 0, errFileFailed
	}
	var b []byte
	select {
	case b = <-w.free:
	default:
		b = make([]byte, 0, max(bufferSize, len(p)))
	}
	w.bufs <- append(b, p...)
	return len(p), nil
}

// close waits for every queued byte to be written and returns the file's
// first error.
func (w *fileWriter) close() error {
	close(w.bufs)
	<-w.done
	return w.err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// MapFile is ReadFile on a memory mapping of the file instead of a copy of
// it (where the system has mmap): the bytes Decoder.Raw hands out stay
// valid for the life of the process, and pages are read when touched.
// Writes to them stay private to the process.
func MapFile(path, kind string, version uint64, body func(*Decoder) error) error {
	data, err := mapFile(path)
	if err != nil {
		return err
	}
	if err := Decode(data, kind, version, body); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ReadFile reads a snapshot of the given kind and version. A missing file
// gives an error wrapping os.ErrNotExist; anything wrong with its contents,
// one wrapping ErrUnusable.
func ReadFile(path, kind string, version uint64, body func(*Decoder) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := Decode(data, kind, version, body); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Decode checks a snapshot's header and checksum, then hands its body to
// body, and checks that body read all of it.
func Decode(data []byte, kind string, version uint64, body func(*Decoder) error) error {
	d, err := checked(data)
	if err != nil {
		return err
	}
	if k := d.String(); d.err == nil && k != kind {
		return fmt.Errorf("%w: it holds %q, not %q", ErrUnusable, k, kind)
	}
	if v := d.Uvarint(); d.err == nil && v != version {
		return fmt.Errorf("%w: %s format version %d, this build reads %d", ErrUnusable, kind, v, version)
	}
	if d.err != nil {
		return d.Err()
	}
	if err := body(d); err != nil {
		if errors.Is(err, ErrUnusable) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUnusable, err)
	}
	if d.err == nil && len(d.data) > 0 {
		d.fail("%d bytes left over", len(d.data))
	}
	return d.Err()
}

// checked checks a snapshot's magic and checksum and returns a decoder
// of what stands between them (the kind, the version, the body).
func checked(data []byte) (*Decoder, error) {
	if len(data) < len(magic)+4 || string(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: not a refledger snapshot", ErrUnusable)
	}
	n := len(data) - 4
	if got, want := crc32.Checksum(data[:n], castagnoli), binary.LittleEndian.Uint32(data[n:]); got != want {
		return nil, fmt.Errorf("%w: checksum %08x, want %08x (the file is damaged)", ErrUnusable, got, want)
	}
	d := NewDecoder(data[len(magic):n])
	d.base = len(magic)
	return d, nil
}

// Decoder reads a snapshot body. Its first error sticks: later reads give
// zero values, and Err reports it.
type Decoder struct {
	data    []byte
	err     error
	symbols []string
	base    int // file offset of the body's first byte
	size    int // the body's length
}

// NewDecoder reads a snapshot body held in memory, without a header or a
// checksum (Decode checks those, then uses one).
func NewDecoder(body []byte) *Decoder { return &Decoder{data: body, size: len(body)} }

// Align skips the padding Encoder.Align wrote.
func (d *Decoder) Align(k int) {
	if pad := (d.base + d.size - len(d.data)) % k; pad != 0 {
		d.take(k - pad)
	}
}

// Raw returns the next n bytes as they are, without copying: they alias
// the snapshot's buffer (see MapFile for how long that lives).
func (d *Decoder) Raw(n int) []byte {
	if n < 0 {
		d.fail("a negative length")
		return nil
	}
	return d.take(n)
}

// Err is the first error met, wrapping ErrUnusable.
func (d *Decoder) Err() error {
	if d.err == nil {
		return nil
	}
	return fmt.Errorf("%w: %v", ErrUnusable, d.err)
}

// Fail records a problem the caller found in what it read.
func (d *Decoder) Fail(format string, args ...any) { d.fail(format, args...) }

func (d *Decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
		d.data = nil
	}
}

// Skip leaves the rest of the body unread (its checksum was checked).
func (d *Decoder) Skip() { d.data = nil }

// Uvarint reads an unsigned integer.
func (d *Decoder) Uvarint() uint64 {
	v, n := binary.Uvarint(d.data)
	if n <= 0 {
		d.fail("truncated or overlong integer")
		return 0
	}
	d.data = d.data[n:]
	return v
}

// Varint reads a signed integer.
func (d *Decoder) Varint() int64 {
	v, n := binary.Varint(d.data)
	if n <= 0 {
		d.fail("truncated or overlong integer")
		return 0
	}
	d.data = d.data[n:]
	return v
}

// Int reads an int.
func (d *Decoder) Int() int {
	v := d.Varint()
	if v > math.MaxInt32 || v < math.MinInt32 {
		d.fail("integer %d out of range", v)
		return 0
	}
	return int(v)
}

// Bool reads a boolean.
func (d *Decoder) Bool() bool {
	switch d.Uvarint() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("a boolean is 0 or 1")
	return false
}

// Count reads a length of things each at least min bytes long, refusing
// one the rest of the snapshot could not hold.
func (d *Decoder) Count(min int) int {
	n := d.Uvarint()
	if min < 1 {
		min = 1
	}
	if n > uint64(len(d.data)/min) {
		d.fail("count %d exceeds what is left", n)
		return 0
	}
	return int(n)
}

// take returns the next n bytes.
func (d *Decoder) take(n int) []byte {
	if n > len(d.data) {
		d.fail("truncated")
		return nil
	}
	b := d.data[:n:n]
	d.data = d.data[n:]
	return b
}

// String reads a string.
func (d *Decoder) String() string { return string(d.take(d.Count(1))) }

// StringBytes reads a string without copying it: the bytes are the
// snapshot's own, to be copied (or looked up) and never kept or changed.
func (d *Decoder) StringBytes() []byte { return d.take(d.Count(1)) }

// Symbol reads a string written by Encoder.Symbol.
func (d *Decoder) Symbol() string {
	n := d.Uvarint()
	if n == 0 {
		s := d.String()
		if d.err == nil {
			d.symbols = append(d.symbols, s)
		}
		return s
	}
	if n > uint64(len(d.symbols)) {
		d.fail("symbol %d is not defined yet", n)
		return ""
	}
	return d.symbols[n-1]
}

// Bytes reads a byte slice (a copy).
func (d *Decoder) Bytes() []byte {
	b := d.take(d.Count(1))
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Time reads an instant, in UTC.
func (d *Decoder) Time() time.Time {
	if !d.Bool() {
		return time.Time{}
	}
	sec, nsec := d.Varint(), d.Uvarint()
	if nsec >= 1e9 {
		d.fail("nanoseconds %d out of range", nsec)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// Int64s reads a slice of 8-byte integers.
func (d *Decoder) Int64s() []int64 {
	return readFixed(d, 8, func(b []byte) int64 { return int64(binary.LittleEndian.Uint64(b)) })
}

// Uint64s reads a slice of 8-byte unsigned integers.
func (d *Decoder) Uint64s() []uint64 { return readFixed(d, 8, binary.LittleEndian.Uint64) }

// Int32s reads a slice of 4-byte integers.
func (d *Decoder) Int32s() []int32 {
	return readFixed(d, 4, func(b []byte) int32 { return int32(binary.LittleEndian.Uint32(b)) })
}

// Uint32s reads a slice of 4-byte unsigned integers.
func (d *Decoder) Uint32s() []uint32 { return readFixed(d, 4, binary.LittleEndian.Uint32) }

// readFixed reads a length, then that many elements of a fixed width.
func readFixed[T any](d *Decoder, size int, get func([]byte) T) []T {
	b := d.take(d.Count(size) * size)
	out := make([]T, len(b)/size)
	for i := range out {
		out[i] = get(b[i*size:])
	}
	return out
}

// SortedKeys returns a map's keys in order, for writing maps the same way
// every time.
func SortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}

// SortedPairs returns a map's keys in order and its values in that order.
func SortedPairs[K cmp.Ordered, V any](m map[K]V) ([]K, []V) {
	keys := SortedKeys(m)
	values := make([]V, len(keys))
	for i, k := range keys {
		values[i] = m[k]
	}
	return keys, values
}

// PairsMap makes a map from keys and values read as two slices, failing the
// decoder when their lengths differ.
func PairsMap[K comparable, V any](d *Decoder, keys []K, values []V) map[K]V {
	if len(keys) != len(values) {
		d.fail("%d keys for %d values", len(keys), len(values))
		return map[K]V{}
	}
	m := make(map[K]V, len(keys))
	for i, k := range keys {
		m[k] = values[i]
	}
	return m
}

// Inspect reads a snapshot file's header and checks its checksum, without
// decoding its body: what kind and format version it holds, or an error
// wrapping ErrUnusable when the file is damaged (os.ErrNotExist when it
// is missing).
func Inspect(path string) (kind string, version uint64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	d, err := checked(data)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	kind, version = d.String(), d.Uvarint()
	return kind, version, d.Err()
}
