// Package patchgate holds the domain of the patchgate update server: the
// words of DESIGN.md as types (Update, Host, Group, Approval, ...), the pure
// decisions made on them (version constraints, approval resolution, per-host
// plans, compliance) and the small store interfaces the adapters implement.
//
// It must not import any of its adapters (sqlite, httpapi, agent, content,
// ...): they import it.
package patchgate
