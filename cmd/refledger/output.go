package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/refledger/refledger/internal/csvsafe"
)

// table is a report's rows for the table and csv formats.
type table struct {
	header []string
	rows   [][]string
}

// writeReport writes a report: in json, one object holding doc; in csv and
// table, the rows. A table shows empty cells as "-"; csv leaves them empty,
// as json does, so that a script never reads "-" as a value, and makes
// each cell safe to open in a spreadsheet (csvsafe: a cell that would run
// as a formula gets a quote in front; amounts stay numbers).
func writeReport(w io.Writer, f format, doc any, t table) error {
	switch f {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	case formatCSV:
		cw := csv.NewWriter(w)
		cw.Write(csvsafe.Record(t.header))
		for _, row := range t.rows {
			cw.Write(csvsafe.Record(row))
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.header, "\t")))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(dashEmpty(slices.Clone(r)), "\t"))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// dashEmpty shows empty cells as "-" in tables.
func dashEmpty(cells []string) []string {
	for i, c := range cells {
		cells[i] = orDash(c)
	}
	return cells
}
