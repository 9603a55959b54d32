package wsconn

import (
	"bufio"
	"net"
	"net/http"
	"time"
)

// hijacker is the ResponseWriter the handshake is answered through: its
// Hijack hands the upgrader the connection with a writer that keeps what
// is written (the handshake's answer) in out instead of writing it, so
// that UpgradeWith writes it together with the first message.
type hijacker struct {
	http.ResponseWriter
	out []byte
}

// Hijack hijacks the connection under h, its buffered writer now writing
// to h.
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nc, rw, err
	}
	h.out = make([]byte, 0, 256)
	rw.Writer.Reset(keeper{h})
	return nc, rw, nil
}

// keeper is the io.Writer under the hijacked bufio.Writer: it keeps what
// it is given in its hijacker's out (the hijacker's own Write is the
// ResponseWriter's, before the hijack).
type keeper struct{ h *hijacker }

func (k keeper) Write(p []byte) (int, error) {
	k.h.out = append(k.h.out, p...)
	return len(p), nil
}

// Unwrap lets http.ResponseController reach the writer under h.
func (h *hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// answer writes b to nc, within the upgrader's handshake timeout.
func (u *Upgrader) answer(nc net.Conn, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_ = nc.SetWriteDeadline(time.Now().Add(u.up.Timeout))
	_, err := nc.Write(b)
	_ = nc.SetWriteDeadline(time.Time{})
	return err
}
