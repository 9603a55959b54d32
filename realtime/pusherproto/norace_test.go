//go:build !race

package pusherproto_test

const raceEnabled = false
