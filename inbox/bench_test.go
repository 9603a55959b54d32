package inbox_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/pushgate/pushgate/inbox"
	"github.com/pushgate/pushgate/internal/testenv"
)

// BenchmarkBroadcast sends a broadcast to an app of 10 and of 100,000
// users: the send must cost the same.
func BenchmarkBroadcast(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		for _, users := range []int{10, 100_000} {
			b.Run(fmt.Sprintf("%s/users=%d", d.Name, users), func(b *testing.B) {
				db := testenv.OpenDB(b, d.URL)
				s, app, _, _ := newService(b, db)
				ctx := context.Background()
				// The users as tokens would make them, in one statement.
				if _, err := db.ExecContext(ctx, rebind(d.Name, `WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < ?)
					INSERT INTO inbox_users (app_id, user_id, tokens, first_token_at) SELECT ?, 'u' || i, 1, CURRENT_TIMESTAMP FROM g`), users, app); err != nil {
					b.Fatal(err)
				}
				if _, err := db.ExecContext(ctx, rebind(d.Name, `INSERT INTO inbox_apps (app_id, users) VALUES (?, ?)`), app, users); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if _, c, err := s.Send(ctx, app, inbox.NewNotification{Title: "all"}); err != nil || c.Recipients != users {
						b.Fatal(c, err)
					}
				}
			})
		}
	}
}

// BenchmarkUserInbox reads a page and the unseen count of a user with
// 1,000 notifications, half of them broadcasts.
func BenchmarkUserInbox(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db := testenv.OpenDB(b, d.URL)
			s, app, _, _ := newService(b, db)
			ctx := context.Background()
			if _, _, err := s.CreateToken(ctx, app, "ann", "phone"); err != nil {
				b.Fatal(err)
			}
			for i := range 1000 {
				n := inbox.NewNotification{Title: fmt.Sprint(i)}
				if i%2 == 0 {
					n.To = &inbox.Recipients{UserIDs: []string{"ann", "bob"}}
				}
				if _, _, err := s.Send(ctx, app, n); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("page", func(b *testing.B) {
				for b.Loop() {
					if items, _, err := s.Inbox(ctx, inbox.Query{AppID: app, UserID: "ann", Filter: inbox.FilterUnseen}); err != nil || len(items) != 20 {
						b.Fatal(len(items), err)
					}
				}
			})
			b.Run("unseen", func(b *testing.B) {
				for b.Loop() {
					if n, err := s.Unseen(ctx, app, "ann"); err != nil || n != 1000 {
						b.Fatal(n, err)
					}
				}
			})
		})
	}
}

// rebind numbers ? placeholders for PostgreSQL.
func rebind(dialect, q string) string {
	if dialect != "postgres" {
		return q
	}
	out, n := []byte{}, 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = fmt.Appendf(out, "$%d", n)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}
