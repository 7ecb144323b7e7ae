// Package lint holds tests about the code base itself: the direction of
// imports between refledger's packages and a doc comment on every package.
// It has no code of its own.
package lint
