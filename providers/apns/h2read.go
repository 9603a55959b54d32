package apns

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"golang.org/x/net/http2"
)

// readLoop reads the peer's frames until the connection fails.
func (c *h2conn) readLoop() {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.streamError(se)
				continue
			}
			c.fail(err)
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		if err := c.handle(f); err != nil {
			c.fail(err)
			return
		}
	}
}

// handle acts on one frame; an error is fatal to the connection.
func (c *h2conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.HeadersFrame:
		return c.onHeaders(f)
	case *http2.ContinuationFrame:
		return c.onContinuation(f)
	case *http2.DataFrame:
		c.onData(f)
	case *http2.RSTStreamFrame:
		c.onReset(f.StreamID, f.ErrCode)
	case *http2.SettingsFrame:
		if !f.IsAck() {
			if err := c.applySettings(f); err != nil {
				return err
			}
			c.wakeWriter()
			c.notify() // the stream limit may have risen
		}
	case *http2.WindowUpdateFrame:
		c.onWindowUpdate(f)
	case *http2.PingFrame:
		c.onPing(f)
	case *http2.GoAwayFrame:
		c.onGoAway(f)
	case *http2.PushPromiseFrame:
		return errors.New("PUSH_PROMISE although push is disabled")
	}
	return nil
}

// stream returns the open stream id, or nil.
func (c *h2conn) stream(id uint32) *h2stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[id]
}

func (c *h2conn) onData(f *http2.DataFrame) {
	c.mu.Lock()
	c.recvUnacked += int(f.Length)
	if c.recvUnacked >= h2WindowRefill {
		c.fr.WriteWindowUpdate(0, uint32(c.recvUnacked))
		c.recvUnacked = 0
	}
	s := c.streams[f.StreamID]
	c.mu.Unlock()
	c.wakeWriter()
	if s == nil {
		return
	}
	if room := h2MaxAnswerBody - len(s.ans.body); room > 0 {
		d := f.Data()
		s.ans.body = append(s.ans.body, d[:min(len(d), room)]...)
	}
	if f.StreamEnded() {
		c.answered(s)
	}
}

// answered ends s with its answer complete.
func (c *h2conn) answered(s *h2stream) {
	c.mu.Lock()
	if _, open := c.streams[s.id]; open {
		if s.ans.status == 0 {
			c.endLocked(s, errors.New("answer without :status"))
		} else {
			c.endLocked(s, nil)
		}
	}
	c.mu.Unlock()
	c.afterEnd()
}

func (c *h2conn) onReset(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	if s := c.streams[id]; s != nil {
		var err error = fmt.Errorf("stream reset by APNS: %v", code)
		if code == http2.ErrCodeRefusedStream {
			err = unprocessedError{err}
		}
		c.endLocked(s, err)
	}
	c.mu.Unlock()
	c.afterEnd()
}

// streamError answers a malformed frame on one stream: the stream ends,
// the connection stays.
func (c *h2conn) streamError(se http2.StreamError) {
	c.mu.Lock()
	if s := c.streams[se.StreamID]; s != nil {
		c.fr.WriteRSTStream(se.StreamID, se.Code)
		c.endLocked(s, fmt.Errorf("malformed answer: %v", se))
	}
	c.mu.Unlock()
	c.wakeWriter()
	c.afterEnd()
}

func (c *h2conn) onWindowUpdate(f *http2.WindowUpdateFrame) {
	c.mu.Lock()
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		c.sendWin += inc
	} else if s := c.streams[f.StreamID]; s != nil {
		s.win += inc
	}
	c.pumpLocked()
	c.mu.Unlock()
	c.wakeWriter()
}

func (c *h2conn) onPing(f *http2.PingFrame) {
	c.mu.Lock()
	if f.IsAck() {
		c.pingOut = false
	} else {
		c.fr.WritePing(true, f.Data)
	}
	c.mu.Unlock()
	c.wakeWriter()
}

// onGoAway stops new streams; those above the peer's last stream were
// never processed and end at once, the others are still answered.
func (c *h2conn) onGoAway(f *http2.GoAwayFrame) {
	err := errGoAway
	if f.ErrCode != http2.ErrCodeNo || len(f.DebugData()) > 0 {
		err = fmt.Errorf("%w: %v %q", errGoAway, f.ErrCode, f.DebugData())
	}
	c.mu.Lock()
	c.goAway = true
	for id, s := range c.streams {
		if id > f.LastStreamID {
			c.endLocked(s, unprocessedError{err})
		}
	}
	c.mu.Unlock()
	c.afterEnd()
}

// healthLoop pings a connection that has been silent for a health period
// and closes it when the ping goes unanswered for another, or when it has
// carried nothing for idleAfter.
func (c *h2conn) healthLoop() {
	t := time.NewTicker(c.health)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			return
		case <-t.C:
		}
		if err := c.checkHealth(); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *h2conn) checkHealth() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pingOut {
		return errPingTimeout
	}
	if len(c.streams) == 0 && c.reserved == 0 && time.Since(c.idleSince) >= c.idleAfter {
		return errIdle
	}
	if time.Since(time.Unix(0, c.lastRead.Load())) >= c.health {
		var data [8]byte
		rand.Read(data[:])
		c.fr.WritePing(false, data)
		c.pingOut = true
		c.wakeWriter()
	}
	return nil
}
