package csvsafe

import (
	"regexp"
	"testing"
)

func TestCell(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`=HYPERLINK("https://evil.example","x")`, `'=HYPERLINK("https://evil.example","x")`},
		{"+33 6 12 34 56 78", "'+33 6 12 34 56 78"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"-", "'-"},
		{"-.5", "'-.5"},
		{"-1.", "'-1."},
		{"-1e3", "'-1e3"},
		{"-99.40", "-99.40"},
		{"-7", "-7"},
		{"497.00", "497.00"},
		{"0", "0"},
		{"", ""},
		{"maria", "maria"},
		{"a=b", "a=b"},
		{" =1", " =1"}, // not at the start: a spreadsheet reads text
		{"2017-03-02T10:00:00Z", "2017-03-02T10:00:00Z"},
	} {
		if got := Cell(tt.in); got != tt.want {
			t.Errorf("Cell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRecordLeavesItsArgument(t *testing.T) {
	in := []string{"=1", "-99.40"}
	if got := Record(in); got[0] != "'=1" || got[1] != "-99.40" || in[0] != "=1" {
		t.Errorf("Record(%q) = %q (argument now %q)", []string{"=1", "-99.40"}, got, in)
	}
}

var decimal = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// FuzzCell: a cell comes out unchanged or with one quote in front; it is
// quoted exactly when it starts with a formula character and is not a
// plain decimal; what comes out never starts with one unless a decimal.
func FuzzCell(f *testing.F) {
	for _, s := range []string{"=1", "-99.40", "-", "@", "\t", "maria", "", "-1.2.3", "12."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Cell(s)
		risky := s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r')
		want := s
		if risky && !decimal.MatchString(s) {
			want = "'" + s
		}
		if got != want {
			t.Fatalf("Cell(%q) = %q, want %q", s, got, want)
		}
	})
}
