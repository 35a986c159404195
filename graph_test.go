package patchgate

import (
	"strconv"
	"strings"
	"testing"
)

func TestCheckUpdateGraph(t *testing.T) {
	up := func(id string, supersedes, requires []string) Update {
		return Update{ID: id, Supersedes: supersedes, Requires: requires}
	}
	catalog := []Update{
		up("a", nil, []string{"b"}),
		up("b", nil, []string{"c"}),
		up("c", nil, nil),
		up("sr1", []string{"h1", "h2"}, nil),
		up("h1", nil, nil),
		up("h2", nil, nil),
		up("x", []string{"y"}, nil),
		// A cycle already stored (before this check existed) that does not
		// go through the new update does not refuse it.
		up("p", nil, []string{"q"}),
		up("q", nil, []string{"p"}),
	}
	cases := []struct {
		name string
		u    Update
		want string // "" = accepted
	}{
		{"new leaf", up("d", nil, []string{"a"}), ""},
		{"requires chain closes", up("c", nil, []string{"a"}), "requires: cycle c → a → b → c"},
		{"two-node requires", up("b", nil, []string{"a"}), "requires: cycle b → a → b"},
		{"supersedes closes", up("h1", []string{"sr1"}, nil), "supersedes: cycle h1 → sr1 → h1"},
		{"supersedes longer", up("y", []string{"z"}, nil), ""},
		{"supersedes three", up("z", []string{"x"}, nil), ""},
		{"revision drops the edge", up("b", nil, nil), ""},
		{"unknown ids end a path", up("e", []string{"nope"}, []string{"gone"}), ""},
		{"old cycle elsewhere", up("f", nil, []string{"p"}), ""},
		{"next SR requires previous", up("sr2", []string{"h3"}, []string{"sr1"}), ""},
		{"mixed relations are separate", up("c", []string{"a"}, nil), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckUpdateGraph(catalog, tc.u)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Fatalf("got %v, want %q", err, tc.want)
			case tc.want != "" && ErrorCode(err) != CodeInvalid:
				t.Fatalf("code %s, want invalid", ErrorCode(err))
			}
		})
	}
	// A cycle through a chain: z supersedes x, which supersedes y; y
	// superseding z closes it.
	cat2 := append(catalog, up("z", []string{"x"}, nil))
	err := CheckUpdateGraph(cat2, up("y", []string{"z"}, nil))
	if err == nil || !strings.Contains(err.Error(), "supersedes: cycle y → z → x → y") {
		t.Fatalf("got %v", err)
	}
}

func BenchmarkCheckUpdateGraph(b *testing.B) {
	var cat []Update
	for i := range 10000 {
		u := Update{ID: "u" + strconv.Itoa(i)}
		if i > 0 {
			u.Requires = []string{"u" + strconv.Itoa(i-1)}
			u.Supersedes = []string{"u" + strconv.Itoa(i-1)}
		}
		cat = append(cat, u)
	}
	nu := Update{ID: "new", Requires: []string{"u9999"}, Supersedes: []string{"u9999"}}
	for b.Loop() {
		if err := CheckUpdateGraph(cat, nu); err != nil {
			b.Fatal(err)
		}
	}
}
