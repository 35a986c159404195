//go:build agentonly

package main

import "github.com/spf13/cobra"

// addServerCommands: an agent-only build has the agent command alone.
func addServerCommands(root *cobra.Command, g *globalOptions) {
	root.Short = "patchgate agent (an agent-only build of the one binary)"
}
