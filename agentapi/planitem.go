package agentapi

import (
	"errors"
	"fmt"

	"github.com/patchgate/patchgate"
)

// CheckPlanItem refuses a plan item an agent must not act on, before
// anything is downloaded: a bad update id, an action other than install or
// uninstall, no payloads, a payload with a bad sha256, a size outside
// (0, maxPayload], an installer outside the closed set, or a bad
// constituent id. The agent and
// the fleet simulator both use it.
func CheckPlanItem(item patchgate.PlanItem, maxPayload int64) error {
	if !ValidID(item.UpdateID) {
		return fmt.Errorf("invalid update id %q", item.UpdateID)
	}
	if item.Action != patchgate.ActionInstall && item.Action != patchgate.ActionUninstall {
		return fmt.Errorf("plan asks for action %q: only install and uninstall are carried out", item.Action)
	}
	if len(item.Payloads) == 0 {
		return errors.New("the update has no payloads")
	}
	for i, p := range item.Payloads {
		switch {
		case !ValidSHA256(p.SHA256):
			return fmt.Errorf("payload %d (%q): invalid sha256 %q", i, p.Name, p.SHA256)
		case p.Size <= 0 || p.Size > maxPayload:
			return fmt.Errorf("payload %d (%q): size %d out of range", i, p.Name, p.Size)
		case !p.Installer.Valid():
			return fmt.Errorf("payload %d (%q): installer %q is not in the closed set this agent runs", i, p.Name, p.Installer)
		case p.Constituent != "" && !ValidID(p.Constituent):
			return fmt.Errorf("payload %d (%q): invalid constituent update id %q", i, p.Name, p.Constituent)
		}
	}
	return nil
}
