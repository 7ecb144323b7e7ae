package server

import (
	"net/http/httptest"
	"testing"
)

// A cell a spreadsheet would run as a formula goes out quoted; a negative
// amount stays a number.
func TestWriteCSVEscapesFormulas(t *testing.T) {
	rec := httptest.NewRecorder()
	writeCSV(rec, []string{"click_id", "amount"}, [][]string{{`=HYPERLINK("http://evil.example","x")`, "-99.40"}, {"@SUM(A1)", "12.00"}})
	want := "click_id,amount\n\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",-99.40\n'@SUM(A1),12.00\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("CSV\n%s\nwant\n%s", got, want)
	}
}
