package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pushgate/pushgate/bench/internal/loadclient"
)

// pollConn is a client on Engine.IO's HTTP long-polling transport: a GET
// always waiting for the server's packets, a POST for each packet sent.
// Packets in one body are separated by 0x1e.
type pollConn struct {
	http   *http.Client
	url    string // .../socket.io/?EIO=4&transport=polling&sid=...
	cancel context.CancelFunc
	done   chan struct{}
}

// dialPolling opens c's session, connects to the main namespace and
// emits register; then a goroutine keeps a GET waiting.
func dialPolling(ctx context.Context, b *backend, c *client) (conn, error) {
	base := b.Base + "/socket.io/?EIO=4&transport=polling"
	p := &pollConn{http: &http.Client{
		Timeout:   2 * time.Minute, // a GET waits a ping interval at most
		Transport: &http.Transport{DialContext: loadclient.LocalDialer(base, c.i), MaxIdleConnsPerHost: 2},
	}, done: make(chan struct{})}
	if err := p.handshake(ctx, base, c); err != nil {
		p.http.CloseIdleConnections()
		return nil, fmt.Errorf("%s: %w", c.user, err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.poll(lctx, c)
	return p, nil
}

func (p *pollConn) handshake(ctx context.Context, base string, c *client) error {
	body, err := p.get(ctx, base)
	if err != nil {
		return err
	}
	sid, err := openPacket(bytes.Split(body, []byte{0x1e})[0])
	if err != nil {
		return err
	}
	p.url = base + "&sid=" + sid
	if err := p.post(ctx, "40"); err != nil {
		return err
	}
	if body, err = p.get(ctx, p.url); err != nil {
		return err
	}
	if err := connected(bytes.Split(body, []byte{0x1e})[0]); err != nil {
		return err
	}
	return p.post(ctx, c.registerPacket())
}

func (p *pollConn) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET: HTTP %d: %.80q", resp.StatusCode, body)
	}
	return body, err
}

func (p *pollConn) post(ctx context.Context, pkt string) error {
	req, err := http.NewRequestWithContext(ctx, "POST", p.url, strings.NewReader(pkt))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := p.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("POST: HTTP %d: %.80q", resp.StatusCode, body)
	}
	return nil
}

// poll keeps a GET waiting until ctx ends, and answers pings.
func (p *pollConn) poll(ctx context.Context, c *client) {
	defer close(p.done)
	for {
		body, err := p.get(ctx, p.url)
		if err != nil {
			c.answer(fmt.Errorf("%s: poll: %w", c.user, err))
			return
		}
		now := time.Now()
		for pkt := range bytes.SplitSeq(body, []byte{0x1e}) {
			if len(pkt) == 1 && pkt[0] == '1' { // close
				c.answer(fmt.Errorf("%s: the server closed the session", c.user))
				return
			}
			if reply := c.handle(pkt, now); reply != "" {
				if err := p.post(ctx, reply); err != nil {
					c.answer(fmt.Errorf("%s: pong: %w", c.user, err))
					return
				}
			}
		}
	}
}

// close sends Engine.IO's close packet and stops the waiting GET.
func (p *pollConn) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	p.post(ctx, "1")
	cancel()
	p.cancel()
	<-p.done
	p.http.CloseIdleConnections()
}
