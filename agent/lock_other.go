//go:build !unix

package agent

// lockStateDir: without flock only the in-process mutex serialises work
// on the state dir.
func (a *Agent) lockStateDir() (unlock func(), err error) { return func() {}, nil }
