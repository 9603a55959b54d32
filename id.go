package pushgate

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
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

// SkipIDGroups moves this process's stamps on to a random counter at least
// a millisecond ahead (of the clock, or of the last stamp if that is
// ahead), for new ids after another process took a group: that process's
// next groups count on from the taken one, so counting on from it too
// would likely meet them again. From a random counter, a retry meets
// another process's group no more often than a first try does. Stamps only
// move forward, so groups of this process stay distinct and ordered.
func SkipIDGroups() {
	var r [1]byte
	_, _ = rand.Read(r[:])
	ms := uint64(time.Now().UnixMilli())
	for {
		prev := lastStamp.Load()
		// The next group counts on from here: to counter r of the next
		// millisecond, or r+1 on from a stamp already ahead.
		next := max(prev, ms<<8|0xff) + uint64(r[0])
		if lastStamp.CompareAndSwap(prev, next) {
			return
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
// and draw the same counter, so storage that keys by group must check
// (and a caller that retries calls SkipIDGroups first).
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
	tails := random[16:]
	for i := range n {
		maskTail(tails[9*i:])
	}
	if n > 1 {
		distinctTails(tails)
	}
	out := make([]string, n)
	for i := range out {
		own := tails[9*i:]
		b[7] = b[7]&0xf0 | own[0]
		copy(b[8:], own[1:9])
		out[i] = formatID(&b)
	}
	return out
}

// maskTail keeps the 66 random bits of an id's own 9 bytes: the low nibble
// of the first (rand_a's last 4 bits), and the RFC 9562 variant in the
// second.
func maskTail(t []byte) {
	t[0] &= 0x0f
	t[1] = t[1]&0x3f | 0x80
}

// tailKey is 63 of a tail's 66 random bits (equal tails have equal keys),
// with the lowest set: 0 marks an empty slot of distinctTails' table.
func tailKey(t []byte) uint64 {
	return binary.BigEndian.Uint64(t[1:9])<<2 | uint64(t[0]&2) | 1
}

// distinctTails draws again any tail (9 bytes each) equal to an earlier
// one. Two ids of one group meet about once in 2^49 groups of 500, but the
// outbox relies on distinct ids within a chunk: its row would hold the id
// twice, and the claim that moves the chunk into messages would fail on
// the duplicate key every time, so the chunk would never be sent. The
// check is an open-addressing table of the tails' keys, indexed by their
// top bits (they are random already), about a probe a tail: cheaper than a
// map of tails or a sort. A tie of keys alone (2^-63 a pair) redraws a
// tail that was distinct, which does no harm.
func distinctTails(tails []byte) {
	n := len(tails) / 9
	bitsLen := bits.Len(uint(2*n - 1)) // a table at least twice n: short probes
	table := make([]uint64, 1<<bitsLen)
	mask := uint64(len(table) - 1)
	for i := 0; i < n; i++ {
		t := tails[9*i : 9*i+9]
		for !insertKey(table, mask, 64-bitsLen, tailKey(t)) {
			_, _ = rand.Read(t)
			maskTail(t)
		}
	}
}

// insertKey adds k to table and reports whether it was not there yet.
func insertKey(table []uint64, mask uint64, shift int, k uint64) bool {
	for j := k >> shift; ; j = (j + 1) & mask {
		switch table[j] {
		case 0:
			table[j] = k
			return true
		case k:
			return false
		}
	}
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
