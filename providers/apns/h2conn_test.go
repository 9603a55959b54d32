package apns

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/pushgate/pushgate/buckets"
	"github.com/pushgate/pushgate/contexts"
	"github.com/pushgate/pushgate/providers"
	"github.com/pushgate/pushgate/providers/providertest"
	"github.com/pushgate/pushgate/recipients"
)

// h2Provider is a token provider sending to srv, which need not check the
// token.
func h2Provider(t *testing.T, srv *httptest.Server, maxConns int) *Provider {
	t.Helper()
	k := providertest.APNSTestKey(t)
	p, err := New(&buckets.Credential{ID: "c", Type: buckets.APNSToken, APNSToken: &buckets.APNSTokenCredential{
		Key: k.P8, KeyID: k.KeyID, TeamID: k.TeamID, Topic: "com.example.app",
	}}, Options{Host: srv.URL, RootCAs: certPool(srv), Timeout: 10 * time.Second, MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func certPool(srv *httptest.Server) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return pool
}

func h2Message(t *testing.T, body string) *providers.Message {
	return &providers.Message{ID: "m", Context: &contexts.Context{ID: "c", Kind: contexts.KindData, Data: &contexts.Data{Title: "t", Body: body}},
		Receiver: recipients.Receiver{Token: providertest.APNSTestDeviceToken(t)}}
}

// sendMany sends n messages at once and fails the test on any error.
func sendMany(t *testing.T, p *Provider, n int, body string) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := p.Send(context.Background(), h2Message(t, body)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// TestBodiesWaitForFlowControl: a server granting 1 KiB per stream and
// 64 KiB per connection still receives every 3 KiB body whole.
func TestBodiesWaitForFlowControl(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil || int64(len(b)) != r.ContentLength || !json.Valid(b) {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got.Add(1)
	}))
	srv.EnableHTTP2 = true
	srv.Config.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerConnection: 64 << 10, MaxReceiveBufferPerStream: 1024}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	sendMany(t, h2Provider(t, srv, 1), 100, strings.Repeat("x", 3000))
	if got.Load() != 100 {
		t.Errorf("server read %d whole bodies, want 100", got.Load())
	}
}

// TestLongAnswersRefillTheWindow: answers whose bodies add up to far more
// than the connection's receive window keep coming.
func TestLongAnswersRefillTheWindow(t *testing.T) {
	pad := strings.Repeat("p", 2000)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"reason":"BadDeviceToken","pad":"`+pad+`"}`)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p := h2Provider(t, srv, 1)
	for range 100 { // 200 KB of answers over one connection
		o := providers.Classify(p.Send(context.Background(), h2Message(t, "b")))
		if o == nil || o.Reason != providers.ReasonInvalidToken {
			t.Fatalf("outcome %v, want invalid_token", o)
		}
	}
}

// TestStreamLimitIsKept: a server allowing 2 streams never sees a third.
func TestStreamLimitIsKept(t *testing.T) {
	var open, peak atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := open.Add(1)
		defer open.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond)
	}))
	srv.EnableHTTP2 = true
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: 2}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	sendMany(t, h2Provider(t, srv, 1), 40, "b")
	if peak.Load() > 2 {
		t.Errorf("%d streams open at once, the server allows 2", peak.Load())
	}
}

// rawH2 is an HTTP/2 server written frame by frame, for what a Go server
// will not do: refuse streams, go away mid-flight, ignore pings. serve runs
// once per connection, after the settings exchange; conn counts them.
func rawH2(t *testing.T, serve func(conn int, fr *http2.Framer)) *httptest.Server {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(nil)
	srv.TLS = &tls.Config{NextProtos: []string{"h2"}}
	srv.Config.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){
		"h2": func(_ *http.Server, c *tls.Conn, _ http.Handler) {
			defer c.Close()
			preface := make([]byte, len(http2.ClientPreface))
			if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
				return
			}
			fr := http2.NewFramer(c, c)
			fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
			fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
			serve(int(conns.Add(1)), fr)
		},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// nextRequest reads frames until a request's body ends and returns its
// stream, answering settings on the way; 0 when the connection ends.
func nextRequest(fr *http2.Framer) uint32 {
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.DataFrame:
			if f.StreamEnded() {
				return f.StreamID
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				return f.StreamID
			}
		}
	}
}

// answerOK answers stream id with 200.
func answerOK(fr *http2.Framer, id uint32) {
	var b strings.Builder
	hpack.NewEncoder(&b).WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: []byte(b.String()), EndHeaders: true, EndStream: true})
}

// TestRefusedStreamIsSentAgain: a stream the server refused was never
// processed; the send goes through on the next try.
func TestRefusedStreamIsSentAgain(t *testing.T) {
	srv := rawH2(t, func(_ int, fr *http2.Framer) {
		for i := 0; ; i++ {
			id := nextRequest(fr)
			if id == 0 {
				return
			}
			if i == 0 {
				fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
				continue
			}
			answerOK(fr, id)
		}
	})
	if err := h2Provider(t, srv, 0).Send(context.Background(), h2Message(t, "b")); err != nil {
		t.Fatalf("a refused stream was not sent again: %v", err)
	}
}

// TestGoAwayMovesToANewConnection: requests above a GOAWAY's last stream
// go out again on a new connection; the one below it is still answered on
// the old one.
func TestGoAwayMovesToANewConnection(t *testing.T) {
	var answered [3]atomic.Int64
	srv := rawH2(t, func(conn int, fr *http2.Framer) {
		for {
			id := nextRequest(fr)
			if id == 0 {
				return
			}
			if conn == 1 && id == 1 {
				// Take two more requests in, then go away below them.
				second, third := nextRequest(fr), nextRequest(fr)
				if second == 0 || third == 0 {
					return
				}
				fr.WriteGoAway(1, http2.ErrCodeNo, nil)
			}
			answered[min(conn, 2)].Add(1) // before the client can see the answer
			answerOK(fr, id)
		}
	})
	p := h2Provider(t, srv, 0)
	sendMany(t, p, 3, "b")
	if answered[1].Load() != 1 || answered[2].Load() != 2 {
		t.Errorf("answered %d on the first connection and %d on later ones; want 1 and 2", answered[1].Load(), answered[2].Load())
	}
}

// TestUnansweredPingClosesTheConnection: a server that goes silent is
// pinged, and when the ping goes unanswered the send fails instead of
// waiting for its whole timeout.
func TestUnansweredPingClosesTheConnection(t *testing.T) {
	h2Health = 100 * time.Millisecond
	t.Cleanup(func() { h2Health = 15 * time.Second })
	srv := rawH2(t, func(_ int, fr *http2.Framer) {
		nextRequest(fr)
		nextRequest(fr) // reads the ping, answers nothing
	})
	start := time.Now()
	err := h2Provider(t, srv, 0).Send(context.Background(), h2Message(t, "b"))
	if !errors.Is(err, errPingTimeout) {
		t.Fatalf("got %v, want the ping timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the dead connection was noticed after %v", d)
	}
}
