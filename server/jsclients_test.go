package server

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushgate/pushgate/internal/testenv"
	"github.com/pushgate/pushgate/messages"
	"github.com/pushgate/pushgate/recipients"
)

// nodeWith returns the node binary if the npm packages are installed.
func nodeWith(t *testing.T, packages ...string) string {
	t.Helper()
	return testenv.Node(t, "../node_modules", packages...)
}

// TestWebPushBodiesDecryptWithHTTPECE sends data, raw and silent contexts
// through the whole pipeline, and npm's http_ece (not our code) decrypts
// every captured body and checks it is what the CORE service worker reads.
func TestWebPushBodiesDecryptWithHTTPECE(t *testing.T) {
	node := nodeWith(t, "http_ece")
	f := newFakes(t)
	_, a := startNode(t, f.config(t, testenv.SQLiteURL(t)))
	srvBucket := struct {
		BucketID    string
		Credentials []struct{ ID string }
	}{}
	if code := a.call("POST", "/v1/bucket", f.bucketBody(), &srvBucket); code != 200 {
		t.Fatalf("bucket: %d", code)
	}
	contexts := map[string]string{
		"data": `{"title":"Sale","body":"-30% on everything","icon":"` + f.images.URL + `/i.png","image":"` + f.images.URL + `/sale.jpg",
			"tag":"sale","renotify":true,"requireInteraction":true,"vibrate":[100,50,100],"lang":"pl","badge":4,"externalData":"x",
			"behaviour":"https://shop.example/sale","actions":[{"action":"buy","title":"Buy","behaviourWebPush":"https://shop.example/cart"},{"action":"later","title":"Later","behaviour":"https://shop.example/later"}]}`,
		"raw":    `{"common":{"title":"Common","body":"fallback","iconUrl":"` + f.images.URL + `/i.png"},"chromium":{"title":"Chromium","dir":"rtl","defaultAction":"https://shop.example/c","data":{"k":"v"}}}`,
		"silent": `{"externalData":"sync-now"}`,
	}
	var all []messages.SendResult
	for kind, body := range contexts {
		var c struct{ ContextID string }
		if code := a.call("POST", "/v1/bucket/"+srvBucket.BucketID+"/context/"+kind, body, &c); code != 200 {
			t.Fatalf("%s context: %d", kind, code)
		}
		var receivers []recipients.Receiver
		for i := 0; i < 3; i++ {
			r := f.web.NewSubscriptionFor(f.vapidPub).Receiver(srvBucket.Credentials[3].ID)
			r.ForeignID = kind
			receivers = append(receivers, r)
		}
		var sent struct{ Results []messages.SendResult }
		a.call("POST", "/v1/bucket/"+srvBucket.BucketID+"/context/"+c.ContextID+"/send", map[string]any{"receivers": receivers}, &sent)
		all = append(all, sent.Results...)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(f.web.Delivered()) < len(all) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pushes arrived", len(f.web.Delivered()), len(all))
		}
		time.Sleep(20 * time.Millisecond)
	}
	dir := t.TempDir()
	files, err := f.web.WriteCaptures(dir)
	if err != nil || len(files) != 9 {
		t.Fatalf("captures: %d, %v", len(files), err)
	}
	out, err := exec.Command(node, filepath.Join("..", "test", "js", "webpush-decrypt.mjs"), dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "9 passed, 0 failed") {
		t.Fatalf("http_ece check failed: %v\n%s", err, out)
	}
}
