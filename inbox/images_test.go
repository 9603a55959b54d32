package inbox_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushgate/pushgate"
	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/internal/testenv"
)

// cdn is an image CDN: a source under https://shop.example/ becomes
// https://node.example/cdn/<name>, /gone is a 404, /slow never finishes
// before the caller gives up.
type cdn struct {
	mu    sync.Mutex
	asked []string
}

func (c *cdn) NotificationImage(ctx context.Context, source string) (string, error) {
	c.mu.Lock()
	c.asked = append(c.asked, source)
	c.mu.Unlock()
	name := strings.TrimPrefix(source, "https://shop.example/")
	switch name {
	case "gone.png":
		return "", pushgate.Errorf(pushgate.EUNPROCESSABLE, "the image server answered 404")
	case "slow.png":
		<-ctx.Done()
		return "", ctx.Err()
	}
	return "https://node.example/cdn/" + name, nil
}

func (c *cdn) requests() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.asked...)
}

// TestSendPutsTheImageOnTheCDN: the stored, listed and told notification
// carries the CDN's URL; one whose image fails or takes longer than
// ImageWait is stored and told without an image, and ImageError says why;
// an image at an internal address is refused before the CDN is asked.
func TestSendPutsTheImageOnTheCDN(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			db := testenv.OpenDB(t, d.URL)
			images := &cdn{}
			s, app, rec, _ := newServiceWith(t, db, inbox.Options{Images: images, ImageWait: 50 * time.Millisecond})
			ctx := context.Background()
			to := &inbox.Recipients{UserIDs: []string{"alice"}}

			n, _, err := s.Send(ctx, app, inbox.NewNotification{Title: "Sale", ImageURL: "https://shop.example/sale.png", To: to})
			if err != nil || n.ImageURL != "https://node.example/cdn/sale.png" || n.ImageError != "" {
				t.Fatalf("send: %+v %v", n, err)
			}
			stored, _, err := s.Get(ctx, app, n.ID)
			if err != nil || stored.ImageURL != "https://node.example/cdn/sale.png" {
				t.Fatalf("stored: %+v %v", stored, err)
			}
			items, _, err := s.Inbox(ctx, inbox.Query{AppID: app, UserID: "alice", Filter: inbox.FilterAll})
			if err != nil || len(items) != 1 || items[0].ImageURL != "https://node.example/cdn/sale.png" {
				t.Fatalf("inbox: %+v %v", items, err)
			}

			for _, c := range []struct{ image, why string }{
				{"https://shop.example/gone.png", "image https://shop.example/gone.png: the image server answered 404"},
				{"https://shop.example/slow.png", "image https://shop.example/slow.png: not on the CDN within 50ms"},
			} {
				n, _, err := s.Send(ctx, app, inbox.NewNotification{Title: "No image", ImageURL: c.image, To: to})
				if err != nil || n.ImageURL != "" || n.ImageError != c.why {
					t.Fatalf("send with %s: %+v %v", c.image, n, err)
				}
				if stored, _, err := s.Get(ctx, app, n.ID); err != nil || stored.ImageURL != "" {
					t.Fatalf("stored with %s: %+v %v", c.image, stored, err)
				}
			}
			if got := rec.take(); len(got) != 3 {
				t.Fatalf("the listener was told %v, want the three notifications", got)
			}

			_, _, err = s.Send(ctx, app, inbox.NewNotification{Title: "t", ImageURL: "http://10.0.0.7/a.png", To: to})
			var e *pushgate.Error
			if !errorAs(err, &e) || e.Code != pushgate.EINVALID || len(e.Fields) != 1 || !strings.HasPrefix(e.Fields[0], "imageUrl: 10.0.0.7 is a forbidden address") {
				t.Fatalf("internal image: %v", err)
			}
			if got := images.requests(); len(got) != 3 {
				t.Fatalf("the CDN was asked for %q", got)
			}

			// A sender that gives up while the image is fetched stores nothing.
			gone, cancel := context.WithCancel(ctx)
			go func() { time.Sleep(10 * time.Millisecond); cancel() }()
			slow := inbox.NewNotification{Title: "Given up", ImageURL: "https://shop.example/slow.png", To: to}
			s2, app2, rec2, _ := newServiceWith(t, db, inbox.Options{Images: images, ImageWait: time.Hour})
			if _, _, err := s2.Send(gone, app2, slow); err == nil {
				t.Fatal("a send whose context ended was stored")
			}
			if got := rec2.take(); len(got) != 0 {
				t.Fatalf("a send whose context ended told %v", got)
			}
		})
	}
}
