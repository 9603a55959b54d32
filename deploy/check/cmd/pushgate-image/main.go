// Command pushgate-image writes pushgate's container image as a tarball
// that `docker load` and `crane push` take, with no daemon or registry:
//
//	CGO_ENABLED=0 go build -o /tmp/pushgate ./cmd/pushgate
//	go -C deploy/check run ./cmd/pushgate-image -binary /tmp/pushgate -o /tmp/pushgate.tar
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/pushgate/pushgate/deploy/check"
)

func main() {
	binary := flag.String("binary", "", "the static pushgate binary (CGO_ENABLED=0)")
	certs := flag.String("ca-certificates", "/etc/ssl/certs/ca-certificates.crt", "the CA certificates to include")
	out := flag.String("o", "pushgate.tar", "where to write the image tarball")
	tag := flag.String("tag", "pushgate:latest", "the image's name in the tarball")
	flag.Parse()
	if err := run(*binary, *certs, *out, *tag); err != nil {
		fmt.Fprintln(os.Stderr, "pushgate-image:", err)
		os.Exit(1)
	}
}

func run(binary, certs, out, tag string) error {
	if binary == "" {
		return fmt.Errorf("-binary is required")
	}
	if err := check.Static(binary); err != nil {
		return err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	img, err := check.Image(binary, certs)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(out, ref, img)
}
