package apns

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2MaxHeaderBlock bounds one answer's header block (HEADERS and its
// CONTINUATIONs); APNS sends tens of bytes.
const h2MaxHeaderBlock = 64 << 10

// headerReader decodes answers' header blocks as their frames arrive,
// straight into the stream's answer. The framer's own decoding (its
// ReadMetaHeaders) built a frame, a slice of fields and a string for each
// one for every answer: about six allocations a push, for the three
// fields an answer is read for. Only readLoop uses it.
type headerReader struct {
	dec       *hpack.Decoder
	s         *h2stream // the stream whose block is being read; nil if it ended
	endStream bool      // the block's HEADERS frame ended the stream
	size      int       // bytes of the block so far
}

func newHeaderReader() *headerReader {
	r := &headerReader{}
	r.dec = hpack.NewDecoder(4096, r.field)
	r.dec.SetMaxStringLength(h2MaxHeaderBlock)
	return r
}

// field keeps what an answer is read for. A stream that ended meanwhile
// (cancelled) still has its block decoded, to keep the table in step.
func (r *headerReader) field(f hpack.HeaderField) {
	s := r.s
	if s == nil {
		return
	}
	switch f.Name {
	case ":status":
		// An informational (1xx) status precedes the final one.
		if n, err := strconv.Atoi(f.Value); err == nil && n >= 200 && s.ans.status == 0 {
			s.ans.status = n
		}
	case "apns-id":
		s.ans.apnsID = f.Value
	case "retry-after":
		s.ans.retryAfter = f.Value
	}
}

// fragment decodes one frame's part of a block; done reports the block's
// end. An error is fatal to the connection (the table is out of step).
func (r *headerReader) fragment(b []byte, last bool) (done bool, err error) {
	if r.size += len(b); r.size > h2MaxHeaderBlock {
		return false, errors.New("answer headers larger than 64 KB")
	}
	if _, err := r.dec.Write(b); err != nil {
		return false, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if !last {
		return false, nil
	}
	if err := r.dec.Close(); err != nil {
		return false, fmt.Errorf("answer headers: %w", http2.ConnectionError(http2.ErrCodeCompression))
	}
	return true, nil
}

// onHeaders starts reading a block; onContinuation goes on with it.
func (c *h2conn) onHeaders(f *http2.HeadersFrame) error {
	r := c.hdr
	r.s, r.endStream, r.size = c.stream(f.StreamID), f.StreamEnded(), 0
	return c.headerFragment(f.HeaderBlockFragment(), f.HeadersEnded())
}

func (c *h2conn) onContinuation(f *http2.ContinuationFrame) error {
	return c.headerFragment(f.HeaderBlockFragment(), f.HeadersEnded())
}

func (c *h2conn) headerFragment(b []byte, last bool) error {
	r := c.hdr
	done, err := r.fragment(b, last)
	if err != nil || !done {
		return err
	}
	s := r.s
	r.s = nil
	if s != nil && r.endStream {
		c.answered(s)
	}
	return nil
}
