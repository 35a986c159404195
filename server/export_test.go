package server

import "context"

// CheckSLA runs one SLA check, as Run's ticker does.
func (s *Server) CheckSLA(ctx context.Context) (int, error) { return s.checkSLA(ctx) }

// PruneEvents applies the event retention once, as Run's ticker does.
func (s *Server) PruneEvents(ctx context.Context) { s.pruneEvents(ctx) }

// ConsolidateAll runs the scheduled consolidation once.
func (s *Server) ConsolidateAll(ctx context.Context) ([]string, error) { return s.consolidateAll(ctx) }

// Cleanup runs the scheduled cleanup once.
func (s *Server) RunCleanup(ctx context.Context) { s.runCleanup(ctx) }

// RefreshEstimates recomputes the install-duration estimates, as Run's
// ticker does.
func (s *Server) RefreshEstimates(ctx context.Context) { s.refreshEstimates(ctx) }
