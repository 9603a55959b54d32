//go:build race

package imagecdn_test

// raceEnabled says the race detector is on: it multiplies the cost of
// pixel loops and the heap, so memory figures mean nothing under it.
const raceEnabled = true
