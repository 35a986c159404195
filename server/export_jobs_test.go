package server

import (
	"context"
	"time"
)

// CheckFailures, CheckDeadlines, CheckManual and CheckReportSchedule run
// one notification job, as Run's ticker does.
func (s *Server) CheckFailures(ctx context.Context) (int, error)  { return s.checkFailures(ctx) }
func (s *Server) CheckDeadlines(ctx context.Context) (int, error) { return s.checkDeadlines(ctx) }
func (s *Server) CheckManual(ctx context.Context) (int, error)    { return s.checkManual(ctx) }
func (s *Server) CheckReportSchedule(ctx context.Context) (int, error) {
	return s.checkReportSchedule(ctx)
}

// SaveSnapshot records the compliance snapshot of now's day.
func (s *Server) SaveSnapshot(ctx context.Context, now time.Time) (int, error) {
	return s.saveSnapshot(ctx, now)
}
