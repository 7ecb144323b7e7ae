//go:build race

package main

// raceDetector is set when the tests run under -race, which makes
// everything several times slower: the load tests then send less.
const raceDetector = true
