package imagecdn

// SetWorking makes p report each source entering (+1) and leaving (-1) the
// decode-and-resize section that Options.Concurrency bounds.
func SetWorking(p *Processor, f func(delta int)) { p.working = f }
