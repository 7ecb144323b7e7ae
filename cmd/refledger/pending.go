package main

import (
	"context"
	"errors"
)

var errNotYet = errors.New("not built yet")

func runServe(ctx context.Context, env *environment, args []string) error { return errNotYet }
