package server

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"gopkg.in/yaml.v3"
)

// openAPIYAML is the API's contract, written as YAML (comments, anchors
// for repeated answers): openapi.yaml, linted by redocly in CI.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPI is openapi.yaml as JSON, served at /v1/openapi.json, with its
// keys in the document's order (so Redoc lists paths as written).
var openAPI = mustJSON(openAPIYAML)

// The API reference page: Redoc, vendored (apidocs/NOTICE.md), rendering
// /v1/openapi.json with nothing fetched from elsewhere.
var (
	//go:embed apidocs/redoc.standalone.js
	redocJS []byte
	//go:embed apidocs/index.html
	apiDocsPage []byte
)

func mustJSON(doc []byte) []byte {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		panic(fmt.Sprintf("openapi.yaml: %v", err))
	}
	var buf bytes.Buffer
	if err := writeJSONNode(&buf, &root); err != nil {
		panic(fmt.Sprintf("openapi.yaml: %v", err))
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		panic(fmt.Sprintf("openapi.yaml as JSON: %v", err))
	}
	return out.Bytes()
}

// writeJSONNode writes a YAML node as JSON, mappings in their order and
// aliases expanded. The document is ours and small; its depth is bounded
// by what it nests.
func writeJSONNode(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		return writeJSONNode(buf, n.Content[0])
	case yaml.AliasNode:
		return writeJSONNode(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i < len(n.Content); i += 2 {
			if n.Content[i].Value == "<<" {
				return fmt.Errorf("line %d: merge keys are not used here", n.Content[i].Line)
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			key, _ := json.Marshal(n.Content[i].Value)
			buf.Write(key)
			buf.WriteByte(':')
			if err := writeJSONNode(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSONNode(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
	default:
		return fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
	}
	return nil
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI) //nolint:errcheck // the client went away
}

func serveAPIDocs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(apiDocsPage) //nolint:errcheck
}

func serveRedoc(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=86400")
	w.Write(redocJS) //nolint:errcheck
}
