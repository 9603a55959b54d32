package main

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strconv"

	"github.com/gobwas/ws"
)

// nextFrame parses the server frame (unmasked) at the start of b: its
// opcode, its payload (in b) and its length in b; n is 0 while b holds
// only part of it. Fragments are not joined: a Pusher server sends every
// message whole.
func nextFrame(b []byte) (op ws.OpCode, payload []byte, n int) {
	if len(b) < 2 {
		return 0, nil, 0
	}
	op, size, head := ws.OpCode(b[0]&0x0f), uint64(b[1]&0x7f), 2
	switch size {
	case 126:
		if len(b) < 4 {
			return 0, nil, 0
		}
		size, head = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil, 0
		}
		size, head = binary.BigEndian.Uint64(b[2:]), 10
	}
	if b[1]&0x80 != 0 { // masked: no server does this, but skip the key
		head += 4
	}
	if uint64(len(b)-head) < size {
		return 0, nil, 0
	}
	end := head + int(size)
	return op, b[head:end], end
}

// clientFrame is one final client frame of op, masked as a client's must be.
func clientFrame(op ws.OpCode, payload []byte) []byte {
	f := make([]byte, 0, 14+len(payload))
	f = append(f, 0x80|byte(op))
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], rand.Uint32())
	f = append(f, key[:]...)
	start := len(f)
	f = append(f, payload...)
	for i := range f[start:] {
		f[start+i] ^= key[i%4]
	}
	return f
}

// eventOf finds the run's event number in a frame without decoding it
// all (the tool shares the CPUs with the server): the events' data is
// "ev-<k>", a JSON string needing no escapes, in every server's frame.
func eventOf(msg []byte) (int, bool) {
	const key = `"data":"ev-`
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := msg[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	k, err := strconv.Atoi(string(rest[:j]))
	return k, err == nil
}
