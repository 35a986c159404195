package trust

import (
	"fmt"
	"testing"
	"time"

	"github.com/patchgate/patchgate"
)

// BenchmarkPublish signs a catalog of 5000 posted updates (one payload
// each) from scratch, as after every catalog change, and reports the
// targets metadata size.
func BenchmarkPublish(b *testing.B) {
	c := &clock{time.Now()}
	dir := b.TempDir()
	r, err := Open(dir, RepoLocal, c.now)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := r.InitRoot(dir+"/offline", 3, 2); err != nil {
		b.Fatal(err)
	}
	var updates []patchgate.Update
	status := map[string]patchgate.UpdateStatus{}
	for i := range 5000 {
		id := fmt.Sprintf("ucce-7.2.1-hf%d", i)
		updates = append(updates, upd(id, 1, patchgate.Payload{Name: "fix.sh", Size: 1234, SHA256: sha1, Installer: "exec", Args: []string{"--component", "router"}}))
		status[id] = patchgate.StatusPosted
	}
	b.ResetTimer()
	for i := range b.N {
		updates[0].Revision = i + 2 // a change: always re-signed
		ts, _ := CatalogTargets(updates, status, nil)
		if _, err := r.Publish(ts); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st, _ := r.Status()
	data, _ := r.ReadFile(fmt.Sprintf("%d.targets.json", st.Roles[1].Version))
	b.ReportMetric(float64(len(data)), "targets-bytes")
}
