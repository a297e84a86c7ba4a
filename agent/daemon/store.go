package daemon

import (
	"github.com/aima-dev/aima/agent/pipeline"
	"github.com/aima-dev/aima/agent/unit"
	"github.com/aima-dev/aima/state"
)

// OpenStore opens the state directory dir with the checks whose facts live
// above state wired in: a pipeline step must name a unit of the registry
// (unit.Default), and a pipeline with an active run cannot be deleted
// (pipeline.InUse). They are fields of the store, set here rather than by
// an import's side effect, so every door that opens its store here (the
// agent, the CLI) checks the same, and a store opened otherwise (a test's,
// state.Open's) checks only what state knows itself.
func OpenStore(dir string) (*state.Store, error) {
	st, err := state.Open(dir)
	if err != nil {
		return nil, err
	}
	st.UnitExists = unit.Default.Has
	st.InUse = pipeline.InUse
	return st, nil
}
