package check

import (
	"debug/elf"
	"fmt"
)

// Static reports an error unless path is an ELF executable with no
// program interpreter: one that runs on an empty base image.
func Static(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (build it with CGO_ENABLED=0)", path)
		}
	}
	return nil
}
