package pushgate

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// NewID returns a new UUID version 7 (RFC 9562) in its canonical text form.
// Version 7 IDs start with a millisecond timestamp, so they sort by creation
// time and keep B-tree inserts local. Within one process they are strictly
// increasing: the 12 bits after the timestamp count IDs made in the same
// millisecond (RFC 9562, method 1), so "ordered by id" is "ordered by
// creation" even for rows made together.
func NewID() string {
	return newIDAt(time.Now())
}

// lastID is the millisecond and counter of the last ID, as ms<<12 | counter.
// Process-wide on purpose, like the clock it extends.
var lastID atomic.Uint64

func nextStamp(ms uint64) uint64 {
	for {
		prev := lastID.Load()
		next := ms << 12
		if next <= prev {
			next = prev + 1 // same (or an earlier) millisecond: count on
		}
		if lastID.CompareAndSwap(prev, next) {
			return next
		}
	}
}

func newIDAt(t time.Time) string {
	b := idBytes(t)
	return formatID(&b)
}

// NewIDGroup returns n (at most 65536) new version 7 UUIDs that share
// their first 28 characters (IDGroup: the time, counter and 30 random bits),
// so that storage can keep them together and find any of them from its
// group. The last 32 bits are random for each id and distinct within the
// group: knowing one id of a group does not tell the others (client event
// reports name a message by its id and need no key).
func NewIDGroup(n int) []string {
	if n > 1<<16 {
		panic("pushgate: NewIDGroup of more than 65536 ids")
	}
	b := idBytes(time.Now())
	out := make([]string, n)
	seen := make(map[uint32]bool, n)
	tails := make([]byte, 4*n)
	_, _ = rand.Read(tails)
	for i := range out {
		tail := tails[4*i : 4*i+4]
		for seen[binary.BigEndian.Uint32(tail)] {
			_, _ = rand.Read(tail) // about once in 20,000 groups of 500
		}
		seen[binary.BigEndian.Uint32(tail)] = true
		copy(b[12:], tail)
		out[i] = formatID(&b)
	}
	return out
}

// IDGroup returns the part that the ids of one NewIDGroup share: the first
// 28 characters of a canonical UUID (any other string is its own group).
func IDGroup(id string) string {
	if len(id) != 36 {
		return id
	}
	return id[:28]
}

func idBytes(t time.Time) [16]byte {
	var b [16]byte
	stamp := nextStamp(uint64(t.UnixMilli()))
	// 48-bit milliseconds, the version (7), then the 12-bit counter. A
	// counter that overflows carries into the milliseconds: still ordered.
	binary.BigEndian.PutUint64(b[:8], (stamp>>12)<<16|0x7000|stamp&0xfff)
	_, _ = rand.Read(b[8:]) // crypto/rand.Read never fails (Go 1.24+)
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return b
}

func formatID(b *[16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// ValidID reports whether s is a UUID in canonical lower- or upper-case form.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// RandomToken returns n random bytes encoded with the URL-safe alphabet
// without padding, for secrets and keys.
func RandomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64URL.EncodeToString(b)
}
