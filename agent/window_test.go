package agent

import (
	"context"
	"testing"
	"time"
)

// TestWaitsForWindow: an item the server says may not be installed now is
// skipped, nothing runs, and the ETag is not kept so the next check-in asks
// again; once allowed it installs.
func TestWaitsForWindow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, marker := e.scriptPayload("fix.sh", "")
	item := installItem("PG-9", p)
	no := false
	next := time.Now().Add(time.Hour)
	item.InstallAllowed, item.NextWindow, item.InstallReason = &no, &next, "outside maintenance windows"
	e.srv.setItems(item)
	a := e.agent()
	if err := a.Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	sum, err := a.RunOnce(ctx)
	if err != nil || sum.Skipped != 1 || sum.Installed != 0 {
		t.Fatalf("outside the window: %+v, %v", sum, err)
	}
	mustNotExist(t, marker)
	if st := e.readState(); st.LastETag != "" {
		t.Errorf("the ETag of a plan not carried out was kept: %q", st.LastETag)
	}

	yes := true
	item.InstallAllowed, item.NextWindow = &yes, nil
	e.srv.setItems(item)
	sum, err = a.RunOnce(ctx)
	if err != nil || sum.Installed != 1 || sum.Skipped != 0 {
		t.Fatalf("inside the window: %+v, %v", sum, err)
	}
	mustExist(t, marker)
}
