package conns_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/conns"
)

// serve stands for a hijacking handler: it tracks its end of a pipe and
// calls done once its read loop ends.
func serve(r *conns.Registry, goodbye string) net.Conn {
	client, server := net.Pipe()
	done := r.Track(func(ctx context.Context) {
		if goodbye != "" {
			server.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(server, goodbye)
		}
		server.Close()
	})
	go func() {
		defer done()
		io.Copy(io.Discard, server)
	}()
	return client
}

func TestShutdownClosesTrackedConnections(t *testing.T) {
	var r conns.Registry
	plain := serve(&r, "")
	polite := serve(&r, "bye")
	ended := make(chan string)
	go func() { b, _ := io.ReadAll(polite); ended <- string(b) }()
	go func() { b, _ := io.ReadAll(plain); ended <- string(b) }()
	if r.Len() != 2 {
		t.Fatalf("Len = %d", r.Len())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := []string{<-ended, <-ended}
	if strings.Join(got, "") != "bye" || r.Len() != 0 {
		t.Fatalf("clients read %q, %d still open", got, r.Len())
	}
	// Again: nothing left to close or wait for.
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTrackConnClosesTheConnection(t *testing.T) {
	var r conns.Registry
	client, server := net.Pipe()
	done := r.TrackConn(server)
	go func() {
		defer done()
		io.Copy(io.Discard, server)
	}()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("client read %v, want EOF", err)
	}
}

// A connection whose handler never ends keeps Shutdown waiting until its
// context ends, and the error says how many are left.
func TestShutdownStopsWaitingAtTheDeadline(t *testing.T) {
	var r conns.Registry
	r.Track(func(context.Context) {})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := r.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 still open") {
		t.Fatalf("Shutdown = %v", err)
	}
}

// A connection tracked after Shutdown began is closed at once, and done
// may be called more than once.
func TestLateConnectionIsClosedAtOnce(t *testing.T) {
	var r conns.Registry
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	done := r.Track(func(context.Context) { close(closed) })
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Fatal("a late connection was not closed")
	}
	done()
	done()
	if r.Len() != 0 {
		t.Fatalf("Len = %d", r.Len())
	}
}

// selfCloser is a connection that tracks itself with Add and Done.
type selfCloser struct {
	r      *conns.Registry
	closed chan struct{}
}

func (s *selfCloser) CloseConn(context.Context) {
	close(s.closed)
	s.r.Done(s)
}

func TestAddAndDone(t *testing.T) {
	var r conns.Registry
	a := &selfCloser{r: &r, closed: make(chan struct{})}
	b := &selfCloser{r: &r, closed: make(chan struct{})}
	r.Add(a)
	r.Add(b)
	if r.Len() != 2 {
		t.Fatalf("%d open, want 2", r.Len())
	}
	if !r.Done(b) || r.Done(b) {
		t.Fatal("Done must report true once, then false")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	<-a.closed
	select {
	case <-b.closed:
		t.Fatal("a connection that was done was closed by Shutdown")
	default:
	}
	late := &selfCloser{r: &r, closed: make(chan struct{})}
	r.Add(late) // after Shutdown began: closed at once
	<-late.closed
}
