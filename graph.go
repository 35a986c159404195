package patchgate

import (
	"slices"
	"strings"
)

// CheckUpdateGraph decides whether u may join catalog (replacing the
// stored revision of u.ID, if any): neither its supersedes nor its
// requires may close a cycle. The error names the relation and the cycle,
// starting and ending at u.ID ("requires: cycle a → b → a"). Ids that are
// not in the catalog end a path: they cannot lead back to u.
func CheckUpdateGraph(catalog []Update, u Update) error {
	for _, rel := range []struct {
		field string
		edges func(Update) []string
	}{
		{"supersedes", func(x Update) []string { return x.Supersedes }},
		{"requires", func(x Update) []string { return x.Requires }},
	} {
		next := make(map[string][]string, len(catalog)+1)
		for _, c := range catalog {
			next[c.ID] = rel.edges(c)
		}
		next[u.ID] = rel.edges(u)
		if cycle := findCycle(next, u.ID); cycle != nil {
			return Invalid(rel.field, "cycle %s", strings.Join(cycle, " → "))
		}
	}
	return nil
}

// findCycle returns a path from start back to start along next, or nil.
// It visits each node once, so it costs O(nodes + edges) whatever cycles
// the rest of the graph holds.
func findCycle(next map[string][]string, start string) []string {
	visited := map[string]bool{start: true}
	path := []string{start}
	var walk func(id string) bool
	walk = func(id string) bool {
		for _, n := range next[id] {
			if n == start {
				path = append(path, n)
				return true
			}
			if visited[n] {
				continue
			}
			visited[n] = true
			path = append(path, n)
			if walk(n) {
				return true
			}
			path = path[:len(path)-1]
		}
		return false
	}
	if walk(start) {
		return slices.Clip(path)
	}
	return nil
}
