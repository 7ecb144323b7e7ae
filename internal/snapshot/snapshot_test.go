package snapshot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"
)

type sample struct {
	U      uint64
	V      int64
	I      int
	B      bool
	S      string
	Raw    []byte
	T, T0  time.Time
	I64    []int64
	U64    []uint64
	I32    []int32
	U32    []uint32
	Nested []string
}

func (s *sample) encode(e *Encoder) {
	e.Uvarint(s.U)
	e.Varint(s.V)
	e.Int(s.I)
	e.Bool(s.B)
	e.String(s.S)
	e.Bytes(s.Raw)
	e.Time(s.T)
	e.Time(s.T0)
	e.Int64s(s.I64)
	e.Uint64s(s.U64)
	e.Int32s(s.I32)
	e.Uint32s(s.U32)
	e.Uvarint(uint64(len(s.Nested)))
	for _, n := range s.Nested {
		e.Symbol(n)
	}
}

func decodeSample(d *Decoder) sample {
	s := sample{U: d.Uvarint(), V: d.Varint(), I: d.Int(), B: d.Bool(), S: d.String(), Raw: d.Bytes(), T: d.Time(), T0: d.Time(),
		I64: d.Int64s(), U64: d.Uint64s(), I32: d.Int32s(), U32: d.Uint32s()}
	for n := d.Count(1); n > 0; n-- {
		s.Nested = append(s.Nested, d.Symbol())
	}
	return s
}

func testSample() sample {
	big := make([]int64, 5000) // more than one buffer's worth
	for i := range big {
		big[i] = int64(i*i) - 7
	}
	return sample{
		U: 1 << 60, V: -12345, I: -3, B: true, S: "héllo", Raw: []byte{0, 1, 2},
		T: time.Date(2026, 3, 4, 5, 6, 7, 890, time.UTC), I64: big, U64: []uint64{1<<64 - 1, 0},
		I32: []int32{-1, 2}, U32: []uint32{1<<32 - 1}, Nested: []string{"a", "", "c", "a", "", "a"},
	}
}

func TestRoundTripThroughAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.snap")
	want := testSample()
	if err := WriteFile(path, "sample", 3, want.encode); err != nil {
		t.Fatal(err)
	}
	var got sample
	if err := ReadFile(path, "sample", 3, func(d *Decoder) error { got = decodeSample(d); return d.Err() }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp*"))
	if len(leftovers) > 0 {
		t.Fatalf("temporary files left behind: %v", leftovers)
	}
}

// TestStartFileCopiesWhatItWasHanded: the state a snapshot was encoded
// from may change once StartFile returns, while its bytes are still on
// their way to the file (more of them than writeAhead, in writes large
// and small).
func TestStartFileCopiesWhatItWasHanded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.snap")
	state := make([][]byte, 40)
	for i := range state {
		state[i] = make([]byte, (i%3)*(3<<20)+i)
		for j := range state[i] {
			state[i][j] = byte(i + j)
		}
	}
	want := make([][]byte, len(state))
	for i := range state {
		want[i] = append([]byte(nil), state[i]...)
	}
	finish, err := StartFile(path, "state", 1, func(e *Encoder) {
		for _, b := range state {
			e.Bytes(b)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range state {
		clear(b)
	}
	if err := finish(); err != nil {
		t.Fatal(err)
	}
	err = ReadFile(path, "state", 1, func(d *Decoder) error {
		for i := range want {
			if got := d.take(d.Count(0)); !bytes.Equal(got, want[i]) {
				t.Fatalf("part %d: %d bytes, not as encoded", i, len(got))
			}
		}
		return d.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A file that fails to take the bytes fails the snapshot.
func TestFileWriterReportsTheFilesError(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	w := newFileWriter(f)
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ {
		_, werr = w.Write(make([]byte, 10))
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(werr, errFileFailed) {
		t.Errorf("writes went on after the file failed: %v", werr)
	}
	if err := w.close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("close = %v, want the file's error", err)
	}
}

func TestUnusableSnapshotsSaySo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.snap")
	s := testSample()
	if err := WriteFile(path, "sample", 3, s.encode); err != nil {
		t.Fatal(err)
	}
	read := func(kind string, version uint64) error {
		return ReadFile(path, kind, version, func(d *Decoder) error { decodeSample(d); return d.Err() })
	}
	for name, err := range map[string]error{
		"other kind":    read("other", 3),
		"other version": read("sample", 4),
	} {
		if !errors.Is(err, ErrUnusable) {
			t.Errorf("%s: got %v, want ErrUnusable", name, err)
		}
	}
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0x40
	os.WriteFile(path, data, 0o644)
	if err := read("sample", 3); !errors.Is(err, ErrUnusable) {
		t.Errorf("damaged file: got %v, want ErrUnusable", err)
	}
	if err := read("sample", 3); err == nil || !errors.Is(err, ErrUnusable) {
		t.Errorf("damaged file read again: %v", err)
	}
	if err := ReadFile(filepath.Join(t.TempDir(), "none"), "sample", 3, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want os.ErrNotExist", err)
	}
}

func TestLeftoverBytesAreRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.snap")
	s := testSample()
	if err := WriteFile(path, "sample", 1, s.encode); err != nil {
		t.Fatal(err)
	}
	err := ReadFile(path, "sample", 1, func(d *Decoder) error { d.Uvarint(); return nil })
	if !errors.Is(err, ErrUnusable) {
		t.Fatalf("a body read part way: got %v, want ErrUnusable", err)
	}
}

// FuzzDecode: no input makes the decoder panic or allocate beyond what the
// input could hold.
func FuzzDecode(f *testing.F) {
	path := filepath.Join(f.TempDir(), "x.snap")
	s := testSample()
	if err := WriteFile(path, "sample", 1, s.encode); err != nil {
		f.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	f.Add(data)
	f.Add([]byte(magic + "\x06sample\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Decode(data, "sample", 1, func(d *Decoder) error { decodeSample(d); return d.Err() })
		// Without the checksum in the way, the body decoder meets the bytes.
		d := &Decoder{data: data}
		decodeSample(d)
	})
}

func TestMapFileHandsOutAlignedRawBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raw.snap")
	payload := make([]byte, 4096*3+24)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	err := WriteFile(path, "raw", 1, func(e *Encoder) {
		e.String("odd length") // leaves the body unaligned
		e.Align(8)
		e.Raw(payload)
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	err = MapFile(path, "raw", 1, func(d *Decoder) error {
		_ = d.String()
		d.Align(8)
		got = d.Raw(len(payload))
		return d.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, payload) {
		t.Fatal("raw bytes differ after mapping")
	}
	if uintptr(unsafe.Pointer(&got[0]))%8 != 0 {
		t.Fatal("raw bytes are not 8-byte aligned in the mapping")
	}
	got[0] ^= 1 // a private mapping: writable, and the file stays as it was
	again, _ := os.ReadFile(path)
	if err := Decode(again, "raw", 1, func(d *Decoder) error { d.Skip(); return nil }); err != nil {
		t.Fatalf("writing to the mapping changed the file: %v", err)
	}
}

// Symbols decode as written whether their bytes are shared (slices of one
// string, of one length or another) or not (copies).
func TestSymbolsSharingBytes(t *testing.T) {
	base := "abcdef"
	want := []string{base[:3], base[:4], base[:3], string([]byte("abc")), base[:4], "", base[1:4], string([]byte("abcd")), ""}
	var buf bytes.Buffer
	e := NewEncoder(&buf, "symbols", 1)
	for _, s := range want {
		e.Symbol(s)
	}
	if err := e.Finish(); err != nil {
		t.Fatal(err)
	}
	err := Decode(buf.Bytes(), "symbols", 1, func(d *Decoder) error {
		for i, w := range want {
			if got := d.Symbol(); got != w {
				t.Errorf("symbol %d: %q, want %q", i, got, w)
			}
		}
		return d.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The Func writers and the chunked ones write the bytes of one slice of
// the same elements: a reader cannot tell how the writer held them.
func TestArraysWriteTheSameHoweverHeld(t *testing.T) {
	i64 := []int64{-1, 0, 1 << 40, 7, -(1 << 62)}
	i32 := []int32{-5, 0, 1 << 30, 9}
	u32 := []uint32{0, 1, 1 << 31, 3}
	strs := [][]byte{[]byte("ab"), nil, bytes.Repeat([]byte("z"), 20000), []byte("c")} // one larger than the buffer
	encode := func(body func(e *Encoder)) []byte {
		var buf bytes.Buffer
		e := NewEncoder(&buf, "t", 1)
		body(e)
		if err := e.Finish(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	whole := encode(func(e *Encoder) {
		e.Int64s(i64)
		e.Int32s(i32)
		e.Uint32s(u32)
		e.Bytes(bytes.Join(strs, nil))
	})
	chunks := encode(func(e *Encoder) {
		e.Int64s(i64[:2], nil, i64[2:])
		e.Int32s(nil, i32[:1], i32[1:3], i32[3:])
		e.Uint32s(u32[:3], u32[3:], nil)
		e.Bytes(bytes.Join(strs, nil))
	})
	funcs := encode(func(e *Encoder) {
		e.Int64sFunc(len(i64), func(i int) int64 { return i64[i] })
		e.Int32sFunc(len(i32), func(i int) int32 { return i32[i] })
		e.Uint32sFunc(len(u32), func(i int) uint32 { return u32[i] })
		e.BytesFunc(len(bytes.Join(strs, nil)), len(strs), func(i int) []byte { return strs[i] })
	})
	if !bytes.Equal(chunks, whole) || !bytes.Equal(funcs, whole) {
		t.Fatalf("chunked %x\nfuncs %x\nwant %x", chunks, funcs, whole)
	}
	err := Decode(whole, "t", 1, func(d *Decoder) error {
		if got := d.Int64s(); !slices.Equal(got, i64) {
			t.Errorf("int64s %v", got)
		}
		if got := d.Int32s(); !slices.Equal(got, i32) {
			t.Errorf("int32s %v", got)
		}
		if got := d.Uint32s(); !slices.Equal(got, u32) {
			t.Errorf("uint32s %v", got)
		}
		if got := d.Bytes(); !bytes.Equal(got, bytes.Join(strs, nil)) {
			t.Errorf("bytes of %d", len(got))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
