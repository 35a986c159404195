package patchgate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Window is a recurring maintenance window of a group: the hosts of the
// group install only while one of their groups' windows is open (see
// DecideInstall).
//
// Schedule says when the window opens, in TimeZone, in one of two forms:
//
//   - a five-field cron expression, "minute hour day-of-month month
//     day-of-week" (github.com/robfig/cron/v3 standard syntax), e.g.
//     "0 22 * * sat" opens every Saturday at 22:00;
//   - a monthly rule, "ORDINAL WEEKDAY [+Nd|-Nd] [HH:MM]", e.g.
//     "second tuesday +3d 22:00" opens three days after Patch Tuesday at
//     22:00. ORDINAL is first, second, third, fourth or last (or 1st..4th);
//     WEEKDAY is a day name or its first three letters; the offset is in
//     calendar days (at most 27 either way) and may carry the opening into
//     the next or previous month; HH:MM defaults to 00:00. Case does not
//     matter.
//
// Duration is elapsed time: a 4h window opening at 01:00 on the night
// clocks go back closes at 04:00 wall time, after four real hours.
//
// Both forms are evaluated on the local wall clock, so a daily window opens
// once a day, DST or not: an opening time that does not exist locally (the
// hour skipped when clocks go forward) opens late by the length of the gap
// (02:30 becomes 03:30 in Europe/Paris), and one that exists twice (clocks
// go back) opens at the first of the two only.
type Window struct {
	Group     string        `json:"group"`
	Schedule  string        `json:"schedule"`
	Duration  time.Duration `json:"duration"` // nanoseconds
	TimeZone  string        `json:"time_zone"`
	UpdatedAt time.Time     `json:"updated_at,omitzero"`
	UpdatedBy string        `json:"updated_by,omitempty"`
}

// MaxWindowDuration bounds a window: a longer one is no window at all.
const MaxWindowDuration = 31 * 24 * time.Hour

// CompiledWindow is a Window with its schedule parsed and its zone loaded,
// ready to be evaluated many times.
type CompiledWindow struct {
	Window
	loc   *time.Location
	sched schedule
}

type schedule interface {
	// next returns the first opening strictly after t (in loc), or the zero
	// time if there is none within five years.
	next(t time.Time, loc *time.Location) time.Time
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ValidateSchedule reports whether spec is a valid schedule, naming field in
// the error.
func ValidateSchedule(field, spec string) error {
	_, err := parseSchedule(field, spec)
	return err
}

func parseSchedule(field, spec string) (schedule, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, Invalid(field, "is required")
	}
	if len(spec) > 200 {
		return nil, Invalid(field, "longer than 200 bytes")
	}
	if r, ok, err := parseMonthly(spec); ok {
		if err != nil {
			return nil, Invalid(field, "%q: %v", spec, err)
		}
		return r, nil
	}
	if strings.HasPrefix(spec, "@") || strings.Contains(spec, "TZ=") {
		return nil, Invalid(field, "%q: descriptors and time zones are not allowed in the schedule; use five cron fields and --tz", spec)
	}
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, Invalid(field, "%q is neither a cron expression (minute hour day month weekday) nor a monthly rule like \"second tuesday +3d 22:00\": %v", spec, err)
	}
	return cronSchedule{s}, nil
}

// Compile checks w and prepares it for evaluation.
func (w Window) Compile() (CompiledWindow, error) {
	if w.Duration <= 0 || w.Duration > MaxWindowDuration {
		return CompiledWindow{}, Invalid("duration", "must be positive and at most %s, not %s", MaxWindowDuration, w.Duration)
	}
	if w.TimeZone == "" {
		return CompiledWindow{}, Invalid("time_zone", "is required (an IANA name like Europe/Paris, or UTC)")
	}
	if w.TimeZone == "Local" {
		return CompiledWindow{}, Invalid("time_zone", "give an IANA name like Europe/Paris, not Local")
	}
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil {
		return CompiledWindow{}, Invalid("time_zone", "%q is not a known time zone", w.TimeZone)
	}
	s, err := parseSchedule("schedule", w.Schedule)
	if err != nil {
		return CompiledWindow{}, err
	}
	return CompiledWindow{Window: w, loc: loc, sched: s}, nil
}

// Next returns up to n openings at or after from, in the window's zone.
func (c CompiledWindow) Next(from time.Time, n int) []time.Time {
	var out []time.Time
	t := from.Add(-time.Nanosecond)
	for len(out) < n {
		s := c.sched.next(t, c.loc)
		if s.IsZero() {
			break
		}
		out = append(out, s)
		t = s
	}
	return out
}

// IsOpen reports whether the window is open at now: some opening s has
// s <= now < s+Duration. Overlapping openings merge; closesAt is when the
// merged window closes.
func (c CompiledWindow) IsOpen(now time.Time) (open bool, closesAt time.Time) {
	// The latest opening in (now-Duration, now] is the one that matters.
	// Look back 1m, 2m, 4m, ... up to Duration: the first look that finds
	// an opening finds few, however often the schedule opens.
	var last time.Time
	if s := c.sched.next(now.Add(-c.Duration), c.loc); s.IsZero() || s.After(now) {
		return false, time.Time{} // the usual answer, in one look
	}
	for step := time.Minute; ; step *= 2 {
		step = min(step, c.Duration)
		if s := c.sched.next(now.Add(-step), c.loc); !s.IsZero() && !s.After(now) {
			last = s
			for {
				n := c.sched.next(last, c.loc)
				if n.IsZero() || n.After(now) {
					break
				}
				last = n
			}
			break
		}
		if step == c.Duration {
			break
		}
	}
	if last.IsZero() {
		return false, time.Time{}
	}
	closesAt = last.Add(c.Duration)
	// Openings before the close extend it, up to a horizon: a schedule whose
	// openings always overlap is open for good.
	for closesAt.Sub(now) <= MaxWindowDuration {
		s := c.sched.next(last, c.loc)
		if s.IsZero() || !s.Before(closesAt) {
			break
		}
		last, closesAt = s, s.Add(c.Duration)
	}
	return true, closesAt.In(c.loc)
}

type cronSchedule struct{ s cron.Schedule }

// next evaluates the expression on the wall clock of loc, not on its
// instants: robfig/cron skips an opening that falls in a DST gap and opens
// twice in a repeated hour, and a maintenance window should do neither. The
// wall clock is read as if it were UTC (which has no DST), the next match is
// found there and mapped back to loc by localTime.
func (c cronSchedule) next(t time.Time, loc *time.Location) time.Time {
	w := wallAsUTC(t.In(loc))
	// A match that maps to an instant at or before t (the first occurrence
	// of a repeated hour when t is in the second) is skipped.
	for range 200 {
		sw := c.s.Next(w)
		if sw.IsZero() {
			return sw
		}
		s := localTime(sw, loc)
		if s.After(t) {
			return s
		}
		w = sw
	}
	return time.Time{}
}

// localTime returns the instant at which loc's wall clock reads wall (given
// as a UTC time). A wall time in a DST gap maps to the instant it names with
// the offset in effect before the gap, i.e. late by the gap (02:30 is 03:30
// when clocks skip from 02:00 to 03:00); a repeated wall time maps to its
// first occurrence. time.Date guarantees neither.
func localTime(wall time.Time, loc *time.Location) time.Time {
	s := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, loc)
	if !wallAsUTC(s).Equal(wall) {
		// In a gap: no transition is a day apart from another.
		_, off := wall.Add(-24 * time.Hour).In(loc).Zone()
		return wall.Add(-time.Duration(off) * time.Second).In(loc)
	}
	for _, d := range []time.Duration{2 * time.Hour, time.Hour, 30 * time.Minute} {
		if e := s.Add(-d); wallAsUTC(e.In(loc)).Equal(wall) {
			return e
		}
	}
	return s
}

func wallAsUTC(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

// monthlyRule is "ORDINAL WEEKDAY [+Nd] [HH:MM]".
type monthlyRule struct {
	nth          int // 1..4, or -1 for last
	weekday      time.Weekday
	offsetDays   int
	hour, minute int
}

var ordinals = map[string]int{
	"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
	"fourth": 4, "4th": 4, "last": -1,
}

// parseMonthly parses a monthly rule. ok is false when spec does not start
// with an ordinal, i.e. is no monthly rule at all.
func parseMonthly(spec string) (r monthlyRule, ok bool, err error) {
	f := strings.Fields(strings.ToLower(spec))
	if len(f) == 0 {
		return r, false, nil
	}
	nth, isOrd := ordinals[f[0]]
	if !isOrd {
		return r, false, nil
	}
	r.nth = nth
	if len(f) < 2 {
		return r, true, fmt.Errorf("a weekday must follow %q", f[0])
	}
	wd, okDay := parseWeekday(f[1])
	if !okDay {
		return r, true, fmt.Errorf("%q is not a weekday", f[1])
	}
	r.weekday = wd
	rest := f[2:]
	if len(rest) > 0 && (strings.HasPrefix(rest[0], "+") || strings.HasPrefix(rest[0], "-")) {
		days, found := strings.CutSuffix(rest[0], "d")
		n, err := strconv.Atoi(days)
		if !found || err != nil || n < -27 || n > 27 {
			return r, true, fmt.Errorf("offset %q must be whole days between -27d and +27d, like +3d", rest[0])
		}
		r.offsetDays = n
		rest = rest[1:]
	}
	if len(rest) > 0 {
		hh, mm, found := strings.Cut(rest[0], ":")
		h, err1 := strconv.Atoi(hh)
		m, err2 := strconv.Atoi(mm)
		if !found || err1 != nil || err2 != nil || h < 0 || h > 23 || m < 0 || m > 59 || len(mm) != 2 {
			return r, true, fmt.Errorf("time %q must be HH:MM, 00:00 to 23:59", rest[0])
		}
		r.hour, r.minute = h, m
		rest = rest[1:]
	}
	if len(rest) > 0 {
		return r, true, fmt.Errorf("unexpected %q: the form is ORDINAL WEEKDAY [+Nd] [HH:MM]", strings.Join(rest, " "))
	}
	return r, true, nil
}

func parseWeekday(s string) (time.Weekday, bool) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		if s == name || s == name[:3] {
			return d, true
		}
	}
	return 0, false
}

// opening returns the opening of the rule for the month of (y, m).
func (r monthlyRule) opening(y int, m time.Month, loc *time.Location) time.Time {
	var day int
	if r.nth > 0 {
		first := time.Date(y, m, 1, 12, 0, 0, 0, time.UTC).Weekday()
		day = 1 + (int(r.weekday)-int(first)+7)%7 + 7*(r.nth-1)
	} else {
		lastDay := time.Date(y, m+1, 0, 12, 0, 0, 0, time.UTC)
		day = lastDay.Day() - (int(lastDay.Weekday())-int(r.weekday)+7)%7
	}
	// time.Date normalises the offset across month ends.
	return localTime(time.Date(y, m, day+r.offsetDays, r.hour, r.minute, 0, 0, time.UTC), loc)
}

func (r monthlyRule) next(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	// An offset may move an opening up to a month away from its month:
	// start a month early.
	y, m := lt.Year(), lt.Month()-1
	for i := 0; i < 5*12+3; i++ {
		s := r.opening(y, m+time.Month(i), loc)
		if s.After(t) {
			return s
		}
	}
	return time.Time{}
}

// InstallDecision says whether a host may install an item now.
type InstallDecision struct {
	Allowed bool
	// ClosesAt is when the open window that allows the install closes.
	ClosesAt *time.Time
	// NextWindow is the next opening, when the install must wait.
	NextWindow *time.Time
	Reason     string
}

// DecideInstall decides whether a host whose groups have windows may
// install an item now:
//
//   - an emergency approval installs at once;
//   - a host none of whose groups has a window installs at any time;
//   - while one of the windows is open the host installs until it closes
//     (the latest close among open windows);
//   - once the approval's deadline has passed the host installs at its next
//     check-in, window or not;
//   - otherwise it waits for the next opening.
func DecideInstall(now time.Time, windows []CompiledWindow, deadline *time.Time, emergency bool) InstallDecision {
	if emergency {
		return InstallDecision{Allowed: true, Reason: "emergency approval: installs outside maintenance windows"}
	}
	if len(windows) == 0 {
		return InstallDecision{Allowed: true, Reason: "no maintenance window: installs at any time"}
	}
	var closes time.Time
	var group string
	for _, w := range windows {
		if open, c := w.IsOpen(now); open && c.After(closes) {
			closes, group = c, w.Group
		}
	}
	if !closes.IsZero() {
		return InstallDecision{Allowed: true, ClosesAt: &closes,
			Reason: fmt.Sprintf("maintenance window of group %s open until %s", group, closes.Format(time.RFC3339))}
	}
	if deadline != nil && !now.Before(*deadline) {
		return InstallDecision{Allowed: true, Reason: "deadline " + deadline.UTC().Format(time.RFC3339) + " has passed: installs outside maintenance windows"}
	}
	d := InstallDecision{Reason: "outside maintenance windows"}
	if n, ok := NextOpening(now, windows); ok {
		d.NextWindow = &n
		d.Reason = fmt.Sprintf("outside maintenance windows; next opens %s", n.Format(time.RFC3339))
	}
	return d
}

// NextOpening returns the earliest opening after now among windows.
func NextOpening(now time.Time, windows []CompiledWindow) (time.Time, bool) {
	var best time.Time
	for _, w := range windows {
		if s := w.sched.next(now, w.loc); !s.IsZero() && (best.IsZero() || s.Before(best)) {
			best = s
		}
	}
	return best, !best.IsZero()
}

// WindowState summarises windows at now for a cache key: it changes exactly
// when one of them opens or closes (or its close or next opening moves).
func WindowState(now time.Time, windows []CompiledWindow) string {
	var b strings.Builder
	for _, w := range windows {
		key, _ := w.State(now)
		b.WriteString(key)
	}
	return b.String()
}

// State is the window's part of WindowState at now, and until when (from
// now on) it stays the same: the close of an open window, the next opening
// of a closed one.
func (c CompiledWindow) State(now time.Time) (key string, until time.Time) {
	if open, closes := c.IsOpen(now); open {
		return fmt.Sprintf("%s:o%d;", c.Group, closes.Unix()), closes
	}
	if n := c.sched.next(now, c.loc); !n.IsZero() {
		return fmt.Sprintf("%s:c%d;", c.Group, n.Unix()), n
	}
	return c.Group + ":never;", now.Add(24 * time.Hour)
}

// HostWindows returns the compiled windows of the groups a host is in,
// ordered by group.
func HostWindows(byGroup map[string]CompiledWindow, groups []string) []CompiledWindow {
	var out []CompiledWindow
	for _, g := range groups {
		if w, ok := byGroup[g]; ok {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// ApplyWindows records in each item of an automatic host's plan whether it
// may be carried out now (DecideInstall). Manual hosts' plans are left as
// they are: people install them, windows aside.
func ApplyWindows(p *Plan, now time.Time, windows []CompiledWindow) {
	if p.Manual {
		return
	}
	for i := range p.Items {
		it := &p.Items[i]
		d := DecideInstall(now, windows, it.Deadline, it.Emergency)
		allowed := d.Allowed
		it.InstallAllowed = &allowed
		it.WindowClosesAt = d.ClosesAt
		it.NextWindow = d.NextWindow
		it.InstallReason = d.Reason
	}
}
