package adminapi

import (
	"reflect"
	"strings"
	"time"

	"github.com/patchgate/patchgate"
)

// doc describes a route for the OpenAPI document: what it does, its query
// parameters and its bodies (Go values whose types are turned into schemas).
type doc struct {
	summary  string
	query    []string
	request  any
	response any
}

var docs = map[string]doc{
	"GET /api/v1/whoami":                        {summary: "The calling token", response: WhoAmI{}},
	"GET /api/v1/updates":                       {summary: "List updates (latest revisions)", query: []string{"kind", "severity", "product"}, response: []patchgate.Update{}},
	"GET /api/v1/updates/{id}":                  {summary: "Show an update", response: patchgate.Update{}},
	"POST /api/v1/updates":                      {summary: "Add an update or a new revision; payload content must be uploaded first", request: AddUpdateRequest{}, response: AddUpdateResponse{}},
	"PUT /api/v1/content/{sha}":                 {summary: "Upload payload content (raw bytes); refused unless its sha256 matches", response: PutContentResponse{}},
	"GET /api/v1/tokens":                        {summary: "List API and enrolment tokens (never their secrets)", response: []patchgate.Token{}},
	"POST /api/v1/tokens":                       {summary: "Create a token; the secret is returned once", request: CreateTokenRequest{}, response: CreateTokenResponse{}},
	"DELETE /api/v1/tokens/{id}":                {summary: "Revoke a token"},
	"GET /api/v1/groups":                        {summary: "List groups", response: []patchgate.Group{}},
	"POST /api/v1/groups":                       {summary: "Create a group", request: CreateGroupRequest{}, response: patchgate.Group{}},
	"DELETE /api/v1/groups/{name}":              {summary: "Delete a group (not all)"},
	"POST /api/v1/groups/{name}/hosts":          {summary: "Add hosts to a group", request: GroupHostsRequest{}},
	"DELETE /api/v1/groups/{name}/hosts/{host}": {summary: "Remove a host from a group"},
	"GET /api/v1/approvals":                     {summary: "List approvals", response: []patchgate.Approval{}},
	"POST /api/v1/approvals":                    {summary: "Approve (install or uninstall) or decline updates for a group", request: ApproveRequest{}, response: ApproveResponse{}},
	"DELETE /api/v1/approvals/{group}/{update}": {summary: "Remove the approval of an update for a group"},
	"GET /api/v1/hosts":                         {summary: "List hosts with their pending plan size", response: []HostSummary{}},
	"GET /api/v1/hosts/{id}":                    {summary: "Show a host: inventory, plan, deployments", response: HostDetail{}},
	"GET /api/v1/reports/compliance":            {summary: "Compliance per update × group", query: []string{"group", "update"}, response: ComplianceReport{}},
	"GET /api/v1/events":                        {summary: "The activity log, oldest first: after a sequence number, or the newest (newest=true)", query: []string{"host", "update", "type", "after", "limit", "newest"}, response: []patchgate.Event{}},
	"GET /api/v1/openapi.json":                  {summary: "This document"},
}

// OpenAPI returns an OpenAPI 3.0 document of the admin API, built from
// Routes so that it cannot forget a route.
func OpenAPI(version string) map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, rt := range Routes {
		key := rt.Method + " " + rt.Pattern
		d, ok := docs[key]
		if !ok {
			d = doc{summary: key}
		}
		op := map[string]any{
			"summary":         d.summary,
			"x-required-role": string(rt.Role),
			"security":        []any{map[string]any{"bearer": []any{}}},
		}
		var params []any
		for _, seg := range strings.Split(rt.Pattern, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range d.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]any{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if d.request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(d.request))}}}
		}
		ok200 := map[string]any{"description": "success"}
		if d.response != nil {
			ok200["content"] = map[string]any{"application/json": map[string]any{"schema": g.schema(reflect.TypeOf(d.response))}}
		}
		errResp := map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
		op["responses"] = map[string]any{"2XX": ok200, "4XX": errResp, "5XX": errResp}
		if paths[rt.Pattern] == nil {
			paths[rt.Pattern] = map[string]any{}
		}
		paths[rt.Pattern][strings.ToLower(rt.Method)] = op
	}
	g.defs["Error"] = map[string]any{"type": "object", "required": []string{"code", "message"}, "properties": map[string]any{
		"code":    map[string]any{"type": "string", "enum": []string{"invalid", "not_found", "conflict", "unauthorized", "forbidden", "too_large", "internal"}},
		"message": map[string]any{"type": "string"},
	}}
	return map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]any{"title": "patchgate admin API", "version": version},
		"paths":   paths,
		"components": map[string]any{
			"schemas":         g.defs,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "an API token: pgt.<id>.<secret>"}},
		},
	}
}

type schemaGen struct{ defs map[string]any }

var timeType = reflect.TypeOf(time.Time{})
var durationType = reflect.TypeOf(time.Duration(0))

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == durationType:
		return map[string]any{"type": "integer", "description": "nanoseconds"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.schema(t.Elem())
		return s
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			return g.object(t)
		}
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = nil // reserve: recursive types terminate
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = g.schema(f.Type)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") && f.Type.Kind() != reflect.Pointer {
				required = append(required, name)
			}
		}
	}
	walk(t)
	s := map[string]any{"type": "object", "properties": props}
	if required != nil {
		s["required"] = required
	}
	return s
}
