//go:build !race

package imagecdn_test

const raceEnabled = false
