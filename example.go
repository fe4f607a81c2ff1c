package paidup

import _ "embed"

// ExampleConfig is the shipped example configuration. It documents every key
// and is the policy paidup runs with when no configuration file is given.
//
//go:embed paidup.example.yaml
var ExampleConfig []byte
