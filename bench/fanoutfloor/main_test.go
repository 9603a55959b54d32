package main

import (
	"net"
	"testing"
	"time"
)

// The sender's frames reach every connection once, and the reader
// accounts for all of them.
func TestEveryFrameReachesEveryConnection(t *testing.T) {
	o := options{addr: "127.0.0.1:0", n: 50, events: 3, size: 60, rate: 20,
		settle: 1100 * time.Millisecond, spin: time.Millisecond, end: 2 * time.Second}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		t.Fatal(err)
	}
	o.addr = ln.Addr().String()
	sent := make(chan error, 1)
	go func() { sent <- sendOn(ln, o) }()
	if err := read(o); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}
