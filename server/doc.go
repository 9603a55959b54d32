// Package server assembles a whole pushgate node from a Config: storage,
// the work queue (Redis or an embedded one), the worker and the HTTP API.
// It is what cmd/pushgate runs and what an application embeds to run
// pushgate inside its own process.
//
// DESIGN.md puts the embeddable Server in the root package; it cannot live
// there because the root package is imported by everything this one
// imports. Only this package and cmd/pushgate may import everything.
package server
