package installer

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// waitDelay bounds how long a finished installer's leftover children may
// keep its output pipe open.
const waitDelay = 5 * time.Second

// command is one program run by an installer.
type command struct {
	path    string
	args    []string
	dir     string
	env     []string
	timeout time.Duration
}

// run starts c directly (no shell), in its own process group, with stdin
// from /dev/null, and waits for it. ExitCode is -1 unless the program
// exited by itself; err is non-nil only when it did not run to an exit
// status (not started, timed out, cancelled). A non-zero exit is not an
// error here: the caller decides what the code means.
func run(ctx context.Context, c command) (Result, error) {
	timeout := c.timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	out := &tailBuffer{max: OutputTail}
	var cmd *exec.Cmd
	var err error
	for attempt := 0; ; attempt++ {
		cmd = exec.CommandContext(ctx, c.path, c.args...)
		cmd.Dir = c.dir
		cmd.Env = c.env
		cmd.Stdout, cmd.Stderr = out, out
		cmd.WaitDelay = waitDelay
		ownProcessGroup(cmd)
		err = cmd.Start()
		// A file written and closed just before can still be "busy" for
		// an instant if another goroutine forked meanwhile: retry briefly.
		if err == nil || !textBusy(err) || attempt >= 20 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		return Result{ExitCode: -1, Output: out.String()}, fmt.Errorf("cannot start %s: %w", c.path, err)
	}
	err = cmd.Wait()
	res := Result{ExitCode: -1, Output: out.String()}
	if cmd.ProcessState != nil && cmd.ProcessState.Exited() {
		// It exited by itself (possibly leaving children that held the
		// output open past waitDelay: not the installer's verdict).
		res.ExitCode = cmd.ProcessState.ExitCode()
		return res, nil
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return res, fmt.Errorf("timed out after %v; process group killed", timeout)
	case ctx.Err() != nil:
		return res, fmt.Errorf("cancelled; process group killed: %w", ctx.Err())
	case err == nil:
		err = errors.New("no exit status")
	}
	return res, fmt.Errorf("%s did not exit normally: %w", c.path, err)
}

// tailBuffer keeps the last max bytes written to it. It is shared by
// stdout and stderr, so writes are serialised.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the tail as valid UTF-8 (a cut may split a character).
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.buf), "\uFFFD")
}
