package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestComposeFile parses docker-compose.yml where no docker compose is at
// hand to validate it (.ci/run uses `docker compose config` where it is),
// and checks what the stack needs: three services, each with a health
// check, data on volumes, NATS syncing always, refledger built here.
func TestComposeFile(t *testing.T) {
	root := filepath.Join("..", "..")
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Ports       []string          `yaml:"ports"`
			Build       any               `yaml:"build"`
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
			Healthcheck struct {
				Test []string `yaml:"test"`
			} `yaml:"healthcheck"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docker-compose.yml is not valid YAML: %v", err)
	}
	for _, name := range []string{"nats", "eventstore", "refledger"} {
		svc, ok := doc.Services[name]
		if !ok {
			t.Errorf("service %s is missing", name)
			continue
		}
		if len(svc.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no health check", name)
		}
	}
	if doc.Services["refledger"].Build == nil {
		t.Error("refledger is not built from the repository")
	}
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		t.Errorf("no Dockerfile: %v", err)
	}
	for _, name := range []string{"nats", "eventstore", "refledger"} {
		if len(doc.Services[name].Volumes) == 0 {
			t.Errorf("service %s keeps its data on no volume", name)
		}
	}
	conf, err := os.ReadFile(filepath.Join(root, "deploy", "nats.conf"))
	if err != nil || !strings.Contains(string(conf), "sync_interval: always") {
		t.Errorf("deploy/nats.conf must set sync_interval: always (%v)", err)
	}
	if r := doc.Services["refledger"]; len(r.Volumes) > 0 && !strings.HasPrefix(r.Volumes[0], "refledger-data:"+r.Environment["REFLEDGER_DATA"]) {
		t.Errorf("refledger's data folder %q (its snapshots) is not on its volume", r.Environment["REFLEDGER_DATA"])
	}
	if u := doc.Services["refledger"].Environment["REFLEDGER_NATS_URL"]; !strings.HasPrefix(u, "nats://nats:") {
		t.Errorf("refledger does not use the nats service: %q", u)
	}
	// Secrets: the stack refuses to start without them, and only the API
	// is published.
	for _, name := range []string{"nats", "eventstore"} {
		if ports := doc.Services[name].Ports; len(ports) > 0 {
			t.Errorf("service %s publishes %v: it is for the compose network only", name, ports)
		}
	}
	env := doc.Services["refledger"].Environment
	for _, v := range []string{"REFLEDGER_TOKENS", "REFLEDGER_NATS_PASSWORD"} {
		if !strings.HasPrefix(env[v], "${"+v+":?") {
			t.Errorf("refledger's %s = %q: the stack must refuse to start without it", v, env[v])
		}
	}
	if !strings.Contains(string(conf), "authorization") || !strings.Contains(string(conf), "$REFLEDGER_NATS_PASSWORD") {
		t.Error("deploy/nats.conf lets any client in: it must require refledger's password")
	}
}
