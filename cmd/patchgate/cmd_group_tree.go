//go:build !agentonly

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func checkRebootPolicy(flag, v string) error {
	switch v {
	case "", "inherit":
		return nil
	}
	if !patchgate.RebootPolicy(v).Valid() {
		return patchgate.Invalid(flag, "must be never, if-required, always or inherit, not %q", v)
	}
	return nil
}

func (a *adminCLI) groupSetParentCmd() *cobra.Command {
	var none bool
	cmd := &cobra.Command{
		Use:   "set-parent NAME PARENT | NAME --none",
		Short: "Nest a group below another (it inherits approvals, windows and reboot policy), or with --none directly below all",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("NAME", args[0]); err != nil {
				return err
			}
			parent := ""
			switch {
			case none && len(args) == 2:
				return patchgate.Invalid("PARENT", "give a parent or --none, not both")
			case !none && len(args) == 1:
				return patchgate.Invalid("PARENT", "is required (or --none to move the group directly below %s)", patchgate.GroupAll)
			case len(args) == 2:
				if err := checkNameArg("PARENT", args[1]); err != nil {
					return err
				}
				parent = args[1]
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			path := "/api/v1/groups/" + pathEscape(args[0]) + "/parent"
			if err := c.do(cmd.Context(), "PUT", path, nil, adminapi.SetGroupParentRequest{Parent: parent}, &raw); err != nil {
				return err
			}
			if a.g.JSON {
				return emitRawJSON(cmd.OutOrStdout(), raw)
			}
			if parent == "" || parent == patchgate.GroupAll {
				parent = patchgate.GroupAll
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "group %s is now below %s\n", args[0], parent)
			return err
		},
	}
	cmd.Flags().BoolVar(&none, "none", false, "no parent: directly below all")
	return cmd
}

func (a *adminCLI) groupSetRebootCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set-reboot GROUP POLICY",
		Short: "Set a group's reboot policy: never, if-required, always, or inherit (from its parent)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("GROUP", args[0]); err != nil {
				return err
			}
			if err := checkRebootPolicy("POLICY", args[1]); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			path := "/api/v1/groups/" + pathEscape(args[0]) + "/reboot-policy"
			if err := c.do(cmd.Context(), "PUT", path, nil, adminapi.SetGroupRebootRequest{RebootPolicy: args[1]}, &raw); err != nil {
				return err
			}
			if a.g.JSON {
				return emitRawJSON(cmd.OutOrStdout(), raw)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "reboot policy of group %s: %s\n", args[0], args[1])
			return err
		},
	}
}

// groupRow is a group in tree order, with its depth below all.
type groupRow struct {
	patchgate.Group
	Depth int
}

// groupTreeOrder orders groups depth first from all, children by name.
// Groups whose parent is missing (or that sit in a cycle, which the server
// refuses) come last at depth 1, so that nothing is hidden.
func groupTreeOrder(groups []patchgate.Group) []groupRow {
	children := map[string][]patchgate.Group{}
	names := map[string]bool{}
	for _, g := range groups {
		names[g.Name] = true
	}
	var roots []patchgate.Group
	for _, g := range groups {
		p := patchgate.NormalizeParent(g.Parent)
		switch {
		case g.Name == patchgate.GroupAll:
			roots = append([]patchgate.Group{g}, roots...)
		case p == "" && names[patchgate.GroupAll]:
			children[patchgate.GroupAll] = append(children[patchgate.GroupAll], g)
		case p == "":
			roots = append(roots, g)
		default:
			children[p] = append(children[p], g)
		}
	}
	var out []groupRow
	seen := map[string]bool{}
	var walk func(g patchgate.Group, depth int)
	walk = func(g patchgate.Group, depth int) {
		if seen[g.Name] {
			return
		}
		seen[g.Name] = true
		out = append(out, groupRow{g, depth})
		kids := children[g.Name]
		sort.Slice(kids, func(i, j int) bool { return kids[i].Name < kids[j].Name })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	rest := make([]patchgate.Group, 0)
	for _, g := range groups {
		if !seen[g.Name] {
			rest = append(rest, g)
		}
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].Name < rest[j].Name })
	for _, g := range rest {
		walk(g, 1)
	}
	return out
}

// writeGroupTree prints groups as a tree: each child indented below its
// parent, with the reboot policy it sets or inherits.
func writeGroupTree(w io.Writer, groups []patchgate.Group) error {
	nodes := make([]patchgate.GroupNode, len(groups))
	for i, g := range groups {
		nodes[i] = patchgate.GroupNode{Name: g.Name, Parent: g.Parent, RebootPolicy: g.RebootPolicy}
	}
	tree := patchgate.NewGroupTree(nodes)
	t := newTextTable(w, "NAME", "PARENT", "HOSTS", "REBOOT", "DESCRIPTION")
	for _, r := range groupTreeOrder(groups) {
		parent := tree.Parent(r.Name)
		if parent == "" {
			parent = "-"
		}
		reboot := string(r.RebootPolicy)
		if reboot == "" {
			reboot = string(tree.RebootPolicyFor([]string{r.Name})) + " (inherited)"
		}
		t.row(treePrefix(r.Depth)+r.Name, parent, itoaCell(r.Hosts), reboot, truncateText(r.Description, 60))
	}
	return t.flush()
}

// treePrefix draws a group's depth: table cells are trimmed, so the guide
// starts with a visible character.
func treePrefix(depth int) string {
	if depth <= 0 {
		return ""
	}
	return strings.Repeat("│ ", depth-1) + "└ "
}
