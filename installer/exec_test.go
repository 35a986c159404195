//go:build unix

package installer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// script writes a #!/bin/sh payload (not executable: the installer must
// make it so) and a working dir, and returns a request for it.
func script(t *testing.T, body string, args ...string) Request {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "payload.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	return Request{
		Payload: patchgate.Payload{Name: "payload.sh", Installer: patchgate.InstallerExec, Args: args},
		Path:    path,
		Dir:     work,
		Timeout: 10 * time.Second,
	}
}

func execFor(t *testing.T) Installer {
	t.Helper()
	inst, err := For(patchgate.InstallerExec, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestForRefusesUnknownTypes(t *testing.T) {
	for _, typ := range []patchgate.InstallerType{"", "msi", "msu", "sh", "EXEC", "exec "} {
		if inst, err := For(typ, Config{}); err == nil || inst != nil {
			t.Errorf("For(%q) = %v, %v; want refusal", typ, inst, err)
		} else if patchgate.ErrorCode(err) != patchgate.CodeInvalid {
			t.Errorf("For(%q) error code %q, want invalid", typ, patchgate.ErrorCode(err))
		}
	}
	for _, typ := range patchgate.Installers {
		if _, err := For(typ, Config{}); err != nil {
			t.Errorf("For(%q): %v", typ, err)
		}
	}
}

func TestExecResults(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantErr  bool
		wantCode int
		reboot   bool
		output   string
	}{
		{"success", `echo installing; echo done >&2; echo ok > marker`, false, 0, false, "installing\ndone\n"},
		{"failure", `echo "disk full" >&2; exit 7`, true, 7, false, "disk full\n"},
		{"exit 1", `exit 1`, true, 1, false, ""},
		{"reboot required", `echo needs reboot; exit 100`, false, 100, true, "needs reboot\n"},
		{"windows reboot codes are failures", `exit 194`, true, 194, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := script(t, tt.body)
			res, err := execFor(t).Install(context.Background(), req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if res.ExitCode != tt.wantCode || res.RebootRequired != tt.reboot || res.Output != tt.output {
				t.Fatalf("result = %+v, want code %d reboot %v output %q", res, tt.wantCode, tt.reboot, tt.output)
			}
			if err != nil && !strings.Contains(err.Error(), strconv.Itoa(tt.wantCode)) {
				t.Errorf("error %q does not name exit code %d", err, tt.wantCode)
			}
		})
	}
}

func TestExecRunsInWorkDirAndMakesPayloadExecutable(t *testing.T) {
	req := script(t, `pwd > cwd.txt`)
	if _, err := execFor(t).Install(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(req.Dir, "cwd.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(got)) != req.Dir {
		t.Errorf("cwd = %q, want %q", got, req.Dir)
	}
	fi, _ := os.Stat(req.Path)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("payload mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestExecArgsVerbatim(t *testing.T) {
	pwned := filepath.Join(t.TempDir(), "pwned")
	args := []string{
		"plain",
		"with space",
		"",
		"$(touch " + pwned + ")",
		"`touch " + pwned + "`",
		"; touch " + pwned,
		"| touch " + pwned,
		"&& touch " + pwned,
		"*",
		"$HOME",
		`'single' "double" \back`,
		"line\nbreak",
		"--flag=a b",
	}
	req := script(t, `for a in "$@"; do printf '%s\0' "$a"; done > args.out`, args...)
	if _, err := execFor(t).Install(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(req.Dir, "args.out"))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
	if len(got) != len(args) {
		t.Fatalf("got %d args %q, want %d %q", len(got), got, len(args), args)
	}
	for i := range args {
		if got[i] != args[i] {
			t.Errorf("arg %d = %q, want %q", i, got[i], args[i])
		}
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a shell interpreted the arguments")
	}
	if req.Payload.Args[len(args)-1] != "--flag=a b" || len(req.Payload.Args) != len(args) {
		t.Fatal("Install modified the payload's args")
	}
}

func TestExecUninstallAppendsFlag(t *testing.T) {
	req := script(t, `printf '%s|' "$@" > args.out`, "--quiet", "a b")
	req.Payload.Args = req.Payload.Args[:2:2]
	if _, err := execFor(t).Uninstall(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(req.Dir, "args.out"))
	if string(got) != "--quiet|a b|--uninstall|" {
		t.Fatalf("uninstall args = %q", got)
	}
	if len(req.Payload.Args) != 2 {
		t.Fatal("Uninstall modified the payload's args")
	}
}

func TestExecMinimalEnvironment(t *testing.T) {
	t.Setenv("PATCHGATE_SECRET_FOR_TEST", "leak")
	req := script(t, `env > env.out`)
	if _, err := execFor(t).Install(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(req.Dir, "env.out"))
	env := string(data)
	if !strings.Contains(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n") {
		t.Errorf("PATH not set as expected:\n%s", env)
	}
	for _, line := range strings.Split(strings.TrimSpace(env), "\n") {
		name, _, _ := strings.Cut(line, "=")
		switch name {
		case "PATH", "PWD", "SHLVL", "_", "OLDPWD":
			// PATH is ours; the others are set by /bin/sh itself.
		default:
			t.Errorf("unexpected environment variable %q", line)
		}
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	req := script(t, `sleep 60 & echo $! > child.pid; echo started; sleep 60`)
	req.Timeout = 300 * time.Millisecond
	start := time.Now()
	res, err := execFor(t).Install(context.Background(), req)
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want timeout", err)
	}
	if res.ExitCode != -1 || res.Output != "started\n" {
		t.Errorf("result = %+v", res)
	}
	if elapsed > 4*time.Second {
		t.Errorf("took %v: the background child kept the run alive", elapsed)
	}
	data, err := os.ReadFile(filepath.Join(req.Dir, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		// A killed child that is not yet reaped by init still answers.
		if stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); bytes.Contains(stat, []byte(") Z ")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background child %d survived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestExecCancel(t *testing.T) {
	req := script(t, `sleep 60`)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := execFor(t).Install(ctx, req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestExecOutputTail(t *testing.T) {
	req := script(t, `i=0; while [ $i -lt 2000 ]; do echo "line $i of noise"; i=$((i+1)); done; echo THE-END`)
	res, err := execFor(t).Install(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) > OutputTail {
		t.Errorf("output is %d bytes, more than %d", len(res.Output), OutputTail)
	}
	if len(res.Output) < OutputTail-100 || !strings.HasSuffix(res.Output, "line 1999 of noise\nTHE-END\n") {
		t.Errorf("output tail wrong (%d bytes): ...%q", len(res.Output), res.Output[max(0, len(res.Output)-80):])
	}
}

func TestExecRefusesBadRequests(t *testing.T) {
	good := script(t, `exit 0`)
	tests := map[string]func(*Request){
		"relative path":      func(r *Request) { r.Path = "payload.sh" },
		"bare name":          func(r *Request) { r.Path = "sh" },
		"missing file":       func(r *Request) { r.Path = filepath.Join(filepath.Dir(r.Path), "nope") },
		"directory":          func(r *Request) { r.Path = r.Dir },
		"no working dir":     func(r *Request) { r.Dir = "" },
		"missing work dir":   func(r *Request) { r.Dir = filepath.Join(r.Dir, "nope") },
		"NUL in an argument": func(r *Request) { r.Payload.Args = []string{"a\x00b"} },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			req := good
			mutate(&req)
			res, err := execFor(t).Install(context.Background(), req)
			if err == nil || res.ExitCode != -1 {
				t.Fatalf("got %+v, %v; want refusal", res, err)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	tb := &tailBuffer{max: 8}
	for _, w := range []string{"abc", "defg", "hij", "", "0123456789xyz", "Q"} {
		if n, err := tb.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", w, n, err)
		}
	}
	if got := tb.String(); got != "6789xyzQ" {
		t.Fatalf("tail = %q, want %q", got, "6789xyzQ")
	}
	tb = &tailBuffer{max: 4}
	tb.Write([]byte("\xc3\xa9xyz")) // "éxyz": the cut splits the é
	if got := tb.String(); got != "\uFFFDxyz" {
		t.Fatalf("tail = %q, want valid UTF-8", got)
	}
}
