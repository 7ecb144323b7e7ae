package main

import (
	"strings"
	"testing"
)

// A cell a spreadsheet would run as a formula goes out quoted in the csv
// format; a negative amount stays a number, and the table shows it as is.
func TestWriteReportEscapesFormulasInCSV(t *testing.T) {
	tb := table{header: []string{"order_id", "amount"}, rows: [][]string{{"=HYPERLINK(\"http://evil.example\")", "-99.40"}, {"+cmd", "-"}}}
	var b strings.Builder
	if err := writeReport(&b, formatCSV, nil, tb); err != nil {
		t.Fatal(err)
	}
	want := "order_id,amount\n\"'=HYPERLINK(\"\"http://evil.example\"\")\",-99.40\n'+cmd,'-\n"
	if b.String() != want {
		t.Errorf("csv\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := writeReport(&b, formatTable, nil, tb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `=HYPERLINK("http://evil.example")`) {
		t.Errorf("the table changed a cell:\n%s", b.String())
	}
}
