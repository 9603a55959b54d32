package imagecdn

// SetWorking makes p report each source entering (+1) and leaving (-1) the
// decode-and-resize section that Options.Concurrency bounds.
func SetWorking(p *Processor, f func(delta int)) { p.working = f }

// DecodeHeader runs what Decode checks before it decodes: the format from
// the leading bytes, and the dimensions from the header, against limits.
func DecodeHeader(data []byte, limits Limits) (format string, width, height int, err error) {
	format, cfg, err := decodeHeader(data, limits.withDefaults())
	return format, cfg.Width, cfg.Height, err
}

// SniffFormat is the format checkFormat names from head, or its error.
func SniffFormat(head []byte) (string, error) { return checkFormat(head) }

// SniffLen is how many leading bytes name a format.
const SniffLen = sniffLen

// JPEGOrientation is the EXIF orientation Decode reports for data.
func JPEGOrientation(data []byte) int { return jpegOrientation(data) }
