package main

import (
	"flag"
	"strings"
)

// nearest returns the candidate closest to s when it is close enough to be
// what was meant (an edit distance of at most a third of its length, and
// at most 3), and "" otherwise. Case is ignored: "Roger" finds "roger".
func nearest(s string, candidates []string) string {
	best, bestDist := "", 4
	limit := min(3, max(1, len(s)/3))
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d < bestDist && d <= limit {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// flagNames lists the flags fs defines.
func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// didYouMean is " (did you mean X?)" for the nearest candidate, or "".
func didYouMean(s string, candidates []string, prefix string) string {
	if n := nearest(s, candidates); n != "" {
		return " (did you mean " + prefix + n + "?)"
	}
	return ""
}
