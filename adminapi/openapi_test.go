package adminapi

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestOpenAPICoversEveryRouteAndResolves(t *testing.T) {
	data, err := json.Marshal(OpenAPI("test"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, rt := range Routes {
		op, ok := doc.Paths[rt.Pattern][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s %s is not in the document", rt.Method, rt.Pattern)
			continue
		}
		if op["x-required-role"] != string(rt.Role) {
			t.Errorf("%s %s: role %v, want %s", rt.Method, rt.Pattern, op["x-required-role"], rt.Role)
		}
		if _, ok := docs[rt.Method+" "+rt.Pattern]; !ok {
			t.Errorf("%s %s has no summary in docs", rt.Method, rt.Pattern)
		}
	}
	// Every $ref points at a defined schema.
	for _, ref := range strings.Split(string(data), `"$ref":"#/components/schemas/`)[1:] {
		name := ref[:strings.IndexByte(ref, '"')]
		if doc.Components.Schemas[name] == nil {
			t.Errorf("$ref to undefined schema %q", name)
		}
	}
	if doc.Components.Schemas["Update"] == nil || !strings.Contains(string(data), `"supersedes"`) {
		t.Error("the Update schema is missing or incomplete")
	}
}
