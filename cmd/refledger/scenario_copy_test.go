package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestScenariosMatchShared keeps testdata/scenarios, the copy that tests
// read, equal to the team's shared scenarios. It fails when the copy here drifts from
// ../shared/scenarios, where that folder exists (developer machines and CI).
func TestScenariosMatchShared(t *testing.T) {
	shared := filepath.Join("..", "..", "..", "shared", "scenarios")
	copied := filepath.Join("..", "..", "testdata", "scenarios")
	if _, err := os.Stat(shared); err != nil {
		t.Skipf("no shared scenarios beside the repository (%v): nothing to compare", err)
	}
	err := filepath.WalkDir(shared, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(shared, path)
		want, _ := os.ReadFile(path)
		got, err := os.ReadFile(filepath.Join(copied, rel))
		if err != nil {
			t.Errorf("scenario file %s is not copied into testdata/scenarios: %v", rel, err)
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/scenarios/%s differs from shared/scenarios/%s: copy it again", rel, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
