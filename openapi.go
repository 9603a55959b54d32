package pushgate

import _ "embed"

// OpenAPI is openapi.yaml, the description of every REST endpoint. It is
// served at /openapi.yaml and tests hold the router to it.
//
//go:embed openapi.yaml
var OpenAPI []byte
