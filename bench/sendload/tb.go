package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// tb lets the test fakes run inside a command. Embedding testing.TB
// satisfies its unexported method; every method the fakes call is defined
// here, so the nil embedded value is never used.
type tb struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
	tmp      []string
}

func (t *tb) Helper()                         {}
func (t *tb) Name() string                    { return "sendload" }
func (t *tb) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (t *tb) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (t *tb) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
}
func (t *tb) Error(args ...any) { fmt.Fprintln(os.Stderr, append([]any{"error:"}, args...)...) }
func (t *tb) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fatal: "+format+"\n", args...)
	t.close()
	os.Exit(1)
}
func (t *tb) Fatal(args ...any) { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *tb) Failed() bool      { return false }
func (t *tb) Skipped() bool     { return false }
func (t *tb) TempDir() string {
	d, err := os.MkdirTemp("", "sendload")
	if err != nil {
		t.Fatal(err)
	}
	t.mu.Lock()
	t.tmp = append(t.tmp, d)
	t.mu.Unlock()
	return d
}
func (t *tb) Cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

// close runs cleanups in reverse order and removes temporary folders.
func (t *tb) close() {
	t.mu.Lock()
	fs, dirs := t.cleanups, t.tmp
	t.cleanups, t.tmp = nil, nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}
