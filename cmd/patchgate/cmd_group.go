//go:build !agentonly

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/patchgate/patchgate"
	"github.com/patchgate/patchgate/adminapi"
)

func (a *adminCLI) groupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Manage groups of hosts (approvals attach to groups)",
	}
	cmd.AddCommand(a.groupCreateCmd(), a.groupListCmd(), a.groupDeleteCmd(), a.groupAddCmd(), a.groupRemoveCmd(),
		a.groupSetParentCmd(), a.groupSetRebootCmd(), a.setOwnerCmd(patchgate.OwnerGroup))
	return cmd
}

func (a *adminCLI) groupCreateCmd() *cobra.Command {
	var description, parent, reboot string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a group (optionally nested below a parent)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("NAME", args[0]); err != nil {
				return err
			}
			if err := checkText("--description", description, 512); err != nil {
				return err
			}
			if parent != "" {
				if err := checkNameArg("--parent", parent); err != nil {
					return err
				}
			}
			if err := checkRebootPolicy("--reboot", reboot); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			var raw json.RawMessage
			req := adminapi.CreateGroupRequest{Name: args[0], Description: description, Parent: parent, RebootPolicy: reboot}
			if err := c.do(cmd.Context(), "POST", "/api/v1/groups", nil, req, &raw); err != nil {
				return err
			}
			if a.g.JSON {
				return emitRawJSON(cmd.OutOrStdout(), raw)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "created group %s\n", args[0])
			return err
		},
	}
	cmd.Flags().StringVar(&description, "description", "", "what the group is for")
	cmd.Flags().StringVar(&parent, "parent", "", "nest the group below this one (default: directly below all); it inherits approvals, windows and reboot policy")
	cmd.Flags().StringVar(&reboot, "reboot", "", "reboot policy: never, if-required or always (default: inherited; if-required at the top)")
	return cmd
}

func (a *adminCLI) groupListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List groups as a tree (children indented below their parent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := a.get(cmd.Context(), "/api/v1/groups", nil)
			if err != nil {
				return err
			}
			var groups []patchgate.Group
			if err := decodeList(raw, "groups", &groups); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			return a.show(out, raw, func() error {
				return writeGroupTree(out, groups)
			})
		},
	}
}

func (a *adminCLI) groupDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a group (its hosts stay enrolled)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkNameArg("NAME", args[0]); err != nil {
				return err
			}
			if args[0] == patchgate.GroupAll {
				return patchgate.Invalid("NAME", "group %q holds every host and cannot be deleted", patchgate.GroupAll)
			}
			return a.deleteOne(cmd, "/api/v1/groups/"+pathEscape(args[0]), "deleted", args[0], "deleted group "+args[0])
		},
	}
}

func (a *adminCLI) groupAddCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "add GROUP HOST...",
		Short: "Add hosts (by ID or hostname) to a group",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			group, hosts := args[0], args[1:]
			if err := checkNameArg("GROUP", group); err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ids, err := resolveHosts(cmd.Context(), c, hosts)
			if err != nil {
				return err
			}
			path := "/api/v1/groups/" + pathEscape(group) + "/hosts"
			if err := c.do(cmd.Context(), "POST", path, nil, adminapi.GroupHostsRequest{Hosts: ids}, nil); err != nil {
				return err
			}
			if a.g.JSON {
				return emitJSON(cmd.OutOrStdout(), map[string]any{"group": group, "added": ids})
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "added %s to group %s\n", pluralize(len(ids), "host"), group)
			return err
		},
	}
}

func (a *adminCLI) groupRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove GROUP HOST...",
		Short: "Remove hosts (by ID or hostname) from a group",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			group, hosts := args[0], args[1:]
			if err := checkNameArg("GROUP", group); err != nil {
				return err
			}
			if group == patchgate.GroupAll {
				return patchgate.Invalid("GROUP", "every host is in group %q; it cannot be removed from it", patchgate.GroupAll)
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			ids, err := resolveHosts(cmd.Context(), c, hosts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, id := range ids {
				path := "/api/v1/groups/" + pathEscape(group) + "/hosts/" + pathEscape(id)
				if err := c.do(cmd.Context(), "DELETE", path, nil, nil, nil); err != nil {
					return err
				}
				if !a.g.JSON {
					fmt.Fprintf(out, "removed %s from group %s\n", id, group)
				}
			}
			if a.g.JSON {
				return emitJSON(out, map[string]any{"group": group, "removed": ids})
			}
			return nil
		},
	}
}

// resolveHosts turns host arguments into host IDs: an argument is a host ID,
// or else the hostname of exactly one host.
func resolveHosts(ctx context.Context, c *apiClient, args []string) ([]string, error) {
	var raw json.RawMessage
	if err := c.do(ctx, "GET", "/api/v1/hosts", nil, nil, &raw); err != nil {
		return nil, err
	}
	var hosts []adminapi.HostSummary
	if err := decodeList(raw, "hosts", &hosts); err != nil {
		return nil, err
	}
	return matchHosts(hosts, args)
}

func matchHosts(hosts []adminapi.HostSummary, args []string) ([]string, error) {
	byID := map[string]bool{}
	byName := map[string][]string{}
	for _, h := range hosts {
		byID[h.ID] = true
		name := strings.ToLower(h.Hostname)
		byName[name] = append(byName[name], h.ID)
	}
	var ids []string
	seen := map[string]bool{}
	for _, arg := range args {
		id := arg
		if !byID[arg] {
			switch m := byName[strings.ToLower(arg)]; len(m) {
			case 0:
				return nil, patchgate.NotFound("no host has the ID or hostname %q", arg)
			case 1:
				id = m[0]
			default:
				sort.Strings(m)
				return nil, patchgate.Errorf(patchgate.CodeConflict, "%d hosts are named %q; give an ID: %s", len(m), arg, strings.Join(m, ", "))
			}
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func pluralize(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
