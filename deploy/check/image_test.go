package check

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// staticBinary builds cmd/pushgate as the Dockerfile does.
func staticBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pushgate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/pushgate")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestImage builds the image tarball with no daemon and reads it back as a
// runtime would: the configuration, and the files of its one layer.
func TestImage(t *testing.T) {
	bin := staticBinary(t)
	if err := Static(bin); err != nil {
		t.Fatal(err)
	}
	if err := Static("/bin/ls"); err == nil {
		t.Fatal("Static accepted a dynamically linked program")
	}
	img, err := Image(bin, CACerts)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pushgate.tar")
	if err := tarball.WriteToFile(path, name.MustParseReference("pushgate:ci"), img); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := back.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/pushgate"}) || !slices.Equal(c.Cmd, []string{"serve"}) || c.User != "65532:65532" || cf.OS != "linux" {
		t.Fatalf("config: %+v", c)
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok || !slices.Contains(c.Env, "SSL_CERT_FILE="+CACerts) {
		t.Fatalf("ports %v, env %v", c.ExposedPorts, c.Env)
	}
	files := layerFiles(t, mutate.Extract(back))
	want, _ := os.ReadFile(bin)
	if h := files["pushgate"]; h == nil || h.Mode != 0o755 || h.Size != int64(len(want)) {
		t.Fatalf("/pushgate: %+v", h)
	}
	if h := files["etc/ssl/certs/ca-certificates.crt"]; h == nil || h.Size == 0 {
		t.Fatal("no CA certificates")
	}
	if h := files["data"]; h == nil || h.Uid != 65532 || h.Typeflag != tar.TypeDir {
		t.Fatalf("/data: %+v", h)
	}
}

func layerFiles(t *testing.T, r io.ReadCloser) map[string]*tar.Header {
	t.Helper()
	defer r.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[strings.Trim(h.Name, "/")] = h
	}
}

// TestDockerfileMatchesImage: users with Docker build the Dockerfile, CI
// builds Image; both must give the same configuration.
func TestDockerfileMatchesImage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := regexp.MustCompile(`\\\n\s*`).ReplaceAllString(string(raw), "")
	c := Config()
	for _, want := range []string{
		`ENTRYPOINT ["` + c.Entrypoint[0] + `"]`,
		`CMD ["` + c.Cmd[0] + `"]`,
		"USER " + c.User,
		"EXPOSE " + strings.TrimSuffix(Port, "/tcp"),
		`VOLUME ["` + DataDir + `"]`,
		"FROM scratch",
		"CGO_ENABLED=0",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	for _, e := range c.Env {
		if !bytes.Contains([]byte(df), []byte(e)) {
			t.Errorf("the Dockerfile does not set %s", e)
		}
	}
}
