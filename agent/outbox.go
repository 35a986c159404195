package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/patchgate/patchgate/atomicfile"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/agentapi"
)

// The outbox holds deployment events until the server acknowledged them.
// An event gets its random ID when it is queued and keeps it through every
// retry, so the server stores it once however often it is sent. Files are
// named <seq>-<id>.json; seq keeps them in the order they happened.

const (
	maxOutboxFile  = 64 << 10
	maxEventsBatch = 512 << 10 // bytes of events per request, under agentapi.MaxBodyBytes
)

// queue records a deployment event durably in the outbox.
func (a *Agent) queue(updateID string, st patchgate.DeploymentState, exitCode int, detail string) error {
	return a.queueEvent(patchgate.Event{
		ID:       randomHex(16),
		Time:     a.now().UTC(),
		Type:     patchgate.EventDeployment,
		UpdateID: updateID,
		State:    st,
		ExitCode: exitCode,
		Detail:   truncate(detail, agentapi.MaxDetailLen),
	})
}

// queueEvent records ev durably in the outbox.
func (a *Agent) queueEvent(ev patchgate.Event) error {
	updateID, st := ev.UpdateID, ev.State
	seq, err := a.nextSeq()
	if err != nil {
		return err
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%016d-%s.json", seq, ev.ID)
	if err := atomicfile.Write(a.path(outboxDir, name), data, 0o600); err != nil {
		return fmt.Errorf("cannot queue event: %w", err)
	}
	a.log.Debug("event queued", "id", ev.ID, "update", updateID, "state", st)
	return nil
}

// nextSeq continues after the highest sequence number in the outbox.
func (a *Agent) nextSeq() (uint64, error) {
	if !a.seqLoaded {
		names, err := a.outboxFiles()
		if err != nil {
			return 0, err
		}
		for _, n := range names {
			if s, err := strconv.ParseUint(n[:strings.IndexByte(n, '-')], 10, 64); err == nil && s > a.seq {
				a.seq = s
			}
		}
		a.seqLoaded = true
	}
	a.seq++
	return a.seq, nil
}

// outboxFiles lists queued event files, oldest first.
func (a *Agent) outboxFiles() ([]string, error) {
	entries, err := os.ReadDir(a.path(outboxDir))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(n, ".json") && strings.IndexByte(n, '-') > 0 && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

type queued struct {
	file string
	ev   patchgate.Event
}

// flush sends every queued event, in batches, and deletes each batch once
// the server acknowledged it with a 2xx. On error the rest stays queued.
func (a *Agent) flush(ctx context.Context, id *identity) (sent int, err error) {
	names, err := a.outboxFiles()
	if err != nil {
		return 0, err
	}
	var batch []queued
	size := 0
	send := func() error {
		n, err := a.sendBatch(ctx, id, batch)
		sent += n
		batch, size = batch[:0], 0
		return err
	}
	for _, name := range names {
		var ev patchgate.Event
		if _, err := readJSONLimited(a.path(outboxDir, name), &ev); err != nil {
			// Written atomically, so only damage gets here; keeping it
			// would block every later event.
			a.log.Error("dropping unreadable queued event", "file", name, "err", err)
			a.removeOutbox(name)
			continue
		}
		data, _ := json.Marshal(ev)
		evSize := len(data) + 1
		if len(batch) > 0 && (len(batch) >= agentapi.MaxEventsPerReq || size+evSize > maxEventsBatch) {
			if err := send(); err != nil {
				return sent, err
			}
		}
		batch = append(batch, queued{file: name, ev: ev})
		size += evSize
	}
	if len(batch) > 0 {
		if err := send(); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// sendBatch posts events. If the server refuses the batch as invalid, the
// events are sent one by one and an event refused on its own is dropped
// (logged): a malformed event must not block the outbox forever.
func (a *Agent) sendBatch(ctx context.Context, id *identity, batch []queued) (int, error) {
	err := a.postEvents(ctx, id, batch)
	if err == nil {
		return len(batch), a.removeOutbox(files(batch)...)
	}
	if c := patchgate.ErrorCode(err); c != patchgate.CodeInvalid && c != patchgate.CodeTooLarge {
		return 0, err
	}
	if len(batch) == 1 {
		a.log.Error("server refused a queued event: dropping it", "id", batch[0].ev.ID, "update", batch[0].ev.UpdateID, "err", err)
		return 0, a.removeOutbox(batch[0].file)
	}
	sent := 0
	for i := range batch {
		n, err := a.sendBatch(ctx, id, batch[i:i+1])
		sent += n
		if err != nil {
			return sent, err
		}
	}
	return sent, nil
}

func (a *Agent) postEvents(ctx context.Context, id *identity, batch []queued) error {
	events := make([]patchgate.Event, len(batch))
	for i, q := range batch {
		events[i] = q.ev
	}
	if _, err := a.api.ReportEvents(ctx, id.Credential, events); err != nil {
		return a.serverError(err, "reporting events", true)
	}
	return nil
}

func files(batch []queued) []string {
	names := make([]string, len(batch))
	for i, q := range batch {
		names[i] = q.file
	}
	return names
}

func (a *Agent) removeOutbox(names ...string) error {
	for _, n := range names {
		if err := os.Remove(a.path(outboxDir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return atomicfile.SyncDir(a.path(outboxDir))
}

// clearOutbox drops every queued event (they belong to a discarded
// identity).
func (a *Agent) clearOutbox() (int, error) {
	names, err := a.outboxFiles()
	if err != nil {
		return 0, err
	}
	return len(names), a.removeOutbox(names...)
}

func readJSONLimited(path string, v any) (bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	if fi.Size() > maxOutboxFile {
		return false, fmt.Errorf("%d bytes, more than %d", fi.Size(), maxOutboxFile)
	}
	return readJSON(path, v)
}

// truncate makes s valid UTF-8 of at most n bytes, without splitting a
// character.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
