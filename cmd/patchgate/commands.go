//go:build !agentonly

package main

import "github.com/spf13/cobra"

// addServerCommands adds everything but the agent: the server, the demo,
// the simulator and the admin CLI. A build with the agentonly tag leaves
// them (and the server, SQLite, mail and CSAF code) out: see README,
// "An agent-only build".
func addServerCommands(root *cobra.Command, g *globalOptions) {
	root.AddCommand(
		newServeCmd(),
		newDemoCmd(g),
		newSimCmd(g),
	)
	addAdminCommands(root, g)
}
