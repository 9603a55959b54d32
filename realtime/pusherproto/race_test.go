//go:build race

package pusherproto_test

// raceEnabled says the race detector is on: it makes every allocation
// bigger, so memory bounds mean nothing under it.
const raceEnabled = true
