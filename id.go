package pushgate

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// Every id is a UUID version 7 (RFC 9562): 48 bits of Unix milliseconds,
// the version (7), 12 bits rand_a, the variant and 62 bits rand_b. The
// first 8 bits of rand_a count groups made in the same millisecond
// (RFC 9562, method 1, from a random start), so ids sort by creation and
// keep B-tree inserts local; the last 4 bits of rand_a and all of rand_b
// are random for each id: 66 bits that no other id tells.

// NewID returns a new id in its canonical text form. Within one process
// ids are strictly increasing, so "ordered by id" is "ordered by creation"
// even for rows made in the same millisecond. It is a group of one.
func NewID() string {
	return newIDAt(time.Now())
}

// lastStamp is the millisecond and group counter of the last group, as
// ms<<8 | counter. Process-wide on purpose, like the clock it extends.
var lastStamp atomic.Uint64

// nextStamp returns a stamp after every earlier one of this process. A new
// millisecond starts its counter at random (start), so that two nodes
// making a group in the same millisecond meet once in 256 times; a count
// past 255 carries into the milliseconds (still ordered, a little ahead of
// the clock).
func nextStamp(ms uint64, start byte) uint64 {
	for {
		prev := lastStamp.Load()
		next := ms<<8 | uint64(start)
		if ms<<8 <= prev {
			next = prev + 1 // same (or an earlier) millisecond: count on
		}
		if lastStamp.CompareAndSwap(prev, next) {
			return next
		}
	}
}

func newIDAt(t time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	setStamp(&b, nextStamp(uint64(t.UnixMilli()), b[0]))
	return formatID(&b)
}

// setStamp writes the milliseconds, version and counter of stamp over the
// first 7.5 bytes of b, keeping the random nibble of rand_a, and the
// variant.
func setStamp(b *[16]byte, stamp uint64) {
	nibble := uint64(b[7] & 0x0f)
	binary.BigEndian.PutUint64(b[:8], (stamp>>8)<<16|0x7000|(stamp&0xff)<<4|nibble)
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
}

// idGroupLen is how many characters the ids of one group share: the
// milliseconds (12 hex digits and a dash), a dash, the version digit and
// the 8-bit counter.
const idGroupLen = 17

// NewIDGroup returns n (at most 65536) new ids that share their first 17
// characters (IDGroup: the time and the counter), so that storage can keep
// them together and find any of them from its group. Each id has 66 more
// random bits of its own, distinct within the group: knowing one id of a
// group does not tell the others (client event reports name a message by
// its id and need no key). Groups of one process never share an IDGroup;
// groups of two processes can, when both are made in the same millisecond
// and draw the same counter, so storage that keys by group must check.
func NewIDGroup(n int) []string {
	if n > 1<<16 {
		panic("pushgate: NewIDGroup of more than 65536 ids")
	}
	// One read for the group and every id: 9 random bytes an id (the
	// nibble of rand_a and rand_b), the first 16 for the group's stamp.
	random := make([]byte, 16+9*n)
	_, _ = rand.Read(random)
	var b [16]byte
	copy(b[:], random[:16])
	setStamp(&b, nextStamp(uint64(time.Now().UnixMilli()), b[0]))
	out := make([]string, n)
	var seen map[[9]byte]bool
	if n > 1 {
		seen = make(map[[9]byte]bool, n)
	}
	for i := range out {
		var own [9]byte
		copy(own[:], random[16+9*i:])
		own[0] &= 0x0f
		own[1] = own[1]&0x3f | 0x80
		for seen != nil && seen[own] { // about once in 2^35 groups of 65536
			_, _ = rand.Read(own[:])
			own[0] &= 0x0f
			own[1] = own[1]&0x3f | 0x80
		}
		if seen != nil {
			seen[own] = true
		}
		b[7] = b[7]&0xf0 | own[0]
		copy(b[8:], own[1:])
		out[i] = formatID(&b)
	}
	return out
}

// IDGroup returns the part that the ids of one NewIDGroup share: the first
// 17 characters of a canonical UUID (any other string is its own group).
func IDGroup(id string) string {
	if len(id) != 36 {
		return id
	}
	return id[:idGroupLen]
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
