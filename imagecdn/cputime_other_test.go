//go:build !unix

package imagecdn_test

import "time"

func processCPU() time.Duration { return 0 }
