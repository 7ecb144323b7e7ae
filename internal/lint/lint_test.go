package lint

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/refledger/refledger"

// forbidden lists, for each package, refledger packages it must never import
// (directly or not). Imports point one way: money <- events <- events/store
// <- backends; events <- ledger <- projections <- replay <- server <- cmd.
var forbidden = map[string][]string{
	"money":            {"events", "ledger", "projections", "replay", "server"},
	"events":           {"events/store", "events/jetstream", "events/esdb", "events/ingest", "ledger", "projections", "replay", "server"},
	"events/store":     {"events/jetstream", "events/esdb", "events/ingest", "ledger", "projections", "replay", "server"},
	"events/jetstream": {"events/ingest", "ledger", "projections", "replay", "server"},
	"events/ingest":    {"ledger", "projections", "replay", "server"},
	"ledger":           {"events/store", "events/jetstream", "events/esdb", "projections", "replay", "server"},
	"projections":      {"events/jetstream", "events/esdb", "replay", "server"},
	"replay":           {"events/jetstream", "events/esdb", "server"},
	"server":           {"events/jetstream", "events/esdb"},
	"internal/csvsafe": {"money", "events", "ledger", "projections", "replay", "server"},
}

type pkg struct {
	ImportPath string
	Doc        string
	Deps       []string
	Name       string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestImportsPointOneWay(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, dep := range p.Deps {
			for _, bad := range forbidden[rel] {
				if dep == module+"/"+bad {
					t.Errorf("%s imports %s: imports must point the other way", rel, bad)
				}
			}
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.Doc == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}
