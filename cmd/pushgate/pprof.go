//go:build pprof

package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
)

// A binary built with -tags pprof serves Go's profiles on
// PUSHGATE_PPROF_ADDR (e.g. 127.0.0.1:6060) for bench/wsload/run.sh. It
// is never in a release build: the profiles show internals to whoever
// reaches the address, and nothing else in pushgate uses the default mux.
func init() {
	addr := os.Getenv("PUSHGATE_PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			fmt.Fprintln(os.Stderr, "pprof:", err)
		}
	}()
}
