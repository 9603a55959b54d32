package wsconn

// SetRingsOff turns the Batch's io_uring off (or back on) for a test,
// and returns the previous setting.
func SetRingsOff(off bool) bool {
	rings.Lock()
	defer rings.Unlock()
	was := rings.off
	rings.checked, rings.off = true, off
	if off {
		for _, r := range rings.free {
			r.close()
		}
		rings.free = nil
	}
	return was
}

// RingsUsable reports whether a Batch gets a ring, and whether io_uring
// could be set up at all (false where the kernel or a sandbox refuses it).
func RingsUsable() (usable, setup bool) {
	r := getRing()
	if r != nil {
		putRing(r, false)
		return true, true
	}
	return false, ringSetupWorks()
}
