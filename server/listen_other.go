//go:build !linux

package server

import "net"

// listenConfig is how the HTTP listener is made: Go's keep-alive
// defaults, set on each accepted connection.
func listenConfig() *net.ListenConfig { return &net.ListenConfig{} }
