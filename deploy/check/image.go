// Package check builds pushgate's container image without a Docker daemon
// or a registry, and holds the tests that keep deploy/ honest: the image's
// configuration against the Dockerfile's, and the Helm chart rendered as
// `helm template` renders it. It is a module of its own so that the main
// module does not depend on go-containerregistry or Helm.
package check

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's configuration, as the Dockerfile sets it.
const (
	Entrypoint = "/pushgate"
	User       = "65532:65532"
	Port       = "8080/tcp"
	DataDir    = "/data"
	CACerts    = "/etc/ssl/certs/ca-certificates.crt"
)

// Config is the image configuration the Dockerfile also gives.
func Config() v1.Config {
	return v1.Config{
		Entrypoint:   []string{Entrypoint},
		Cmd:          []string{"serve"},
		User:         User,
		ExposedPorts: map[string]struct{}{Port: {}},
		Volumes:      map[string]struct{}{DataDir: {}},
		Env: []string{
			"PUSHGATE_DATA_DIR=" + DataDir,
			"PUSHGATE_LOG_FORMAT=json",
			"SSL_CERT_FILE=" + CACerts,
		},
	}
}

// Image is pushgate's image: one layer with the static binary at /pushgate,
// the CA certificates and an empty /data owned by the non-root user, on an
// empty base.
func Image(binary, caCerts string) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	certs, err := os.ReadFile(caCerts)
	if err != nil {
		return nil, err
	}
	layerTar, err := layerTar(bin, certs)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Config = "amd64", "linux", Config()
	return mutate.ConfigFile(img, cf)
}

// layerTar is the layer's files, with fixed times so that the same binary
// makes the same image.
func layerTar(bin, certs []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	entries := []struct {
		hdr  tar.Header
		body []byte
	}{
		{tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, nil},
		{tar.Header{Name: "etc/ssl/", Typeflag: tar.TypeDir, Mode: 0o755}, nil},
		{tar.Header{Name: "etc/ssl/certs/", Typeflag: tar.TypeDir, Mode: 0o755}, nil},
		{tar.Header{Name: CACerts[1:], Typeflag: tar.TypeReg, Mode: 0o644}, certs},
		{tar.Header{Name: Entrypoint[1:], Typeflag: tar.TypeReg, Mode: 0o755}, bin},
		{tar.Header{Name: DataDir[1:] + "/", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 65532, Gid: 65532}, nil},
	}
	for _, e := range entries {
		e.hdr.ModTime, e.hdr.Size = epoch, int64(len(e.body))
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}
